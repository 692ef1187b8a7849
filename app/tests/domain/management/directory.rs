//! The member directory: paging, search, filters, and what trainers see.

use super::*;

fn query(
    q: &str,
    role: Option<MembershipRole>,
    status: Option<MembershipStatus>,
    page: u32,
) -> DirectoryQuery {
    DirectoryQuery {
        q: q.into(),
        role,
        status,
        page,
    }
}

/// Someone in the seeded directory.
#[derive(Debug, Clone)]
struct Seeded {
    id: UserId,
    name: String,
    role: MembershipRole,
    status: MembershipStatus,
}

const FIRST_NAMES: [&str; 6] = ["Ada", "bob", "CARLA", "Dana", "eve", "Frank"];

/// The society's admin plus 119 people with varied names, roles and statuses: 120 in all.
async fn seed_directory(pool: &PgPool, society: SocietyId, admin: &CurrentUser) -> Vec<Seeded> {
    let mut people = vec![Seeded {
        id: admin.id,
        name: admin.name.clone(),
        role: Admin,
        status: Approved,
    }];
    for i in 1..120 {
        let name = format!("{} Number{i:03}", FIRST_NAMES[i % FIRST_NAMES.len()]);
        let role = if i % 15 == 0 {
            Admin
        } else if i % 4 == 0 {
            Trainer
        } else {
            Member
        };
        let status = if i % 7 == 0 {
            Pending
        } else if i % 11 == 0 {
            Suspended
        } else if i % 13 == 0 {
            Rejected
        } else {
            Approved
        };
        let user = joined(pool, society, &name, role, status).await;
        people.push(Seeded {
            id: user.id,
            name: user.name,
            role,
            status,
        });
    }
    people
}

/// The ids of `people` as the directory orders them: by lower-case name, then id.
fn in_directory_order<'a>(people: impl IntoIterator<Item = &'a Seeded>) -> Vec<UserId> {
    let mut people: Vec<&Seeded> = people.into_iter().collect();
    people.sort_by_key(|p| (p.name.to_lowercase(), p.id.0));
    people.into_iter().map(|p| p.id).collect()
}

fn ids(page: &app::members::DirectoryPage) -> Vec<UserId> {
    page.entries.iter().map(|e| e.user_id).collect()
}

#[sqlx::test(migrations = "../migrations")]
async fn the_directory_pages_through_everyone_by_name_for_admins(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let people = seed_directory(&pool, club.id, &admin).await;
    // Another society's members never show up.
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    joined(&pool, other.id, "Ada Elsewhere", Member, Approved).await;
    let mut conn = pool.acquire().await.unwrap();

    let mut seen = Vec::new();
    for (page, expected) in [(1, 50), (2, 50), (3, 20)] {
        let got = members::directory(&mut conn, club.id, admin.id, &query("", None, None, page))
            .await
            .unwrap();
        assert_eq!(
            (
                got.entries.len(),
                got.total,
                got.page,
                got.per_page,
                got.full
            ),
            (expected, 120, page, 50, true),
            "page {page}"
        );
        assert_eq!(got.pages(), 3);
        for entry in &got.entries {
            let person = people.iter().find(|p| p.id == entry.user_id).unwrap();
            assert_eq!(
                (&entry.name, entry.role, entry.status),
                (&person.name, person.role, Some(person.status))
            );
            assert_eq!(
                entry.email.as_deref(),
                Some(format!("{}@example.org", person.name.to_lowercase()).as_str())
            );
            assert!(entry.since.is_some());
        }
        seen.extend(ids(&got));
    }
    assert_eq!(seen, in_directory_order(&people), "everyone once, by name");

    let beyond = members::directory(&mut conn, club.id, admin.id, &query("", None, None, 4))
        .await
        .unwrap();
    assert_eq!(
        (beyond.entries.len(), beyond.total, beyond.page),
        (0, 120, 4)
    );
    let far = members::directory(&mut conn, club.id, admin.id, &query("bob", None, None, 99))
        .await
        .unwrap();
    let bobs = people.iter().filter(|p| p.name.starts_with("bob")).count() as i64;
    assert_eq!((far.entries.len(), far.total), (0, bobs));
    // Page 0 is read as the first page.
    let zero = members::directory(&mut conn, club.id, admin.id, &query("", None, None, 0))
        .await
        .unwrap();
    assert_eq!((zero.page, ids(&zero)), (1, seen[..50].to_vec()));
}

