//! Society settings and the audit log.

use super::*;

async fn society_row(pool: &PgPool, society: SocietyId) -> app::societies::Society {
    let slug: String = sqlx::query_scalar("select slug from societies where id = $1")
        .bind(society.0)
        .fetch_one(pool)
        .await
        .unwrap();
    app::societies::db::find_by_slug(pool, &slug)
        .await
        .unwrap()
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_change_settings_and_the_audit_log_keeps_only_what_changed(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mut conn = pool.acquire().await.unwrap();

    let updated = crate::calls::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings(
            "  Harbour RC  ",
            "\n We row at dawn. \n",
            "Europe/Berlin",
            JoinPolicy::Open,
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            updated.name.as_str(),
            updated.description.as_str(),
            updated.time_zone.as_str(),
            updated.join_policy,
            updated.slug.as_str()
        ),
        (
            "Harbour RC",
            "We row at dawn.",
            "Europe/Berlin",
            JoinPolicy::Open,
            "club"
        )
    );
    assert_eq!(society_row(&pool, club.id).await, updated);
    assert_eq!(
        audit_rows(&pool, "society.settings_changed").await,
        [(
            Some(admin.id.0),
            Some(club.id.0.to_string()),
            json!({
                "name": { "from": "Harbour Rowing Club", "to": "Harbour RC" },
                "description": { "from": "", "to": "We row at dawn." },
                "join_policy": { "from": "approval", "to": "open" },
            })
        )]
    );

    // The same settings again (spaces aside): no audit row.
    crate::calls::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings(
            "Harbour RC ",
            "We row at dawn.",
            " Europe/Berlin",
            JoinPolicy::Open,
        ),
    )
    .await
    .unwrap();
    assert_eq!(audit_rows(&pool, "society.settings_changed").await.len(), 1);

    // One field changed: one field recorded. The longest name and description are fine.
    let name = "N".repeat(100);
    let description = "ü".repeat(4000);
    crate::calls::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings(&name, &description, "America/New_York", JoinPolicy::Open),
    )
    .await
    .unwrap();
    crate::calls::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings(&name, &description, "Asia/Tokyo", JoinPolicy::Open),
    )
    .await
    .unwrap();
    let rows = audit_rows(&pool, "society.settings_changed").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2].2,
        json!({ "time_zone": { "from": "America/New_York", "to": "Asia/Tokyo" } })
    );
    let row = society_row(&pool, club.id).await;
    assert_eq!(
        (row.name, row.description, row.time_zone),
        (name, description, "Asia/Tokyo".to_string())
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn invalid_settings_are_refused_with_nothing_written(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let ok = |f: fn(&mut SocietySettings)| {
        let mut s = settings("Harbour RC", "", "UTC", JoinPolicy::Open);
        f(&mut s);
        s
    };
    let cases = [
        (ok(|s| s.name = String::new()), "name"),
        (ok(|s| s.name = "   ".into()), "name"),
        (ok(|s| s.name = "n".repeat(101)), "name"),
        (ok(|s| s.description = "d".repeat(4001)), "description"),
        (
            ok(|s| s.time_zone = "Mars/Olympus_Mons".into()),
            "time_zone",
        ),
        (ok(|s| s.time_zone = String::new()), "time_zone"),
        (
            ok(|s| s.time_zone = "europe/berlin-ish".into()),
            "time_zone",
        ),
    ];
    for (new, field) in cases {
        let err = crate::calls::update_settings(&mut conn, club.id, admin.id, new.clone())
            .await
            .unwrap_err();
        assert!(
            err.field_message(field).is_some(),
            "{new:?} should fail on {field}, got {err:?}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "nothing written");
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_societys_admins_change_its_settings(pool: PgPool) {
    let (club, _) = fx::society_with_admin(&pool, "club").await;
    let (_, other_admin) = fx::society_with_admin(&pool, "other").await;
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    for (who, actor) in [
        (
            "member",
            joined(&pool, club.id, "mo", Member, Approved).await.id,
        ),
        (
            "trainer",
            joined(&pool, club.id, "tr", Trainer, Approved).await.id,
        ),
        (
            "suspended admin",
            joined(&pool, club.id, "sa", Admin, Suspended).await.id,
        ),
        ("other society's admin", other_admin.id),
        ("platform admin", fx::user(&pool, "root", true).await.id),
    ] {
        let result = crate::calls::update_settings(
            &mut conn,
            club.id,
            actor,
            settings("Taken", "", "UTC", JoinPolicy::Open),
        )
        .await;
        assert_eq!(result, Err(AppError::Forbidden), "{who}");
    }
    let after = snapshot(&pool).await;
    assert_eq!(after.1, before.1, "the societies are unchanged");
    assert_eq!(after.2, before.2, "no audit row");
}

// ---------------------------------------------------------------------------------------
// The audit log

#[sqlx::test(migrations = "../migrations")]
async fn the_audit_log_pages_newest_first_for_admins_only(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, other_admin) = fx::society_with_admin(&pool, "other").await;
    // 1 (created) + 99 requests = 100 entries: exactly two full pages.
    applicants(&pool, club.id, "applicant", 99).await;
    applicants(&pool, other.id, "elsewhere", 3).await;
    let all: Vec<i64> =
        sqlx::query_scalar("select id from audit_log where society_id = $1 order by id desc")
            .bind(club.id.0)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(all.len(), 100);
    let mut conn = pool.acquire().await.unwrap();

    let first = crate::calls::audit_list(&mut conn, club.id, admin.id, None)
        .await
        .unwrap();
    assert_eq!(first.entries.len(), 50);
    assert_eq!(first.next_before, Some(first.entries[49].id));
    let second = crate::calls::audit_list(&mut conn, club.id, admin.id, first.next_before)
        .await
        .unwrap();
    assert_eq!((second.entries.len(), second.next_before), (50, None));
    let seen: Vec<i64> = first
        .entries
        .iter()
        .chain(&second.entries)
        .map(|e| e.id)
        .collect();
    assert_eq!(seen, all, "every entry once, newest first");
    assert_eq!(
        second.entries.last().unwrap().action.as_str(),
        "society.created"
    );

    // One more entry makes a third page of one.
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    members::set_role(&mut conn, club.id, admin.id, mia.id, Trainer)
        .await
        .unwrap();
    let first = crate::calls::audit_list(&mut conn, club.id, admin.id, None)
        .await
        .unwrap();
    let second = crate::calls::audit_list(&mut conn, club.id, admin.id, first.next_before)
        .await
        .unwrap();
    let third = crate::calls::audit_list(&mut conn, club.id, admin.id, second.next_before)
        .await
        .unwrap();
    assert_eq!(
        (
            first.entries.len(),
            second.entries.len(),
            third.entries.len()
        ),
        (50, 50, 1)
    );
    assert!(second.next_before.is_some());
    assert_eq!(third.next_before, None);
    let oldest = *all.last().unwrap();
    let none = crate::calls::audit_list(&mut conn, club.id, admin.id, Some(oldest))
        .await
        .unwrap();
    assert_eq!((none.entries.len(), none.next_before), (0, None));

    for (who, actor) in [
        (
            "member",
            joined(&pool, club.id, "mo", Member, Approved).await.id,
        ),
        (
            "trainer",
            joined(&pool, club.id, "tr", Trainer, Approved).await.id,
        ),
        (
            "suspended admin",
            joined(&pool, club.id, "sa", Admin, Suspended).await.id,
        ),
        ("other society's admin", other_admin.id),
    ] {
        assert_eq!(
            crate::calls::audit_list(&mut conn, club.id, actor, None).await,
            Err(AppError::Forbidden),
            "{who}"
        );
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn audit_entries_name_actor_and_subject_and_summarize_the_details(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::request(&mut conn, club.id, mia.id, "I row")
        .await
        .unwrap();
    members::decide(
        &mut conn,
        club.id,
        admin.id,
        mia.id,
        Decision::Approve,
        "Welcome!",
    )
    .await
    .unwrap();
    members::set_role(&mut conn, club.id, admin.id, mia.id, Trainer)
        .await
        .unwrap();
    members::remove(&mut conn, club.id, admin.id, mia.id, "Gone")
        .await
        .unwrap();
    crate::calls::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings("Harbour Rowing Club", "", "UTC", JoinPolicy::Open),
    )
    .await
    .unwrap();
    crate::calls::invite(&mut conn, club.id, admin.id, "new@example.org", Trainer)
        .await
        .unwrap();

    // The order of a summary's parts follows the JSON keys, which jsonb does not keep.
    let parts = |detail: &str| {
        let mut parts: Vec<String> = detail.split(" · ").map(String::from).collect();
        parts.sort();
        parts
    };
    let log = crate::calls::audit_list(&mut conn, club.id, admin.id, None)
        .await
        .unwrap();
    let seen: Vec<_> = log
        .entries
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.actor.as_deref(),
                e.subject.as_deref(),
                parts(&e.detail),
            )
        })
        .collect();
    let a = Some(admin.name.as_str());
    let expected: Vec<_> = [
        (
            "invitation.created",
            a,
            None,
            "new@example.org · as trainer",
        ),
        (
            "society.settings_changed",
            a,
            None,
            "time zone: Europe/Berlin → UTC · join policy: approval → open",
        ),
        (
            "membership.removed",
            a,
            Some("mia"),
            "as trainer · Reason: Gone",
        ),
        (
            "membership.role_changed",
            a,
            Some("mia"),
            "member → trainer",
        ),
        ("membership.approved", a, Some("mia"), "Reason: Welcome!"),
        ("membership.requested", Some("mia"), None, "Message: I row"),
        ("society.created", a, None, ""),
    ]
    .into_iter()
    .map(|(action, actor, subject, detail)| (action, actor, subject, parts(detail)))
    .collect();
    assert_eq!(seen, expected);
}
