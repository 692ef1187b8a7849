//! Sending deliveries (jobs `notification.deliver` and `notification.digest`).
//!
//! How close to exactly-once: a delivery is marked `sending` and committed before the message
//! leaves, and `sent` after the SMTP server accepted it. A failure before acceptance (server
//! down, connection refused, a 4xx) is known not to have delivered: the delivery is `failed`
//! and retried with backoff. The only gap is a worker that dies between the server's "250
//! accepted" and our commit of `sent` (milliseconds): the next attempt finds the delivery still
//! `sending`, cannot know whether it arrived, and does not send it again; it is `dead` with
//! "in doubt", for an admin to retry (with the same Message-ID, so mail clients can drop a
//! duplicate). So: never twice by itself, and lost only in that window, visibly. SMTP has no
//! two-phase commit; nothing closes the window fully.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::render::{render, Rendered};
use super::{Channel, DeliveryStatus, NotificationKind};
use crate::ids::{SocietyId, UserId};
use crate::jobs::queue::{ClaimedJob, NewJob};
use crate::jobs::worker::{JobError, JobResult};
use crate::mail::Email;
use crate::state::AppState;

pub const DELIVER: &str = "notification.deliver";
pub const DIGEST: &str = "notification.digest";

/// Attempts a delivery gets (with backoff from 10 s doubling, about 1.5 hours in all).
const ATTEMPTS: i32 = 10;

const IN_DOUBT: &str = "in doubt: a worker stopped while sending, so it may have arrived; \
                        retry to send it again (same Message-ID)";

/// The job that sends delivery `id`.
pub fn job(id: i64) -> NewJob {
    NewJob::new(DELIVER, serde_json::json!({ "delivery_id": id }))
        .dedupe(format!("delivery:{id}"))
        .attempts(ATTEMPTS)
}

/// The job that sends `admin` one mail with the join requests of `society` gathered until
/// `at`.
pub fn digest_job(admin: UserId, society: SocietyId, at: DateTime<Utc>) -> NewJob {
    NewJob::new(
        DIGEST,
        serde_json::json!({ "admin": admin.0, "society": society.0 }),
    )
    .at(at)
    .dedupe(format!("digest:requests:{}:{}", admin.0, society.0))
    .attempts(ATTEMPTS)
}

fn internal(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(format!("database: {e}"))
}

/// Records the outcome of sending `ids` and turns it into the job's result.
async fn record(
    pool: &PgPool,
    ids: &[i64],
    sent: Result<(), crate::mail::SendError>,
    last_attempt: bool,
) -> JobResult {
    let (status, error, result) = match sent {
        Ok(()) => (DeliveryStatus::Sent, None, Ok(())),
        Err(e) if e.permanent => (
            DeliveryStatus::Dead,
            Some(e.message.clone()),
            Err(JobError::Permanent(e.message)),
        ),
        Err(e) => (
            if last_attempt {
                DeliveryStatus::Dead
            } else {
                DeliveryStatus::Failed
            },
            Some(e.message.clone()),
            Err(JobError::Retry(e.message)),
        ),
    };
    sqlx::query!(
        "update notification_deliveries
            set status = $2, last_error = $3, updated_at = now(),
                sent_at = case when $2 = 'sent'::delivery_status then now() end
          where id = any($1) and status = 'sending'",
        ids,
        status as DeliveryStatus,
        error,
    )
    .execute(pool)
    .await
    .map_err(internal)?;
    result
}

/// Marks deliveries `ids`, found `sending` by a new attempt, dead and in doubt.
async fn in_doubt(pool: &PgPool, ids: &[i64]) -> JobResult {
    sqlx::query!(
        "update notification_deliveries set status = 'dead', last_error = $2, updated_at = now()
          where id = any($1) and status = 'sending'",
        ids,
        IN_DOUBT,
    )
    .execute(pool)
    .await
    .map_err(internal)?;
    tracing::warn!(
        ?ids,
        "deliveries in doubt after a worker stopped mid-send; not sent again"
    );
    Ok(())
}

