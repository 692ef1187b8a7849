//! `/auth/*`: plain axum routes for signing in and out (they redirect, so they are not
//! server functions).

use std::sync::Arc;

use app::access::session::{self, SessionUser};
use app::paths::{encode_query_value, local_path};
use app::state::AppState;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use tower_sessions::Session;

use crate::oidc::{Oidc, OidcError, PendingLogin};

const PENDING_LOGIN_KEY: &str = "oidc_pending_login";
/// Where to go after a Keycloak sign-in. It travels in a short-lived cookie, not in the stored
/// session: the path may hold an invitation's secret, which Roster never stores.
const NEXT_COOKIE: &str = "roster_next";

/// State of the auth routes: the app state plus the OIDC provider, when configured.
#[derive(Clone)]
pub struct AuthState {
    pub app: AppState,
    pub oidc: Option<Arc<Oidc>>,
    /// Cookies get `Secure` (Roster is served over https).
    pub secure_cookies: bool,
    /// The stylesheet's (hashed) address, for the sign-in problem page.
    pub stylesheet: Arc<str>,
}

/// The `Set-Cookie` value keeping `next` for the sign-in's round trip (or, with `None`,
/// deleting it).
fn next_cookie(next: Option<&str>, secure: bool) -> HeaderValue {
    let (value, max_age) = match next {
        Some(next) => (encode_query_value(next), 15 * 60),
        None => (String::new(), 0),
    };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{NEXT_COOKIE}={value}; Path=/auth; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("roster_next=; Path=/auth; Max-Age=0"))
}

/// The `next` path kept by `next_cookie`, if it is (still) a path on this site.
fn next_from_cookie(headers: &HeaderMap) -> String {
    app::paths::cookie(headers, NEXT_COOKIE)
        .filter(|next| local_path(next).is_some())
        .unwrap_or_else(|| "/".into())
}

pub fn routes(state: AuthState) -> Router {
    Router::new()
        .route("/auth/login", get(login))
        .route("/auth/callback", get(callback))
        .route("/auth/logout", post(logout))
        .route("/auth/email", post(email_sign_in))
        .with_state(state)
}

/// A small page for failed sign-ins (outside the Leptos app, so it never depends on it).
fn problem(state: &AuthState, status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Sign-in problem · Roster</title><link rel=\"stylesheet\" href=\"{}\"></head>\
         <body><main class=\"container\"><section class=\"card narrow error-page\" data-status=\"{}\">\
         <h1>Sign-in problem</h1><p>{}</p><p><a class=\"button\" href=\"/sign-in\">Try again</a> \
         <a href=\"/\">Back to the start page</a></p></section></main></body></html>",
        state.stylesheet,
        status.as_u16(),
        message
    );
    (status, Html(body)).into_response()
}

