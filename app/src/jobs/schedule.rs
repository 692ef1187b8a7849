//! Cron schedules (UTC). Every replica ticks; a due row is claimed with `skip locked`, one job
//! is queued for that due time and `next_run_at` moves past now, all in one transaction, so
//! each due time runs exactly once. Due times missed while no server ran are run once, not
//! once each.

use chrono::{DateTime, Utc};
use croner::Cron;
use sqlx::{PgConnection, PgPool};

use super::queue::{self, NewJob};
use super::ScheduledJobInfo;
use crate::access::PlatformAdmin;
use crate::error::{AppError, AppResult};

/// A job that runs on a schedule; its job kind is its name.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub name: &'static str,
    /// Five fields (minute hour day month weekday), UTC.
    pub cron: &'static str,
}

fn parse(cron: &str) -> AppResult<Cron> {
    cron.parse::<Cron>().map_err(|e| {
        tracing::error!(cron, error = %e, "invalid cron expression");
        AppError::invalid("cron", format!("Not a valid cron expression: {e}"))
    })
}

/// The first due time of `cron` after `now`.
pub fn next_after(cron: &str, now: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    parse(cron)?.find_next_occurrence(&now, false).map_err(|e| {
        tracing::error!(cron, error = %e, "cron expression has no next time");
        AppError::Internal
    })
}

/// Makes the stored schedules match `schedules`: new ones are added (first due at their next
/// time), a changed expression takes effect from now, and schedules no longer known are
/// removed. Run at start-up by every replica (it is idempotent).
pub async fn register(pool: &PgPool, schedules: &[Schedule], now: DateTime<Utc>) -> AppResult<()> {
    let mut tx = pool.begin().await?;
    for schedule in schedules {
        let next = next_after(schedule.cron, now)?;
        sqlx::query!(
            "insert into scheduled_jobs (name, cron, next_run_at) values ($1, $2, $3)
             on conflict (name) do update
                set cron = excluded.cron, next_run_at = excluded.next_run_at, updated_at = now()
              where scheduled_jobs.cron <> excluded.cron",
            schedule.name,
            schedule.cron,
            next as DateTime<Utc>,
        )
        .execute(&mut *tx)
        .await?;
    }
    let names: Vec<String> = schedules.iter().map(|s| s.name.to_string()).collect();
    sqlx::query!(
        "delete from scheduled_jobs where not (name = any($1))",
        &names
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Queues the jobs whose time has come, in the caller's transaction; returns their names.
/// Rows another scheduler holds are skipped: it is queueing them.
pub async fn queue_due(conn: &mut PgConnection, now: DateTime<Utc>) -> AppResult<Vec<String>> {
    let due = sqlx::query!(
        r#"select name, cron, next_run_at as "next_run_at: DateTime<Utc>" from scheduled_jobs where next_run_at <= $1
          order by next_run_at for update skip locked"#,
        now as DateTime<Utc>,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = Vec::with_capacity(due.len());
    for row in due {
        let job = NewJob::new(
            &row.name,
            serde_json::json!({ "schedule": row.name, "due_at": row.next_run_at }),
        )
        .at(row.next_run_at)
        .dedupe(format!("schedule:{}", row.name))
        .attempts(3);
        let id = queue::enqueue(&mut *conn, job).await?;
        let next = next_after(&row.cron, now)?;
        sqlx::query!(
            "update scheduled_jobs set next_run_at = $2, last_job_id = coalesce($3, last_job_id),
                    updated_at = now()
              where name = $1",
            row.name,
            next as DateTime<Utc>,
            id,
        )
        .execute(&mut *conn)
        .await?;
        queued.push(row.name);
    }
    Ok(queued)
}

/// One scheduler tick in a transaction of its own.
pub async fn tick(pool: &PgPool, now: DateTime<Utc>) -> AppResult<Vec<String>> {
    let mut tx = pool.begin().await?;
    let queued = queue_due(&mut tx, now).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Records how a run of the scheduled job `name` went (its worker calls this).
pub async fn record_run(
    pool: &PgPool,
    name: &str,
    started: DateTime<Utc>,
    duration: std::time::Duration,
    result: Result<(), &str>,
) -> AppResult<()> {
    let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
    let error = result
        .err()
        .map(|e| e.chars().take(2000).collect::<String>());
    sqlx::query!(
        "update scheduled_jobs set last_started_at = $2, last_finished_at = now(),
                last_duration_ms = $3, last_ok = $4, last_error = $5
          where name = $1",
        name,
        started as DateTime<Utc>,
        ms,
        error.is_none(),
        error,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Platform admins: queues a run of `name` now, besides its regular ones.
pub async fn run_now(
    pool: &PgPool,
    _admin: &PlatformAdmin,
    name: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let mut tx = pool.begin().await?;
    let known = sqlx::query_scalar!(
        "select name from scheduled_jobs where name = $1 for update",
        name
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    let job = NewJob::new(
        &known,
        serde_json::json!({ "schedule": known, "due_at": now, "manual": true }),
    )
    .dedupe(format!("schedule:{known}"))
    .attempts(3);
    let id = queue::enqueue(&mut tx, job)
        .await?
        .ok_or_else(|| AppError::Conflict("A run of this job is already waiting.".into()))?;
    sqlx::query!(
        "update scheduled_jobs set last_job_id = $2, updated_at = now() where name = $1",
        known,
        id,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Platform admins: every scheduled job with its schedule, last run and next run.
pub async fn list(pool: &PgPool, _admin: &PlatformAdmin) -> AppResult<Vec<ScheduledJobInfo>> {
    let rows = sqlx::query!(
        r#"select name, cron, next_run_at as "next_run_at: DateTime<Utc>",
                  last_started_at as "last_started_at: DateTime<Utc>", last_duration_ms, last_ok, last_error
           from scheduled_jobs order by name"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ScheduledJobInfo {
            schedule: parse(&r.cron)
                .map(|c| c.describe())
                .unwrap_or_else(|_| r.cron.clone()),
            name: r.name,
            cron: r.cron,
            next_run_at: r.next_run_at,
            last_started_at: r.last_started_at,
            last_duration_ms: r.last_duration_ms,
            last_ok: r.last_ok,
            last_error: r.last_error,
        })
        .collect())
}
