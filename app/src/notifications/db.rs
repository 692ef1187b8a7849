//! The notification outbox: rows written in the same transaction as the change they announce.

use sqlx::PgConnection;

use super::NotificationKind;
use crate::error::AppResult;
use crate::ids::{SocietyId, UserId};

/// Queues one notification of `kind` for `recipient`.
pub async fn enqueue(
    conn: &mut PgConnection,
    society: SocietyId,
    recipient: UserId,
    kind: NotificationKind,
    payload: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into notification_outbox (society_id, recipient_id, kind, payload) values ($1, $2, $3, $4)",
        society as SocietyId,
        recipient as UserId,
        kind.as_str(),
        payload,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues one notification of `kind` for each approved admin of `society`.
pub async fn enqueue_for_admins(
    conn: &mut PgConnection,
    society: SocietyId,
    kind: NotificationKind,
    payload: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into notification_outbox (society_id, recipient_id, kind, payload)
         select society_id, user_id, $2, $3 from memberships
          where society_id = $1 and role = 'admin' and status = 'approved'",
        society as SocietyId,
        kind.as_str(),
        payload,
    )
    .execute(conn)
    .await?;
    Ok(())
}
