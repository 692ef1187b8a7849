//! Managing members (roles, suspensions, removals, bulk decisions, the directory), the
//! society's settings and the audit log.

use app::access::{CurrentUser, MembershipRole, MembershipStatus};
use app::error::AppError;
use app::ids::{SocietyId, UserId};
use app::members::{Decision, DirectoryQuery, MAX_BULK};
use app::societies::{JoinPolicy, SocietySettings};

use crate::calls as members;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fx;

use MembershipRole::{Admin, Member, Trainer};
use MembershipStatus::{Approved, Pending, Rejected, Suspended};

mod decisions;
mod directory;
mod roles;
mod society;

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
    fx::put_membership(&mut conn, society, user.id, role, status)
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
            email_verified: true,
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
        "select actor_id, subject_id, details from audit_log where action::text = $1 order by id",
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
        calendar_public: false,
    }
}

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
