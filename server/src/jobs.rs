//! The background work of a server process: the job worker with every handler, the cron
//! scheduler, and the notification dispatcher. All three are safe on every replica.

use std::time::Duration;

use app::jobs::queue::ClaimedJob;
use app::jobs::schedule::{self, Schedule};
use app::jobs::worker::{self, JobError, JobResult, Registry, WorkerConfig};
use app::state::AppState;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_sessions_sqlx_store::PostgresStore;
use tracing::Instrument;

/// Every scheduled job (UTC cron; minute hour day month weekday).
pub const SCHEDULES: &[Schedule] = &[
    // Reminders are due at minute precision.
    Schedule {
        name: "sessions.reminders",
        cron: "* * * * *",
    },
    Schedule {
        name: "events.horizon",
        cron: "7 * * * *",
    },
    // A term's next session is booked within a minute of its booking window opening.
    Schedule {
        name: "enrolments.book",
        cron: "* * * * *",
    },
    Schedule {
        name: "bans.expire",
        cron: "*/15 * * * *",
    },
    Schedule {
        name: "invitations.expire",
        cron: "37 3 * * *",
    },
    Schedule {
        name: "cleanup.sessions",
        cron: "23 * * * *",
    },
    Schedule {
        name: "cleanup.tokens",
        cron: "41 3 * * *",
    },
    Schedule {
        name: "cleanup.jobs",
        cron: "11 4 * * *",
    },
];

fn retry(e: impl std::fmt::Display) -> JobError {
    JobError::Retry(e.to_string())
}

/// Every job kind and its handler.
pub fn registry() -> Registry<AppState> {
    use app::notifications::deliver;
    Registry::default()
        .on(deliver::DELIVER, deliver::deliver)
        .on(deliver::DIGEST, deliver::digest)
        .on(
            "sessions.reminders",
            |state: AppState, _job: ClaimedJob| async move {
                let n = app::bookings::db::queue_reminders(&state.pool, Utc::now()).await?;
                tracing::info!(reminders = n, "reminders queued");
                JobResult::Ok(())
            },
        )
        .on(
            "enrolments.book",
            |state: AppState, _job: ClaimedJob| async move {
                let n = app::bookings::db::book_opened_terms(&state.pool, Utc::now()).await?;
                if n > 0 {
                    tracing::info!(bookings = n, "term sessions booked as their window opened");
                }
                JobResult::Ok(())
            },
        )
        .on(
            "events.horizon",
            |state: AppState, _job: ClaimedJob| async move {
                let made = app::events::db::extend_horizons(&state.pool).await?;
                tracing::info!(sessions = made, "series horizon extended");
                JobResult::Ok(())
            },
        )
        .on(
            "bans.expire",
            |state: AppState, _job: ClaimedJob| async move {
                let n = app::bookings::db::announce_ended_bans(&state.pool, Utc::now()).await?;
                tracing::info!(members = n, "ended booking bans announced");
                JobResult::Ok(())
            },
        )
        .on(
            "invitations.expire",
            |state: AppState, _job: ClaimedJob| async move {
                let n = app::invitations::db::purge_ended(
                    &state.pool,
                    Utc::now(),
                    chrono::Duration::days(90),
                )
                .await?;
                tracing::info!(invitations = n, "ended invitations deleted");
                JobResult::Ok(())
            },
        )
        .on(
            "cleanup.sessions",
            |state: AppState, _job: ClaimedJob| async move {
                use tower_sessions::session_store::ExpiredDeletion;
                PostgresStore::new(state.pool.clone())
                    .delete_expired()
                    .await
                    .map_err(retry)?;
                JobResult::Ok(())
            },
        )
        .on(
            "cleanup.tokens",
            |state: AppState, _job: ClaimedJob| async move {
                let tokens = app::auth::db::purge_expired_tokens(&state.pool, Utc::now()).await?;
                let keys = crate::api::idempotency::purge(&state.pool, Utc::now())
                    .await
                    .map_err(retry)?;
                tracing::info!(tokens, idempotency_keys = keys, "expired tokens deleted");
                JobResult::Ok(())
            },
        )
        .on(
            "cleanup.jobs",
            |state: AppState, _job: ClaimedJob| async move {
                let n = app::jobs::queue::purge_finished(&state.pool, chrono::Duration::days(14))
                    .await?;
                tracing::info!(jobs = n, "finished jobs deleted");
                JobResult::Ok(())
            },
        )
}

/// The running background tasks; `stop` ends them gracefully.
pub struct Background {
    stop: std::sync::Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
}

/// How the background tasks of a process run.
#[derive(Debug, Clone)]
pub struct BackgroundConfig {
    /// Jobs at once; 0 runs no worker.
    pub concurrency: usize,
    pub scheduler_every: Duration,
    pub dispatcher_poll: Duration,
    pub digest_window: chrono::Duration,
    pub backoff_base: Duration,
    /// A claimed job whose worker stops sending heartbeats runs again after this long.
    pub visibility: Duration,
    /// At shutdown, running jobs get this long to finish before they are given back.
    pub shutdown_grace: Duration,
}

impl BackgroundConfig {
    pub fn new(config: &crate::config::Config) -> Self {
        Self {
            concurrency: config.job_concurrency,
            scheduler_every: Duration::from_secs(2),
            dispatcher_poll: Duration::from_millis(500),
            digest_window: chrono::Duration::minutes(config.request_digest_minutes),
            backoff_base: Duration::from_millis(config.job_backoff_ms),
            visibility: Duration::from_secs(config.job_visibility_secs),
            shutdown_grace: Duration::from_secs(config.drain_timeout_secs),
        }
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Registers the schedules and starts the scheduler, the dispatcher and (unless concurrency
/// is 0) the worker.
pub async fn start(state: AppState, config: BackgroundConfig) -> Result<Background, String> {
    schedule::register(&state.pool, SCHEDULES, Utc::now())
        .await
        .map_err(|e| format!("registering the scheduled jobs failed: {e}"))?;
    let (stop, rx) = watch::channel(false);
    // Each in a span of its own, so its logs (and statements) say which background task
    // they come from.
    let span = |task: &'static str| tracing::info_span!("background", task);
    let mut tasks = vec![
        tokio::spawn(
            worker::run_scheduler(
                state.pool.clone(),
                config.scheduler_every,
                stopped(rx.clone()),
            )
            .instrument(span("scheduler")),
        ),
        tokio::spawn(
            app::notifications::dispatch::run(
                state.pool.clone(),
                config.dispatcher_poll,
                config.digest_window,
                stopped(rx.clone()),
            )
            .instrument(span("dispatcher")),
        ),
    ];
    if config.concurrency > 0 {
        let name = format!(
            "{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "roster".into()),
            std::process::id()
        );
        let mut worker_config = WorkerConfig::new(name, config.concurrency);
        worker_config.backoff_base = config.backoff_base;
        worker_config.visibility = config.visibility;
        worker_config.shutdown_grace = config.shutdown_grace;
        tasks.push(tokio::spawn(
            worker::run(
                state.pool.clone(),
                registry(),
                state.clone(),
                worker_config,
                stopped(rx),
            )
            .instrument(span("worker")),
        ));
    }
    Ok(Background {
        stop: std::sync::Arc::new(stop),
        tasks,
    })
}

impl Background {
    /// Tells the background work to stop (claim nothing more, give back what it holds) without
    /// waiting: `stop` waits.
    pub fn stopper(&self) -> impl FnOnce() + Send + 'static {
        let stop = self.stop.clone();
        move || {
            stop.send_replace(true);
        }
    }

    /// Stops claiming new work, lets running jobs finish (or gives them back), and waits.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}
