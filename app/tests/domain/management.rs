//! Managing members (roles, suspensions, removals, bulk decisions, the directory), the
//! society's settings and the audit log.

use app::audit::db as audit;
use app::auth::{CurrentUser, UserId};
use app::error::AppError;
use app::members::db as members;
use app::members::{Decision, DirectoryQuery, MembershipRole, MembershipStatus, MAX_BULK};
use app::societies::{db as societies, JoinPolicy, SocietyId, SocietySettings};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fx;

use MembershipRole::{Admin, Member, Trainer};
use MembershipStatus::{Approved, Pending, Rejected, Suspended};

/// A new user `name`, put into `society` with `role` and `status`.
async fn joined(
    pool: &PgPool,
    society: SocietyId,
    name: &str,
    role: MembershipRole,
    status: MembershipStatus,
) -> CurrentUser {
    let user = fx::user(pool, name, false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::put(&mut conn, society, user.id, role, status)
        .await
        .unwrap();
    user
}

/// A new user with exactly this name and address.
async fn person(pool: &PgPool, name: &str, email: &str) -> CurrentUser {
    let mut conn = pool.acquire().await.unwrap();
    app::auth::db::upsert_identity(
        &mut conn,
        &app::auth::db::Identity {
            issuer: "https://idp.test/realms/t".into(),
            subject: format!("sub-{email}"),
            email: email.into(),
            name: name.into(),
            is_platform_admin: false,
        },
    )
    .await
    .unwrap()
}

/// Role, status and decision reason of `user`'s membership in `society`, if any.
async fn membership(
    pool: &PgPool,
    society: SocietyId,
    user: UserId,
) -> Option<(MembershipRole, MembershipStatus, String)> {
    sqlx::query_as(
        "select role, status, decision_reason from memberships where society_id = $1 and user_id = $2",
    )
    .bind(society.0)
    .bind(user.0)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// `(actor, subject, details)` of the audit rows with `action`, oldest first.
async fn audit_rows(
    pool: &PgPool,
    action: &str,
) -> Vec<(Option<Uuid>, Option<String>, serde_json::Value)> {
    sqlx::query_as(
        "select actor_id, subject_id, details from audit_log where action = $1 order by id",
    )
    .bind(action)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// `(recipient, payload)` of the outbox rows of `kind`, oldest first.
async fn outbox(pool: &PgPool, kind: &str) -> Vec<(Option<Uuid>, serde_json::Value)> {
    sqlx::query_as(
        "select recipient_id, payload from notification_outbox where kind = $1 order by id",
    )
    .bind(kind)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn approved_admins(pool: &PgPool, society: SocietyId) -> i64 {
    sqlx::query_scalar(
        "select count(*) from memberships where society_id = $1 and role = 'admin' and status = 'approved'",
    )
    .bind(society.0)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Everything an admin action could change: memberships, societies, audit and outbox.
async fn snapshot(
    pool: &PgPool,
) -> (
    Vec<(Uuid, Uuid, String, String, String)>,
    Vec<(Uuid, String, String, String, String)>,
    i64,
    i64,
) {
    let memberships = sqlx::query_as(
        "select society_id, user_id, role::text, status::text, decision_reason from memberships order by 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let societies = sqlx::query_as(
        "select id, name, description, time_zone, join_policy::text from societies order by id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (
        memberships,
        societies,
        fx::count(pool, "audit_log").await,
        fx::count(pool, "notification_outbox").await,
    )
}

fn is_conflict(result: &Result<(), AppError>, part: &str) -> bool {
    matches!(result, Err(AppError::Conflict(m)) if m.contains(part))
}

// ---------------------------------------------------------------------------------------
// Roles, suspensions, removals

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

/// Two admins demote each other in two transactions at once.
async fn demote_each_other(
    pool: &PgPool,
    club: SocietyId,
    a: UserId,
    b: UserId,
) -> (Result<(), AppError>, Result<(), AppError>) {
    let demote = |actor: UserId, member: UserId| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            let result = members::set_role(&mut tx, club, actor, member, Member).await;
            if result.is_ok() {
                // Hold the locks a moment so the other demotion really has to wait.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                tx.commit().await.unwrap();
            }
            result
        }
    };
    tokio::join!(demote(a, b), demote(b, a))
}

#[sqlx::test(migrations = "../migrations")]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;

    for round in 0..5 {
        let mut conn = pool.acquire().await.unwrap();
        for user in [admin.id, second.id] {
            members::put(&mut conn, club.id, user, Admin, Approved)
                .await
                .unwrap();
        }
        drop(conn);
        let (a, b) = demote_each_other(&pool, club.id, admin.id, second.id).await;
        assert_eq!(
            [&a, &b].iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {a:?} / {b:?}"
        );
        let loser = if a.is_ok() { b } else { a };
        // The loser is either the last admin now, or no admin any more.
        assert!(
            is_conflict(&loser, "last admin") || loser == Err(AppError::Forbidden),
            "round {round}: {loser:?}"
        );
        assert_eq!(approved_admins(&pool, club.id).await, 1, "round {round}");
        assert_eq!(
            audit_rows(&pool, "membership.role_changed").await.len(),
            round + 1,
            "one change per round"
        );
    }
}

// Regression: the caller's admin role is checked after the society lock is taken, so an
// admin demoted while waiting for it can no longer act as one.
#[sqlx::test(migrations = "../migrations")]
async fn an_admin_demoted_while_waiting_for_the_lock_can_no_longer_demote(pool: PgPool) {
    let (club, ada) = fx::society_with_admin(&pool, "club").await;
    let bob = joined(&pool, club.id, "bob", Admin, Approved).await;
    // A third admin, so that neither demotion would leave the society without one.
    joined(&pool, club.id, "cy", Admin, Approved).await;

    // Ada demotes Bob and holds the society lock until she commits...
    let mut first = pool.begin().await.unwrap();
    members::set_role(&mut first, club.id, ada.id, bob.id, Member)
        .await
        .unwrap();
    // ...while Bob, still an admin when he starts, demotes Ada.
    let second = async {
        let mut tx = pool.begin().await.unwrap();
        let result = members::set_role(&mut tx, club.id, bob.id, ada.id, Member).await;
        if result.is_ok() {
            tx.commit().await.unwrap();
        }
        result
    };
    let commit_first = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        first.commit().await.unwrap();
    };
    let ((), second) = tokio::join!(commit_first, second);

    // Run one after the other, Bob's demotion comes after he lost his admin rights.
    assert_eq!(second, Err(AppError::Forbidden));
    assert_eq!(
        membership(&pool, club.id, ada.id).await.map(|m| m.0),
        Some(Admin)
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
            societies::update_settings(c, society, actor, settings)
                .await
                .map(drop),
        ),
        (
            "audit list",
            audit::list(c, society, actor, None).await.map(drop),
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

// ---------------------------------------------------------------------------------------
// Deciding many requests at once

/// `n` people asking to join `society`, in the order they asked.
async fn applicants(pool: &PgPool, society: SocietyId, prefix: &str, n: usize) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let user = fx::user(pool, &format!("{prefix}-{i}"), false).await;
        let mut conn = pool.acquire().await.unwrap();
        members::request(&mut conn, society, user.id, "")
            .await
            .unwrap();
        ids.push(user.id);
    }
    ids
}

/// How many audit rows record a decision on `member`'s request.
async fn decisions_on(pool: &PgPool, member: UserId) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_log
          where action in ('membership.approved', 'membership.rejected') and subject_id = $1",
    )
    .bind(member.0.to_string())
    .fetch_one(pool)
    .await
    .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_approval_decides_each_request_with_its_own_audit_row(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let ids = applicants(&pool, club.id, "applicant", 5).await;
    let mut tx = pool.begin().await.unwrap();
    let outcome = members::decide_many(
        &mut tx,
        club.id,
        admin.id,
        &ids,
        Decision::Approve,
        " Welcome aboard ",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    assert_eq!((outcome.decided, outcome.skipped), (5, 0));
    let mut conn = pool.acquire().await.unwrap();
    for id in &ids {
        assert_eq!(
            membership(&pool, club.id, *id).await,
            Some((Member, Approved, "Welcome aboard".into()))
        );
        assert_eq!(
            members::require_role(&mut conn, club.id, *id, Member).await,
            Ok(Member)
        );
        assert_eq!(decisions_on(&pool, *id).await, 1);
    }
    let rows = audit_rows(&pool, "membership.approved").await;
    assert_eq!(rows.len(), 5);
    assert!(rows
        .iter()
        .all(|(actor, _, d)| *actor == Some(admin.id.0)
            && *d == json!({ "reason": "Welcome aboard" })));
    let mut told: Vec<Uuid> = outbox(&pool, "membership.approved")
        .await
        .into_iter()
        .map(|(to, _)| to.unwrap())
        .collect();
    told.sort();
    let mut expected: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    expected.sort();
    assert_eq!(told, expected, "each person is told once");
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(0)
    );

    // Naming someone twice decides them once.
    let more = applicants(&pool, club.id, "twice", 1).await;
    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &[more[0], more[0]],
        Decision::Reject,
        "",
    )
    .await
    .unwrap();
    assert_eq!(outcome.decided, 1);
    assert_eq!(decisions_on(&pool, more[0]).await, 1);
    assert_eq!(
        membership(&pool, club.id, more[0]).await.map(|m| m.1),
        Some(Rejected)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_decisions_skip_and_count_what_is_no_longer_pending(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let ids = applicants(&pool, club.id, "applicant", 4).await;
    let elsewhere = applicants(&pool, other.id, "elsewhere", 1).await[0];
    let member = joined(&pool, club.id, "mia", Trainer, Approved).await;
    let stranger = fx::user(&pool, "stranger", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::decide(
        &mut conn,
        club.id,
        admin.id,
        ids[0],
        Decision::Reject,
        "Full",
    )
    .await
    .unwrap();

    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &[
            ids[0],
            ids[1],
            ids[2],
            member.id,
            stranger.id,
            elsewhere,
            UserId(Uuid::new_v4()),
        ],
        Decision::Approve,
        "",
    )
    .await
    .unwrap();

    assert_eq!((outcome.decided, outcome.skipped), (2, 5));
    assert_eq!(
        membership(&pool, club.id, ids[0]).await,
        Some((Member, Rejected, "Full".into())),
        "the earlier decision stands"
    );
    for id in [ids[1], ids[2]] {
        assert_eq!(
            membership(&pool, club.id, id).await.map(|m| m.1),
            Some(Approved)
        );
    }
    assert_eq!(
        membership(&pool, club.id, ids[3]).await.map(|m| m.1),
        Some(Pending)
    );
    assert_eq!(
        membership(&pool, club.id, member.id).await,
        Some((Trainer, Approved, String::new()))
    );
    assert_eq!(membership(&pool, club.id, stranger.id).await, None);
    assert_eq!(
        membership(&pool, other.id, elsewhere).await.map(|m| m.1),
        Some(Pending),
        "another society's request is not touched"
    );
    assert_eq!(audit_rows(&pool, "membership.approved").await.len(), 2);
    assert_eq!(outbox(&pool, "membership.approved").await.len(), 2);
}

#[sqlx::test(migrations = "../migrations")]
async fn bulk_decisions_take_one_to_200_requests_and_a_short_reason(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let ids = applicants(&pool, club.id, "applicant", 2).await;
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();

    let err = members::decide_many(&mut conn, club.id, admin.id, &[], Decision::Approve, "")
        .await
        .unwrap_err();
    assert!(err.field_message("members").is_some(), "{err:?}");

    let mut many: Vec<UserId> = (0..MAX_BULK).map(|_| UserId(Uuid::new_v4())).collect();
    many.extend(&ids);
    assert_eq!(many.len(), MAX_BULK + 2);
    let err = members::decide_many(&mut conn, club.id, admin.id, &many, Decision::Approve, "")
        .await
        .unwrap_err();
    assert!(err.field_message("members").is_some(), "{err:?}");

    let long = "x".repeat(1001);
    let err = members::decide_many(&mut conn, club.id, admin.id, &ids, Decision::Approve, &long)
        .await
        .unwrap_err();
    assert!(err.field_message("reason").is_some(), "{err:?}");
    assert_eq!(snapshot(&pool).await, before, "nothing written");

    // Exactly 200, with a reason of exactly 1000 characters, is fine.
    let mut most: Vec<UserId> = (0..MAX_BULK - 1).map(|_| UserId(Uuid::new_v4())).collect();
    most.push(ids[0]);
    let reason = "é".repeat(1000);
    let outcome = members::decide_many(
        &mut conn,
        club.id,
        admin.id,
        &most,
        Decision::Approve,
        &reason,
    )
    .await
    .unwrap();
    assert_eq!((outcome.decided, outcome.skipped), (1, MAX_BULK as u32 - 1));
    assert_eq!(
        membership(&pool, club.id, ids[0]).await,
        Some((Member, Approved, reason))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn two_bulk_decisions_over_overlapping_sets_decide_each_request_once(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;

    for round in 0..3 {
        let ids = applicants(&pool, club.id, &format!("round{round}"), 40).await;
        let first_set: Vec<UserId> = ids[..30].to_vec();
        // The other admin names them in the opposite order: no deadlock either way.
        let second_set: Vec<UserId> = ids[10..].iter().rev().copied().collect();
        let decide = |actor: UserId, set: Vec<UserId>, decision: Decision| {
            let pool = pool.clone();
            async move {
                let mut tx = pool.begin().await.unwrap();
                let result =
                    members::decide_many(&mut tx, club.id, actor, &set, decision, "").await;
                if result.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    tx.commit().await.unwrap();
                }
                result
            }
        };
        let (a, b) = tokio::join!(
            decide(admin.id, first_set, Decision::Approve),
            decide(second.id, second_set, Decision::Reject)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.decided + b.decided, 40, "round {round}: {a:?} / {b:?}");
        assert_eq!(a.skipped + b.skipped, 20, "round {round}: {a:?} / {b:?}");
        for id in &ids {
            assert_eq!(decisions_on(&pool, *id).await, 1, "round {round}");
            let told: i64 = sqlx::query_scalar(
                "select count(*) from notification_outbox where recipient_id = $1",
            )
            .bind(id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
            assert_eq!(told, 1, "round {round}: one decision, one notification");
            assert_ne!(
                membership(&pool, club.id, *id).await.map(|m| m.1),
                Some(Pending)
            );
        }
        // Those only one admin named got that admin's decision.
        assert_eq!(
            membership(&pool, club.id, ids[0]).await.map(|m| m.1),
            Some(Approved)
        );
        assert_eq!(
            membership(&pool, club.id, ids[39]).await.map(|m| m.1),
            Some(Rejected)
        );
    }
}

// Regression: deciding a request while another admin acts on the same person must not
// deadlock: every admin action locks the society row first, then membership rows. A third
// transaction holding the society row (a settings change) forces the old bad order.
#[sqlx::test(migrations = "../migrations")]
async fn deciding_a_request_while_another_admin_acts_on_the_same_person_does_not_fail(
    pool: PgPool,
) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = joined(&pool, club.id, "second-admin", Admin, Approved).await;
    let applicant = applicants(&pool, club.id, "applicant", 1).await[0];
    let ms = std::time::Duration::from_millis;

    // A settings change holds the society row for a moment...
    let mut settings_tx = pool.begin().await.unwrap();
    societies::update_settings(
        &mut settings_tx,
        club.id,
        admin.id,
        settings("Harbour RC", "", "Europe/Berlin", JoinPolicy::Approval),
    )
    .await
    .unwrap();
    // ...while the second admin suspends the applicant (waiting for the society row)...
    let suspend = async {
        let mut tx = pool.begin().await.unwrap();
        let result = members::suspend(&mut tx, club.id, second.id, applicant, "").await;
        if result.is_ok() {
            tx.commit().await.unwrap();
        }
        result
    };
    // ...and, a moment later, the first admin approves the request.
    let decide = async {
        tokio::time::sleep(ms(100)).await;
        let mut tx = pool.begin().await.unwrap();
        let result =
            members::decide(&mut tx, club.id, admin.id, applicant, Decision::Approve, "").await;
        if result.is_ok() {
            tx.commit().await.unwrap();
        }
        result
    };
    let settings_done = async {
        tokio::time::sleep(ms(300)).await;
        settings_tx.commit().await.unwrap();
    };
    let (suspended, decided, ()) = tokio::join!(suspend, decide, settings_done);

    // Either order is fine: the suspension comes too early (the request is still pending)
    // or right after the approval. Neither call may fail on the database.
    assert_eq!(decided, Ok(Approved), "suspend: {suspended:?}");
    assert!(
        suspended.is_ok() || is_conflict(&suspended, "not been approved"),
        "{suspended:?}"
    );
    assert_eq!(decisions_on(&pool, applicant).await, 1);
}

#[sqlx::test(migrations = "../migrations")]
async fn an_over_long_reason_is_refused_and_nothing_is_written(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    let pia = applicants(&pool, club.id, "pia", 1).await[0];
    let before = snapshot(&pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let c = &mut *conn;
    let long = "x".repeat(1001);

    let results = [
        members::suspend(c, club.id, admin.id, mia.id, &long).await,
        members::remove(c, club.id, admin.id, mia.id, &long).await,
        members::decide(c, club.id, admin.id, pia, Decision::Reject, &long)
            .await
            .map(drop),
        members::decide_many(c, club.id, admin.id, &[pia], Decision::Reject, &long)
            .await
            .map(drop),
    ];
    for result in results {
        assert!(
            result
                .as_ref()
                .unwrap_err()
                .field_message("reason")
                .is_some(),
            "{result:?}"
        );
    }
    assert_eq!(snapshot(&pool).await, before, "nothing written");

    // 1000 characters (after trimming) are fine.
    let longest = format!("  {}  ", "y".repeat(1000));
    members::suspend(c, club.id, admin.id, mia.id, &longest)
        .await
        .unwrap();
    assert_eq!(
        membership(&pool, club.id, mia.id).await,
        Some((Member, Suspended, "y".repeat(1000)))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn pending_count_counts_the_waiting_requests_of_this_society(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (other, _) = fx::society_with_admin(&pool, "other").await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(0)
    );
    let ids = applicants(&pool, club.id, "applicant", 3).await;
    applicants(&pool, other.id, "elsewhere", 2).await;
    joined(&pool, club.id, "mia", Member, Approved).await;
    joined(&pool, club.id, "rick", Member, Rejected).await;
    joined(&pool, club.id, "sue", Member, Suspended).await;
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(3)
    );
    members::decide(&mut conn, club.id, admin.id, ids[0], Decision::Approve, "")
        .await
        .unwrap();
    members::withdraw(&mut conn, club.id, ids[1]).await.unwrap();
    assert_eq!(
        members::pending_count(&mut conn, club.id, admin.id).await,
        Ok(1)
    );
    let trainer = joined(&pool, club.id, "trainer", Trainer, Approved).await;
    assert_eq!(
        members::pending_count(&mut conn, club.id, trainer.id).await,
        Err(AppError::Forbidden)
    );
}

// ---------------------------------------------------------------------------------------
// The member directory

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
        members::put(&mut conn, club.id, user.id, role, Approved)
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
        members::put(&mut conn, club.id, user.id, Member, Approved)
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

// ---------------------------------------------------------------------------------------
// Society settings

fn settings(
    name: &str,
    description: &str,
    time_zone: &str,
    join_policy: JoinPolicy,
) -> SocietySettings {
    SocietySettings {
        name: name.into(),
        description: description.into(),
        time_zone: time_zone.into(),
        join_policy,
    }
}

async fn society_row(pool: &PgPool, society: SocietyId) -> app::societies::Society {
    let slug: String = sqlx::query_scalar("select slug from societies where id = $1")
        .bind(society.0)
        .fetch_one(pool)
        .await
        .unwrap();
    societies::find_by_slug(pool, &slug).await.unwrap().unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn admins_change_settings_and_the_audit_log_keeps_only_what_changed(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mut conn = pool.acquire().await.unwrap();

    let updated = societies::update_settings(
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
    societies::update_settings(
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
    societies::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings(&name, &description, "America/New_York", JoinPolicy::Open),
    )
    .await
    .unwrap();
    societies::update_settings(
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
        let err = societies::update_settings(&mut conn, club.id, admin.id, new.clone())
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
        let result = societies::update_settings(
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

    let first = audit::list(&mut conn, club.id, admin.id, None)
        .await
        .unwrap();
    assert_eq!(first.entries.len(), 50);
    assert_eq!(first.next_before, Some(first.entries[49].id));
    let second = audit::list(&mut conn, club.id, admin.id, first.next_before)
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
    assert_eq!(second.entries.last().unwrap().action, "society.created");

    // One more entry makes a third page of one.
    let mia = joined(&pool, club.id, "mia", Member, Approved).await;
    members::set_role(&mut conn, club.id, admin.id, mia.id, Trainer)
        .await
        .unwrap();
    let first = audit::list(&mut conn, club.id, admin.id, None)
        .await
        .unwrap();
    let second = audit::list(&mut conn, club.id, admin.id, first.next_before)
        .await
        .unwrap();
    let third = audit::list(&mut conn, club.id, admin.id, second.next_before)
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
    let none = audit::list(&mut conn, club.id, admin.id, Some(oldest))
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
            audit::list(&mut conn, club.id, actor, None).await,
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
    societies::update_settings(
        &mut conn,
        club.id,
        admin.id,
        settings("Harbour Rowing Club", "", "UTC", JoinPolicy::Open),
    )
    .await
    .unwrap();
    app::members::invitations::create(&mut conn, club.id, admin.id, "new@example.org", Trainer)
        .await
        .unwrap();

    // The order of a summary's parts follows the JSON keys, which jsonb does not keep.
    let parts = |detail: &str| {
        let mut parts: Vec<String> = detail.split(" · ").map(String::from).collect();
        parts.sort();
        parts
    };
    let log = audit::list(&mut conn, club.id, admin.id, None)
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
