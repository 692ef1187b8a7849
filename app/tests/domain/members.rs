//! Joining, deciding, withdrawing and leaving: the membership rules.

use app::access::{MembershipRole, MembershipStatus};
use app::error::AppError;
use app::members::Decision;

use crate::calls as members;
use sqlx::PgPool;

use crate::fx;

async fn outbox(pool: &PgPool, kind: &str) -> Vec<uuid::Uuid> {
    sqlx::query_scalar("select recipient_id from notification_outbox where kind = $1 order by id")
        .bind(kind)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = "../migrations")]
async fn a_request_waits_for_approval_and_tells_the_admins(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut tx = pool.begin().await.unwrap();
    let status = members::request(&mut tx, club.id, mia.id, "  I rowed in school.  ")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(status, MembershipStatus::Pending);
    assert_eq!(outbox(&pool, "membership.requested").await, [admin.id.0]);
    let message: String = sqlx::query_scalar("select message from memberships where user_id = $1")
        .bind(mia.id.0)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(message, "I rowed in school.");
    // A pending member is no member: member things are refused.
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, MembershipRole::Member).await,
        Err(AppError::Forbidden)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn an_open_society_approves_at_once(pool: PgPool) {
    let (club, _) = fx::society_with_admin(&pool, "club").await;
    sqlx::query("update societies set join_policy = 'open'")
        .execute(&pool)
        .await
        .unwrap();
    let mia = fx::user(&pool, "mia", false).await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::request(&mut conn, club.id, mia.id, "")
            .await
            .unwrap(),
        MembershipStatus::Approved
    );
    assert_eq!(
        members::require_role(&mut conn, club.id, mia.id, MembershipRole::Member).await,
        Ok(MembershipRole::Member)
    );
    assert!(outbox(&pool, "membership.requested").await.is_empty());
}

#[sqlx::test(migrations = "../migrations")]
async fn asking_twice_is_a_clear_conflict_but_after_a_rejection_one_may_ask_again(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap();
    let again = members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap_err();
    assert!(
        matches!(again, AppError::Conflict(ref m) if m.contains("already asked")),
        "{again:?}"
    );

    members::decide(
        &mut conn,
        club.id,
        admin.id,
        mia.id,
        Decision::Reject,
        "Full this season",
    )
    .await
    .unwrap();
    assert_eq!(
        members::request(&mut conn, club.id, mia.id, "Again?")
            .await
            .unwrap(),
        MembershipStatus::Pending
    );
    let reason: String =
        sqlx::query_scalar("select decision_reason from memberships where user_id = $1")
            .bind(mia.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reason, "", "a new request starts clean");
}

