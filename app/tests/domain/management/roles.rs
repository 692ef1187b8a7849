//! Roles, suspensions and removals, and who may do them.

use super::*;

#[sqlx::test(migrations = "../migrations")]
async fn role_changes_are_audited_and_the_member_is_told(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    let mut conn = pool.acquire().await.unwrap();

    members::set_role(&mut conn, club.id, admin.id, mia.id, Trainer)
        .await
        .unwrap();
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Trainer).await,
        Ok(Trainer)
    );
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Admin).await,
        Err(AppError::Forbidden)
    );
    members::set_role(&mut conn, club.id, admin.id, mia.id, Admin)
        .await
        .unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await.map(|m| (m.0, m.1)),
        Some((Admin, Approved))
    );
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Admin).await,
        Ok(Admin)
    );

    let subject = Some(mia.id.0.to_string());
    assert_eq!(
        audit_rows(&pool, "membership.role_changed").await,
        [
            (
                Some(admin.id.0),
                subject.clone(),
                json!({ "from": "member", "to": "trainer" })
            ),
            (
                Some(admin.id.0),
                subject,
                json!({ "from": "trainer", "to": "admin" })
            ),
        ]
    );
    assert_eq!(
        outbox(&pool, "membership.role_changed").await,
        [
            (Some(mia.id.0), json!({ "from": "member", "to": "trainer" })),
            (Some(mia.id.0), json!({ "from": "trainer", "to": "admin" })),
        ]
    );

    // Setting the role someone already has changes nothing and tells no one.
    members::set_role(&mut conn, club.id, admin.id, mia.id, Admin)
        .await
        .unwrap();
    assert_eq!(audit_rows(&pool, "membership.role_changed").await.len(), 2);
    assert_eq!(outbox(&pool, "membership.role_changed").await.len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn the_last_admin_cannot_be_demoted_suspended_or_removed_until_there_is_another(
    pool: PgPool,
) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    // A suspended admin is no admin: they do not count as "another admin".
    joined(&pool, club.id, "sam", Admin, Suspended).await;
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();

    for role in [Member, Trainer] {
        let result = members::set_role(&mut conn, club.id, admin.id, admin.id, role).await;
        assert!(is_conflict(&result, "last admin"), "{role:?}: {result:?}");
    }
    let result = members::suspend(&mut conn, club.id, admin.id, admin.id, "").await;
    assert!(is_conflict(&result, "last admin"), "{result:?}");
    let result = members::remove(&mut conn, club.id, admin.id, admin.id, "").await;
    assert!(is_conflict(&result, "last admin"), "{result:?}");
    assert_eq!(snapshot(&pool).await, before, "nothing changed");
    assert_eq!(approved_admins(&pool, club.id).await, 1);

    // With a second admin, each of those works.
    members::set_role(&mut conn, club.id, admin.id, mia.id, Admin)
        .await
        .unwrap();
    members::set_role(&mut conn, club.id, mia.id, admin.id, Member)
        .await
        .unwrap();
    assert_eq!(
        membership(&pool, club.id, admin.id).await.map(|m| m.0),
        Some(Member)
    );
    members::set_role(&mut conn, club.id, mia.id, admin.id, Admin)
        .await
        .unwrap();
    members::suspend(&mut conn, club.id, mia.id, admin.id, "Holiday")
        .await
        .unwrap();
    assert_eq!(approved_admins(&pool, club.id).await, 1);
    // Mia is now the only approved admin.
    let result = members::set_role(&mut conn, club.id, mia.id, mia.id, Member).await;
    assert!(is_conflict(&result, "last admin"), "{result:?}");
    members::reinstate(&mut conn, club.id, mia.id, admin.id)
        .await
        .unwrap();
    members::remove(&mut conn, club.id, mia.id, admin.id, "Moved away")
        .await
        .unwrap();
    assert_eq!(membership(&pool, club.id, admin.id).await, None);
    assert_eq!(approved_admins(&pool, club.id).await, 1);
    let result = members::remove(&mut conn, club.id, mia.id, mia.id, "").await;
    assert!(is_conflict(&result, "last admin"), "{result:?}");
}

