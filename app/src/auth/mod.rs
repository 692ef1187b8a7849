//! Who is asking: the signed-in user, sign-in by email link, and the sign-in options.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod db;
#[cfg(feature = "ssr")]
pub mod session;
mod views;

pub use views::{EmailSignInPage, SignInPage};

/// A user's id in Roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type), sqlx(transparent))]
pub struct UserId(pub Uuid);

/// The signed-in person, as every page and server function sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: UserId,
    pub name: String,
    pub email: String,
    /// Realm role `roster-admin` (or a configured admin email): may create societies.
    pub is_platform_admin: bool,
}

/// A demo account named on the sign-in page of a demo installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoAccount {
    pub email: String,
    pub name: String,
    pub role: String,
}

/// How people can sign in on this installation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub oidc: bool,
    pub email: bool,
    pub demo_accounts: Vec<DemoAccount>,
    /// Where development mail ends up, shown to newcomers of a demo installation.
    pub dev_mail_folder: Option<String>,
}

/// Longest `next` path we keep across a sign-in.
const MAX_NEXT_LEN: usize = 512;

/// `next` if it is a path on this site (`/...`), never another site (`//evil`, `https://...`).
pub fn local_path(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= MAX_NEXT_LEN
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then_some(next)
}

/// The sign-in page's address, coming back to `next` afterwards.
pub fn sign_in_href(next: &str) -> String {
    match local_path(next) {
        Some(next) if next != "/" => format!("/sign-in?next={}", encode_query_value(next)),
        _ => "/sign-in".to_string(),
    }
}

/// Percent-encodes a query parameter value (RFC 3986 unreserved characters stay).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signed-in user, or `None` for a visitor.
#[server(endpoint = "current_user")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    session::current_user().await
}

/// How this installation lets people sign in.
#[server(endpoint = "sign_in_options")]
pub async fn get_sign_in_options() -> Result<SignInOptions, AppError> {
    let state = crate::state::state()?;
    Ok(SignInOptions {
        oidc: state.settings.oidc_enabled,
        email: state.settings.email_login_enabled,
        demo_accounts: state.settings.demo_accounts.clone(),
        dev_mail_folder: state.mailer.folder_path().map(|p| p.display().to_string()),
    })
}

/// Emails a single-use sign-in link (valid 15 minutes) to `email`.
#[server(endpoint = "request_email_link")]
#[tracing::instrument(skip_all)]
pub async fn request_email_link(email: String, next: Option<String>) -> Result<(), AppError> {
    let state = crate::state::state()?;
    if !state.settings.email_login_enabled {
        return Err(AppError::Forbidden);
    }
    let client = session::client_address(&state).await;
    let next = next.as_deref().and_then(local_path).unwrap_or("/");
    let mut tx = state.pool.begin().await?;
    let token = db::create_email_token(&mut tx, &email, next, &client).await?;
    tx.commit().await?;
    let link = state
        .settings
        .link(&format!("/sign-in/email?token={token}"));
    state
        .mailer
        .send(crate::mail::Email {
            to: email.trim().to_string(),
            subject: "Your sign-in link for Roster".into(),
            body: format!(
                "Hello,\n\nopen this link to sign in to Roster:\n\n{link}\n\n\
                 The link works once and expires in 15 minutes. If you did not ask for it, \
                 you can ignore this email.\n"
            ),
        })
        .await
}

#[cfg(test)]
mod tests;