#[sqlx::test(migrations = "../migrations")]
async fn bad_input_changes_nothing(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut conn = pool.acquire().await.unwrap();
    let long = "x".repeat(1001);
    let err = members::request(&mut conn, club.id, mia.id, &long)
        .await
        .unwrap_err();
    assert!(err.field_message("message").is_some());
    let unknown = app::ids::SocietyId(uuid::Uuid::new_v4());
    assert_eq!(
        members::request(&mut conn, unknown, mia.id, "").await,
        Err(AppError::NotFound)
    );
    assert_eq!(fx::count(&pool, "memberships").await, 1, "only the admin");

    members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap();
    let err = members::decide(
        &mut conn,
        club.id,
        admin.id,
        mia.id,
        Decision::Approve,
        &long,
    )
    .await
    .unwrap_err();
    assert!(err.field_message("reason").is_some());
    assert_eq!(
        members::status_of(&mut conn, club.id, mia.id)
            .await
            .unwrap(),
        Some(MembershipStatus::Pending)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn only_the_societys_admins_decide(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let (_, other_admin) = fx::society_with_admin(&pool, "other").await;
    let mia = fx::user(&pool, "mia", false).await;
    let tom = fx::user(&pool, "tom", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap();
    members::request(&mut conn, club.id, tom.id, "")
        .await
        .unwrap();
    members::decide(&mut conn, club.id, admin.id, tom.id, Decision::Approve, "")
        .await
        .unwrap();

    for outsider in [other_admin.id, tom.id, mia.id] {
        let err = members::decide(&mut conn, club.id, outsider, mia.id, Decision::Approve, "")
            .await
            .unwrap_err();
        assert_eq!(err, AppError::Forbidden);
    }
    assert_eq!(
        members::status_of(&mut conn, club.id, mia.id)
            .await
            .unwrap(),
        Some(MembershipStatus::Pending)
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn a_decision_is_audited_and_the_person_is_told(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut tx = pool.begin().await.unwrap();
    members::request(&mut tx, club.id, mia.id, "")
        .await
        .unwrap();
    let status = members::decide(
        &mut tx,
        club.id,
        admin.id,
        mia.id,
        Decision::Approve,
        "Welcome!",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(status, MembershipStatus::Approved);
    assert_eq!(outbox(&pool, "membership.approved").await, [mia.id.0]);
    let (actor, details): (uuid::Uuid, serde_json::Value) = sqlx::query_as(
        "select actor_id, details from audit_log where action = 'membership.approved'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (actor, details["reason"].as_str()),
        (admin.id.0, Some("Welcome!"))
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn two_admins_deciding_at_once_exactly_one_wins(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let second = fx::user(&pool, "second-admin", false).await;
    let mut conn = pool.acquire().await.unwrap();
    fx::put_membership(
        &mut conn,
        club.id,
        second.id,
        MembershipRole::Admin,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    drop(conn);

    let applicant = fx::user(&pool, "applicant", false).await;
    let mut conn = pool.acquire().await.unwrap();
    members::request(&mut conn, club.id, applicant.id, "")
        .await
        .unwrap();
    drop(conn);

    // The first admin's approval is made and not yet committed; the second admin's rejection
    // waits for it, then finds the request decided.
    let mut tx = pool.begin().await.unwrap();
    let a = members::decide(
        &mut tx,
        club.id,
        admin.id,
        applicant.id,
        Decision::Approve,
        "",
    )
    .await;
    let later = fx::in_background(&pool, move |c| {
        Box::pin(async move {
            members::decide(c, club.id, second.id, applicant.id, Decision::Reject, "").await
        })
    });
    fx::wait_until_blocked(&pool, 1).await;
    tx.commit().await.unwrap();
    let b = later.await.unwrap();

    assert_eq!(a, Ok(MembershipStatus::Approved));
    assert!(
        matches!(b, Err(AppError::Conflict(ref m)) if m.contains("already decided: the membership is approved")),
        "{b:?}"
    );
    let notified: i64 =
        sqlx::query_scalar("select count(*) from notification_outbox where recipient_id = $1")
            .bind(applicant.id.0)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(notified, 1, "one decision, one notification");
}

#[sqlx::test(migrations = "../migrations")]
async fn withdrawing_takes_back_only_a_pending_request(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mia = fx::user(&pool, "mia", false).await;
    let mut conn = pool.acquire().await.unwrap();
    assert_eq!(
        members::withdraw(&mut conn, club.id, mia.id).await,
        Err(AppError::NotFound)
    );
    members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap();
    members::withdraw(&mut conn, club.id, mia.id).await.unwrap();
    assert_eq!(
        members::status_of(&mut conn, club.id, mia.id)
            .await
            .unwrap(),
        None
    );

    members::request(&mut conn, club.id, mia.id, "")
        .await
        .unwrap();
    members::decide(&mut conn, club.id, admin.id, mia.id, Decision::Approve, "")
        .await
        .unwrap();
    assert_eq!(
        members::withdraw(&mut conn, club.id, mia.id).await,
        Err(AppError::NotFound)
    );
    members::leave(&mut conn, club.id, mia.id).await.unwrap();
    assert_eq!(
        members::status_of(&mut conn, club.id, mia.id)
            .await
            .unwrap(),
        None
    );
}

#[sqlx::test(migrations = "../migrations")]
async fn the_last_admin_cannot_leave_even_when_two_admins_leave_at_once(pool: PgPool) {
    let (club, admin) = fx::society_with_admin(&pool, "club").await;
    let mut conn = pool.acquire().await.unwrap();
    let err = members::leave(&mut conn, club.id, admin.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AppError::Conflict(ref m) if m.contains("last admin")),
        "{err:?}"
    );

    let second = fx::user(&pool, "second-admin", false).await;
    fx::put_membership(
        &mut conn,
        club.id,
        second.id,
        MembershipRole::Admin,
        MembershipStatus::Approved,
    )
    .await
    .unwrap();
    drop(conn);
    // The first admin's leaving is done and not yet committed; the second admin's waits on the
    // society lock, then finds itself the last admin.
    let mut tx = pool.begin().await.unwrap();
    let a = members::leave(&mut tx, club.id, admin.id).await;
    let later = fx::in_background(&pool, move |c| {
        Box::pin(async move { members::leave(c, club.id, second.id).await })
    });
    fx::wait_until_blocked(&pool, 1).await;
    tx.commit().await.unwrap();
    let b = later.await.unwrap();

    assert_eq!(a, Ok(()));
    assert!(
        matches!(b, Err(AppError::Conflict(ref m)) if m.contains("last admin")),
        "{b:?}"
    );
    let admins: i64 = sqlx::query_scalar(
        "select count(*) from memberships where role = 'admin' and status = 'approved'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(admins, 1);
}
