//! Background work: a job queue in Postgres (`queue`), cron schedules that queue a job once per
//! due time (`schedule`), and the worker that runs them (`worker`). Handlers are registered by
//! kind from above (the server), so this module names no feature.
//!
//! Guarantees: a job runs on one worker at a time (claims use `for update skip locked` and a
//! per-claim token); a failed job is retried with exponential backoff and full jitter until
//! `max_attempts`, then it is dead with its last error kept; a worker that dies mid-job loses
//! its claim when the visibility timeout passes and the job runs again. Handlers must therefore
//! be idempotent.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod queue;
#[cfg(feature = "ssr")]
pub mod schedule;
mod views;
#[cfg(feature = "ssr")]
pub mod worker;

pub use views::JobsPage;

/// Attempts a job gets unless it asks for another number.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 8;

/// Where a job stands (`jobs.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "ssr",
    derive(sqlx::Type),
    sqlx(type_name = "job_status", rename_all = "lowercase")
)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Dead,
}

impl JobStatus {
    /// The state's name, as the database and `/metrics` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }
}

/// How long to wait before attempt `attempt + 1`, after `attempt` (1-based) failed:
/// exponential from `base` (doubling per attempt, capped at `cap`) with full jitter, so many
/// jobs failing together (SMTP down) do not come back together. `unit` in [0, 1) picks the
/// point; the wait is at least half the exponential step, so retries still spread out.
pub fn backoff(
    attempt: i32,
    base: std::time::Duration,
    cap: std::time::Duration,
    unit: f64,
) -> std::time::Duration {
    let exponent = attempt.clamp(1, 30) as u32 - 1;
    let step = base.saturating_mul(1u32 << exponent.min(20)).min(cap);
    let unit = unit.clamp(0.0, 1.0);
    step.mul_f64(0.5 + unit / 2.0)
}

/// A scheduled job as the platform admins see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledJobInfo {
    pub name: String,
    pub cron: String,
    /// The schedule in words ("At minute 0 of every hour").
    pub schedule: String,
    pub next_run_at: chrono::DateTime<chrono::Utc>,
    pub last_started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub last_duration_ms: Option<i32>,
    /// `None` while it never finished a run.
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
}

/// Counts of the queue by state, for the platform admins' page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueStats {
    pub queued: i64,
    pub running: i64,
    pub dead: i64,
    pub done_last_day: i64,
}

/// A dead job, with why it gave up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub finished_at: chrono::DateTime<chrono::Utc>,
}

/// Everything the jobs page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobsReport {
    pub scheduled: Vec<ScheduledJobInfo>,
    pub stats: QueueStats,
    pub dead: Vec<DeadJob>,
}

/// Platform admins: the scheduled jobs, the queue's counts and the latest dead jobs.
#[server(endpoint = "jobs_overview")]
#[tracing::instrument(skip_all)]
pub async fn jobs_overview() -> Result<JobsReport, AppError> {
    let me = crate::access::session::require_user().await?;
    let admin = crate::access::require_platform_admin(&me)?;
    let state = crate::state::state()?;
    Ok(JobsReport {
        scheduled: schedule::list(&state.pool, &admin).await?,
        stats: queue::stats(&state.pool, &admin).await?,
        dead: queue::dead(&state.pool, &admin, 20).await?,
    })
}

/// Platform admins: runs a scheduled job now (its next regular run stays as it was).
#[server(endpoint = "run_scheduled_job")]
#[tracing::instrument(skip_all, fields(job = %name))]
pub async fn run_scheduled_job(name: String) -> Result<(), AppError> {
    let me = crate::access::session::require_user().await?;
    let admin = crate::access::require_platform_admin(&me)?;
    let state = crate::state::state()?;
    schedule::run_now(&state.pool, &admin, &name, chrono::Utc::now()).await?;
    crate::ui::flash(crate::ui::Flash::notice(
        "job-queued",
        format!("“{name}” is queued and runs within seconds."),
    ));
    Ok(())
}

/// Platform admins: gives a dead job a fresh set of attempts.
#[server(endpoint = "retry_job")]
#[tracing::instrument(skip_all, fields(job = id))]
pub async fn retry_job(id: i64) -> Result<(), AppError> {
    let me = crate::access::session::require_user().await?;
    let admin = crate::access::require_platform_admin(&me)?;
    let state = crate::state::state()?;
    queue::retry_dead(&state.pool, &admin, id).await
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    const BASE: Duration = Duration::from_secs(10);
    const CAP: Duration = Duration::from_secs(3600);

    #[test]
    fn backoff_doubles_per_attempt_within_its_jitter() {
        for attempt in 1..=6 {
            let step = BASE * (1 << (attempt - 1));
            assert_eq!(backoff(attempt, BASE, CAP, 0.0), step / 2);
            assert!(backoff(attempt, BASE, CAP, 0.999) < step);
            assert!(backoff(attempt, BASE, CAP, 0.999) > step.mul_f64(0.99));
        }
    }

    #[test]
    fn backoff_is_capped_and_never_overflows() {
        assert_eq!(backoff(12, BASE, CAP, 0.0), CAP / 2);
        assert!(backoff(i32::MAX, BASE, CAP, 1.0) <= CAP);
        assert_eq!(backoff(0, BASE, CAP, 0.0), BASE / 2);
        assert_eq!(backoff(-5, BASE, CAP, 2.0), BASE);
    }
}
