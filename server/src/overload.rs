//! Overload is an answer, not a crash: when Roster cannot serve a request in time (every
//! database connection busy, the database restarting, a request that runs too long), the
//! client gets 503 with `Retry-After`, never a 500; 429s carry `Retry-After` too.
//!
//! Two pieces outside the domain need help for that:
//! - the session layer answers a failed session save with a bare 500 of its own; the store
//!   here notes the failure for the request, and `answer_overload` turns that 500 into a 503;
//! - a request may not run longer than the request timeout (live streams excepted).

use std::cell::Cell;
use std::time::Duration;

use app::access::session::STORE_UNAVAILABLE;
use app::error::UNAVAILABLE_RETRY_SECS;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

tokio::task_local! {
    /// Set when the session store could not reach the database during this request.
    static STORE_FAILED: Cell<bool>;
}

/// A session store whose database failures are known for what they are: the request that met
/// one is answered 503, and code reading the session sees `STORE_UNAVAILABLE`.
#[derive(Debug, Clone)]
pub struct GuardedStore<S>(pub S);

fn guard<T>(result: session_store::Result<T>) -> session_store::Result<T> {
    match result {
        Err(session_store::Error::Backend(detail)) => {
            tracing::warn!(error = %detail, "session store unavailable");
            let _ = STORE_FAILED.try_with(|failed| failed.set(true));
            metrics::counter!("roster_overload_rejections_total", "reason" => "session_store")
                .increment(1);
            Err(session_store::Error::Backend(STORE_UNAVAILABLE.into()))
        }
        other => other,
    }
}

#[async_trait::async_trait]
impl<S: SessionStore> SessionStore for GuardedStore<S> {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        guard(self.0.create(record).await)
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        guard(self.0.save(record).await)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        guard(self.0.load(id).await)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        guard(self.0.delete(id).await)
    }
}

/// The 503 every overloaded path answers with: plain text for pages and forms, a problem for
/// the REST API.
pub fn unavailable(api: bool) -> Response {
    if api {
        return crate::api::Problem::from(app::error::AppError::unavailable()).into_response();
    }
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        "Roster is busy right now. Please try again in a few seconds.",
    )
        .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(UNAVAILABLE_RETRY_SECS),
    );
    response
}

/// Outermost: a 500 caused by the session store losing the database becomes a 503, and every
/// 429 or 503 carries `Retry-After`.
pub async fn answer_overload(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/v1/");
    let (response, store_failed) = STORE_FAILED
        .scope(Cell::new(false), async {
            let response = next.run(request).await;
            (response, STORE_FAILED.with(Cell::get))
        })
        .await;
    if store_failed && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return unavailable(api);
    }
    let mut response = response;
    if matches!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) && !response.headers().contains_key(header::RETRY_AFTER)
    {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_SECS),
        );
    }
    response
}

/// How long one request may take (`ROSTER_REQUEST_TIMEOUT_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct RequestTimeout(pub Duration);

/// Paths whose answers are long-lived streams and have no request timeout.
pub fn is_stream(path: &str) -> bool {
    path.starts_with("/s/") && path.ends_with("/live")
}

/// A request that has not been answered within the timeout is answered 503 (its work is
/// dropped: transactions roll back), so a slow dependency cannot hold people for long.
pub async fn limit_duration(
    State(timeout): State<RequestTimeout>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if is_stream(path) {
        return next.run(request).await;
    }
    let api = path.starts_with("/api/v1/");
    let route = path.to_string();
    match tokio::time::timeout(timeout.0, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(path = %crate::telemetry::redact_path(&route), "request timed out");
            metrics::counter!("roster_overload_rejections_total", "reason" => "timeout")
                .increment(1);
            unavailable(api)
        }
    }
}
