//! Signing in: the sign-in pages, sign-in by email link, and the users Keycloak and email
//! links vouch for. (Who is asking, once signed in, is `access`.)

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::state::DemoAccount;

#[cfg(feature = "ssr")]
pub mod db;
mod views;

pub use views::{EmailSignInPage, SignInPage};

/// How people can sign in on this installation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    pub oidc: bool,
    pub email: bool,
    pub demo_accounts: Vec<DemoAccount>,
    /// Mail is kept in a folder, not sent (development): newcomers are told where to look,
    /// without the server's paths.
    pub dev_mail_kept: bool,
}

/// How this installation lets people sign in.
#[server(endpoint = "sign_in_options")]
pub async fn get_sign_in_options() -> Result<SignInOptions, AppError> {
    let state = crate::state::state()?;
    Ok(SignInOptions {
        oidc: state.settings.oidc_enabled,
        email: state.settings.email_login_enabled,
        demo_accounts: state.settings.demo_accounts.clone(),
        dev_mail_kept: state.mailer.folder_path().is_some(),
    })
}

/// Emails a single-use sign-in link (valid 15 minutes) to `email`. The link itself carries
/// `next`, the page to return to, so nothing but the token's hash is stored.
#[server(endpoint = "request_email_link")]
#[tracing::instrument(skip_all)]
pub async fn request_email_link(email: String, next: Option<String>) -> Result<(), AppError> {
    use crate::paths::{encode_query_value, local_path};
    let state = crate::state::state()?;
    if !state.settings.email_login_enabled {
        return Err(AppError::Forbidden);
    }
    let client = crate::access::session::client_address(&state).await;
    let mut tx = state.pool.begin().await?;
    let token = db::create_email_token(&mut tx, &email, &client).await?;
    tx.commit().await?;
    // With enough working links out already, the person uses one of those (the answer is the
    // same, so nobody learns whether a link was made).
    if let Some(token) = token {
        let mut path = format!("/sign-in/email?token={token}");
        if let Some(next) = next.as_deref().and_then(local_path).filter(|n| *n != "/") {
            path.push_str(&format!("&next={}", encode_query_value(next)));
        }
        let link = state.settings.link(&path);
        let mail = crate::mail::Email {
            to: email.trim().to_string(),
            subject: "Your sign-in link for Roster".into(),
            body: format!(
                "Hello,\n\nopen this link to sign in to Roster:\n\n{link}\n\n\
                 The link works once and expires in 15 minutes. If you did not ask for it, \
                 you can ignore this email.\n"
            ),
            ..Default::default()
        };
        // Sent after the answer: a slow mail server must not hold the person's request.
        let mailer = state.mailer.clone();
        tokio::spawn(async move {
            if let Err(e) = mailer.send(mail).await {
                tracing::warn!(error = %e, "sending a sign-in link failed");
            }
        });
    }
    crate::ui::flash(crate::ui::Flash::notice(
        "link-sent",
        format!(
            "Check your inbox: a sign-in link is on its way to {}. It works once, for 15 minutes; if you asked more than once, use the newest.",
            email.trim()
        ),
    ));
    Ok(())
}

/// Redeems an emailed sign-in token and signs its owner in.
#[cfg(feature = "ssr")]
#[tracing::instrument(skip_all)]
pub async fn sign_in_with_email_token(
    state: &crate::state::AppState,
    session: &tower_sessions::Session,
    token: &str,
) -> crate::error::AppResult<()> {
    if !state.settings.email_login_enabled {
        return Err(AppError::Forbidden);
    }
    let mut tx = state.pool.begin().await?;
    let email = db::redeem_email_token(&mut tx, token).await?;
    let is_admin = state.settings.admin_emails.contains(&email);
    let user = db::upsert_email_user(&mut tx, &email, is_admin).await?;
    tx.commit().await?;
    crate::access::session::sign_in(session, &state.settings, user.id, Default::default()).await?;
    tracing::info!(user = %user.id.0, "signed in by email link");
    Ok(())
}