/// Two admins demote each other: `a`'s demotion of `b` is made and held uncommitted, `b`'s of
/// `a` waits on the society lock behind it, then `a` commits.
async fn demote_each_other(
    pool: &PgPool,
    club: SocietyId,
    a: UserId,
    b: UserId,
) -> (Result<(), AppError>, Result<(), AppError>) {
    let mut tx = pool.begin().await.unwrap();
    let first = members::set_role(&mut tx, club, a, b, Member).await;
    let second = fx::in_background(pool, move |c| {
        Box::pin(async move { members::set_role(c, club, b, a, Member).await })
    });
    fx::wait_until_blocked(pool, 1).await;
    tx.commit().await.unwrap();
    (first, second.await.unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;

    let (a, b) = demote_each_other(&pool, club.id, admin.id, second.id).await;
    assert_eq!(a, Ok(()));
    // The second call waited for the first and then saw that its caller is no admin any more.
    assert_eq!(b, Err(AppError::Forbidden));
    assert_eq!(approved_admins(&pool, club.id).await, 1);
    assert_eq!(
        membership(&pool, club.id, admin.id).await.map(|m| m.0),
        Some(Admin)
    );
    assert_eq!(audit_rows(&pool, "membership.role_changed").await.len(), 1);
}

// Regression: the caller's admin role is checked after the society lock is taken, so an
// admin demoted while waiting for it can no longer act as one. With a third admin, neither
// demotion alone would break the last-admin rule: only the check after the lock stops Bob.
#[sqlx::test(migrations = "../migrations")]
async fn an_admin_demoted_while_waiting_for_the_lock_can_no_longer_demote(pool: PgPool) {
    let (club, ada) = fx::society_with_admin(&pool, "club").await;
    let bob = joined(&pool, club.id, "bob", Admin, Approved).await;
    joined(&pool, club.id, "cy", Admin, Approved).await;

    let (first, second) = demote_each_other(&pool, club.id, ada.id, bob.id).await;

    assert_eq!(first, Ok(()));
    assert_eq!(second, Err(AppError::Forbidden));
    assert_eq!(
        membership(&pool, club.id, ada.id).await.map(|m| m.0),
        Some(Admin)
    );
    assert_eq!(
        membership(&pool, club.id, bob.id).await.map(|m| m.0),
        Some(Member)
    );
    assert_eq!(approved_admins(&pool, club.id).await, 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_suspension_takes_away_member_rights_until_reinstated(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Trainer, Approved).await;
    let mut conn = pool.acquire().await.unwrap();

    members::suspend(
        &mut conn,
        club.id,
        admin.id,
        mia.id,
        "  Fees unpaid since May. ",
    )
    .await
    .unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Trainer, Suspended, "Fees unpaid since May.".into()))
    );
    let decided_by: Option<Uuid> = sqlx::query_scalar(
        "select decided_by from memberships where user_id = $1 and decided_at is not null",
    )
    .bind(mia.id.0)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(decided_by, Some(admin.id.0));
    for min in [Member, Trainer] {
        assert_eq!(
            members::require_role(&mut conn, club.id, mia.id, min).await,
            Err(AppError::Forbidden)
        );
    }
    let mine = members::find_for_user(&pool, club.id, mia.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (mine.status, mine.decision_reason.as_str()),
        (Suspended, "Fees unpaid since May.")
    );
    let reason = json!({ "reason": "Fees unpaid since May." });
    assert_eq!(
        audit_rows(&pool, "membership.suspended").await,
        [(Some(admin.id.0), Some(mia.id.0.to_string()), reason.clone())]
    );
    assert_eq!(
        outbox(&pool, "membership.suspended").await,
        [(Some(mia.id.0), reason)]
    );

    let again = members::suspend(&mut conn, club.id, admin.id, mia.id, "Again").await;
    assert!(is_conflict(&again, "already suspended"), "{again:?}");
    assert_eq!(audit_rows(&pool, "membership.suspended").await.len(), 1);

    members::reinstate(&mut conn, club.id, admin.id, mia.id)
        .await
        .unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Trainer, Approved, String::new())),
        "the role is kept, the reason cleared"
    );
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Trainer).await,
        Ok(Trainer)
    );
    assert_eq!(
        audit_rows(&pool, "membership.reinstated").await,
        [(Some(admin.id.0), Some(mia.id.0.to_string()), json!({}))]
    );
    assert_eq!(
        outbox(&pool, "membership.reinstated").await,
        [(Some(mia.id.0), json!({}))]
    );
    let again = members::reinstate(&mut conn, club.id, admin.id, mia.id).await;
    assert!(is_conflict(&again, "not suspended"), "{again:?}");
    assert_eq!(audit_rows(&pool, "membership.reinstated").await.len(), 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn a_removed_member_is_gone_and_may_ask_again(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Trainer, Approved).await;
    let tom = joined(&pool, club.id, "tom", Member, Suspended).await;
    let mut conn = pool.acquire().await.unwrap();

    members::remove(&mut conn, club.id, admin.id, mia.id, "Left town")
        .await
        .unwrap();
    assert_eq!(membership(&pool, club.id, mia.id).await, None);
    assert_eq!(
        members::find_for_user(&pool, club.id, mia.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, Member).await,
        Err(AppError::Forbidden)
    );
    // A suspended member can be removed too.
    members::remove(&mut conn, club.id, admin.id, tom.id, "")
        .await
        .unwrap();
    assert_eq!(membership(&pool, club.id, tom.id).await, None);
    assert_eq!(
        audit_rows(&pool, "membership.removed").await,
        [
            (
                Some(admin.id.0),
                Some(mia.id.0.to_string()),
                json!({ "reason": "Left town", "role": "trainer" })
            ),
            (
                Some(admin.id.0),
                Some(tom.id.0.to_string()),
                json!({ "reason": "", "role": "member" })
            ),
        ]
    );
    assert_eq!(
        outbox(&pool, "membership.removed")
            .await
            .into_iter()
            .map(|(to, _)| to)
            .collect::<Vec<_>>(),
        [Some(mia.id.0), Some(tom.id.0)]
    );
    let again = members::remove(&mut conn, club.id, admin.id, mia.id, "").await;
    assert_eq!(again, Err(AppError::NotFound));

    assert_eq!(
        members::request(&mut conn, club.id, mia.id, "Back in town")
            .await
            .unwrap(),
        Pending
    );
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Member, Pending, String::new())),
        "a new request starts as a plain member"
    );
}

