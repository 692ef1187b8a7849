//! Configuration, read once from the environment at start-up.

use std::collections::HashMap;
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
    /// Other clients of the realm whose access tokens the REST API accepts
    /// (`ROSTER_OIDC_API_CLIENTS`, comma-separated), e.g. a phone app's public client.
    pub api_clients: Vec<String>,
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
    /// Most connections this server opens to PostgreSQL.
    pub db_max_connections: u32,
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
    /// Background jobs this process runs at once (`ROSTER_JOB_CONCURRENCY`); 0 runs none
    /// (a replica that only serves pages; the scheduler and dispatcher run anyway).
    pub job_concurrency: usize,
    /// How long join requests gather before an admin's digest mail (`ROSTER_REQUEST_DIGEST_MINUTES`).
    pub request_digest_minutes: i64,
    /// The first retry of a failed job waits about this long, doubling per attempt up to an
    /// hour (`ROSTER_JOB_BACKOFF_MS`).
    pub job_backoff_ms: u64,
    /// The VAPID key web push is signed with (`ROSTER_VAPID_PRIVATE_KEY`, a P-256 private key,
    /// base64url); when unset, one is made at first start and kept in the database.
    pub vapid_private_key: Option<SecretString>,
    /// Where `/metrics` is served (`ROSTER_METRICS_ADDR`); nowhere when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// How long a request may wait for a database connection before it is answered 503
    /// (`ROSTER_DB_ACQUIRE_TIMEOUT_MS`).
    pub db_acquire_timeout_ms: u64,
    /// How long a request may take before it is answered 503 (`ROSTER_REQUEST_TIMEOUT_SECS`;
    /// live streams excepted).
    pub request_timeout_secs: u64,
    /// After SIGTERM, `/readyz` answers 503 at once but Roster keeps accepting requests this
    /// long (`ROSTER_SHUTDOWN_DELAY_SECS`), so a load balancer stops sending first.
    pub shutdown_delay_secs: u64,
    /// Then requests in flight get this long to finish (`ROSTER_DRAIN_TIMEOUT_SECS`).
    pub drain_timeout_secs: u64,
    /// A signed-in person is checked with the identity provider again after this long
    /// (`ROSTER_IDENTITY_RECHECK_SECS`).
    pub identity_recheck_secs: i64,
    /// An open live stream checks again that its reader may still read after this long
    /// (`ROSTER_LIVE_RECHECK_SECS`).
    pub live_recheck_secs: u64,
    /// Rate limits in requests per second (0: off): the REST API per client address and per
    /// person, changes per signed-in person.
    pub rate_api_per_address: u32,
    pub rate_api_per_person: u32,
    pub rate_writes_per_person: u32,
    /// A job claimed by a process that died runs again after this long without a heartbeat
    /// (`ROSTER_JOB_VISIBILITY_SECS`).
    pub job_visibility_secs: u64,
    /// Web push may go to plain-http loopback endpoints (tests with a local push service; no
    /// environment variable sets it: production sends push to public https addresses only).
    pub push_loopback: bool,
}

/// Where configuration values come from: the process environment, or a map in tests.
pub struct Vars(HashMap<String, String>);

impl Vars {
    /// `DATABASE_URL`, `ROSTER_*` and `LEPTOS_*` from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut map = HashMap::new();
        for (key, value) in std::env::vars_os() {
            let Some(key) = key.to_str().map(str::to_string) else {
                continue;
            };
            if key == "DATABASE_URL" || key.starts_with("ROSTER_") || key.starts_with("LEPTOS_") {
                let value = value
                    .into_string()
                    .map_err(|_| ConfigError(format!("{key} is not valid UTF-8")))?;
                map.insert(key, value);
            }
        }
        Ok(Self(map))
    }

    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// The trimmed value, `None` when unset or blank.
    fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }
}

fn required(vars: &Vars, name: &str, what: &str) -> Result<String, ConfigError> {
    vars.get(name)
        .ok_or_else(|| ConfigError(format!("{name} is missing: set it to {what}")))
}