#[sqlx::test(migrations = "../migrations")]
async fn the_directory_filters_by_role_and_status(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let people = seed_directory(&pool, club.id, &admin).await;
    let mut conn = pool.acquire().await.unwrap();

    let roles = [None, Some(Member), Some(Trainer), Some(Admin)];
    let statuses = [
        None,
        Some(Pending),
        Some(Approved),
        Some(Suspended),
        Some(Rejected),
    ];
    for role in roles {
        for status in statuses {
            let expected = in_directory_order(people.iter().filter(|p| {
                role.is_none_or(|r| r == p.role) && status.is_none_or(|s| s == p.status)
            }));
            let got = members::directory(&mut conn, club.id, admin.id, &query("", role, status, 1))
                .await
                .unwrap();
            assert_eq!(got.total, expected.len() as i64, "{role:?} {status:?}");
            assert_eq!(
                ids(&got),
                expected[..expected.len().min(50)],
                "{role:?} {status:?}"
            );
        }
    }
    // Filters and a search together.
    let got = members::directory(
        &mut conn,
        club.id,
        admin.id,
        &query("CARLA", Some(Trainer), Some(Approved), 1),
    )
    .await
    .unwrap();
    let expected = in_directory_order(
        people
            .iter()
            .filter(|p| p.name.starts_with("CARLA") && p.role == Trainer && p.status == Approved),
    );
    assert!(!expected.is_empty());
    assert_eq!(ids(&got), expected);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_directory_searches_names_in_any_case_and_emails_for_admins_only(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let people = seed_directory(&pool, club.id, &admin).await;
    let grace = person(&pool, "Grace Hopper", "gh1906@navy.example").await;
    let jorg = person(&pool, "Jörg Ödegaard", "jorg@example.net").await;
    let trainer = person(&pool, "Tina Trainer", "tina@example.net").await;
    let mut conn = pool.acquire().await.unwrap();
    for (user, role) in [(&grace, Member), (&jorg, Member), (&trainer, Trainer)] {
        fx::put_membership(&mut conn, club.id, user.id, role, Approved)
            .await
            .unwrap();
    }

    let search = |actor: UserId, q: &'static str| {
        let pool = pool.clone();
        async move {
            let mut conn = pool.acquire().await.unwrap();
            members::directory(&mut conn, club.id, actor, &query(q, None, None, 1))
                .await
                .unwrap()
        }
    };
    // Part of a name, in any case, surrounding spaces ignored.
    let expected = in_directory_order(
        people
            .iter()
            .filter(|p| p.name.to_lowercase().contains("carla")),
    );
    for q in ["carla", "CARLA", "  cArLa  "] {
        let got = search(admin.id, q).await;
        assert_eq!(
            (ids(&got), got.total),
            (expected.clone(), expected.len() as i64),
            "{q:?}"
        );
    }
    let got = search(admin.id, "ber00").await;
    let expected = in_directory_order(people.iter().filter(|p| p.name.contains("ber00")));
    assert_eq!(ids(&got), expected);
    assert_eq!(ids(&search(admin.id, "hopper").await), [grace.id]);
    assert_eq!(ids(&search(admin.id, "ÖDEGAARD").await), [jorg.id]);

    // Admins also search by email; trainers do not.
    assert_eq!(ids(&search(admin.id, "NAVY.example").await), [grace.id]);
    let got = search(trainer.id, "navy").await;
    assert_eq!((got.entries.len(), got.total), (0, 0));
    assert_eq!(ids(&search(trainer.id, "grace").await), [grace.id]);
    assert_eq!(search(admin.id, "@example.org").await.total, 120);
    assert_eq!(search(trainer.id, "@example.org").await.total, 0);
    // A trainer's search on a name that also matches an email still finds the name.
    assert_eq!(ids(&search(trainer.id, "hopper").await), [grace.id]);

    let err = members::directory(
        &mut conn,
        club.id,
        admin.id,
        &query(&"x".repeat(101), None, None, 1),
    )
    .await
    .unwrap_err();
    assert!(err.field_message("q").is_some(), "{err:?}");
    let got = members::directory(
        &mut conn,
        club.id,
        admin.id,
        &query(&"x".repeat(100), None, None, 1),
    )
    .await
    .unwrap();
    assert_eq!(got.total, 0);
}

