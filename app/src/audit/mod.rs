//! The audit log: who changed what, and when. Written by the domain in the same transaction
//! as each change; read by the society's admins.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

#[cfg(feature = "ssr")]
pub use db::record;
pub use views::AuditLogPage;

/// Entries per page of the audit log.
pub const AUDIT_PAGE_SIZE: i64 = 50;

/// One recorded change, as an admin reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who did it (their current name; `None` once their account is gone).
    pub actor: Option<String>,
    /// What was done, like `membership.approved`.
    pub action: String,
    /// The person it was done to, when it was done to a person.
    pub subject: Option<String>,
    /// The reason, the old and new values, the address invited: what the change carried.
    pub detail: String,
}

/// A page of the audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditLog {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// The audit action as a phrase: "Ada approved the request of Mia".
pub fn describe(action: &str) -> &'static str {
    match action {
        "society.created" => "created the society",
        "society.settings_changed" => "changed the society's settings",
        "membership.requested" => "asked to join",
        "membership.withdrawn" => "withdrew their request",
        "membership.left" => "left the society",
        "membership.approved" => "approved the request of",
        "membership.rejected" => "rejected the request of",
        "membership.role_changed" => "changed the role of",
        "membership.suspended" => "suspended",
        "membership.reinstated" => "reinstated",
        "membership.removed" => "removed",
        "invitation.created" => "sent an invitation",
        "invitation.revoked" => "revoked an invitation",
        "invitation.accepted" => "accepted an invitation",
        _ => "changed something",
    }
}

/// Society admins: one page of their society's audit log, newest first, older than
/// `before` (an entry id) when given.
#[server(endpoint = "list_audit_log")]
pub async fn list_audit_log(slug: String, before: Option<i64>) -> Result<AuditLog, AppError> {
    let (me, state, society) = crate::societies::caller_in(&slug).await?;
    let mut conn = state.pool.acquire().await?;
    db::list(&mut conn, society, me.id, before).await
}
