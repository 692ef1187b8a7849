//! Configuration, read once from the environment at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use url::Url;

/// A configuration problem; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Keycloak (or any OpenID Connect provider shaped like it).
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// e.g. `https://idp.example.org/realms/roster` (no trailing slash).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
}

/// How mail leaves Roster.
#[derive(Debug, Clone)]
pub enum MailConfig {
    /// `ROSTER_SMTP_URL`, e.g. `smtps://user:pass@smtp.example.org` or `smtp://127.0.0.1:2525`.
    Smtp(SecretString),
    /// No SMTP server: print each mail and keep it as an `.eml` file in this folder.
    Folder(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub public_url: Url,
    pub bind: SocketAddr,
    pub oidc: Option<OidcConfig>,
    pub email_login: bool,
    pub mail: MailConfig,
    pub mail_from: String,
    pub admin_emails: Vec<String>,
    pub demo_data: bool,
    pub session_idle_minutes: i64,
    pub session_max_days: i64,
    pub trust_forwarded_for: bool,
    pub json_logs: bool,
}

fn var(name: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(ConfigError(format!("{name} is not valid UTF-8")))
        }
    }
}

fn required(name: &str, what: &str) -> Result<String, ConfigError> {
    var(name)?.ok_or_else(|| ConfigError(format!("{name} is missing: set it to {what}")))
}

fn flag(name: &str, default: bool) -> Result<bool, ConfigError> {
    match var(name)?
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError(format!(
            "{name} must be true or false, not {other:?}"
        ))),
    }
}

fn number(
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let Some(raw) = var(name)? else {
        return Ok(default);
    };
    raw.parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name} must be a whole number from {} to {}, not {raw:?}",
                range.start(),
                range.end()
            ))
        })
}

/// An absolute http(s) URL without query or fragment; the trailing slash is dropped.
fn http_url(name: &str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| ConfigError(format!("{name} is not a valid URL ({e}): {raw:?}")))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(ConfigError(format!(
            "{name} must be an http(s) URL like https://roster.example.org, not {raw:?}"
        )));
    }
    Ok(url)
}

impl Config {
    /// Reads every `ROSTER_*` variable (see README.md); the first problem stops the start.
    pub fn from_env() -> Result<Self, ConfigError> {
        let database_url = required(
            "DATABASE_URL",
            "a PostgreSQL URL like postgres://user@host/roster",
        )?;
        if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
            return Err(ConfigError(
                "DATABASE_URL must start with postgres:// or postgresql://".into(),
            ));
        }
        let public_url = http_url(
            "ROSTER_PUBLIC_URL",
            &required(
                "ROSTER_PUBLIC_URL",
                "the address people open, e.g. http://127.0.0.1:3000",
            )?,
        )?;
        let bind = var("LEPTOS_SITE_ADDR")?.unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind = bind.parse().map_err(|_| {
            ConfigError(format!(
                "LEPTOS_SITE_ADDR must be an address like 127.0.0.1:3000, not {bind:?}"
            ))
        })?;

        let oidc = match var("ROSTER_OIDC_ISSUER")? {
            None => None,
            Some(issuer) => {
                http_url("ROSTER_OIDC_ISSUER", &issuer)?;
                Some(OidcConfig {
                    issuer: issuer.trim_end_matches('/').to_string(),
                    client_id: required(
                        "ROSTER_OIDC_CLIENT_ID",
                        "the client id registered in Keycloak",
                    )?,
                    client_secret: required(
                        "ROSTER_OIDC_CLIENT_SECRET",
                        "the client secret from Keycloak",
                    )?
                    .into(),
                })
            }
        };
        let email_login = match var("ROSTER_EMAIL_LOGIN")?.as_deref() {
            None | Some("auto") => oidc.is_none(),
            Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError(format!(
                    "ROSTER_EMAIL_LOGIN must be auto, on or off, not {other:?}"
                )))
            }
        };
        if oidc.is_none() && !email_login {
            return Err(ConfigError(
                "ROSTER_EMAIL_LOGIN=off needs ROSTER_OIDC_ISSUER, or nobody could sign in".into(),
            ));
        }
        let mail = match var("ROSTER_SMTP_URL")? {
            Some(url) => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(ConfigError(
                        "ROSTER_SMTP_URL must start with smtp:// or smtps://".into(),
                    ));
                }
                MailConfig::Smtp(url.into())
            }
            None => MailConfig::Folder(
                var("ROSTER_MAIL_DIR")?
                    .unwrap_or_else(|| ".roster/mail".into())
                    .into(),
            ),
        };
        let mail_from =
            var("ROSTER_MAIL_FROM")?.unwrap_or_else(|| "Roster <roster@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!("ROSTER_MAIL_FROM must be an address like \"Roster <roster@example.org>\", not {mail_from:?}")));
        }
        let mut admin_emails = Vec::new();
        for raw in var("ROSTER_ADMIN_EMAILS")?
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let email = app::auth::db::normalize_email(raw).map_err(|_| {
                ConfigError(format!(
                    "ROSTER_ADMIN_EMAILS has an invalid address: {raw:?}"
                ))
            })?;
            admin_emails.push(email);
        }
        let json_logs = match var("ROSTER_LOG_FORMAT")?.as_deref() {
            None => var("LEPTOS_ENV")?.is_some_and(|e| {
                e.eq_ignore_ascii_case("prod") || e.eq_ignore_ascii_case("production")
            }),
            Some("json") => true,
            Some("text") => false,
            Some(other) => {
                return Err(ConfigError(format!(
                    "ROSTER_LOG_FORMAT must be text or json, not {other:?}"
                )))
            }
        };
        Ok(Self {
            database_url: database_url.into(),
            public_url,
            bind,
            oidc,
            email_login,
            mail,
            mail_from,
            admin_emails,
            demo_data: flag("ROSTER_DEMO_DATA", false)?,
            session_idle_minutes: number(
                "ROSTER_SESSION_IDLE_MINUTES",
                7 * 24 * 60,
                5..=366 * 24 * 60,
            )?,
            session_max_days: number("ROSTER_SESSION_MAX_DAYS", 30, 1..=366)?,
            trust_forwarded_for: flag("ROSTER_TRUST_FORWARDED_FOR", false)?,
            json_logs,
        })
    }

    /// Cookies get the `Secure` flag when Roster is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}
