//! The signed-in state kept in the server-side session.

use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::{CurrentUser, UserId};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Session key of the signed-in user.
const USER_KEY: &str = "user";

/// What the session remembers about the signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: UserId,
    /// Unix seconds of the sign-in; the session ends `session_max_age` later.
    pub signed_in_at: i64,
    /// The ID token from Keycloak, sent back as `id_token_hint` at logout.
    pub id_token: Option<String>,
}

fn internal(err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "session store error");
    AppError::Internal
}

/// Starts a signed-in session for `user_id` under a new session id (no fixation).
pub async fn sign_in(
    session: &Session,
    user_id: UserId,
    id_token: Option<String>,
) -> AppResult<()> {
    session.cycle_id().await.map_err(internal)?;
    let entry = SessionUser {
        user_id,
        signed_in_at: chrono::Utc::now().timestamp(),
        id_token,
    };
    session.insert(USER_KEY, entry).await.map_err(internal)
}

/// Ends the session; returns what it held, for the identity provider's logout.
pub async fn sign_out(session: &Session) -> AppResult<Option<SessionUser>> {
    let entry = session
        .get::<SessionUser>(USER_KEY)
        .await
        .map_err(internal)?;
    session.flush().await.map_err(internal)?;
    Ok(entry)
}

/// The signed-in user of `session`, if the session is still within its absolute lifetime.
pub async fn user_of(session: &Session, state: &AppState) -> AppResult<Option<CurrentUser>> {
    let Some(entry) = session
        .get::<SessionUser>(USER_KEY)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let age = chrono::Utc::now().timestamp() - entry.signed_in_at;
    if age > state.settings.session_max_age.num_seconds() {
        session.flush().await.map_err(internal)?;
        return Ok(None);
    }
    super::db::find_user(&state.pool, entry.user_id).await
}

/// The signed-in user of the current request (server functions and SSR only).
pub async fn current_user() -> AppResult<Option<CurrentUser>> {
    let state = crate::state::state()?;
    let Ok(session) = leptos_axum::extract::<Session>().await else {
        return Ok(None);
    };
    user_of(&session, &state).await
}

/// The signed-in user, or `Unauthenticated`.
pub async fn require_user() -> AppResult<CurrentUser> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}

/// The client's address for rate limits: the peer, or the first `X-Forwarded-For` hop when
/// Roster runs behind a trusted proxy.
pub async fn client_address(state: &AppState) -> String {
    let parts = leptos::prelude::use_context::<http::request::Parts>();
    if state.settings.trust_forwarded_for {
        let forwarded = parts
            .as_ref()
            .and_then(|p| p.headers.get("x-forwarded-for"))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string());
        if let Some(addr) = forwarded.filter(|a| !a.is_empty()) {
            return addr;
        }
    }
    parts
        .as_ref()
        .and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        })
        .map(|info| info.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Redeems an emailed sign-in token and signs its owner in; returns where to go next.
#[tracing::instrument(skip_all)]
pub async fn sign_in_with_email_token(
    state: &AppState,
    session: &Session,
    token: &str,
) -> AppResult<String> {
    if !state.settings.email_login_enabled {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    let redeemed = super::db::redeem_email_token(&mut tx, token).await?;
    let is_admin = state
        .settings
        .admin_emails
        .iter()
        .any(|a| *a == redeemed.email);
    let user = super::db::upsert_email_user(&mut tx, &redeemed.email, is_admin).await?;
    tx.commit().await?;
    sign_in(session, user.id, None).await?;
    tracing::info!(user = %user.id.0, "signed in by email link");
    Ok(redeemed.next)
}
