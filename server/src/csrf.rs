//! Cross-site request forgery protection for every state-changing request.
//!
//! Session cookies are `SameSite=Lax` already; on top, a browser's unsafe request must come
//! from Roster's own pages: `Sec-Fetch-Site: same-origin`, or an `Origin` equal to the public
//! URL's. Requests without either header are not from a browser page (scripts, API clients).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `scheme://host[:port]` of the public URL.
#[derive(Clone)]
pub struct AllowedOrigin(pub String);

pub async fn reject_cross_site(
    State(origin): State<AllowedOrigin>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let request_origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = match (fetch_site, request_origin) {
        (Some(site), _) => site == "same-origin" || site == "none",
        (None, Some(o)) => o == origin.0,
        (None, None) => true,
    };
    if allowed {
        next.run(request).await
    } else {
        tracing::warn!(?fetch_site, ?request_origin, "cross-site request rejected");
        (
            StatusCode::FORBIDDEN,
            "Cross-site requests are not allowed.",
        )
            .into_response()
    }
}
