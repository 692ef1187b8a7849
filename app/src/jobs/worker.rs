//! The worker: claims due jobs (woken by `LISTEN roster_jobs`, polling as a fallback), runs
//! each with its registered handler while a heartbeat keeps the claim, records the outcome,
//! and on shutdown stops claiming, lets running jobs finish for a grace period and gives back
//! the ones that did not.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::task::JoinSet;

use super::queue::{self, ClaimedJob, Failed};
use super::schedule;

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    /// Worth another attempt later (a server that is down, a lock timeout).
    Retry(String),
    /// Will never work (bad payload, a recipient that is gone): dead at once.
    Permanent(String),
}

impl JobError {
    pub fn message(&self) -> &str {
        match self {
            Self::Retry(m) | Self::Permanent(m) => m,
        }
    }
}

/// One more run of `kind` that ended with `result` (ok, retry, dead), for `/metrics`.
fn count_run(kind: &str, result: &'static str) {
    metrics::counter!("roster_job_runs_total", "kind" => kind.to_string(), "result" => result)
        .increment(1);
}

impl From<crate::error::AppError> for JobError {
    fn from(e: crate::error::AppError) -> Self {
        match e {
            crate::error::AppError::Internal => Self::Retry("internal error (see the log)".into()),
            crate::error::AppError::Unavailable { .. }
            | crate::error::AppError::RateLimited { .. } => {
                Self::Retry("the database is unavailable or busy".into())
            }
            other => Self::Permanent(other.to_string()),
        }
    }
}

pub type JobResult = Result<(), JobError>;
type BoxFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;
type Handler<C> = Arc<dyn Fn(C, ClaimedJob) -> BoxFuture + Send + Sync>;

/// The handlers, by job kind.
pub struct Registry<C> {
    handlers: HashMap<String, Handler<C>>,
}

impl<C> Default for Registry<C> {
    fn default() -> Self {
        Self {
            handlers: HashMap::new(),
        }
    }
}

impl<C: Clone + Send + 'static> Registry<C> {
    /// Runs `handler` for jobs of `kind`. It must be idempotent: a job may run again after a
    /// worker died mid-way.
    pub fn on<F, Fut>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(C, ClaimedJob) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        self.handlers.insert(
            kind.to_string(),
            Arc::new(move |ctx, job| Box::pin(handler(ctx, job))),
        );
        self
    }

    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.handlers.keys().map(String::as_str)
    }
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names its claims (`jobs.locked_by`): host and process.
    pub name: String,
    /// Jobs run at once.
    pub concurrency: usize,
    /// A claim lasts this long without a heartbeat.
    pub visibility: Duration,
    /// Poll this often when no notification arrives.
    pub poll: Duration,
    /// Retries wait from `backoff_base` doubling up to `backoff_cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// On shutdown, running jobs get this long to finish before they are given back.
    pub shutdown_grace: Duration,
}

impl WorkerConfig {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        Self {
            name: name.into(),
            concurrency: concurrency.max(1),
            visibility: Duration::from_secs(300),
            poll: Duration::from_secs(2),
            backoff_base: Duration::from_secs(10),
            backoff_cap: Duration::from_secs(3600),
            shutdown_grace: Duration::from_secs(20),
        }
    }
}

/// Runs the worker until `shutdown` resolves, then drains (see the module).
pub async fn run<C: Clone + Send + Sync + 'static>(
    pool: PgPool,
    registry: Registry<C>,
    ctx: C,
    config: WorkerConfig,
    shutdown: impl Future<Output = ()> + Send,
) {
    let registry = Arc::new(registry);
    let config = Arc::new(config);
    let held: Arc<Mutex<HashMap<i64, ClaimedJob>>> = Arc::default();
    let mut running: JoinSet<()> = JoinSet::new();
    let mut listener = listen(&pool).await;
    let kinds: Vec<String> = registry.kinds().map(str::to_string).collect();
    tokio::pin!(shutdown);
    tracing::info!(worker = %config.name, concurrency = config.concurrency, "job worker started");
    loop {
        // Claim what fits, then wait for a notification, a finished job, a poll or shutdown.
        let free = config.concurrency.saturating_sub(running.len());
        if free > 0 {
            match queue::claim(&pool, &config.name, &kinds, free as i64, config.visibility).await {
                Ok(jobs) => {
                    let claimed_all = jobs.len() == free;
                    for job in jobs {
                        held.lock().expect("held jobs").insert(job.id, job.clone());
                        running.spawn(run_one(
                            pool.clone(),
                            registry.clone(),
                            ctx.clone(),
                            config.clone(),
                            held.clone(),
                            job,
                        ));
                    }
                    if claimed_all {
                        // There may be more: look again once a slot frees.
                        tokio::select! {
                            biased;
                            _ = &mut shutdown => break,
                            _ = running.join_next() => continue,
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed; retrying"),
            }
        }
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = wait_for_notification(&mut listener, config.poll) => {}
        }
    }
    tracing::info!(running = running.len(), "job worker stopping");
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        running.abort_all();
        while running.join_next().await.is_some() {}
        let left: Vec<ClaimedJob> = held
            .lock()
            .expect("held jobs")
            .drain()
            .map(|(_, j)| j)
            .collect();
        for job in left {
            match queue::release(&pool, &job).await {
                Ok(_) => {
                    tracing::info!(job = job.id, kind = %job.kind, "job given back at shutdown")
                }
                Err(e) => {
                    tracing::warn!(job = job.id, error = %e, "could not give a job back; it runs again after its visibility timeout")
                }
            }
        }
    }
    tracing::info!("job worker stopped");
}

async fn listen(pool: &PgPool) -> Option<PgListener> {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN unavailable; the worker polls");
            return None;
        }
    };
    match listener.listen("roster_jobs").await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN unavailable; the worker polls");
            None
        }
    }
}

