//! Rate limits kept in this process's memory, per key: the REST API per client address and per
//! person (token subject or signed-in user), and changes (server functions, form posts) per
//! signed-in person or, for visitors, per client address. Over a limit the answer is 429 with
//! `Retry-After`. Limits hold per server process: behind a load balancer with N replicas a
//! client may get up to N times as much. (Sign-in links and join requests have limits of
//! their own in the database, which hold across replicas.)
//!
//! Each limit is a GCRA ("generic cell rate algorithm"): a steady rate with a burst on top; a
//! key's whole state is the time its next request is due, so a key costs 16 bytes plus its
//! name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::error::AppError;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use crate::api::Problem;

/// One limit: `rate` requests per second on average, bursts of `burst`.
pub struct Limiter {
    name: &'static str,
    off: bool,
    interval: Duration,
    tolerance: Duration,
    due: Mutex<HashMap<String, Instant>>,
}

/// Keys kept before the ones long idle are swept.
const SWEEP_ABOVE: usize = 50_000;

impl Limiter {
    pub fn new(name: &'static str, per_second: f64, burst: u32) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.max(0.001));
        Self {
            name,
            off: false,
            interval,
            tolerance: interval * burst.saturating_sub(1),
            due: Mutex::new(HashMap::new()),
        }
    }

    /// A limit that lets everything through when `off`.
    pub fn off_if(mut self, off: bool) -> Self {
        self.off = off;
        self
    }

    /// Counts a request of `key`; `Err(wait)` when it is over the limit (nothing counted).
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.off {
            return Ok(());
        }
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        if due.len() > SWEEP_ABOVE {
            due.retain(|_, at| *at > now);
        }
        let at = due.get(key).copied().unwrap_or(now).max(now);
        if at > now + self.tolerance {
            metrics::counter!("roster_rate_limited_total", "scope" => self.name).increment(1);
            return Err(at - (now + self.tolerance));
        }
        due.insert(key.to_string(), at + self.interval);
        Ok(())
    }

    /// `check_at` now; a refusal is `RateLimited` with the seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), AppError> {
        self.check_at(key, Instant::now()).map_err(|wait| {
            AppError::rate_limited(wait.as_secs_f64().ceil().clamp(1.0, 3600.0) as u32)
        })
    }
}

/// Every in-process limit of a server.
pub struct Limits {
    /// Every `/api/v1` request, per client address.
    pub api_address: Limiter,
    /// `/api/v1` requests per person (token subject, or signed-in user).
    pub api_subject: Limiter,
    /// Changes (unsafe methods outside `/api/v1`) per signed-in person.
    pub writes_person: Limiter,
    /// Changes by visitors, per client address.
    pub writes_address: Limiter,
}

impl Limits {
    /// The configured rates (`ROSTER_RATE_*`, requests per second; 0 turns one off), each
    /// with a burst of three seconds' worth (at least 30 for changes: a person ticking
    /// through a list). Visitors' changes (sign-in, joining) get half a person's rate.
    pub fn new(config: &crate::config::Config) -> Self {
        let limiter = |name, rate: u32, min_burst: u32| {
            Limiter::new(name, f64::from(rate), (rate * 3).max(min_burst)).off_if(rate == 0)
        };
        Self {
            api_address: limiter("api_address", config.rate_api_per_address, 10),
            api_subject: limiter("api_subject", config.rate_api_per_person, 10),
            writes_person: limiter("writes_person", config.rate_writes_per_person, 30),
            writes_address: Limiter::new(
                "writes_address",
                f64::from(config.rate_writes_per_person) / 2.0,
                (config.rate_writes_per_person * 3).max(20),
            )
            .off_if(config.rate_writes_per_person == 0),
        }
    }

    /// The REST API's per-person limit (called once the caller is known).
    pub fn check_subject(&self, subject: &str) -> Result<(), Problem> {
        self.api_subject.check(subject).map_err(Problem::from)
    }
}

/// Whose address a request comes from: the peer, or behind a trusted proxy the right-most
/// `X-Forwarded-For` entry (the one that proxy added).
#[derive(Clone, Copy)]
pub struct ClientAddress {
    pub trust_forwarded_for: bool,
}

fn client_key(request: &Request, how: ClientAddress) -> String {
    if how.trust_forwarded_for {
        if let Some(addr) = app::access::session::forwarded_client(request.headers()) {
            return addr;
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[derive(Clone)]
pub struct ThrottleState {
    pub limits: std::sync::Arc<Limits>,
    pub client: ClientAddress,
}

fn refuse(err: AppError, api: bool) -> Response {
    if api {
        return Problem::from(err).into_response();
    }
    let status = axum::http::StatusCode::from_u16(err.status())
        .unwrap_or(axum::http::StatusCode::TOO_MANY_REQUESTS);
    let mut response = (status, err.to_string()).into_response();
    if let Some(seconds) = err.retry_after() {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(seconds),
        );
    }
    response
}

/// Inside the session layer: the REST API per client address, and changes per person (or per
/// address for visitors). Reading pages is not limited here.
pub async fn limit_requests(
    State(state): State<ThrottleState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let api = path.starts_with("/api/v1/");
    if api {
        let key = client_key(&request, state.client);
        if let Err(e) = state.limits.api_address.check(&key) {
            return refuse(e, true);
        }
        return next.run(request).await;
    }
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method {
        let person = match request.extensions().get::<Session>() {
            Some(session) => app::access::session::signed_in_id(session).await,
            None => None,
        };
        let checked = match person {
            Some(id) => state.limits.writes_person.check(&id.0.to_string()),
            None => state
                .limits
                .writes_address
                .check(&client_key(&request, state.client)),
        };
        if let Err(e) = checked {
            return refuse(e, false);
        }
    }
    next.run(request).await
}

/// Records the signed-in person on the request's log span (requests for `/pkg` files and the
/// health checks never touch the session).
pub async fn note_person(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let quiet = path.starts_with("/pkg/") || path == "/healthz" || path == "/readyz";
    if !quiet {
        if let Some(session) = request.extensions().get::<Session>() {
            if let Some(id) = app::access::session::signed_in_id(session).await {
                if let Some(span) = request.extensions().get::<crate::telemetry::RequestSpan>() {
                    span.note_user(id);
                }
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::Limiter;
    use std::time::{Duration, Instant};

    #[test]
    fn a_burst_passes_then_the_steady_rate_and_each_key_counts_alone() {
        let limit = Limiter::new("test", 2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.check_at("a", t0).is_ok());
        }
        let wait = limit.check_at("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limit.check_at("b", t0).is_ok(),
            "another key has its own budget"
        );
        // Half a second later one more fits (2 per second), and not two.
        let later = t0 + Duration::from_millis(500);
        assert!(limit.check_at("a", later).is_ok());
        assert!(limit.check_at("a", later).is_err());
        // Long idle: the full burst again.
        let idle = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limit.check_at("a", idle).is_ok());
        }
    }
}
