//! The job queue's SQL: enqueue inside the caller's transaction, claim with `skip locked`,
//! finish only with the claim's token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{DeadJob, QueueStats, DEFAULT_MAX_ATTEMPTS};
use crate::access::PlatformAdmin;
use crate::error::{AppError, AppResult};

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// When it may run first (now when `None`).
    pub run_at: Option<DateTime<Utc>>,
    /// While a job with this key is queued, queueing another adds nothing.
    pub dedupe_key: Option<String>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: &str, payload: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            payload,
            run_at: None,
            dedupe_key: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn attempts(mut self, max_attempts: i32) -> Self {
        self.max_attempts = max_attempts;
        self
    }
}

/// Queues `job` in the caller's transaction (it runs once that commits). Returns its id, or
/// `None` when a queued job with the same dedupe key already waits.
pub async fn enqueue(conn: &mut PgConnection, job: NewJob) -> AppResult<Option<i64>> {
    let id = sqlx::query_scalar!(
        "insert into jobs (kind, payload, run_at, dedupe_key, max_attempts)
         values ($1, $2, coalesce($3, now()), $4, $5)
         on conflict (dedupe_key) where status = 'queued' do nothing
         returning id",
        job.kind,
        job.payload,
        job.run_at as Option<DateTime<Utc>>,
        job.dedupe_key,
        job.max_attempts,
    )
    .fetch_optional(conn)
    .await?;
    Ok(id)
}

/// A job a worker holds: only this claim (its token) may finish it.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// This attempt, 1-based.
    pub attempt: i32,
    pub max_attempts: i32,
    pub token: Uuid,
}

impl ClaimedJob {
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Claims up to `limit` due jobs of `kinds` for `worker` until `visibility` from now: queued
/// ones whose time has come, oldest first, and running ones whose claim expired (their worker
/// died). Only the kinds the worker can run: a replica of an older version leaves a new kind
/// to the replicas that know it. A job whose claim expired on its last attempt is dead
/// instead ("worker lost").
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    kinds: &[String],
    limit: i64,
    visibility: Duration,
) -> AppResult<Vec<ClaimedJob>> {
    sqlx::query!(
        "update jobs set status = 'dead', finished_at = now(), lock_token = null, locked_until = null,
                last_error = coalesce(last_error || '; ', '') || 'the worker stopped during the last attempt'
          where status = 'running' and locked_until < now() and attempts >= max_attempts"
    )
    .execute(pool)
    .await?;
    let visibility_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
    let rows = sqlx::query!(
        "with due as (
             select id from jobs
              where ((status = 'queued' and run_at <= now())
                     or (status = 'running' and locked_until < now()))
                and kind = any($4)
              order by run_at, id
              limit $1
              for update skip locked
         )
         update jobs j set status = 'running', attempts = j.attempts + 1,
                lock_token = gen_random_uuid(), locked_by = $2,
                locked_until = now() + make_interval(secs => $3::bigint / 1000.0)
           from due where j.id = due.id
         returning j.id, j.kind, j.payload, j.attempts, j.max_attempts, j.lock_token as \"token!\"",
        limit,
        worker,
        visibility_ms,
        kinds,
    )
    .fetch_all(pool)
    .await?;
    let mut jobs: Vec<ClaimedJob> = rows
        .into_iter()
        .map(|r| ClaimedJob {
            id: r.id,
            kind: r.kind,
            payload: r.payload,
            attempt: r.attempts,
            max_attempts: r.max_attempts,
            token: r.token,
        })
        .collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// Keeps the claim of a long job: its visibility runs until `visibility` from now. False when
