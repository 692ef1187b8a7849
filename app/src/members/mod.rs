//! Memberships: a person's role and status in a society.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::access::{caller_in, lock_as_admin};
use crate::access::{MembershipRole, MembershipStatus};
use crate::error::AppError;
use crate::ids::{SocietyId, UserId};

mod directory_view;
mod views;

pub use directory_view::MembersPage;
pub use views::{MembershipPanel, RequestsPage};

#[cfg(feature = "ssr")]
pub mod db;

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

/// What deciding many requests at once did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkOutcome {
    /// Requests decided by this call.
    pub decided: u32,
    /// Requests that were no longer pending (another admin was faster) or unknown.
    pub skipped: u32,
}

impl BulkOutcome {
    /// "2 requests decided. 1 request had already been decided by another admin."
    pub fn summary(&self) -> String {
        let mut text = format!("{} decided.", crate::ui::plural(self.decided, "request"));
        if self.skipped > 0 {
            text.push_str(&format!(
                " {} had already been decided by another admin.",
                crate::ui::plural(self.skipped, "request")
            ));
        }
        text
    }
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
    let me = crate::access::session::require_user().await?;
    let state = crate::state::state()?;
    db::list_for_user(&state.pool, me.id).await
}

/// The signed-in user's membership in the society `slug` (`None` for visitors and non-members).
#[server(endpoint = "my_membership")]
pub async fn get_my_membership(slug: String) -> Result<Option<MyMembership>, AppError> {
    let Some(me) = crate::access::session::current_user().await? else {
        return Ok(None);
    };
    let state = crate::state::state()?;
    let society = crate::access::society_by_slug(&state.pool, &slug).await?;
    db::find_for_user(&state.pool, society, me.id).await
}

/// Signed-in users: asks to join the society `slug`, with an optional message.
#[server(endpoint = "request_membership")]
#[tracing::instrument(skip_all)]
pub async fn request_membership(
    slug: String,
    message: Option<String>,
) -> Result<MembershipStatus, AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let status = db::request(&mut tx, society, me.id, message.as_deref().unwrap_or("")).await?;
    tx.commit().await?;
    Ok(status)
}

/// The requester: takes back their pending request.
#[server(endpoint = "withdraw_request")]
pub async fn withdraw_request(slug: String) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    db::withdraw(&mut tx, society, me.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Members: leave the society (not its last admin).
#[server(endpoint = "leave_society")]
pub async fn leave_society(slug: String) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    db::leave(&mut tx, society, me.id).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: the pending requests, oldest first.
#[server(endpoint = "list_requests")]
pub async fn list_requests(slug: String) -> Result<Vec<JoinRequest>, AppError> {
    let (_, state, place) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let admin = place.admin_reader()?;
    db::list_pending(&mut conn, &admin).await
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
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let status = db::decide(
        &mut tx,
        &admin,
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
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    let outcome = db::decide_many(
        &mut tx,
        &admin,
        &members,
        decision,
        reason.as_deref().unwrap_or(""),
    )
    .await?;
    tx.commit().await?;
    crate::ui::flash(crate::ui::Flash::notice("bulk-outcome", outcome.summary()));
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
    let (_, state, place) = caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    let staff = place.staff()?;
    let query = DirectoryQuery {
        q: q.unwrap_or_default(),
        role,
        status,
        page: page.unwrap_or(1),
    };
    db::directory(&mut conn, &staff, &query).await
}

/// Society admins: makes a member a member, trainer or admin (not the last admin).
#[server(endpoint = "set_member_role")]
#[tracing::instrument(skip_all)]
pub async fn set_member_role(
    slug: String,
    member: UserId,
    role: MembershipRole,
) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::set_role(&mut tx, &admin, member, role).await?;
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
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::suspend(&mut tx, &admin, member, reason.as_deref().unwrap_or("")).await?;
    tx.commit().await?;
    Ok(())
}

/// Society admins: lifts a member's suspension.
#[server(endpoint = "reinstate_member")]
#[tracing::instrument(skip_all)]
pub async fn reinstate_member(slug: String, member: UserId) -> Result<(), AppError> {
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::reinstate(&mut tx, &admin, member).await?;
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
    let (me, state, place) = caller_in(&slug).await?;
    let society = place.society();
    let mut tx = state.pool.begin().await?;
    let admin = lock_as_admin(&mut tx, society, me.id).await?;
    db::remove(&mut tx, &admin, member, reason.as_deref().unwrap_or("")).await?;
    tx.commit().await?;
    Ok(())
}
