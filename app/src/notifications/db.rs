//! The notification outbox: rows written in the same transaction as the change they announce.

use sqlx::{PgConnection, PgPool};

use super::{
    Channel, DeliveryLine, DeliveryStatus, Inbox, Notification, NotificationKind, Preference, Topic,
};
use crate::access::{AdminReader, SocietyAdmin};
use crate::error::{AppError, AppResult};
use crate::ids::{SocietyId, UserId};
use crate::wall::Zone;

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

/// Queues one notification like `enqueue`, once per `dedupe_key`: a second call with the same
/// key (a job that runs again) adds nothing. Returns whether it was queued.
pub async fn enqueue_once(
    conn: &mut PgConnection,
    society: SocietyId,
    recipient: UserId,
    kind: NotificationKind,
    payload: serde_json::Value,
    dedupe_key: &str,
) -> AppResult<bool> {
    let done = sqlx::query!(
        "insert into notification_outbox (society_id, recipient_id, kind, payload, dedupe_key)
         values ($1, $2, $3, $4, $5) on conflict (dedupe_key) do nothing",
        society as SocietyId,
        recipient as UserId,
        kind.as_str(),
        payload,
        dedupe_key,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
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

/// The rendering context of an outbox row: the society and the recipient.
pub(crate) async fn context_of(
    conn: &mut PgConnection,
    society: Option<SocietyId>,
    recipient: Option<UserId>,
) -> AppResult<super::render::Context> {
    let row = sqlx::query!(
        r#"select s.name as "society_name?", s.slug as "society_slug?", s.time_zone as "zone?: Zone",
                  (select u.name from users u where u.id = $2) as "recipient_name?"
             from (select 1) one left join societies s on s.id = $1"#,
        society as Option<SocietyId>,
        recipient as Option<UserId>,
    )
    .fetch_one(conn)
    .await?;
    Ok(super::render::Context {
        society_name: row.society_name.unwrap_or_else(|| "Roster".into()),
        society_slug: row.society_slug.unwrap_or_default(),
        zone: row.zone.map_or(chrono_tz::UTC, |zone| zone.0),
        recipient_name: row
            .recipient_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| "there".into()),
    })
}

/// An in-app notification as stored.
struct InboxRow {
    id: i64,
    kind: String,
    payload: serde_json::Value,
    created_at: chrono::DateTime<chrono::Utc>,
    read: bool,
    society: Option<SocietyId>,
}

/// The rows as `recipient` reads them (kinds this build does not know are left out).
async fn rendered(
    conn: &mut PgConnection,
    recipient: UserId,
    rows: &[InboxRow],
) -> AppResult<Vec<Notification>> {
    let mut items = Vec::with_capacity(rows.len());
    let mut contexts = std::collections::HashMap::new();
    for row in rows {
        let Some(kind) = NotificationKind::parse(&row.kind) else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = contexts.entry(row.society) {
            slot.insert(context_of(&mut *conn, row.society, Some(recipient)).await?);
        }
        let ctx = &contexts[&row.society];
        let rendered = super::render::render(kind, &row.payload, ctx);
        items.push(Notification {
            id: row.id,
            kind: row.kind.clone(),
            title: rendered.subject,
            text: rendered.paragraphs.join(" "),
            link: rendered.link.map(|(_, path)| path),
            created_at: row.created_at,
            read: row.read,
        });
    }
    Ok(items)
}

/// `recipient`'s in-app notifications, newest first, `limit` per page before the id `before`.
pub async fn inbox(
    pool: &PgPool,
    recipient: UserId,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Inbox> {
    let rows = sqlx::query_as!(
        InboxRow,
        r#"select o.id, o.kind, o.payload, o.created_at as "created_at: chrono::DateTime<chrono::Utc>", o.read_at is not null as "read!",
                  o.society_id as "society: SocietyId"
             from notification_outbox o
            where o.recipient_id = $1 and o.in_app and o.id < coalesce($2, 9223372036854775807)
            order by o.id desc limit $3"#,
        recipient as UserId,
        before,
        limit + 1,
    )
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    let shown = &rows[..rows.len().min(limit as usize)];
    let items = rendered(&mut conn, recipient, shown).await?;
    let next_before = (rows.len() as i64 > limit)
        .then(|| items.last().map(|n| n.id))
        .flatten();
    Ok(Inbox {
        unread: unread(pool, recipient).await?,
        items,
        next_before,
    })
}

/// `recipient`'s in-app notification `id`, as the list shows it (`None`: not theirs, or gone).
pub async fn notification(
    pool: &PgPool,
    recipient: UserId,
    id: i64,
) -> AppResult<Option<Notification>> {
    let rows = sqlx::query_as!(
        InboxRow,
        r#"select o.id, o.kind, o.payload, o.created_at as "created_at: chrono::DateTime<chrono::Utc>", o.read_at is not null as "read!",
                  o.society_id as "society: SocietyId"
             from notification_outbox o
            where o.recipient_id = $1 and o.in_app and o.id = $2"#,
        recipient as UserId,
        id,
    )
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    Ok(rendered(&mut conn, recipient, &rows)
        .await?
        .into_iter()
        .next())
}

/// How many in-app notifications `recipient` has not read.
pub async fn unread(pool: &PgPool, recipient: UserId) -> AppResult<i64> {
    let n = sqlx::query_scalar!(
        r#"select count(*) as "n!" from notification_outbox
            where recipient_id = $1 and in_app and read_at is null"#,
        recipient as UserId,
    )
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// Marks `recipient`'s notification `id` read, or all of theirs when `id` is `None`.
pub async fn mark_read(pool: &PgPool, recipient: UserId, id: Option<i64>) -> AppResult<u64> {
    let done = sqlx::query!(
        "update notification_outbox set read_at = now()
          where recipient_id = $1 and in_app and read_at is null and ($2::bigint is null or id = $2)",
        recipient as UserId,
        id,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// `user`'s choice for every topic and channel (the stored ones, else the defaults).
pub async fn preferences(pool: &PgPool, user: UserId) -> AppResult<Vec<Preference>> {
    let stored = sqlx::query!(
        r#"select topic as "topic: Topic", channel as "channel: Channel", enabled
             from notification_preferences where user_id = $1"#,
        user as UserId,
    )
    .fetch_all(pool)
    .await?;
    let mut all = Vec::with_capacity(Topic::ALL.len() * Channel::ALL.len());
    for topic in Topic::ALL {
        for channel in Channel::ALL {
            let enabled = stored
                .iter()
                .find(|p| p.topic == topic && p.channel == channel)
                .map(|p| p.enabled)
                .unwrap_or_else(|| topic.default_on(channel));
            all.push(Preference {
                topic,
                channel,
                enabled,
            });
        }
    }
    Ok(all)
}

/// Saves `user`'s choices: exactly the pairs in `on` are on. Only choices that differ from the
/// defaults are stored, so a later change of a default reaches everyone who did not choose.
pub async fn save_preferences(
    conn: &mut PgConnection,
    user: UserId,
    on: &[(Topic, Channel)],
) -> AppResult<()> {
    sqlx::query!(
        "delete from notification_preferences where user_id = $1",
        user as UserId
    )
    .execute(&mut *conn)
    .await?;
    let mut topics = Vec::new();
    let mut channels = Vec::new();
    let mut enabled = Vec::new();
    for topic in Topic::ALL {
        for channel in Channel::ALL {
            let chosen = on.contains(&(topic, channel));
            if chosen != topic.default_on(channel) {
                topics.push(topic);
                channels.push(channel);
                enabled.push(chosen);
            }
        }
    }
    sqlx::query!(
        "insert into notification_preferences (user_id, topic, channel, enabled)
         select $1, * from unnest($2::notification_topic[], $3::notification_channel[], $4::boolean[])",
        user as UserId,
        topics as Vec<Topic>,
        channels as Vec<Channel>,
        &enabled,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Society admins: the deliveries about their society, newest first.
pub async fn deliveries(
    conn: &mut PgConnection,
    admin: &AdminReader,
    status: Option<DeliveryStatus>,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<DeliveryLine>> {
    let rows = sqlx::query!(
        r#"select d.id, o.kind, coalesce(u.name, o.recipient_email, '') as "recipient!",
                  d.channel as "channel: Channel", d.status as "status: DeliveryStatus",
                  d.attempts, d.last_error, d.updated_at as "updated_at: chrono::DateTime<chrono::Utc>"
             from notification_deliveries d
             join notification_outbox o on o.id = d.outbox_id
             left join users u on u.id = o.recipient_id
            where o.society_id = $1 and ($2::delivery_status is null or d.status = $2)
              and d.id < coalesce($3, 9223372036854775807)
            order by d.id desc limit $4"#,
        admin.society() as SocietyId,
        status as Option<DeliveryStatus>,
        before,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryLine {
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            channel: r.channel,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            updated_at: r.updated_at,
        })
        .collect())
}

/// Society admins: queues a dead delivery about their society again (with the same
/// Message-ID, so a mail that did arrive before is recognisable as the same).
pub async fn retry_delivery(
    conn: &mut PgConnection,
    admin: &SocietyAdmin,
    id: i64,
) -> AppResult<()> {
    let retried = sqlx::query_scalar!(
        "update notification_deliveries d set status = 'queued', attempts = 0, updated_at = now()
           from notification_outbox o
          where d.id = $1 and o.id = d.outbox_id and o.society_id = $2 and d.status = 'dead'
          returning d.id",
        id,
        admin.society() as SocietyId,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    crate::jobs::queue::enqueue(&mut *conn, super::deliver::job(retried)).await?;
    Ok(())
}

/// How many deliveries of each channel wait, are being sent, failed (to be retried) or died,
/// for `/metrics` (sent ones are not counted: they only grow).
pub async fn delivery_counts(pool: &PgPool) -> AppResult<Vec<(Channel, DeliveryStatus, i64)>> {
    let rows = sqlx::query!(
        r#"select channel as "channel: Channel", status as "status: DeliveryStatus", count(*) as "n!"
             from notification_deliveries
            where status in ('queued', 'sending', 'failed', 'dead')
            group by channel, status"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.channel, r.status, r.n))
        .collect())
}
