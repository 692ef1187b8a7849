//! Sending email: SMTP in production, console + `.eml` files in development.

use std::path::PathBuf;

use lettre::message::{header::ContentType, Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use crate::error::{AppError, AppResult};

/// Longest email address we accept (RFC 5321).
const MAX_EMAIL_LEN: usize = 254;

/// Normalises and checks an email address typed by a person (trimmed, lower case).
pub fn normalize_email(raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= MAX_EMAIL_LEN
        && email.parse::<lettre::Address>().is_ok()
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid(
            "email",
            "Please enter a valid email address, like name@example.org.",
        ))
    }
}

/// One message: plain text, and optionally the same as HTML.
#[derive(Debug, Clone, Default)]
pub struct Email {
    pub to: String,
    pub subject: String,
    /// The plain-text part.
    pub body: String,
    pub html: Option<String>,
    /// A stable id (the part before `@`) for the `Message-ID` header, so the same message
    /// sent again is recognisably the same; a fresh one when `None`.
    pub message_id: Option<String>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// The server refused it for good (a 5xx reply: no such mailbox, bad address): sending
    /// it again will not help.
    pub permanent: bool,
    pub message: String,
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development: each message is logged and written to `dir` as an `.eml` file.
    Folder {
        dir: PathBuf,
        files: AsyncFileTransport<Tokio1Executor>,
    },
}

/// Delivers mail through the configured transport.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

impl Mailer {
    /// A mailer for an SMTP URL (`smtp://host:port`, `smtps://user:pass@host`, see lettre).
    pub fn smtp(url: &str, from: Mailbox) -> Result<Self, String> {
        // One pool of SMTP connections, reused by every message (lettre's `pool`).
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| e.to_string())?
            .timeout(Some(std::time::Duration::from_secs(30)))
            .build();
        Ok(Self {
            from,
            transport: Transport::Smtp(transport),
        })
    }

    /// A development mailer that prints each message and keeps it in `dir`.
    pub fn folder(dir: PathBuf, from: Mailbox) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let files = AsyncFileTransport::<Tokio1Executor>::new(&dir);
        Ok(Self {
            from,
            transport: Transport::Folder { dir, files },
        })
    }

    /// Where development mail is kept, if this mailer keeps it in a folder.
    pub fn folder_path(&self) -> Option<&std::path::Path> {
        match &self.transport {
            Transport::Folder { dir, .. } => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    /// Sends `email`; any failure is logged and reported as `Internal`.
    pub async fn send(&self, email: Email) -> AppResult<()> {
        self.deliver(email).await.map_err(|e| {
            if e.message.starts_with("invalid address") {
                AppError::invalid("email", "This is not a valid email address.")
            } else {
                AppError::Internal
            }
        })
    }

    /// Sends `email`, saying whether a failure is worth another attempt.
    #[tracing::instrument(skip_all, fields(subject = %email.subject))]
    pub async fn deliver(&self, email: Email) -> Result<(), SendError> {
        let to: Mailbox = email.to.parse().map_err(|_| SendError {
            permanent: true,
            message: "invalid address".into(),
        })?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject);
        if let Some(id) = &email.message_id {
            builder = builder.message_id(Some(format!("<{id}@{}>", self.from.email.domain())));
        }
        let built = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.body.clone(),
                html.clone(),
            )),
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(email.body.clone()),
        };
        let message = built.map_err(|e| {
            tracing::error!(error = %e, "could not build email");
            SendError {
                permanent: true,
                message: format!("could not build the message: {e}"),
            }
        })?;
        let sent = match &self.transport {
            Transport::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: e.to_string(),
            }),
            Transport::Folder { dir, files } => files
                .send(message)
                .await
                .map_err(|e| SendError {
                    permanent: false,
                    message: e.to_string(),
                })
                .map(|id| {
                    let file = dir.join(format!("{id}.eml"));
                    tracing::info!(file = %file.display(), "development mail saved (not sent)");
                    // Bodies carry sign-in and invitation links: only at debug level, which
                    // the demo (`.ci/serve`) switches on for this module so newcomers see them.
                    tracing::debug!(
                        "development mail to {}:\n--- {} ---\n{}\n---",
                        email.to,
                        email.subject,
                        email.body
                    );
                }),
        };
        sent.inspect_err(|e| {
            tracing::warn!(error = %e.message, permanent = e.permanent, "sending email failed");
        })
    }
}