#[sqlx::test(migrations = "../migrations")]
async fn percent_underscore_and_backslash_match_only_themselves(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let names = [
        ("50%off", "p1@example.org"),
        ("50 off", "p2@example.org"),
        ("Ann_Lee", "p3@example.org"),
        ("AnnaLee", "p4@example.org"),
        ("Back\\slash", "p5@example.org"),
        ("Backslash", "p6@example.org"),
    ];
    let mut conn = pool.acquire().await.unwrap();
    let mut people = Vec::new();
    for (name, email) in names {
        let user = person(&pool, name, email).await;
        fx::put_membership(&mut conn, club.id, user.id, Member, Approved)
            .await
            .unwrap();
        people.push(user.id);
    }
    for (q, expected) in [
        ("%", vec![people[0]]),
        ("50%", vec![people[0]]),
        ("_", vec![people[2]]),
        ("n_l", vec![people[2]]),
        ("\\", vec![people[4]]),
        ("k\\s", vec![people[4]]),
        ("%%", vec![]),
    ] {
        let got = members::directory(&mut conn, club.id, admin.id, &query(q, None, None, 1))
            .await
            .unwrap();
        assert_eq!(ids(&got), expected, "{q:?}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn trainers_see_approved_names_and_roles_and_others_nothing(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let people = seed_directory(&pool, club.id, &admin).await;
    let (_, other_admin) = fx::society_with_admin(&pool, "other").await;
    let find = |role, status| {
        people
            .iter()
            .find(|p| p.id != admin.id && p.role == role && p.status == status)
            .unwrap()
            .id
    };
    let trainer = find(Trainer, Approved);
    let mut conn = pool.acquire().await.unwrap();

    let approved: Vec<&Seeded> = people.iter().filter(|p| p.status == Approved).collect();
    let expected = in_directory_order(approved.iter().copied());
    let mut seen = Vec::new();
    for page in 1..=3 {
        let got = members::directory(&mut conn, club.id, trainer, &query("", None, None, page))
            .await
            .unwrap();
        assert_eq!((got.total, got.full), (approved.len() as i64, false));
        for entry in &got.entries {
            assert_eq!(
                (&entry.email, entry.status, entry.since),
                (&None, None, None)
            );
            let person = people.iter().find(|p| p.id == entry.user_id).unwrap();
            assert_eq!((&entry.name, entry.role), (&person.name, person.role));
        }
        seen.extend(ids(&got));
    }
    assert_eq!(seen, expected);
    // Asking for other statuses still shows approved members only.
    for status in [Pending, Suspended, Rejected] {
        let got = members::directory(
            &mut conn,
            club.id,
            trainer,
            &query("", None, Some(status), 1),
        )
        .await
        .unwrap();
        assert_eq!(got.total, approved.len() as i64, "{status:?}");
    }
    let got = members::directory(
        &mut conn,
        club.id,
        trainer,
        &query("", Some(Admin), None, 1),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&got),
        in_directory_order(approved.iter().copied().filter(|p| p.role == Admin))
    );

    for (who, actor) in [
        ("member", find(Member, Approved)),
        ("pending trainer", find(Trainer, Pending)),
        ("suspended trainer", find(Trainer, Suspended)),
        ("pending admin", find(Admin, Pending)),
        ("other society's admin", other_admin.id),
        ("stranger", fx::user(&pool, "stranger", false).await.id),
    ] {
        assert_eq!(
            members::directory(&mut conn, club.id, actor, &query("", None, None, 1)).await,
            Err(AppError::Forbidden),
            "{who}"
        );
    }
}
