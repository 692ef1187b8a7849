//! The notification outbox: rows written in the same transaction as the change they announce.

use sqlx::PgConnection;

use crate::auth::UserId;
use crate::error::AppResult;
use crate::societies::SocietyId;

/// Queues one notification of `kind` for `recipient`.
pub async fn enqueue(
    conn: &mut PgConnection,
    society: SocietyId,
    recipient: UserId,
    kind: &str,
    payload: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into notification_outbox (society_id, recipient_id, kind, payload) values ($1, $2, $3, $4)",
        society as SocietyId,
        recipient as UserId,
        kind,
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
    kind: &str,
    payload: serde_json::Value,
) -> AppResult<()> {
    sqlx::query!(
        "insert into notification_outbox (society_id, recipient_id, kind, payload)
         select society_id, user_id, $2, $3 from memberships
          where society_id = $1 and role = 'admin' and status = 'approved'",
        society as SocietyId,
        kind,
        payload,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues one notification of `kind` for the person with address `email` (and account
/// `recipient`, when they have one); returns the row's id.
pub async fn enqueue_for_address(
    conn: &mut PgConnection,
    society: SocietyId,
    recipient: Option<UserId>,
    email: &str,
    kind: &str,
    payload: serde_json::Value,
) -> AppResult<i64> {
    let id = sqlx::query_scalar!(
        "insert into notification_outbox (society_id, recipient_id, recipient_email, kind, payload)
         values ($1, $2, $3, $4, $5) returning id",
        society as SocietyId,
        recipient as Option<UserId>,
        email,
        kind,
        payload,
    )
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Marks a notification delivered (for mail sent directly, like invitations, whose link
/// holds a secret the outbox never stores).
pub async fn mark_sent(conn: &mut PgConnection, id: i64) -> AppResult<()> {
    sqlx::query!(
        "update notification_outbox set sent_at = now() where id = $1",
        id
    )
    .execute(conn)
    .await?;
    Ok(())
}
