//! Turns new outbox rows into deliveries: each row is claimed once (`skip locked`), its
//! recipient's preferences decide the channels, and each delivery gets a job. Join requests
//! to admins are batched: one digest job per admin and society waits `DIGEST_WINDOW` and
//! sends every request that arrived meanwhile in one mail.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::PgPool;

use super::{Channel, NotificationKind, Topic};
use crate::error::AppResult;
use crate::ids::{SocietyId, UserId};
use crate::jobs::queue;

/// How long join requests gather before their admin digest goes out.
pub const DIGEST_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// Rows dispatched per transaction.
const BATCH: i64 = 200;

/// Dispatches up to one batch of new outbox rows; returns how many rows it took.
pub async fn dispatch_batch(pool: &PgPool, digest_window: chrono::Duration) -> AppResult<usize> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        r#"select id, kind, recipient_id as "recipient: UserId", society_id as "society: SocietyId"
             from notification_outbox where dispatched_at is null
            order by id limit $1 for update skip locked"#,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let recipients: Vec<UserId> = rows.iter().filter_map(|r| r.recipient).collect();
    let stored = sqlx::query!(
        r#"select user_id as "user: UserId", topic as "topic: Topic", channel as "channel: Channel", enabled
             from notification_preferences where user_id = any($1)"#,
        &recipients as &[UserId],
    )
    .fetch_all(&mut *tx)
    .await?;
    let choices: HashMap<(UserId, Topic, Channel), bool> = stored
        .into_iter()
        .map(|p| ((p.user, p.topic, p.channel), p.enabled))
        .collect();
    let with_push: std::collections::HashSet<UserId> = sqlx::query_scalar!(
        r#"select distinct user_id as "user: UserId" from push_subscriptions where user_id = any($1)"#,
        &recipients as &[UserId],
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let wants = |user: UserId, topic: Topic, channel: Channel| {
        choices
            .get(&(user, topic, channel))
            .copied()
            .unwrap_or_else(|| topic.default_on(channel))
    };
    let mut in_app_ids = Vec::new();
    let mut email_ids = Vec::new();
    let mut push_ids = Vec::new();
    let mut digests = Vec::new();
    for row in &rows {
        let Some(kind) = NotificationKind::parse(&row.kind) else {
            tracing::warn!(outbox = row.id, kind = %row.kind, "unknown notification kind; not delivered");
            continue;
        };
        let topic = kind.topic();
        let Some(user) = row.recipient else {
            // Addressed by email only (no account yet): email is all there is.
            email_ids.push(row.id);
            continue;
        };
        if wants(user, topic, Channel::InApp) {
            in_app_ids.push(row.id);
        }
        if with_push.contains(&user) && wants(user, topic, Channel::Push) {
            push_ids.push(row.id);
        }
        if wants(user, topic, Channel::Email) {
            email_ids.push(row.id);
            if kind == NotificationKind::MembershipRequested {
                if let Some(society) = row.society {
                    digests.push((user, society));
                }
            }
        }
    }
    let all_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query!(
        "update notification_outbox set dispatched_at = now(), in_app = (id = any($2))
          where id = any($1)",
        &all_ids,
        &in_app_ids,
    )
    .execute(&mut *tx)
    .await?;
    let deliveries = sqlx::query!(
        r#"insert into notification_deliveries (outbox_id, channel)
           select id, 'email'::notification_channel from unnest($1::bigint[]) as t(id)
           union all
           select id, 'push'::notification_channel from unnest($2::bigint[]) as t(id)
           on conflict on constraint notification_deliveries_once do nothing
           returning id, outbox_id, channel as "channel: Channel""#,
        &email_ids,
        &push_ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let requests: std::collections::HashSet<i64> = rows
        .iter()
        .filter(|r| r.kind == NotificationKind::MembershipRequested.as_str())
        .map(|r| r.id)
        .collect();
    for delivery in &deliveries {
        if delivery.channel == Channel::Email && requests.contains(&delivery.outbox_id) {
            continue; // sent by the digest
        }
        queue::enqueue(&mut tx, super::deliver::job(delivery.id)).await?;
    }
    digests.sort_by_key(|(admin, society)| (admin.0, society.0));
    digests.dedup();
    let send_at = chrono::Utc::now() + digest_window;
    for (admin, society) in digests {
        queue::enqueue(&mut tx, super::deliver::digest_job(admin, society, send_at)).await?;
    }
    tx.commit().await?;
    tracing::debug!(
        rows = rows.len(),
        emails = deliveries.len(),
        "outbox dispatched"
    );
    Ok(rows.len())
}

/// Dispatches until the outbox is empty, then waits `poll`,
/// until `shutdown` resolves. Safe on every replica.
pub async fn run(
    pool: PgPool,
    poll: Duration,
    digest_window: chrono::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    // No LISTEN connection of its own: a held connection per replica and loop adds up in
    // small pools; new outbox rows wait at most `poll`.
    loop {
        loop {
            match dispatch_batch(&pool, digest_window).await {
                Ok(n) if n > 0 => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatching notifications failed; retrying");
                    break;
                }
            }
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(poll) => {}
        }
    }
}
