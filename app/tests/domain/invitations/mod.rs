//! Invitations by email: create, replace, revoke, expire, accept once.

use app::access::{CurrentUser, MembershipRole, MembershipStatus};
use app::auth::db::{self as users, Identity};
use app::error::AppError;
use app::ids::{InvitationId, SocietyId, UserId};
use app::invitations::db::{self as invitations, CreatedInvitation};
use app::invitations::{Delivery, InvitationState, INVITATION_DAYS, MAX_INVITATIONS_PER_HOUR};

use crate::calls as members;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::fx;

use MembershipRole::{Admin, Member, Trainer};
use MembershipStatus::{Approved, Pending, Rejected, Suspended};

mod accepting;
mod sending;

/// A user signed in through the identity provider as `subject`, with a verified `email`.
async fn account(pool: &PgPool, subject: &str, email: &str) -> CurrentUser {
    account_verified(pool, subject, email, true).await
}

/// A user signed in through the identity provider as `subject`, with `email`, which the
/// provider did (or did not) verify.
async fn account_verified(
    pool: &PgPool,
    subject: &str,
    email: &str,
    email_verified: bool,
) -> CurrentUser {
    let mut conn = pool.acquire().await.unwrap();
    users::upsert_identity(
        &mut conn,
        &Identity {
            issuer: "https://idp.test/realms/t".into(),
            subject: subject.into(),
            email: email.into(),
            email_verified,
            name: subject.into(),
            is_platform_admin: false,
        },
    )
    .await
    .unwrap()
}

async fn invite(
    pool: &PgPool,
    society: SocietyId,
    actor: UserId,
    email: &str,
    role: MembershipRole,
) -> CreatedInvitation {
    let mut tx = pool.begin().await.unwrap();
    let created = crate::calls::invite(&mut tx, society, actor, email, role)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    created
}

async fn accept(pool: &PgPool, token: &str, user: &CurrentUser) -> Result<String, AppError> {
    let mut tx = pool.begin().await.unwrap();
    let result = invitations::accept(&mut tx, token, user).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

async fn state(pool: &PgPool, token: &str) -> InvitationState {
    let mut conn = pool.acquire().await.unwrap();
    invitations::details(&mut conn, token).await.unwrap().state
}

/// Role and status of `user`'s membership in `society`, if any.
async fn membership(
    pool: &PgPool,
    society: SocietyId,
    user: UserId,
) -> Option<(MembershipRole, MembershipStatus)> {
    sqlx::query_as("select role, status from memberships where society_id = $1 and user_id = $2")
        .bind(society.0)
        .bind(user.0)
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// Who accepted and who revoked the invitation.
async fn ends(pool: &PgPool, id: InvitationId) -> (Option<Uuid>, Option<Uuid>) {
    sqlx::query_as(
        "select case when accepted_at is not null then accepted_by end,
                case when revoked_at is not null then revoked_by end
           from invitations where id = $1",
    )
    .bind(id.0)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn audit_count(pool: &PgPool, action: &str) -> i64 {
    sqlx::query_scalar("select count(*) from audit_log where action::text = $1")
        .bind(action)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Everything inviting could write: invitations, memberships, audit log, outbox.
async fn counts(pool: &PgPool) -> [i64; 4] {
    [
        fx::count(pool, "invitations").await,
        fx::count(pool, "memberships").await,
        fx::count(pool, "audit_log").await,
        fx::count(pool, "notification_outbox").await,
    ]
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, AppError>, part: &str) -> bool {
    matches!(result, Err(AppError::Conflict(m)) if m.contains(part))
}