/// Every admin action by `actor` on `member` (approved) and `applicant` (pending).
async fn admin_actions(
    pool: &PgPool,
    society: SocietyId,
    actor: UserId,
    member: UserId,
    applicant: UserId,
) -> Vec<(&'static str, Result<(), AppError>)> {
    let mut conn = pool.acquire().await.unwrap();
    let c = &mut *conn;
    let settings = SocietySettings {
        name: "Taken Over".into(),
        description: "Ours now".into(),
        time_zone: "UTC".into(),
        join_policy: JoinPolicy::Open,
        calendar_public: true,
    };
    vec![
        (
            "set_role",
            members::set_role(c, society, actor, member, Admin).await,
        ),
        (
            "suspend",
            members::suspend(c, society, actor, member, "x").await,
        ),
        (
            "reinstate",
            members::reinstate(c, society, actor, member).await,
        ),
        (
            "remove",
            members::remove(c, society, actor, member, "x").await,
        ),
        (
            "decide",
            members::decide(c, society, actor, applicant, Decision::Approve, "")
                .await
                .map(drop),
        ),
        (
            "decide_many",
            members::decide_many(c, society, actor, &[applicant], Decision::Reject, "")
                .await
                .map(drop),
        ),
        (
            "list_pending",
            members::list_pending(c, society, actor).await.map(drop),
        ),
        (
            "pending_count",
            members::pending_count(c, society, actor).await.map(drop),
        ),
        (
            "update_settings",
            crate::calls::update_settings(c, society, actor, settings)
                .await
                .map(drop),
        ),
        (
            "audit list",
            crate::calls::audit_list(c, society, actor, None)
                .await
                .map(drop),
        ),
    ]
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_societys_approved_admins_manage_members(pool: PgPool) {
    let (club, _admin) = fx::society_with_admin(&pool, "club").await;
    let (_, other_admin) = fx::society_with_admin(&pool, "other").await;
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    let pia = joined(&pool, club.id, "pia", Member, Pending).await;
    let outsiders = [
        (
            "member",
            joined(&pool, club.id, "mo", Member, Approved).await,
        ),
        (
            "trainer",
            joined(&pool, club.id, "tr", Trainer, Approved).await,
        ),
        (
            "pending admin",
            joined(&pool, club.id, "pa", Admin, Pending).await,
        ),
        (
            "suspended admin",
            joined(&pool, club.id, "sa", Admin, Suspended).await,
        ),
        (
            "rejected admin",
            joined(&pool, club.id, "ra", Admin, Rejected).await,
        ),
        ("other society's admin", other_admin),
        ("platform admin", fx::user(&pool, "root", true).await),
        ("stranger", fx::user(&pool, "stranger", false).await),
    ];
    let before = snapshot(&pool).await;

    for (who, outsider) in &outsiders {
        for (action, result) in admin_actions(&pool, club.id, outsider.id, mia.id, pia.id).await {
            assert_eq!(result, Err(AppError::Forbidden), "{who}: {action}");
        }
    }
    // Not even on a society that does not exist, and nothing leaks about it.
    let nowhere = SocietyId(Uuid::new_v4());
    for (action, result) in admin_actions(&pool, nowhere, outsiders[5].1.id, mia.id, pia.id).await {
        assert_eq!(
            result,
            Err(AppError::Forbidden),
            "unknown society: {action}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "nothing changed");
}

#[sqlx::test(migrations = "../migrations")]
async fn acting_on_someone_without_an_approved_membership(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let stranger = fx::user(&pool, "stranger", false).await;
    let elsewhere = joined(&pool, other.id, "elsewhere", Member, Approved).await;
    let rejected = joined(&pool, club.id, "rejected", Member, Rejected).await;
    let pia = joined(&pool, club.id, "pia", Member, Pending).await;
    let ghost = UserId(Uuid::new_v4());
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let c = &mut *conn;

    for (who, id) in [
        ("stranger", stranger.id),
        ("member elsewhere", elsewhere.id),
        ("rejected", rejected.id),
        ("no such user", ghost),
    ] {
        let results = [
            members::set_role(c, club.id, admin.id, id, Trainer).await,
            members::suspend(c, club.id, admin.id, id, "").await,
            members::reinstate(c, club.id, admin.id, id).await,
            members::remove(c, club.id, admin.id, id, "").await,
        ];
        for result in results {
            assert_eq!(result, Err(AppError::NotFound), "{who}");
        }
    }
    let results = [
        members::set_role(c, club.id, admin.id, pia.id, Trainer).await,
        members::suspend(c, club.id, admin.id, pia.id, "").await,
        members::reinstate(c, club.id, admin.id, pia.id).await,
        members::remove(c, club.id, admin.id, pia.id, "").await,
    ];
    for result in results {
        assert!(is_conflict(&result, "not been approved"), "{result:?}");
    }
    // Deciding needs a pending request: none is NotFound, a decided one a Conflict.
    assert_eq!(
        members::decide(c, club.id, admin.id, stranger.id, Decision::Approve, "").await,
        Err(AppError::NotFound)
    );
    let decided = members::decide(c, club.id, admin.id, rejected.id, Decision::Approve, "").await;
    assert!(
        matches!(decided, Err(AppError::Conflict(ref m)) if m.contains("already decided")),
        "{decided:?}"
    );
    assert_eq!(snapshot(&pool).await, before, "nothing changed");
}
