//! The audit log: who changed what, and when.

use sqlx::PgConnection;

use crate::auth::UserId;
use crate::error::AppResult;
use crate::societies::SocietyId;

/// Records one change by `actor`, inside the caller's transaction so it lands with the change.
pub async fn record(
    conn: &mut PgConnection,
    society_id: Option<SocietyId>,
    actor: UserId,
    action: &str,
    subject_id: Option<String>,
    details: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into audit_log (society_id, actor_id, action, subject_id, details) values ($1, $2, $3, $4, $5)",
        society_id as Option<SocietyId>,
        actor as UserId,
        action,
        subject_id,
        details,
    )
    .execute(conn)
    .await?;
    Ok(())
}
