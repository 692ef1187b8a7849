//! The signed-in state kept in the server-side session (tower-sessions, stored in Postgres).
//!
//! A signed-in request writes its session row back at most every `renew_interval`, not on
//! every request: the idle expiry is pushed forward only then, so it holds to within that
//! interval.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use tower_sessions::cookie::time::{Duration as CookieDuration, OffsetDateTime};
use tower_sessions::{Expiry, Session};

use super::{read_in_society, CurrentUser, InSociety};
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use crate::state::{AppState, Recheck};

/// Session key of the signed-in user.
const USER_KEY: &str = "user";

/// What a session store says when it could not reach the database (the server's store wrapper
/// writes it): such a request is answered 503, not 500.
pub const STORE_UNAVAILABLE: &str = "session store unavailable";

/// What the session remembers about the signed-in user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionUser {
    pub user_id: UserId,
    /// Unix seconds of the sign-in; the session ends `session_max_age` later.
    pub signed_in_at: i64,
    /// Unix seconds of the last write of the session (sign-in or renewal): it then ends after
    /// `session_idle` more without a renewal.
    #[serde(default)]
    pub renewed_at: i64,
    /// The ID token from Keycloak, sent back as `id_token_hint` at logout.
    pub id_token: Option<String>,
    /// Keycloak's refresh token: with it Roster asks again, every `identity_recheck`, whether
    /// the person may stay signed in (kept server-side only, in the session row).
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Unix seconds of the last check with the identity provider (sign-in or recheck).
    #[serde(default)]
    pub checked_at: i64,
}

fn internal(err: tower_sessions::session::Error) -> AppError {
    use tower_sessions::session::Error;
    use tower_sessions::session_store::Error as StoreError;
    if let Error::Store(StoreError::Backend(detail)) = &err {
        if detail == STORE_UNAVAILABLE {
            return AppError::unavailable();
        }
    }
    tracing::error!(error = %err, "session store error");
    AppError::Internal
}

/// How often a signed-in session is written back: a fifth of the idle timeout, at most five
/// minutes.
pub fn renew_interval(idle: chrono::Duration) -> chrono::Duration {
    (idle / 5).min(chrono::Duration::minutes(5))
}

/// The session (its row and its cookie) ends `idle` from now unless renewed.
fn expire_after(session: &Session, idle: chrono::Duration) {
    let at = OffsetDateTime::now_utc() + CookieDuration::seconds(idle.num_seconds());
    session.set_expiry(Some(Expiry::AtDateTime(at)));
}