fn flag(vars: &Vars, name: &str, default: bool) -> Result<bool, ConfigError> {
    match vars
        .get(name)
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
    vars: &Vars,
    name: &str,
    default: i64,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ConfigError> {
    let Some(raw) = vars.get(name) else {
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
        Self::from_vars(&Vars::from_env()?)
    }

    /// The configuration described by `vars`; the first problem is the error.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let database_url = required(
            vars,
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
                vars,
                "ROSTER_PUBLIC_URL",
                "the address people open, e.g. http://127.0.0.1:3000",
            )?,
        )?;
        let bind = vars
            .get("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind = bind.parse().map_err(|_| {
            ConfigError(format!(
                "LEPTOS_SITE_ADDR must be an address like 127.0.0.1:3000, not {bind:?}"
            ))
        })?;

        let oidc = match vars.get("ROSTER_OIDC_ISSUER") {
            None => None,
            Some(issuer) => {
                http_url("ROSTER_OIDC_ISSUER", &issuer)?;
                Some(OidcConfig {
                    issuer: issuer.trim_end_matches('/').to_string(),
                    client_id: required(
                        vars,
                        "ROSTER_OIDC_CLIENT_ID",
                        "the client id registered in Keycloak",
                    )?,
                    client_secret: required(
                        vars,
                        "ROSTER_OIDC_CLIENT_SECRET",
                        "the client secret from Keycloak",
                    )?
                    .into(),
                    api_clients: vars
                        .get("ROSTER_OIDC_API_CLIENTS")
                        .unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string)
                        .collect(),
                })
            }
        };
        let email_login = match vars.get("ROSTER_EMAIL_LOGIN").as_deref() {
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
        let production = vars.get("LEPTOS_ENV").is_some_and(|e| {
            e.eq_ignore_ascii_case("prod") || e.eq_ignore_ascii_case("production")
        });
        let smtp_url = vars.get("ROSTER_SMTP_URL");
        if let Some(url) = &smtp_url {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(ConfigError(
                    "ROSTER_SMTP_URL must start with smtp:// or smtps://".into(),
                ));
            }
        }
        let folder = || {
            MailConfig::Folder(
                vars.get("ROSTER_MAIL_DIR")
                    .unwrap_or_else(|| ".roster/mail".into())
                    .into(),
            )
        };
        let mail = match (vars.get("ROSTER_MAIL_TRANSPORT").as_deref(), smtp_url) {
            (Some("folder"), _) => folder(),
            (Some("smtp") | None, Some(url)) => MailConfig::Smtp(url.into()),
            (Some("smtp"), None) => {
                return Err(ConfigError(
                    "ROSTER_SMTP_URL is missing: ROSTER_MAIL_TRANSPORT=smtp needs the mail server's URL".into(),
                ))
            }
            (None, None) if production => {
                return Err(ConfigError(
                    "ROSTER_SMTP_URL is missing: in production (LEPTOS_ENV=PROD) Roster sends mail by SMTP. \
                     Set ROSTER_SMTP_URL, or ROSTER_MAIL_TRANSPORT=folder to keep mail in ROSTER_MAIL_DIR"
                        .into(),
                ))
            }
            (None, None) => folder(),
            (Some(other), _) => {
                return Err(ConfigError(format!(
                    "ROSTER_MAIL_TRANSPORT must be smtp or folder, not {other:?}"
                )))
            }
        };
        let mail_from = vars
            .get("ROSTER_MAIL_FROM")
            .unwrap_or_else(|| "Roster <roster@localhost>".into());
        if mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError(format!("ROSTER_MAIL_FROM must be an address like \"Roster <roster@example.org>\", not {mail_from:?}")));
        }
        let mut admin_emails = Vec::new();
        for raw in vars
            .get("ROSTER_ADMIN_EMAILS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let email = app::mail::normalize_email(raw).map_err(|_| {
                ConfigError(format!(
                    "ROSTER_ADMIN_EMAILS has an invalid address: {raw:?}"
                ))
            })?;
            admin_emails.push(email);
        }
        let json_logs = match vars.get("ROSTER_LOG_FORMAT").as_deref() {
            None => production,
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
            db_max_connections: number(vars, "ROSTER_DB_MAX_CONNECTIONS", 20, 1..=1000)? as u32,
            public_url,
            bind,
            oidc,
            email_login,
            mail,
            mail_from,
            admin_emails,
            demo_data: flag(vars, "ROSTER_DEMO_DATA", false)?,
            session_idle_minutes: number(
                vars,
                "ROSTER_SESSION_IDLE_MINUTES",
                7 * 24 * 60,
                5..=366 * 24 * 60,
            )?,
            session_max_days: number(vars, "ROSTER_SESSION_MAX_DAYS", 30, 1..=366)?,
            trust_forwarded_for: flag(vars, "ROSTER_TRUST_FORWARDED_FOR", false)?,
            json_logs,
            job_concurrency: number(vars, "ROSTER_JOB_CONCURRENCY", 4, 0..=64)? as usize,
            request_digest_minutes: number(vars, "ROSTER_REQUEST_DIGEST_MINUTES", 10, 0..=1440)?,
            job_backoff_ms: number(vars, "ROSTER_JOB_BACKOFF_MS", 10_000, 10..=3_600_000)? as u64,
            vapid_private_key: vars.get("ROSTER_VAPID_PRIVATE_KEY").map(SecretString::from),
            metrics_addr: match vars.get("ROSTER_METRICS_ADDR") {
                None => None,
                Some(raw) => Some(raw.parse().map_err(|_| {
                    ConfigError(format!(
                        "ROSTER_METRICS_ADDR must be an address like 0.0.0.0:9100, not {raw:?}"
                    ))
                })?),
            },
            db_acquire_timeout_ms: number(vars, "ROSTER_DB_ACQUIRE_TIMEOUT_MS", 2000, 50..=60_000)?
                as u64,
            request_timeout_secs: number(vars, "ROSTER_REQUEST_TIMEOUT_SECS", 20, 1..=600)? as u64,
            shutdown_delay_secs: number(vars, "ROSTER_SHUTDOWN_DELAY_SECS", 0, 0..=120)? as u64,
            drain_timeout_secs: number(vars, "ROSTER_DRAIN_TIMEOUT_SECS", 20, 1..=600)? as u64,
            identity_recheck_secs: number(vars, "ROSTER_IDENTITY_RECHECK_SECS", 300, 0..=86_400)?,
            live_recheck_secs: number(vars, "ROSTER_LIVE_RECHECK_SECS", 60, 1..=3600)? as u64,
            rate_api_per_address: number(vars, "ROSTER_RATE_API_PER_ADDRESS", 100, 0..=1_000_000)?
                as u32,
            rate_api_per_person: number(vars, "ROSTER_RATE_API_PER_PERSON", 20, 0..=1_000_000)?
                as u32,
            rate_writes_per_person: number(vars, "ROSTER_RATE_WRITES_PER_PERSON", 2, 0..=1_000_000)?
                as u32,
            job_visibility_secs: number(vars, "ROSTER_JOB_VISIBILITY_SECS", 300, 3..=86_400)?
                as u64,
            push_loopback: false,
        })
    }

    /// Cookies get the `Secure` flag when Roster is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, MailConfig, Vars};

    const BASE: [(&str, &str); 2] = [
        ("DATABASE_URL", "postgres://db/roster"),
        ("ROSTER_PUBLIC_URL", "https://roster.example.org/"),
    ];

    fn config(extra: &[(&str, &str)]) -> Result<Config, String> {
        let pairs: Vec<(&str, &str)> = BASE.iter().chain(extra).copied().collect();
        Config::from_vars(&Vars::from_pairs(&pairs)).map_err(|e| e.0)
    }

    fn error_without(name: &str) -> String {
        let pairs: Vec<(&str, &str)> = BASE.iter().copied().filter(|(k, _)| *k != name).collect();
        Config::from_vars(&Vars::from_pairs(&pairs)).unwrap_err().0
    }

    #[test]
    fn defaults_for_a_minimal_configuration() {
        let c = config(&[]).unwrap();
        assert_eq!(c.public_url.as_str(), "https://roster.example.org/");
        assert!(c.secure_cookies());
        assert!(c.oidc.is_none() && c.email_login);
        assert_eq!(c.bind.to_string(), "127.0.0.1:3000");
        assert_eq!(
            (c.session_idle_minutes, c.session_max_days),
            (7 * 24 * 60, 30)
        );
        assert_eq!(c.db_max_connections, 20);
        assert_eq!((c.job_concurrency, c.request_digest_minutes), (4, 10));
        assert!(
            matches!(c.mail, MailConfig::Folder(_)),
            "development keeps mail in a folder"
        );
    }

    #[test]
    fn production_sends_mail_by_smtp_unless_the_folder_is_asked_for() {
        let c = config(&[
            ("LEPTOS_ENV", "PROD"),
            ("ROSTER_SMTP_URL", "smtp://mail.example.org:25"),
            ("ROSTER_DB_MAX_CONNECTIONS", "50"),
        ])
        .unwrap();
        assert!(matches!(c.mail, MailConfig::Smtp(_)));
        assert!(c.json_logs);
        assert_eq!(c.db_max_connections, 50);
        let c = config(&[
            ("LEPTOS_ENV", "PROD"),
            ("ROSTER_MAIL_TRANSPORT", "folder"),
            ("ROSTER_MAIL_DIR", "/var/mail/roster"),
        ])
        .unwrap();
        match c.mail {
            MailConfig::Folder(dir) => assert_eq!(dir, std::path::Path::new("/var/mail/roster")),
            MailConfig::Smtp(_) => panic!("the folder was asked for"),
        }
    }

    #[test]
    fn missing_or_invalid_values_name_the_variable() {
        assert!(error_without("DATABASE_URL").starts_with("DATABASE_URL"));
        assert!(error_without("ROSTER_PUBLIC_URL").starts_with("ROSTER_PUBLIC_URL"));
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                &[("ROSTER_PUBLIC_URL", "roster.example.org")],
                "ROSTER_PUBLIC_URL",
            ),
            (
                &[("ROSTER_PUBLIC_URL", "ftp://roster.example.org")],
                "ROSTER_PUBLIC_URL",
            ),
            (&[("ROSTER_OIDC_ISSUER", "not a url")], "ROSTER_OIDC_ISSUER"),
            (
                &[("ROSTER_OIDC_ISSUER", "https://idp.example.org/realms/r")],
                "ROSTER_OIDC_CLIENT_ID",
            ),
            (
                &[
                    ("ROSTER_OIDC_ISSUER", "https://idp.example.org/realms/r"),
                    ("ROSTER_OIDC_CLIENT_ID", "roster"),
                ],
                "ROSTER_OIDC_CLIENT_SECRET",
            ),
            (&[("ROSTER_EMAIL_LOGIN", "off")], "ROSTER_EMAIL_LOGIN"),
            (&[("ROSTER_EMAIL_LOGIN", "maybe")], "ROSTER_EMAIL_LOGIN"),
            (&[("ROSTER_SMTP_URL", "http://mail")], "ROSTER_SMTP_URL"),
            (
                &[("ROSTER_MAIL_FROM", "not an address")],
                "ROSTER_MAIL_FROM",
            ),
            (
                &[("ROSTER_ADMIN_EMAILS", "a@example.org, nope")],
                "ROSTER_ADMIN_EMAILS",
            ),
            (&[("ROSTER_DEMO_DATA", "sometimes")], "ROSTER_DEMO_DATA"),
            (
                &[("ROSTER_SESSION_MAX_DAYS", "0")],
                "ROSTER_SESSION_MAX_DAYS",
            ),
            (
                &[("ROSTER_SESSION_IDLE_MINUTES", "ten")],
                "ROSTER_SESSION_IDLE_MINUTES",
            ),
            (&[("LEPTOS_SITE_ADDR", "localhost")], "LEPTOS_SITE_ADDR"),
            (&[("ROSTER_LOG_FORMAT", "xml")], "ROSTER_LOG_FORMAT"),
            (
                &[("ROSTER_DB_MAX_CONNECTIONS", "0")],
                "ROSTER_DB_MAX_CONNECTIONS",
            ),
            (
                &[("ROSTER_DB_MAX_CONNECTIONS", "many")],
                "ROSTER_DB_MAX_CONNECTIONS",
            ),
            (
                &[("ROSTER_MAIL_TRANSPORT", "pigeon")],
                "ROSTER_MAIL_TRANSPORT",
            ),
            (&[("ROSTER_MAIL_TRANSPORT", "smtp")], "ROSTER_SMTP_URL"),
            (&[("LEPTOS_ENV", "PROD")], "ROSTER_SMTP_URL"),
        ];
        for (extra, name) in cases {
            let err = config(extra).unwrap_err();
            assert!(err.starts_with(name), "{extra:?}: {err}");
        }
    }

    #[test]
    fn keycloak_settings_and_admin_emails_are_read() {
        let c = config(&[
            ("ROSTER_OIDC_ISSUER", "https://idp.example.org/realms/club/"),
            ("ROSTER_OIDC_CLIENT_ID", "roster"),
            ("ROSTER_OIDC_CLIENT_SECRET", "s3cret"),
            ("ROSTER_ADMIN_EMAILS", " Boss@Example.org ,x@example.org"),
        ])
        .unwrap();
        assert_eq!(
            c.oidc.unwrap().issuer,
            "https://idp.example.org/realms/club"
        );
        assert!(
            !c.email_login,
            "email links are off by default once Keycloak is configured"
        );
        assert_eq!(c.admin_emails, ["boss@example.org", "x@example.org"]);
    }
}