/// `notification.deliver`: sends one delivery (idempotent: a sent or dead one is left alone).
#[tracing::instrument(skip_all, fields(job = job.id))]
pub async fn deliver(state: AppState, job: ClaimedJob) -> JobResult {
    let id = job
        .payload
        .get("delivery_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| JobError::Permanent("no delivery_id in the payload".into()))?;
    let pool = &state.pool;
    let claimed = sqlx::query!(
        r#"update notification_deliveries set status = 'sending', attempts = attempts + 1, updated_at = now()
            where id = $1 and status in ('queued', 'failed')
            returning outbox_id, channel as "channel: Channel""#,
        id,
    )
    .fetch_optional(pool)
    .await
    .map_err(internal)?;
    let Some(claimed) = claimed else {
        let status = sqlx::query_scalar!(
            r#"select status as "status: DeliveryStatus" from notification_deliveries where id = $1"#,
            id
        )
        .fetch_optional(pool)
        .await
        .map_err(internal)?;
        return match status {
            Some(DeliveryStatus::Sending) => in_doubt(pool, &[id]).await,
            _ => Ok(()),
        };
    };
    if claimed.channel == Channel::Push {
        return deliver_push(&state, id, claimed.outbox_id, job.is_last_attempt()).await;
    }
    let Some(m) = Message::load(pool, id, claimed.outbox_id).await? else {
        return give_up(pool, &[id], "unknown kind").await;
    };
    let Some(to) = m.email.clone() else {
        return give_up(pool, &[id], "no recipient address").await;
    };
    let email = email_of(
        &state,
        &m.ctx,
        &m.rendered,
        to,
        format!("roster.delivery.{id}"),
    );
    let sent = state.mailer.deliver(email).await;
    record(pool, &[id], sent, job.is_last_attempt()).await
}

/// A delivery's message, rendered for its recipient.
struct Message {
    rendered: Rendered,
    ctx: super::render::Context,
    recipient: Option<UserId>,
    email: Option<String>,
    /// Push subscriptions an earlier attempt reached.
    sent_to: Vec<uuid::Uuid>,
}

impl Message {
    /// Delivery `id` of outbox row `outbox`, rendered; `None` for a kind this version does not
    /// know.
    async fn load(pool: &PgPool, id: i64, outbox: i64) -> Result<Option<Self>, JobError> {
        let row = sqlx::query!(
            r#"select o.kind, o.payload, o.society_id as "society: SocietyId",
                      o.recipient_id as "recipient: UserId", d.sent_to,
                      coalesce(u.email, o.recipient_email) as "email?"
                 from notification_outbox o
                 join notification_deliveries d on d.outbox_id = o.id
                 left join users u on u.id = o.recipient_id
                where o.id = $1 and d.id = $2"#,
            outbox,
            id,
        )
        .fetch_one(pool)
        .await
        .map_err(internal)?;
        let Some(kind) = NotificationKind::parse(&row.kind) else {
            return Ok(None);
        };
        let mut conn = pool.acquire().await.map_err(internal)?;
        let ctx = super::db::context_of(&mut conn, row.society, row.recipient)
            .await
            .map_err(internal)?;
        Ok(Some(Self {
            rendered: render(kind, &row.payload, &ctx),
            ctx,
            recipient: row.recipient,
            email: row.email,
            sent_to: row.sent_to,
        }))
    }
}

/// Deliveries `ids` (claimed) can never be sent: dead with `why`.
async fn give_up(pool: &PgPool, ids: &[i64], why: &str) -> JobResult {
    let why = crate::mail::SendError {
        permanent: true,
        message: why.into(),
    };
    record(pool, ids, Err(why), true).await
}

/// Sends push delivery `id` (claimed, `sending`) to the recipient's subscriptions it has not
/// reached yet.
async fn deliver_push(state: &AppState, id: i64, outbox: i64, last_attempt: bool) -> JobResult {
    let pool = &state.pool;
    let Some(m) = Message::load(pool, id, outbox).await? else {
        return give_up(pool, &[id], "unknown kind").await;
    };
    let Some(user) = m.recipient else {
        return give_up(pool, &[id], "no recipient account").await;
    };
    let rendered = &m.rendered;
    let message = super::push::PushMessage {
        title: rendered.subject.clone(),
        body: rendered.paragraphs.first().cloned().unwrap_or_default(),
        url: rendered
            .link
            .as_ref()
            .map(|(_, path)| path.clone())
            .unwrap_or_else(|| "/notifications".into()),
        tag: format!("roster-{outbox}"),
    };
    use secrecy::ExposeSecret;
    let contact = state
        .settings
        .public_url
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let sender = super::push::Sender {
        http: &state.http,
        vapid_private: state.settings.vapid_key.expose_secret(),
        contact: &contact,
        loopback: state.settings.push_loopback,
    };
    let sent = super::push::send(pool, &sender, user, &message, &m.sent_to).await;
    let (reached, outcome) = match sent {
        Ok(reached) => (reached, Ok(())),
        Err((reached, e)) => (reached, Err(e)),
    };
    if !reached.is_empty() {
        sqlx::query!(
            "update notification_deliveries set sent_to = sent_to || $2 where id = $1",
            id,
            &reached,
        )
        .execute(pool)
        .await
        .map_err(internal)?;
    }
    record(pool, &[id], outcome, last_attempt).await
}

fn email_of(
    state: &AppState,
    ctx: &super::render::Context,
    rendered: &Rendered,
    to: String,
    message_id: String,
) -> Email {
    let link = |path: &str| state.settings.link(path);
    Email {
        to,
        subject: rendered.subject.clone(),
        body: rendered.email_text(ctx, link),
        html: Some(rendered.email_html(ctx, link)),
        message_id: Some(message_id),
    }
}

/// `notification.digest`: one mail to an admin with every join request of a society that
/// waits for it.
#[tracing::instrument(skip_all, fields(job = job.id))]
pub async fn digest(state: AppState, job: ClaimedJob) -> JobResult {
    let uuid = |key: &str| {
        job.payload
            .get(key)
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse::<uuid::Uuid>().ok())
            .ok_or_else(|| JobError::Permanent(format!("no {key} in the payload")))
    };
    let admin = UserId(uuid("admin")?);
    let society = SocietyId(uuid("society")?);
    let pool = &state.pool;
    let stuck: Vec<i64> = sqlx::query_scalar!(
        "select d.id from notification_deliveries d join notification_outbox o on o.id = d.outbox_id
          where o.recipient_id = $1 and o.society_id = $2 and o.kind = $3
            and d.channel = 'email' and d.status = 'sending'",
        admin as UserId,
        society as SocietyId,
        NotificationKind::MembershipRequested.as_str(),
    )
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    if !stuck.is_empty() {
        in_doubt(pool, &stuck).await?;
    }
    let claimed = sqlx::query!(
        "update notification_deliveries d set status = 'sending', attempts = d.attempts + 1, updated_at = now()
           from notification_outbox o
          where o.id = d.outbox_id and o.recipient_id = $1 and o.society_id = $2 and o.kind = $3
            and d.channel = 'email' and d.status in ('queued', 'failed')
          returning d.id, o.payload",
        admin as UserId,
        society as SocietyId,
        NotificationKind::MembershipRequested.as_str(),
    )
    .fetch_all(pool)
    .await
    .map_err(internal)?;
    if claimed.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = claimed.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let to = sqlx::query_scalar!("select email from users where id = $1", admin as UserId)
        .fetch_optional(pool)
        .await
        .map_err(internal)?;
    let Some(to) = to else {
        return give_up(pool, &ids, "the admin's account is gone").await;
    };
    let mut conn = pool.acquire().await.map_err(internal)?;
    let ctx = super::db::context_of(&mut conn, Some(society), Some(admin))
        .await
        .map_err(internal)?;
    drop(conn);
    let rendered = if claimed.len() == 1 {
        render(
            NotificationKind::MembershipRequested,
            &claimed[0].payload,
            &ctx,
        )
    } else {
        let mut paragraphs = vec![format!(
            "{} people asked to join {}:",
            claimed.len(),
            ctx.society_name
        )];
        for row in &claimed {
            let one = render(NotificationKind::MembershipRequested, &row.payload, &ctx);
            paragraphs.push(format!("• {}", one.paragraphs.join(" ")));
        }
        Rendered {
            subject: format!(
                "{} people asked to join {}",
                claimed.len(),
                ctx.society_name
            ),
            paragraphs,
            link: Some((
                "Review requests".into(),
                format!("/s/{}/requests", ctx.society_slug),
            )),
        }
    };
    let message_id = format!("roster.digest.{}.{}", ids[0], ids.len());
    let email = email_of(&state, &ctx, &rendered, to, message_id);
    let sent = state.mailer.deliver(email).await;
    record(pool, &ids, sent, job.is_last_attempt()).await
}
