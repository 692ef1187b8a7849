//! Membership rows and rules, by purpose: joining and the approval queue (`requests`), an
//! admin's changes to a membership (`management`), and the member directory (`directory`).

mod directory;
mod management;
mod requests;

pub use directory::*;
pub use management::*;
pub use requests::*;

use sqlx::PgConnection;

use crate::access::SocietyAdmin;
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::notifications::NotificationKind;

/// A message or reason typed by a person, trimmed; `Invalid` for `field` when too long.
pub(super) fn checked_text(field: &str, text: &str) -> AppResult<String> {
    let text = text.trim();
    if text.chars().count() > crate::members::MAX_TEXT_LEN {
        return Err(AppError::invalid(
            field,
            format!(
                "Please keep this under {} characters.",
                crate::members::MAX_TEXT_LEN
            ),
        ));
    }
    Ok(text.to_string())
}

/// Records a change an admin made to `member`'s membership and tells the member.
pub(super) async fn record_change(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    member: UserId,
    (action, kind): (AuditAction, NotificationKind),
    details: serde_json::Value,
) -> AppResult<()> {
    crate::audit::record(
        &mut *conn,
        Some(admin.society()),
        admin.user(),
        action,
        Some(member.0.to_string()),
        details.clone(),
    )
    .await?;
    crate::notifications::db::enqueue(&mut *conn, admin.society(), member, kind, details).await
}
