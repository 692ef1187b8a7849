//! `Idempotency-Key`: a client that retries a write sends the same key, and gets the first
//! answer again instead of a second write. A key belongs to one person and one request (method,
//! path and what the body asks); its claim and the request's answer are written in the
//! request's own transaction, so a refused request leaves no key behind (sending it again tries
//! again), and a retry that arrives while the first still runs waits for it on the key's row.

use std::future::Future;
use std::pin::Pin;

use app::error::AppResult;
use app::ids::UserId;
use axum::http::{HeaderMap, StatusCode};
use sqlx::{PgConnection, PgPool};

use super::problem::Problem;

/// How long an `Idempotency-Key` is remembered: a client retries within minutes, not days.
pub const KEY_HOURS: i64 = 24;

/// An answer: its status and body, as stored under a key.
pub type Answer = (StatusCode, serde_json::Value);

/// A write run once per key, in the transaction it is given; it returns the answer's body.
pub type Change<'c> = Pin<Box<dyn Future<Output = AppResult<serde_json::Value>> + Send + 'c>>;

/// The request's `Idempotency-Key`, when it has one: 1 to 255 visible ASCII characters;
/// anything else is a 422 naming the header.
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            Problem::invalid(
                "Idempotency-Key",
                "An Idempotency-Key is 1 to 255 visible ASCII characters, such as a UUID.",
            )
        })?;
    Ok(Some(key.to_string()))
}

/// Runs `change` once per key: a request sent again under the key gets the first answer back
/// and changes nothing. Without a key it simply runs, in a transaction of its own.
pub async fn once<F>(
    pool: &PgPool,
    user: UserId,
    key: Option<&str>,
    request: &str,
    status: StatusCode,
    change: F,
) -> Result<Answer, Problem>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> Change<'c> + Send,
{
    if let Some(key) = key {
        if let Some(first) = answered(pool, user, key, request).await? {
            return Ok(first);
        }
    }
    run(pool, user, key, request, status, change).await
}

/// `once` for a caller that has already asked `answered` (before it queued for its turn):
/// claims the key, runs `change` and stores its answer, all in one transaction.
pub async fn run<F>(
    pool: &PgPool,
    user: UserId,
    key: Option<&str>,
    request: &str,
    status: StatusCode,
    change: F,
) -> Result<Answer, Problem>
where
    F: for<'c> FnOnce(&'c mut PgConnection) -> Change<'c> + Send,
{
    let mut tx = pool.begin().await?;
    if let Some(key) = key {
        if let Some(first) = claim(&mut tx, user, key, request).await? {
            return Ok(first);
        }
    }
    let answer = (status, change(&mut tx).await?);
    if let Some(key) = key {
        remember(&mut tx, user, key, &answer).await?;
    }
    tx.commit().await?;
    Ok(answer)
}

/// The answer already given to `request` under `key`, if a first request finished (one still
/// running is waited for by `claim`). A key used for another request is a 422.
pub async fn answered(
    pool: &PgPool,
    user: UserId,
    key: &str,
    request: &str,
) -> Result<Option<Answer>, Problem> {
    let row: Option<(String, i16, serde_json::Value)> = sqlx::query_as(
        "select request, status, response from idempotency_keys
          where user_id = $1 and key = $2 and status <> 0",
    )
    .bind(user)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.map(|first| replay(first, request)).transpose()
}

/// Claims `key` in the request's transaction. `Some(answer)` when it was used before (the
/// first answer, to send again); `None` when this request is the first (then `remember` stores
/// its answer in the same transaction). A request still running under the same key makes this
/// wait until it ends.
async fn claim(
    conn: &mut PgConnection,
    user: UserId,
    key: &str,
    request: &str,
) -> Result<Option<Answer>, Problem> {
    let claimed = sqlx::query(
        "insert into idempotency_keys (user_id, key, request, status, response)
         values ($1, $2, $3, 0, 'null') on conflict on constraint idempotency_keys_pkey do nothing",
    )
    .bind(user)
    .bind(key)
    .bind(request)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if claimed {
        return Ok(None);
    }
    let first: (String, i16, serde_json::Value) = sqlx::query_as(
        "select request, status, response from idempotency_keys where user_id = $1 and key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_one(&mut *conn)
    .await?;
    replay(first, request).map(Some)
}

/// Stores the answer of the request that claimed `key`.
async fn remember(
    conn: &mut PgConnection,
    user: UserId,
    key: &str,
    (status, response): &Answer,
) -> Result<(), Problem> {
    sqlx::query(
        "update idempotency_keys set status = $3, response = $4 where user_id = $1 and key = $2",
    )
    .bind(user)
    .bind(key)
    .bind(status.as_u16() as i16)
    .bind(response)
    .execute(conn)
    .await?;
    Ok(())
}

/// The first answer under a key (its request, status and body) given again to `request`; a
/// key used for another request is a 422.
fn replay(
    (first, status, response): (String, i16, serde_json::Value),
    request: &str,
) -> Result<Answer, Problem> {
    if first != request {
        return Err(Problem::invalid(
            "Idempotency-Key",
            "This Idempotency-Key was used for a different request; use a new key for a new request.",
        ));
    }
    let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    Ok((status, response))
}

/// Forgets keys older than `KEY_HOURS` (scheduled job `cleanup.tokens`). Returns how many.
pub async fn purge(pool: &PgPool, now: chrono::DateTime<chrono::Utc>) -> Result<u64, sqlx::Error> {
    let cutoff = now - chrono::Duration::hours(KEY_HOURS);
    let done = sqlx::query("delete from idempotency_keys where created_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
