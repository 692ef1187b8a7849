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

/// The request's span, kept in its extensions (layers inside it enter spans of their own, so
/// `Span::current()` is not it there).
#[derive(Clone)]
pub struct RequestSpan(pub Span);

impl RequestSpan {
    /// Records who is asking on the request's span (its `user_id` field).
    pub fn note_user(&self, id: app::ids::UserId) {
        self.0.record("user_id", tracing::field::display(id.0));
    }
}

/// Right inside the trace layer: keeps the request's span for the layers and handlers below.
pub async fn keep_span(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    request
        .extensions_mut()
        .insert(RequestSpan(Span::current()));
    next.run(request).await
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

/// Leptos' task executor for this process: tokio, with each task in the span that spawned it.
/// A page's data loads (resources) run as tasks of their own; without this their logs, and
/// sqlx's statements, lose the request's span and its id.
struct SpannedTokio;

impl any_spawner::CustomExecutor for SpannedTokio {
    fn spawn(&self, fut: any_spawner::PinnedFuture<()>) {
        tokio::spawn(tracing::Instrument::in_current_span(fut));
    }
    fn spawn_local(&self, fut: any_spawner::PinnedLocalFuture<()>) {
        tokio::task::spawn_local(tracing::Instrument::in_current_span(fut));
    }
    // Tokio runs its tasks itself.
    fn poll_local(&self) {}
}

/// Installs `SpannedTokio` before leptos_axum would install plain tokio (the first executor
/// set in a process stays; tests start many apps in one process).
pub fn init_executor() {
    let _ = any_spawner::Executor::init_custom_executor(SpannedTokio);
}

#[cfg(test)]
mod tests {
    use super::{redact_path, request_span, RequestSpan};
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_inside_a_request_name_who_asked_even_under_other_spans() {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let request = axum::http::Request::builder()
                .uri("/feeds/s3cret.ics")
                .body(())
                .unwrap();
            let span = request_span(&request);
            let _in_request = span.enter();
            // A layer below enters a span of its own (as the session layer does).
            let _in_call = tracing::info_span!("call").entered();
            RequestSpan(span.clone()).note_user(app::ids::UserId(uuid::Uuid::nil()));
            tracing::info!("done");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            text.contains("user_id=00000000-0000-0000-0000-000000000000"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
    }

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