/// The session store could not reach the database: busy or restarting, so try again soon.
fn session_failed(state: &AuthState, err: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %err, "session store failed");
    let mut response = problem(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Roster is busy right now. Please try again in a few seconds.",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(app::error::UNAVAILABLE_RETRY_SECS),
    );
    response
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// `GET /auth/login?next=/path`: sends the browser to Keycloak.
async fn login(
    State(state): State<AuthState>,
    session: Session,
    Query(query): Query<LoginQuery>,
) -> Response {
    let next = match query.next.as_deref() {
        None | Some("") => "/",
        Some(raw) => match local_path(raw) {
            Some(next) => next,
            None => {
                return problem(
                    &state,
                    StatusCode::BAD_REQUEST,
                    "The sign-in link points away from Roster, so we stopped it.",
                )
            }
        },
    };
    let Some(oidc) = &state.oidc else {
        return Redirect::to(&format!("/sign-in?next={}", encode_query_value(next)))
            .into_response();
    };
    match oidc.begin().await {
        Ok((url, pending)) => {
            // A sign-in not finished within the flow's lifetime is gone, session row and all.
            session.set_expiry(Some(tower_sessions::Expiry::AtDateTime(
                tower_sessions::cookie::time::OffsetDateTime::now_utc()
                    + tower_sessions::cookie::time::Duration::seconds(crate::oidc::FLOW_TTL_SECS),
            )));
            if let Err(e) = session.insert(PENDING_LOGIN_KEY, pending).await {
                return session_failed(&state, e);
            }
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                next_cookie(Some(next), state.secure_cookies),
            );
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start OpenID Connect sign-in");
            problem(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The sign-in service is not reachable right now. Please try again in a moment.",
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: Keycloak's redirect back with the code.
#[tracing::instrument(skip_all)]
async fn callback(
    State(state): State<AuthState>,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return problem(
            &state,
            StatusCode::NOT_FOUND,
            "Sign-in with an identity provider is not configured here.",
        );
    };
    // The pending login is used once, whatever happens next.
    let pending = match session.remove::<PendingLogin>(PENDING_LOGIN_KEY).await {
        Ok(pending) => pending,
        Err(e) => return session_failed(&state, e),
    };
    if let Some(error) = query.error {
        tracing::info!(%error, "identity provider returned an error");
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "The sign-in was cancelled or refused by the identity provider.",
        );
    }
    let (Some(code), Some(returned_state), Some(pending)) = (query.code, query.state, pending)
    else {
        return problem(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in was not started here or has expired. Please start again.",
        );
    };
    let next = next_from_cookie(&headers);
    let signed_in = match oidc.finish(pending, &returned_state, &code).await {
        Ok(done) => done,
        Err(OidcError::Unreachable(e)) => {
            tracing::error!(error = %e, "identity provider unreachable");
            return problem(
                &state,
                StatusCode::SERVICE_UNAVAILABLE,
                "The sign-in service is not reachable right now. Please try again in a moment.",
            );
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in rejected");
            return problem(
                &state,
                StatusCode::BAD_REQUEST,
                "We could not verify this sign-in. Please start again.",
            );
        }
    };
    let user = {
        let result = async {
            let mut tx = state.app.pool.begin().await?;
            let user = app::auth::db::upsert_identity(&mut tx, &signed_in.identity).await?;
            tx.commit().await?;
            Ok::<_, app::error::AppError>(user)
        }
        .await;
        match result {
            Ok(user) => user,
            Err(e) => {
                let status =
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return problem(&state, status, &e.to_string());
            }
        }
    };
    let tokens = session::ProviderTokens {
        id_token: Some(signed_in.id_token),
        refresh_token: signed_in.refresh_token,
    };
    if let Err(e) = session::sign_in(&session, &state.app.settings, user.id, tokens).await {
        return session_failed(&state, e);
    }
    tracing::info!(user = %user.id.0, platform_admin = user.is_platform_admin, "signed in with OpenID Connect");
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, next_cookie(None, state.secure_cookies));
    response
}

/// `POST /auth/logout`: ends the Roster session, then the Keycloak session.
async fn logout(State(state): State<AuthState>, session: Session) -> Response {
    let entry: Option<SessionUser> = match session::sign_out(&session).await {
        Ok(entry) => entry,
        Err(e) => return session_failed(&state, e),
    };
    let id_token = entry.and_then(|e| e.id_token);
    if let (Some(oidc), Some(id_token)) = (&state.oidc, id_token) {
        if let Some(url) = oidc.logout_url(&id_token).await {
            return Redirect::to(url.as_str()).into_response();
        }
    }
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
pub struct EmailForm {
    token: String,
    /// Where the link said to go afterwards.
    next: Option<String>,
}

/// `POST /auth/email`: redeems an emailed sign-in link.
async fn email_sign_in(
    State(state): State<AuthState>,
    session: Session,
    Form(form): Form<EmailForm>,
) -> Response {
    let next = form.next.as_deref().and_then(local_path).unwrap_or("/");
    match app::auth::sign_in_with_email_token(&state.app, &session, &form.token).await {
        Ok(()) => Redirect::to(next).into_response(),
        Err(app::error::AppError::Invalid { .. }) => {
            Redirect::to("/sign-in?error=link").into_response()
        }
        Err(app::error::AppError::Forbidden) => problem(
            &state,
            StatusCode::FORBIDDEN,
            "Sign-in by email link is switched off here.",
        ),
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            problem(&state, status, &e.to_string())
        }
    }
}
