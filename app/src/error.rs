//! The one error type that crosses from the server to the browser.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// How long an overloaded or disconnected server asks clients to wait.
pub const UNAVAILABLE_RETRY_SECS: u32 = 2;

/// Every failure a server function or page can report. The messages are written for people:
/// they never carry database text or internals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("You are not allowed to do that.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Too many requests from this person or address; answered 429 with `Retry-After`.
    #[error("Too many attempts. Please wait a moment and try again.")]
    RateLimited { retry_after: u32 },
    /// Roster cannot serve this now (the database is unreachable or every connection is busy,
    /// or a rush on one session): answered 503 with `Retry-After`, never a 500.
    #[error("Roster is busy right now. Please try again in a few seconds.")]
    Unavailable { retry_after: u32 },
    #[error("Something went wrong on our side. Please try again in a moment.")]
    Internal,
    /// Transport and encoding failures of the server-function machinery itself.
    #[error("{}", transport_message(.0))]
    ServerFn(ServerFnErrorErr),
}

fn transport_message(err: &ServerFnErrorErr) -> &'static str {
    match err {
        ServerFnErrorErr::Args(_)
        | ServerFnErrorErr::Deserialization(_)
        | ServerFnErrorErr::MissingArg(_) => {
            "The request was not understood. Please check the form and try again."
        }
        ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => {
            "Could not reach Roster. Check your connection and try again."
        }
        _ => "Something went wrong on our side. Please try again in a moment.",
    }
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The message for one form field, when this error is about that field.
    pub fn field_message(&self, name: &str) -> Option<&str> {
        match self {
            Self::Invalid { field, message } if field == name => Some(message),
            _ => None,
        }
    }

    /// Too many requests: try again in `retry_after` seconds.
    pub fn rate_limited(retry_after: u32) -> Self {
        Self::RateLimited {
            retry_after: retry_after.max(1),
        }
    }

    /// Overloaded or the database is away: try again in a moment.
    pub fn unavailable() -> Self {
        Self::Unavailable {
            retry_after: UNAVAILABLE_RETRY_SECS,
        }
    }

    /// Seconds to wait before trying again (429 and 503), for the `Retry-After` header.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Conflict(_) => 409,
            Self::Invalid { .. } => 422,
            Self::RateLimited { .. } => 429,
            Self::Unavailable { .. } => 503,
            Self::Internal => 500,
            Self::ServerFn(
                ServerFnErrorErr::Args(_)
                | ServerFnErrorErr::Deserialization(_)
                | ServerFnErrorErr::MissingArg(_)
                | ServerFnErrorErr::UnsupportedRequestMethod(_),
            ) => 400,
            Self::ServerFn(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::ServerFn(value)
    }

    /// Called on the server while the failed call is answered: the one place where an error's
    /// variant becomes the response's HTTP status (plain HTML form posts keep their redirect).
    fn ser(&self) -> bytes::Bytes {
        #[cfg(feature = "ssr")]
        set_response_status(self);
        <Self::Encoder as leptos::server_fn::Encodes<Self>>::encode(self)
            .unwrap_or_else(|_| bytes::Bytes::from_static(br#""Internal""#))
    }
}

#[cfg(feature = "ssr")]
fn set_response_status(err: &AppError) {
    use leptos::prelude::use_context;
    let plain_form_post = use_context::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::ACCEPT).cloned())
        .and_then(|accept| accept.to_str().ok().map(|a| a.contains("text/html")))
        .unwrap_or(false);
    if plain_form_post {
        return;
    }
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        if let Ok(status) = http::StatusCode::from_u16(err.status()) {
            options.set_status(status);
        }
        if let Some(seconds) = err.retry_after() {
            options.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    /// Any database failure nobody expected: logged with its detail, answered as `Internal`.
    /// Constraints that guard a caller's input are mapped where the query runs
    /// (`AppError::from_db`).
    fn from(err: sqlx::Error) -> Self {
        if matches!(err, sqlx::Error::RowNotFound) {
            return Self::NotFound;
        }
        if database_unavailable(&err) {
            if matches!(err, sqlx::Error::PoolTimedOut) {
                metrics::counter!("roster_db_pool_acquire_timeouts_total").increment(1);
            }
            tracing::warn!(error = %err, "database unavailable");
            return Self::unavailable();
        }
        tracing::error!(error = %err, "database error");
        Self::Internal
    }
}

/// Whether `err` says the database cannot serve now, rather than that a query is wrong: no
/// free connection within the acquire timeout, the connection is gone (a restart, a network
/// failure), or the server is starting up or shutting down. These are answered 503.
#[cfg(feature = "ssr")]
pub fn database_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown,
            // cannot connect now; 53300: too many connections.
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// A database error, where the violation of a constraint `known` names is the caller's
    /// mistake (with the message they see); anything else as `From<sqlx::Error>`.
    pub fn from_db(err: sqlx::Error, known: fn(&str) -> Option<AppError>) -> Self {
        let mapped = err
            .as_database_error()
            .and_then(|db| db.constraint())
            .and_then(known);
        mapped.unwrap_or_else(|| err.into())
    }
}

pub type AppResult<T> = Result<T, AppError>;
