//! Server state shared by pages, server functions and axum routes.

use serde::{Deserialize, Serialize};

/// A demo account named on the sign-in page of a demo installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoAccount {
    pub email: String,
    pub name: String,
    pub role: String,
}

#[cfg(feature = "ssr")]
pub use server_side::*;

#[cfg(feature = "ssr")]
mod server_side {
    use std::sync::Arc;

    use axum::extract::FromRef;
    use leptos::prelude::{use_context, LeptosOptions};
    use sqlx::PgPool;

    use super::DemoAccount;
    use crate::admission::Gates;
    use crate::error::{AppError, AppResult};
    use crate::mail::Mailer;

    /// Everything a request may need, built once at start-up.
    #[derive(Clone, FromRef)]
    pub struct AppState {
        pub leptos_options: LeptosOptions,
        pub pool: PgPool,
        pub mailer: Mailer,
        /// One HTTP client for calls out of Roster (web push), with its connection pool.
        pub http: reqwest::Client,
        pub settings: Arc<Settings>,
        /// Admission to rushed work (bookings of one session), per key in this process.
        pub gates: Arc<Gates>,
        /// The identity provider, asked now and then whether a signed-in person may stay
        /// signed in (their account disabled, their roles changed); `None` without one.
        pub identity_check: Option<Arc<dyn IdentityCheck>>,
    }

    /// What the identity provider says about a signed-in person when asked again.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Recheck {
        /// Still signed in there; their current realm roles say whether they are a platform
        /// admin. A rotated refresh token replaces the old one.
        Valid {
            is_platform_admin: bool,
            refresh_token: Option<String>,
        },
        /// The provider refused: the account was disabled or its session ended.
        Revoked,
        /// The provider could not be asked (down, too slow): nothing changes.
        Unreachable,
    }

    /// Asks the identity provider about a signed-in person with their refresh token.
    pub trait IdentityCheck: Send + Sync {
        fn recheck<'a>(
            &'a self,
            refresh_token: &'a str,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Recheck> + Send + 'a>>;
    }

    /// The parts of the configuration that the app itself reads.
    #[derive(Debug, Clone)]
    pub struct Settings {
        /// Where people reach Roster, e.g. `https://roster.example.org` (no trailing slash).
        pub public_url: url::Url,
        /// A Keycloak (OpenID Connect) issuer is configured.
        pub oidc_enabled: bool,
        /// Sign-in by an emailed link is offered.
        pub email_login_enabled: bool,
        /// Email-link users with these addresses are platform admins (lower case).
        pub admin_emails: Vec<String>,
        /// A session ends this long after sign-in, whatever the activity.
        pub session_max_age: chrono::Duration,
        /// A session ends after this long without a request.
        pub session_idle: chrono::Duration,
        /// A signed-in person's account is checked with the identity provider again after
        /// this long (a disabled account or a removed role then takes effect).
        pub identity_recheck: chrono::Duration,
        /// Demo accounts named on the sign-in page (only when demo data is loaded).
        pub demo_accounts: Vec<DemoAccount>,
        /// Count client addresses from the `X-Forwarded-For` header (behind a trusted proxy).
        pub trust_forwarded_for: bool,
        /// The P-256 private key (base64url) that signs web push (VAPID, RFC 8292).
        pub vapid_key: secrecy::SecretString,
        /// Push endpoints on loopback addresses over plain http are allowed (tests with a local
        /// push service only; never in production, where push goes to public https only).
        pub push_loopback: bool,
        /// Signs the check-in codes members show at a session.
        pub checkin_key: crate::secret::SigningKey,
    }

    impl Settings {
        /// An absolute link into Roster for `path_and_query` (which starts with `/`).
        pub fn link(&self, path_and_query: &str) -> String {
            format!(
                "{}{}",
                self.public_url.as_str().trim_end_matches('/'),
                path_and_query
            )
        }
    }

    /// The state of the running server, for server functions and SSR.
    pub fn state() -> AppResult<AppState> {
        use_context::<AppState>().ok_or_else(|| {
            tracing::error!("AppState missing from the Leptos context");
            AppError::Internal
        })
    }
}