/// What the identity provider handed over at sign-in, kept for logout and rechecks.
#[derive(Debug, Clone, Default)]
pub struct ProviderTokens {
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// Starts a signed-in session for `user_id` under a new session id (no fixation).
pub async fn sign_in(
    session: &Session,
    settings: &crate::state::Settings,
    user_id: UserId,
    tokens: ProviderTokens,
) -> AppResult<()> {
    session.cycle_id().await.map_err(internal)?;
    let now = chrono::Utc::now().timestamp();
    let entry = SessionUser {
        user_id,
        signed_in_at: now,
        renewed_at: now,
        id_token: tokens.id_token,
        refresh_token: tokens.refresh_token,
        checked_at: now,
    };
    expire_after(session, settings.session_idle);
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

/// The signed-in user of `session`, if the session is within its absolute lifetime. Renews
/// the idle expiry when the last renewal is older than `renew_interval`, and asks the identity
/// provider again after `identity_recheck`: a disabled account is signed out, a changed
/// `roster-admin` role takes effect (an unreachable provider changes nothing).
pub async fn user_of(session: &Session, state: &AppState) -> AppResult<Option<CurrentUser>> {
    let Some(mut entry) = session
        .get::<SessionUser>(USER_KEY)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp();
    let settings = &state.settings;
    if now - entry.signed_in_at > settings.session_max_age.num_seconds() {
        session.flush().await.map_err(internal)?;
        return Ok(None);
    }
    let mut changed = false;
    if let (Some(check), Some(token)) = (&state.identity_check, entry.refresh_token.clone()) {
        if now - entry.checked_at >= settings.identity_recheck.num_seconds() {
            match check.recheck(&token).await {
                Recheck::Revoked => {
                    tracing::info!(user = %entry.user_id.0, "identity provider ended the account's session: signed out");
                    session.flush().await.map_err(internal)?;
                    return Ok(None);
                }
                Recheck::Valid {
                    is_platform_admin,
                    refresh_token,
                } => {
                    set_platform_admin(&state.pool, entry.user_id, is_platform_admin).await?;
                    entry.refresh_token = refresh_token.or(entry.refresh_token);
                    entry.checked_at = now;
                    changed = true;
                }
                // Asked again at the next request; people keep working meanwhile.
                Recheck::Unreachable => {}
            }
        }
    }
    if changed || now - entry.renewed_at >= renew_interval(settings.session_idle).num_seconds() {
        entry.renewed_at = now;
        expire_after(session, settings.session_idle);
        session
            .insert(USER_KEY, entry.clone())
            .await
            .map_err(internal)?;
    }
    find_user(&state.pool, entry.user_id).await
}

/// Who is signed in to `session`, as far as the session says (no other check; for logs).
pub async fn signed_in_id(session: &Session) -> Option<UserId> {
    session
        .get::<SessionUser>(USER_KEY)
        .await
        .ok()
        .flatten()
        .map(|entry| entry.user_id)
}

async fn set_platform_admin(pool: &sqlx::PgPool, id: UserId, admin: bool) -> AppResult<()> {
    sqlx::query!(
        "update users set is_platform_admin = $2 where id = $1 and is_platform_admin <> $2",
        id as UserId,
        admin
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The user with this id, if any.
pub async fn find_user(pool: &sqlx::PgPool, id: UserId) -> AppResult<Option<CurrentUser>> {
    let user = sqlx::query_as!(
        CurrentUser,
        r#"select id as "id: UserId", name, email, email_verified, is_platform_admin
             from users where id = $1"#,
        id as UserId,
    )
    .fetch_optional(pool)
    .await?;
    Ok(user)
}

/// Who is asking, worked out once per request: a page's data loads (the shell's user, the
/// society's, each panel's) run at once and share it; the first one reads the session and the
/// `users` row, the others wait for its answer. The same for each society the request names:
/// its id, zone and the caller's role in it are read once (`in_society`). The server provides
/// a fresh one for each request (`provide_context`); without one, every call works it out
/// anew.
#[derive(Debug, Clone, Default)]
pub struct RequestCaller {
    user: Arc<OnceCell<Option<CurrentUser>>>,
    /// By slug; a request names one society, seldom two.
    societies: Arc<Mutex<Vec<(String, SocietyCell)>>>,
}

/// One society as the request's caller sees it, read by the first data load that asks.
type SocietyCell = Arc<OnceCell<InSociety>>;

impl RequestCaller {
    /// This request's (a fresh one outside a request). Taken before the first wait of a
    /// server function: a page's data load may outlive the part of the page that started it,
    /// and the context with it.
    pub fn current() -> Self {
        leptos::prelude::use_context::<Self>().unwrap_or_default()
    }

    /// The signed-in user, read once.
    pub async fn user(&self, state: &AppState) -> AppResult<Option<CurrentUser>> {
        if let Some(known) = self.user.get() {
            return Ok(known.clone());
        }
        let session = leptos_axum::extract::<Session>().await.ok();
        self.user
            .get_or_try_init(|| async {
                match session {
                    Some(session) => user_of(&session, state).await,
                    None => Ok(None),
                }
            })
            .await
            .cloned()
    }

    /// The society `slug` names as the caller (signed in or not) sees it, read once;
    /// `NotFound` when there is none.
    pub async fn in_society(&self, state: &AppState, slug: &str) -> AppResult<InSociety> {
        let cell = {
            let mut societies = self.societies.lock().unwrap_or_else(|e| e.into_inner());
            match societies.iter().find(|(known, _)| known == slug) {
                Some((_, cell)) => cell.clone(),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    societies.push((slug.to_string(), cell.clone()));
                    cell
                }
            }
        };
        cell.get_or_try_init(|| async {
            let user = self.user(state).await?.map(|me| me.id);
            let mut conn = state.pool.acquire().await?;
            read_in_society(&mut conn, slug, user).await
        })
        .await
        .cloned()
    }
}

/// The signed-in user of the current request (server functions and SSR only).
pub async fn current_user() -> AppResult<Option<CurrentUser>> {
    let caller = RequestCaller::current();
    let state = crate::state::state()?;
    caller.user(&state).await
}

/// The society `slug` names as the current caller (signed in or not) sees it, read once per
/// request; `NotFound` when there is none.
pub async fn in_society(slug: &str) -> AppResult<InSociety> {
    let caller = RequestCaller::current();
    let state = crate::state::state()?;
    caller.in_society(&state, slug).await
}

/// The signed-in user, or `Unauthenticated`.
pub async fn require_user() -> AppResult<CurrentUser> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}

/// The client's address for rate limits: the peer, or, behind a trusted proxy, the right-most
/// `X-Forwarded-For` entry: the one that proxy added. Entries to its left come from the
/// client and may be forged.
pub async fn client_address(state: &AppState) -> String {
    let parts = leptos::prelude::use_context::<http::request::Parts>();
    if state.settings.trust_forwarded_for {
        if let Some(addr) = parts.as_ref().and_then(|p| forwarded_client(&p.headers)) {
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

/// The right-most entry of the (last) `X-Forwarded-For` header, if it is an IP address.
pub fn forwarded_client(headers: &http::HeaderMap) -> Option<String> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let entry = last.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::{forwarded_client, renew_interval};

    #[test]
    fn the_right_most_forwarded_entry_is_the_client_the_proxy_saw() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(forwarded_client(&headers), None);
        // The client wrote the first entry itself; our proxy appended the last one.
        headers.insert("x-forwarded-for", "6.6.6.6, 10.1.2.3".parse().unwrap());
        assert_eq!(forwarded_client(&headers).as_deref(), Some("10.1.2.3"));
        headers.append("x-forwarded-for", "203.0.113.9".parse().unwrap());
        assert_eq!(forwarded_client(&headers).as_deref(), Some("203.0.113.9"));
        headers.insert(
            "x-forwarded-for",
            "10.1.2.3, not-an-address".parse().unwrap(),
        );
        assert_eq!(forwarded_client(&headers), None);
        headers.insert("x-forwarded-for", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(forwarded_client(&headers).as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn sessions_are_renewed_every_few_minutes_at_most() {
        let minutes = chrono::Duration::minutes;
        assert_eq!(renew_interval(minutes(7 * 24 * 60)), minutes(5));
        assert_eq!(renew_interval(minutes(10)), minutes(2));
        assert_eq!(renew_interval(minutes(5)), minutes(1));
    }
}
