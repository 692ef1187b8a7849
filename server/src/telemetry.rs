//! Logs and spans: readable text in development, JSON in production; a request id on every line.

use axum::http::Request;
use tower_http::request_id::RequestId;
use tracing::Span;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

/// Installs the global subscriber (`RUST_LOG` filters, default `info`).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    // Every line carries the request's span: its id and who asked.
                    .with_span_list(true),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().compact())
            .try_init()
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    let _ = result;
}

/// The span of one HTTP request, carrying its request id.
pub fn request_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-");
    let path = redact_path(request.uri().path());
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        %path,
        user_id = tracing::field::Empty
    )
}

/// A failed request, logged: a 503 (overload, the database away: counted in /metrics, and
/// logged where it arose) at debug level, anything else at error.
pub fn on_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    match class {
        ServerErrorsFailureClass::StatusCode(code) if code.as_u16() == 503 => {
            tracing::debug!(latency_ms = latency.as_millis() as u64, "answered 503")
        }
        other => {
            tracing::error!(classification = %other, latency_ms = latency.as_millis() as u64, "response failed")
        }
    }
}

/// Paths that carry a secret token (invitation links, secret calendar feeds), with the token
/// replaced: request logs never hold one. (Query strings, where sign-in links keep theirs, are
/// not logged at all.)
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    if let Some(token) = path.strip_prefix("/invitations/") {
        if !token.is_empty() {
            return "/invitations/[redacted]".into();
        }
    }
    if let Some(file) = path.strip_prefix("/feeds/") {
        if !file.is_empty() {
            return "/feeds/[redacted].ics".into();
        }
    }
    path.into()
}

#[cfg(test)]
mod tests {
    use super::redact_path;

    #[test]
    fn invitation_tokens_are_redacted_from_logged_paths() {
        assert_eq!(
            redact_path("/invitations/s3cret-token"),
            "/invitations/[redacted]"
        );
        assert_eq!(redact_path("/invitations/"), "/invitations/");
        assert_eq!(
            redact_path("/s/harbour/invitations"),
            "/s/harbour/invitations"
        );
        assert_eq!(redact_path("/me"), "/me");
        assert_eq!(
            redact_path("/feeds/Zk3-secret-token_abc.ics"),
            "/feeds/[redacted].ics"
        );
        assert_eq!(
            redact_path("/s/harbour/calendar.ics"),
            "/s/harbour/calendar.ics"
        );
    }
}