async fn wait_for_notification(listener: &mut Option<PgListener>, poll: Duration) {
    match listener {
        Some(l) => {
            let started = std::time::Instant::now();
            if let Ok(Err(e)) = tokio::time::timeout(poll, l.recv()).await {
                // A listener that cannot reconnect (its pool closed, say) answers at once:
                // wait out the poll, and give the thread back, instead of spinning.
                tracing::debug!(error = %e, "LISTEN failed; polling");
                tokio::time::sleep(poll.saturating_sub(started.elapsed())).await;
                tokio::task::yield_now().await;
            }
        }
        None => tokio::time::sleep(poll).await,
    }
}

#[tracing::instrument(skip_all, fields(job = job.id, kind = %job.kind, attempt = job.attempt))]
async fn run_one<C: Clone + Send + Sync + 'static>(
    pool: PgPool,
    registry: Arc<Registry<C>>,
    ctx: C,
    config: Arc<WorkerConfig>,
    held: Arc<Mutex<HashMap<i64, ClaimedJob>>>,
    job: ClaimedJob,
) {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let result = match registry.handlers.get(&job.kind) {
        // Only claimed when registered; kept for safety.
        None => Err(JobError::Permanent(format!(
            "no handler for job kind “{}”",
            job.kind
        ))),
        Some(handler) => {
            let work = handler(ctx, job.clone());
            let heartbeat = async {
                let mut every = tokio::time::interval(config.visibility / 3);
                every.tick().await;
                loop {
                    every.tick().await;
                    match queue::extend(&pool, &job, config.visibility).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!("the claim was lost while running"),
                        Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                    }
                }
            };
            tokio::select! {
                result = work => result,
                _ = heartbeat => unreachable!("the heartbeat never ends"),
            }
        }
    };
    let took = clock.elapsed();
    let recorded = match &result {
        Ok(()) => queue::complete(&pool, &job).await.map(|kept| {
            count_run(&job.kind, "ok");
            if !kept {
                tracing::warn!("finished after its claim was lost (it may have run twice)");
            }
        }),
        Err(error) => {
            let retry_in = match error {
                JobError::Retry(_) => Some(super::backoff(
                    job.attempt,
                    config.backoff_base,
                    config.backoff_cap,
                    rand_unit(),
                )),
                JobError::Permanent(_) => None,
            };
            queue::fail(&pool, &job, error.message(), retry_in)
                .await
                .map(|outcome| match outcome {
                    Failed::Retry(at) => {
                        count_run(&job.kind, "retry");
                        tracing::warn!(error = error.message(), retry_at = %at, "job failed; retrying")
                    }
                    Failed::Dead => {
                        count_run(&job.kind, "dead");
                        tracing::error!(error = error.message(), "job is dead")
                    }
                    Failed::Superseded => tracing::info!("job failed; a newer one does its work"),
                    Failed::ClaimLost => tracing::warn!("job failed after its claim was lost"),
                })
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "recording the job's outcome failed; it runs again after its visibility timeout");
    }
    if let Some(name) = job.payload.get("schedule").and_then(|s| s.as_str()) {
        let outcome = result.as_ref().map(|_| ()).map_err(|e| e.message());
        if let Err(e) = schedule::record_run(&pool, name, started, took, outcome).await {
            tracing::warn!(error = %e, "recording the scheduled run failed");
        }
    }
    held.lock().expect("held jobs").remove(&job.id);
    tracing::debug!(
        ms = took.as_millis() as u64,
        ok = result.is_ok(),
        "job finished"
    );
}

fn rand_unit() -> f64 {
    use rand::Rng;
    rand::rng().random::<f64>()
}

/// Queues due scheduled jobs every `every` until `shutdown` resolves (one per replica; the
/// schedule's row locks make each due time run once).
pub async fn run_scheduler(
    pool: PgPool,
    every: Duration,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = ticks.tick() => {}
        }
        match schedule::tick(&pool, Utc::now()).await {
            Ok(queued) if !queued.is_empty() => tracing::debug!(?queued, "scheduled jobs queued"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "scheduler tick failed"),
        }
    }
}
