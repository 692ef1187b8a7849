//! Memberships: a person's role and status in a society.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::UserId;
use crate::error::AppError;
use crate::societies::SocietyId;
#[cfg(feature = "ssr")]
use crate::societies::{caller_in, society_id};

mod directory_view;
mod invitation_views;
mod views;

pub use directory_view::MembersPage;
pub use invitation_views::{InvitationPage, InvitationsPage};
pub use views::{MembershipPanel, RequestsPage};

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod invitations;

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
/// Most requests decided in one go.
pub const MAX_BULK: usize = 200;
/// Longest directory search.
pub const MAX_SEARCH_LEN: usize = 100;
/// Members per directory page.
pub const DIRECTORY_PAGE_SIZE: u32 = 50;

impl MembershipRole {
    pub const ALL: [Self; 3] = [Self::Member, Self::Trainer, Self::Admin];

    pub fn label(self) -> &'static str {
        match self {
            Self::Member => "Member",
            Self::Trainer => "Trainer",
            Self::Admin => "Admin",
        }
    }

    /// The name used in URLs and forms (`member`, `trainer`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Trainer => "trainer",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl MembershipStatus {
    pub const ALL: [Self; 4] = [
        Self::Approved,
        Self::Pending,
        Self::Suspended,
        Self::Rejected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Approved => "Approved",
            Self::Rejected => "Rejected",
            Self::Suspended => "Suspended",
        }
    }

    /// The name used in URLs and forms (`pending`, `approved`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// What deciding many requests at once did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    /// Requests decided by this call.
    pub decided: u32,
    /// Requests that were no longer pending (another admin was faster) or unknown.
    pub skipped: u32,
}

/// A search of the member directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryQuery {
    /// Part of a name (or, for admins, an email address); empty for everyone.
    pub q: String,
    pub role: Option<MembershipRole>,
    pub status: Option<MembershipStatus>,
    /// 1-based page number.
    pub page: u32,
}

/// One person in the member directory. Trainers get the name and role only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    pub user_id: UserId,
    pub name: String,
    pub role: MembershipRole,
    pub email: Option<String>,
    pub status: Option<MembershipStatus>,
    /// When the membership was last decided (or asked for).
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// One page of the member directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryPage {
    pub entries: Vec<DirectoryEntry>,
    /// People matching the search, on all pages.
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    /// Whether the caller sees emails and statuses (admins) or names and roles (trainers).
    pub full: bool,
}

impl DirectoryPage {
    pub fn pages(&self) -> u32 {
        let per_page = i64::from(self.per_page.max(1));
        u32::try_from((self.total + per_page - 1) / per_page)
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
pub struct InvitationId(pub uuid::Uuid);

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Open,
    Expired,
    Accepted,
    Revoked,
}

impl InvitationState {
    pub fn of(
        accepted: bool,
        revoked: bool,
        expires_at: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        if accepted {
            Self::Accepted
        } else if revoked {
            Self::Revoked
        } else if expires_at <= now {
            Self::Expired
        } else {
            Self::Open
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Open => "Open",
            Self::Expired => "Expired",
            Self::Accepted => "Accepted",
            Self::Revoked => "Revoked",
        }
    }
}

/// An invitation as the society's admins see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub role: MembershipRole,
    /// The inviting admin's name.
    pub invited_by: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: InvitationState,
}

/// An invitation as the person holding its link sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationDetails {
    pub society_slug: String,
    pub society_name: String,
    pub email: String,
    pub role: MembershipRole,
    pub invited_by: Option<String>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub state: InvitationState,
}

/// What the navigation of a society's pages shows to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocietyNav {
    pub slug: String,
    pub name: String,
    /// The caller's role, when they are an approved member.
    pub role: Option<MembershipRole>,
    /// Requests waiting for a decision (admins only).
    pub pending_requests: Option<i64>,
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

/// The signed-in user's membership in the society `slug` (`None` for visitors and non-members).
#[server(endpoint = "my_membership")]
pub async fn get_my_membership(slug: String) -> Result<Option<MyMembership>, AppError> {
    let Some(me) = crate::auth::session::current_user().await? else {
        return Ok(None);
    };
    let state = crate::state::state()?;
    let society = society_id(&state.pool, &slug).await?;
    db::find_for_user(&state.pool, society, me.id).await
}

