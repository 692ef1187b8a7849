//! `/metrics` in the Prometheus text format, on its own address (`ROSTER_METRICS_ADDR`), never
//! on the public one: requests and their latency by route template and status, the database
//! pool, bookings by outcome, the job queue and deliveries, live streams, readiness, rate
//! limits and overload answers, and the build. Metric names are listed in README.md
//! ("Operate"); `deploy/monitoring/` has alert rules and a dashboard for them.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;

/// Request latency buckets (seconds): fine around the 20-200 ms that pages should take.
const LATENCY_BUCKETS: &[f64] = &[
    0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];
/// Connection acquire buckets (seconds).
const ACQUIRE_BUCKETS: &[f64] = &[0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0];

/// The process' one recorder (installed on first use; several apps in one test process share
/// it).
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("roster_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("roster_db_pool_acquire_seconds".into()),
                    ACQUIRE_BUCKETS,
                )
            })
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was installed already; /metrics may be empty");
        }
        metrics::gauge!(
            "roster_build_info",
            "version" => env!("CARGO_PKG_VERSION"),
            "commit" => option_env!("ROSTER_GIT_COMMIT").unwrap_or("unknown")
        )
        .set(1.0);
        handle
    })
}

/// Counts every request by method, route template (never the raw path: it may hold ids and
/// tokens) and status, with its latency.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| {
            if request.uri().path().starts_with("/pkg/") {
                "/pkg/{file}".into()
            } else {
                "unmatched".into()
            }
        });
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("roster_http_requests_total", &labels).increment(1);
    metrics::histogram!("roster_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The private router serving `/metrics`.
pub fn routes() -> Router {
    Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                recorder().render(),
            )
        }),
    )
}

/// Samples what is not counted as it happens, every `every`: the pool's connections and how
/// long taking one takes, the job queue and deliveries (database-wide, the same on every
/// replica), until the pool closes.
pub async fn sample(pool: PgPool, max_connections: u32, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    metrics::gauge!("roster_db_pool_max_connections").set(f64::from(max_connections));
    let mut previous: HashSet<(String, &'static str)> = HashSet::new();
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        recorder().run_upkeep();
        let idle = pool.num_idle() as f64;
        let size = f64::from(pool.size());
        metrics::gauge!("roster_db_pool_connections", "state" => "idle").set(idle);
        metrics::gauge!("roster_db_pool_connections", "state" => "in_use").set(size - idle);
        let started = Instant::now();
        match pool.acquire().await {
            Ok(conn) => {
                metrics::histogram!("roster_db_pool_acquire_seconds")
                    .record(started.elapsed().as_secs_f64());
                drop(conn);
            }
            Err(_) => {
                metrics::histogram!("roster_db_pool_acquire_seconds")
                    .record(started.elapsed().as_secs_f64());
                continue;
            }
        }
        if let Ok(depth) = app::jobs::queue::depth(&pool).await {
            let now: HashSet<(String, &'static str)> = depth
                .iter()
                .map(|d| (d.kind.clone(), d.status.as_str()))
                .collect();
            // A kind and state that emptied reads 0 rather than keeping its last value.
            for (kind, state) in previous.difference(&now) {
                let labels = [("kind", kind.clone()), ("state", state.to_string())];
                metrics::gauge!("roster_jobs", &labels).set(0.0);
                metrics::gauge!("roster_jobs_oldest_age_seconds", &labels).set(0.0);
            }
            for d in &depth {
                let labels = [
                    ("kind", d.kind.clone()),
                    ("state", d.status.as_str().to_string()),
                ];
                metrics::gauge!("roster_jobs", &labels).set(d.count as f64);
                metrics::gauge!("roster_jobs_oldest_age_seconds", &labels).set(d.oldest_seconds);
            }
            previous = now;
        }
        if let Ok(counts) = app::notifications::db::delivery_counts(&pool).await {
            for channel in ["email", "push"] {
                for state in ["queued", "sending", "failed", "dead"] {
                    let n = counts
                        .iter()
                        .find(|(c, s, _)| c.as_str() == channel && s.as_str() == state)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!("roster_deliveries", "channel" => channel, "state" => state)
                        .set(n as f64);
                }
            }
        }
    }
}
