//! Memberships: a person's role and status in a society.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::UserId;
use crate::error::AppError;
use crate::societies::SocietyId;

mod views;

pub use views::{MembershipPanel, RequestsPage};

#[cfg(feature = "ssr")]
pub mod db;

/// What a member may do in a society.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "membership_role", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum MembershipRole {
    Member,
    Trainer,
    Admin,
}

/// Where a membership stands; only `Approved` counts as a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "membership_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum MembershipStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
}

/// An admin's answer to a request to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approve,
    Reject,
}

/// Longest message with a request to join, or reason for a decision.
pub const MAX_TEXT_LEN: usize = 1000;

impl MembershipRole {
    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Trainer => "Trainer",
            Self::Admin => "Admin",
        }
    }
}

impl MembershipStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Suspended => "Suspended",
        }
    }
}

/// One of the signed-in user's memberships, with the society it is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyMembership {
    pub society_id: SocietyId,
    pub society_slug: String,
    pub society_name: String,
    pub role: MembershipRole,
    pub status: MembershipStatus,
    /// Why an admin rejected or suspended, shown to the person.
    pub decision_reason: String,
}

/// A pending request to join, as the society's admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub user_id: UserId,
    pub name: String,
    pub email: String,
    pub message: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
}

/// The signed-in user's memberships, in every society.
#[server(endpoint = "my_memberships")]
pub async fn my_memberships() -> Result<Vec<MyMembership>, AppError> {
    let me = crate::auth::session::require_user().await?;
    let state = crate::state::state()?;
    db::list_for_user(&state.pool, me.id).await
}

#[cfg(feature = "ssr")]
async fn society_id(pool: &sqlx::PgPool, slug: &str) -> Result<SocietyId, AppError> {
    Ok(crate::societies::db::find_by_slug(pool, slug)
        .await?
        .ok_or(AppError::NotFound)?
        .id)
}

/// The signed-in caller, the server state and the society `slug` names.
#[cfg(feature = "ssr")]
async fn caller_in(
    slug: &str,
) -> Result<(crate::auth::CurrentUser, crate::state::AppState, SocietyId), AppError> {
    let me = crate::auth::session::require_user().await?;
    let state = crate::state::state()?;
    let society = society_id(&state.pool, slug).await?;
    Ok((me, state, society))
}

/// The signed-in user's membership in the society `slug` (`None` for visitors and non-members).
#[server(endpoint = "my_membership")]
pub async fn get_my_membership(slug: String) -> Result<Option<MyMembership>, AppError> {
    let Some(me) = crate::auth::session::current_user().await? else {
        return Ok(None);
    };
    let state = crate::state::state()?;
    let society = society_id(&state.pool, &slug).await?;
    Ok(db::list_for_user(&state.pool, me.id)
        .await?
        .into_iter()
        .find(|m| m.society_id == society))
}

/// Signed-in users: asks to join the society `slug`, with an optional message.
#[server(endpoint = "request_membership")]
#[tracing::instrument(skip_all)]
pub async fn request_membership(
    slug: String,
    message: Option<String>,
) -> Result<MembershipStatus, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    let status = db::request(&mut tx, society, me.id, message.as_deref().unwrap_or("")).await?;
    tx.commit().await?;
    Ok(status)
}

/// The requester: takes back their pending request.
#[server(endpoint = "withdraw_request")]
pub async fn withdraw_request(slug: String) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::withdraw(&mut tx, society, me.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Members: leave the society (not its last admin).
#[server(endpoint = "leave_society")]
pub async fn leave_society(slug: String) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::leave(&mut tx, society, me.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: the pending requests, oldest first.
#[server(endpoint = "list_requests")]
pub async fn list_requests(slug: String) -> Result<Vec<JoinRequest>, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    db::list_pending(&mut conn, society, me.id).await
}

/// Society admins: approves or rejects one pending request, with an optional reason.
#[server(endpoint = "decide_request")]
#[tracing::instrument(skip_all)]
pub async fn decide_request(
    slug: String,
    member: UserId,
    decision: Decision,
    reason: Option<String>,
) -> Result<MembershipStatus, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    let status = db::decide(
        &mut tx,
        society,
        me.id,
        member,
        decision,
        reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    Ok(status)
}