/// the claim is gone (it expired and another worker took the job).
pub async fn extend(pool: &PgPool, job: &ClaimedJob, visibility: Duration) -> AppResult<bool> {
    let visibility_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
    let done = sqlx::query!(
        "update jobs set locked_until = now() + make_interval(secs => $3::bigint / 1000.0)
          where id = $1 and lock_token = $2 and status = 'running'",
        job.id,
        job.token,
        visibility_ms,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the claimed job done. False when the claim was lost (the job ran elsewhere too: its
/// handler must be idempotent, and this is logged).
pub async fn complete(pool: &PgPool, job: &ClaimedJob) -> AppResult<bool> {
    let done = sqlx::query!(
        "update jobs set status = 'done', finished_at = now(), lock_token = null, locked_until = null
          where id = $1 and lock_token = $2 and status = 'running'",
        job.id,
        job.token,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What became of a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Queued again, to run at this time.
    Retry(DateTime<Utc>),
    /// No attempts left (or the failure was permanent): dead, with the error kept.
    Dead,
    /// Another queued job with the same dedupe key will do the same work: this one is done.
    Superseded,
    /// The claim was lost meanwhile; nothing was changed.
    ClaimLost,
}

/// Records a failed attempt: queued again after `retry_in`, or dead when `retry_in` is `None`
/// or no attempts are left.
pub async fn fail(
    pool: &PgPool,
    job: &ClaimedJob,
    error: &str,
    retry_in: Option<Duration>,
) -> AppResult<Failed> {
    let error: String = error.chars().take(2000).collect();
    let retry_ms = retry_in.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let row = sqlx::query!(
        r#"with next as (
             select j.id, (case
                 when $4::bigint is null or j.attempts >= j.max_attempts then 'dead'
                 when j.dedupe_key is not null and exists (
                     select 1 from jobs o where o.dedupe_key = j.dedupe_key and o.status = 'queued')
                     then 'done'
                 else 'queued' end)::job_status as status
               from jobs j where j.id = $1 and j.lock_token = $2 and j.status = 'running'
         )
         update jobs j set status = next.status,
                finished_at = case when next.status = 'queued' then null else now() end,
                run_at = case when next.status = 'queued'
                              then now() + make_interval(secs => $4::bigint / 1000.0) else j.run_at end,
                last_error = $3, lock_token = null, locked_until = null
           from next where j.id = next.id
         returning j.status as "status: super::JobStatus", j.run_at as "run_at: DateTime<Utc>""#,
        job.id,
        job.token,
        error,
        retry_ms,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        None => Failed::ClaimLost,
        Some(row) => match row.status {
            super::JobStatus::Queued => Failed::Retry(row.run_at),
            super::JobStatus::Done => Failed::Superseded,
            _ => Failed::Dead,
        },
    })
}

/// Gives a claimed job back without counting the attempt (a worker shutting down before it
/// could finish): it is due again at once.
pub async fn release(pool: &PgPool, job: &ClaimedJob) -> AppResult<bool> {
    let done = sqlx::query!(
        "with next as (
             select j.id, (case when j.dedupe_key is not null and exists (
                     select 1 from jobs o where o.dedupe_key = j.dedupe_key and o.status = 'queued')
                 then 'done' else 'queued' end)::job_status as status
               from jobs j where j.id = $1 and j.lock_token = $2 and j.status = 'running'
         )
         update jobs j set status = next.status,
                finished_at = case when next.status = 'done' then now() end,
                attempts = greatest(j.attempts - 1, 0), lock_token = null, locked_until = null,
                run_at = now()
           from next where j.id = next.id",
        job.id,
        job.token,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Platform admins: the queue's counts by state.
pub async fn stats(pool: &PgPool, _admin: &PlatformAdmin) -> AppResult<QueueStats> {
    let row = sqlx::query!(
        r#"select count(*) filter (where status = 'queued') as "queued!",
                  count(*) filter (where status = 'running') as "running!",
                  count(*) filter (where status = 'dead') as "dead!",
                  count(*) filter (where status = 'done' and finished_at > now() - interval '1 day') as "done!"
             from jobs"#
    )
    .fetch_one(pool)
    .await?;
    Ok(QueueStats {
        queued: row.queued,
        running: row.running,
        dead: row.dead,
        done_last_day: row.done,
    })
}

/// Platform admins: the latest `limit` dead jobs.
pub async fn dead(pool: &PgPool, _admin: &PlatformAdmin, limit: i64) -> AppResult<Vec<DeadJob>> {
    let rows = sqlx::query!(
        r#"select id, kind, attempts, last_error, finished_at as "finished_at!: DateTime<Utc>"
             from jobs where status = 'dead' order by finished_at desc, id desc limit $1"#,
        limit,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeadJob {
            id: r.id,
            kind: r.kind,
            attempts: r.attempts,
            last_error: r.last_error,
            finished_at: r.finished_at,
        })
        .collect())
}

/// Platform admins: queues a dead job again with a fresh set of attempts.
pub async fn retry_dead(pool: &PgPool, _admin: &PlatformAdmin, id: i64) -> AppResult<()> {
    let done = sqlx::query!(
        "update jobs set status = 'queued', attempts = 0, run_at = now(), finished_at = null
          where id = $1 and status = 'dead'",
        id,
    )
    .execute(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("jobs_queued_dedupe_key") => {
            AppError::Conflict("The same work is already queued.".into())
        }
        _ => e.into(),
    })?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Deletes finished jobs older than `keep` (done and dead alike); returns how many.
pub async fn purge_finished(pool: &PgPool, keep: chrono::Duration) -> AppResult<u64> {
    let cutoff = Utc::now() - keep;
    let done = sqlx::query!(
        "delete from jobs where status in ('done', 'dead') and finished_at < $1",
        cutoff as DateTime<Utc>,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// How many jobs of a kind are in a state, and how long the oldest has waited (queued: since
/// it was due; running: since it was queued; dead: since it died).
#[derive(Debug, Clone, PartialEq)]
pub struct Depth {
    pub kind: String,
    pub status: super::JobStatus,
    pub count: i64,
    pub oldest_seconds: f64,
}

/// The queue's depth per kind and state (not the finished ones), for `/metrics`. Due queued
/// jobs only: a job set to run later is not waiting yet.
pub async fn depth(pool: &PgPool) -> AppResult<Vec<Depth>> {
    let rows = sqlx::query!(
        r#"select kind, status as "status: super::JobStatus", count(*) as "count!",
                  coalesce(extract(epoch from now() - min(case status when 'queued' then run_at
                                                         when 'dead' then finished_at
                                                         else created_at end)), 0)::float8 as "oldest!"
             from jobs
            where (status = 'queued' and run_at <= now()) or status in ('running', 'dead')
            group by kind, status"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Depth {
            kind: r.kind,
            status: r.status,
            count: r.count,
            oldest_seconds: r.oldest,
        })
        .collect())
}
