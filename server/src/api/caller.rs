//! Who is calling the API: the person a Bearer access token from the realm names, or the
//! signed-in browser's session (whose unsafe requests the CSRF layer has checked already).

use app::access::CurrentUser;
use app::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tower_sessions::Session;

use super::problem::Problem;
use super::ApiState;

/// The caller, authenticated.
pub struct Caller(pub CurrentUser);

fn unauthenticated(detail: &str) -> Problem {
    let mut problem = Problem::from(AppError::Unauthenticated);
    problem.detail = detail.to_string();
    problem
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        if let Some(header) = parts.headers.get(AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or_else(|| {
                    unauthenticated("Send an access token: Authorization: Bearer <token>.")
                })?;
            let oidc = state.oidc.as_ref().ok_or_else(|| {
                unauthenticated(
                    "This Roster accepts no access tokens (no identity provider is configured).",
                )
            })?;
            let (identity, present) = oidc
                .verify_bearer(token, &state.api_clients)
                .await
                .map_err(|e| {
                    tracing::info!(error = %e, "access token refused");
                    unauthenticated("The access token is not valid: it has expired, is not signed by the realm, or is for another client.")
                })?;
            state.limits.check_subject(&identity.subject)?;
            let mut conn = state.app.pool.acquire().await?;
            let user =
                app::auth::db::sync_identity(&mut conn, &identity, present.profile, present.roles)
                    .await?;
            if let Some(span) = parts.extensions.get::<crate::telemetry::RequestSpan>() {
                span.note_user(user.id);
            }
            return Ok(Caller(user));
        }
        if let Some(session) = parts.extensions.get::<Session>() {
            if let Some(user) = app::access::session::user_of(session, &state.app).await? {
                state.limits.check_subject(&user.id.0.to_string())?;
                return Ok(Caller(user));
            }
        }
        Err(unauthenticated(
            "Please sign in, or send an access token: Authorization: Bearer <token>.",
        ))
    }
}
