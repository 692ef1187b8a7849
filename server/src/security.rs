//! Security headers on every answer, and a Content-Security-Policy with a fresh nonce on every
//! HTML page: scripts run only from Roster itself or with that page's nonce (the islands'
//! loader), WASM may compile (`'wasm-unsafe-eval'`), nothing may frame Roster, forms post only
//! to Roster (and to the identity provider, for sign-out). Also: a form error travels to the
//! next page in a one-time cookie, never in the address, so no link can make Roster show text
//! it did not write.

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use base64::{engine::general_purpose::URL_SAFE, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;

use crate::config::Config;

/// This request's CSP nonce (request extension), for the page's scripts.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

/// What the headers depend on.
#[derive(Debug, Clone)]
pub struct Headers {
    /// `Strict-Transport-Security` (Roster is served over https).
    hsts: bool,
    /// Where forms may post besides Roster: the identity provider's origin (sign-out).
    form_targets: String,
    /// `Secure` on the cookies this module sets.
    secure_cookies: bool,
}

impl Headers {
    pub fn new(config: &Config) -> Self {
        let form_targets = config
            .oidc
            .as_ref()
            .and_then(|o| url::Url::parse(&o.issuer).ok())
            .map(|u| format!(" {}", u.origin().ascii_serialization()))
            .unwrap_or_default();
        Self {
            hsts: config.public_url.scheme() == "https",
            form_targets,
            secure_cookies: config.secure_cookies(),
        }
    }

    /// The policy of an HTML page with `nonce`. `inline_styles` lets the page's own `<style>`
    /// elements apply (the API documentation's Swagger UI has them; Roster's pages do not).
    pub fn content_security_policy(&self, nonce: &str, inline_styles: bool) -> String {
        let styles = if inline_styles {
            "'self' 'unsafe-inline'"
        } else {
            "'self'"
        };
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src {styles}; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
             worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'{}; frame-ancestors 'none'",
            self.form_targets
        )
    }
}

fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

const PERMISSIONS_POLICY: &str =
    "camera=(self), microphone=(), geolocation=(), payment=(), usb=(), display-capture=()";

/// Adds the security headers; HTML answers get the CSP with the nonce their scripts carry.
pub async fn add_headers(
    State(headers): State<Headers>,
    mut request: Request,
    next: Next,
) -> Response {
    let nonce = new_nonce();
    let docs = request.uri().path().starts_with("/api/v1/docs");
    request.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let out = response.headers_mut();
    if is_html && !out.contains_key(header::CONTENT_SECURITY_POLICY) {
        if let Ok(value) = HeaderValue::from_str(&headers.content_security_policy(&nonce, docs)) {
            out.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    out.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    out.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS_POLICY),
    );
    out.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if headers.hsts {
        out.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Leptos context for pages and server functions: the server's state, the request's CSP
/// nonce (so the scripts Leptos writes carry it), whether cookies must be `Secure`, and the
/// place where the request's caller is kept once worked out.
pub fn provide_request_context(
    state: app::state::AppState,
    secure_cookies: bool,
) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        use leptos::prelude::{provide_context, use_context};
        // The page routes get it from the router too; the fallback (a page not found) only
        // from here, and its shell asks who is signed in like any page.
        provide_context(state.clone());
        provide_context(app::SecureCookies(secure_cookies));
        provide_context(app::access::session::RequestCaller::default());
        let nonce = use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
        if let Some(CspNonce(nonce)) = nonce {
            provide_context(leptos::nonce::Nonce::from_value(nonce));
        }
    }
}

/// A form posted without JavaScript that failed is sent back to its page with the error in the
/// address (`?__err=…`, Leptos' way). Here the error moves into the one-time message cookie
/// instead, and the address is cleaned: pages never read errors from addresses, so a crafted
/// link cannot make Roster say anything.
pub async fn keep_errors_ours(
    State(headers): State<Headers>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    // The form as its page wrote the action (a `?form=` key tells forms of one page apart).
    let action = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let mut response = next.run(request).await;
    let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| l.contains("__err="))
        .map(str::to_string)
    else {
        return response;
    };
    let base = url::Url::parse("http://roster.invalid/").expect("a valid base");
    let Ok(mut url) = base.join(&location) else {
        return response;
    };
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let error = pairs
        .iter()
        .find(|(k, _)| k == "__err")
        .and_then(|(_, v)| URL_SAFE.decode(v.as_bytes()).ok())
        .and_then(|json| serde_json::from_slice::<app::error::AppError>(&json).ok())
        .unwrap_or(app::error::AppError::Internal);
    let message = error.to_string();
    let field = match &error {
        app::error::AppError::Invalid { field, .. } => Some((action.as_str(), field.as_str())),
        _ => None,
    };
    let kept: Vec<_> = pairs
        .into_iter()
        .filter(|(k, _)| k != "__err" && k != "__path")
        .collect();
    url.set_query(None);
    if !kept.is_empty() {
        url.query_pairs_mut().extend_pairs(kept);
    }
    let cleaned = if url.origin() == base.origin() {
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        path
    } else {
        url.to_string()
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&cleaned) {
        out.insert(header::LOCATION, value);
    }
    if let Ok(cookie) = HeaderValue::from_str(&app::form_error_cookie(
        &message,
        field,
        headers.secure_cookies,
    )) {
        out.append(header::SET_COOKIE, cookie);
    }
    response
}