/// Everyone: the society's name and, for its members, what their navigation offers
/// (with the number of waiting requests for admins).
#[server(endpoint = "society_nav")]
pub async fn get_society_nav(slug: String) -> Result<SocietyNav, AppError> {
    let state = crate::state::state()?;
    let society = crate::societies::db::find_by_slug(&state.pool, &slug)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut nav = SocietyNav {
        slug: society.slug,
        name: society.name,
        role: None,
        pending_requests: None,
    };
    let Some(me) = crate::auth::session::current_user().await? else {
        return Ok(nav);
    };
    let mut conn = state.pool.acquire().await?;
    (nav.role, nav.pending_requests) = db::standing(&mut conn, society.id, me.id).await?;
    Ok(nav)
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

/// Society admins: approves or rejects many pending requests at once, with one optional
/// reason. Requests decided meanwhile by another admin are skipped and counted.
#[server(endpoint = "decide_requests")]
#[tracing::instrument(skip_all)]
pub async fn decide_requests(
    slug: String,
    #[server(default)] members: Vec<UserId>,
    decision: Decision,
    reason: Option<String>,
) -> Result<BulkOutcome, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    let outcome = db::decide_many(
        &mut tx,
        society,
        me.id,
        &members,
        decision,
        reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    Ok(outcome)
}

/// Admins (everyone, with emails) and trainers (approved members' names and roles): one page
/// of the member directory.
#[server(endpoint = "list_members")]
pub async fn list_members(
    slug: String,
    q: Option<String>,
    role: Option<MembershipRole>,
    status: Option<MembershipStatus>,
    page: Option<u32>,
) -> Result<DirectoryPage, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let query = DirectoryQuery {
        q: q.unwrap_or_default(),
        role,
        status,
        page: page.unwrap_or(1),
    };
    db::directory(&mut conn, society, me.id, &query).await
}

/// Society admins: makes a member a member, trainer or admin (not the last admin).
#[server(endpoint = "set_member_role")]
#[tracing::instrument(skip_all)]
pub async fn set_member_role(
    slug: String,
    member: UserId,
    role: MembershipRole,
) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::set_role(&mut tx, society, me.id, member, role).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: suspends a member, with an optional reason shown to them.
#[server(endpoint = "suspend_member")]
#[tracing::instrument(skip_all)]
pub async fn suspend_member(
    slug: String,
    member: UserId,
    reason: Option<String>,
) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::suspend(
        &mut tx,
        society,
        me.id,
        member,
        reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: lifts a member's suspension.
#[server(endpoint = "reinstate_member")]
#[tracing::instrument(skip_all)]
pub async fn reinstate_member(slug: String, member: UserId) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::reinstate(&mut tx, society, me.id, member).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: removes a member from the society, with an optional reason.
#[server(endpoint = "remove_member")]
#[tracing::instrument(skip_all)]
pub async fn remove_member(
    slug: String,
    member: UserId,
    reason: Option<String>,
) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    db::remove(
        &mut tx,
        society,
        me.id,
        member,
        reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: invites `email` to join with `role` and emails them a single-use link.
/// The email goes out before the invitation is saved: if it cannot be sent, nothing is kept.
#[server(endpoint = "invite_member")]
#[tracing::instrument(skip_all)]
pub async fn invite_member(
    slug: String,
    email: String,
    role: Option<MembershipRole>,
) -> Result<Invitation, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    let created = invitations::create(
        &mut tx,
        society,
        me.id,
        &email,
        role.unwrap_or(MembershipRole::Member),
    )
    .await?;
    let link = state
        .settings
        .link(&format!("/invitations/{}", created.token));
    state
        .mailer
        .send(invitations::email(&created, &me.name, &link))
        .await
        .map_err(|_| {
            AppError::Conflict(
                "The invitation email could not be sent, so no invitation was made. Please try again later."
                    .into(),
            )
        })?;
    crate::notifications::db::mark_sent(&mut tx, created.notification).await?;
    tx.commit().await?;
    Ok(created.invitation)
}

/// Society admins: the society's invitations, newest first.
#[server(endpoint = "list_invitations")]
pub async fn list_invitations(slug: String) -> Result<Vec<Invitation>, AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    invitations::list(&mut conn, society, me.id).await
}

/// Society admins: withdraws an open invitation; its link stops working.
#[server(endpoint = "revoke_invitation")]
#[tracing::instrument(skip_all)]
pub async fn revoke_invitation(slug: String, invitation: InvitationId) -> Result<(), AppError> {
    let (me, state, society) = caller_in(&slug).await?;
    let mut tx = state.pool.begin().await?;
    invitations::revoke(&mut tx, society, me.id, invitation).await?;
    tx.commit().await?;
    Ok(())
}

/// Anyone holding an invitation link: what it invites to.
#[server(endpoint = "invitation")]
pub async fn get_invitation(token: String) -> Result<InvitationDetails, AppError> {
    let state = crate::state::state()?;
    let mut conn = state.pool.acquire().await?;
    invitations::details(&mut conn, &token).await
}

/// The invitee, signed in with the invited address: accepts, becoming an approved member.
#[server(endpoint = "accept_invitation")]
#[tracing::instrument(skip_all)]
pub async fn accept_invitation(token: String) -> Result<String, AppError> {
    let me = crate::auth::session::require_user().await?;
    let state = crate::state::state()?;
    let mut tx = state.pool.begin().await?;
    let slug = invitations::accept(&mut tx, &token, &me).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/s/{slug}"));
    Ok(slug)
}
