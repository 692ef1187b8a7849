//! The Roster server: configuration, the router with its layers, and start-up.

pub mod api;
pub mod auth_routes;
pub mod config;
pub mod csrf;
pub mod demo;
pub mod exports;
pub mod feeds;
pub mod jobs;
pub mod live;
pub mod oidc;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use app::state::{AppState, Settings};
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::HeaderValue;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use axum::Router;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::config::{Config, MailConfig};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A start-up failure, with a message for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Connects to Postgres and applies pending migrations.
pub async fn connect(config: &Config) -> Result<PgPool, StartError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(config.database_url.expose_secret())
        .await
        .map_err(|e| StartError(format!("DATABASE_URL: cannot connect to PostgreSQL: {e}")))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StartError(format!("applying migrations failed: {e}")))?;
    Ok(pool)
}

/// The Leptos options: file locations from `LEPTOS_*` (set by cargo-leptos), our output name.
/// A release build names its `/pkg` files by content hash and leaves the hashes next to the
/// binary (`hash.txt`); when that file is there, hashed names are used whatever
/// `LEPTOS_HASH_FILES` says.
pub fn leptos_options(config: &Config) -> LeptosOptions {
    let mut options = leptos::prelude::get_configuration(None)
        .map(|c| c.leptos_options)
        .unwrap_or_else(|_| LeptosOptions::builder().output_name("roster").build());
    if options.output_name.is_empty() {
        options.output_name = "roster".into();
    }
    options.site_addr = config.bind;
    if hash_file(&options).is_some_and(|path| path.exists()) {
        options.hash_files = true;
    }
    options
}

/// Where cargo-leptos leaves the content hashes of `/pkg` files: beside the server binary.
fn hash_file(options: &LeptosOptions) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.join(options.hash_file.as_ref()))
}

/// The stylesheet's address, hashed like the one the pages link (for pages outside Leptos).
pub fn stylesheet_href(options: &LeptosOptions) -> String {
    let hash = options
        .hash_files
        .then(|| hash_file(options))
        .flatten()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|hashes| {
            hashes.lines().find_map(|line| {
                let (file, hash) = line.split_once(':')?;
                (file.trim() == "css").then(|| hash.trim().to_string())
            })
        });
    match hash {
        Some(hash) => format!(
            "/{}/{}.{hash}.css",
            options.site_pkg_dir, options.output_name
        ),
        None => format!("/{}/{}.css", options.site_pkg_dir, options.output_name),
    }
}

/// `/pkg`: the WASM, JS and CSS bundles. Precompressed `.br`/`.gz` files (written at build
/// time, at the best compression) are served when the browser accepts them. Hashed names never
/// change content, so browsers keep them for a year; unhashed (development) ones revalidate.
fn pkg_files(options: &LeptosOptions) -> Router {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache = if options.hash_files {
        HeaderValue::from_static("public, max-age=31536000, immutable")
    } else {
        HeaderValue::from_static("no-cache")
    };
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(CACHE_CONTROL, cache))
}

/// The whole application: the router, ready to serve, and its background work (job worker,
/// scheduler, notification dispatcher), which runs until the caller stops it (or drops it).
pub async fn build(
    config: &Config,
    pool: PgPool,
    leptos_options: LeptosOptions,
) -> Result<(Router, jobs::Background), StartError> {
    let mail_from = config
        .mail_from
        .parse()
        .map_err(|_| StartError("ROSTER_MAIL_FROM is not a valid address".into()))?;
    let mailer = match &config.mail {
        MailConfig::Smtp(url) => app::mail::Mailer::smtp(url.expose_secret(), mail_from)
            .map_err(|e| StartError(format!("ROSTER_SMTP_URL: {e}")))?,
        MailConfig::Folder(dir) => app::mail::Mailer::folder(dir.clone(), mail_from)
            .map_err(|e| StartError(format!("ROSTER_MAIL_DIR {}: {e}", dir.display())))?,
    };
    let mut admin_emails = config.admin_emails.clone();
    let demo_accounts = if config.demo_data {
        let accounts = demo::load(&pool)
            .await
            .map_err(|e| StartError(format!("loading demo data failed: {e}")))?;
        admin_emails.push(demo::PLATFORM_ADMIN_EMAIL.to_string());
        accounts
    } else {
        Vec::new()
    };
    let settings = Settings {
        public_url: config.public_url.clone(),
        oidc_enabled: config.oidc.is_some(),
        email_login_enabled: config.email_login,
        admin_emails,
        session_max_age: chrono::Duration::days(config.session_max_days),
        session_idle: chrono::Duration::minutes(config.session_idle_minutes),
        demo_accounts,
        trust_forwarded_for: config.trust_forwarded_for,
        vapid_key: app::notifications::push::vapid_key(
            &pool,
            config.vapid_private_key.as_ref().map(|k| k.expose_secret()),
        )
        .await
        .map_err(StartError)?
        .into(),
    };
    let http = reqwest::Client::builder()
        .user_agent(concat!("Roster/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| StartError(format!("building the HTTP client failed: {e}")))?;
    let state = AppState {
        leptos_options: leptos_options.clone(),
        pool: pool.clone(),
        mailer,
        http,
        settings: Arc::new(settings),
    };

    let oidc = match &config.oidc {
        Some(oidc_config) => {
            let oidc =
                oidc::Oidc::new(oidc_config.clone(), &config.public_url).map_err(StartError)?;
            oidc.warm_up().await;
            Some(Arc::new(oidc))
        }
        None => None,
    };

    // Not `Expiry::OnInactivity`: tower-sessions writes a session only when it changes, so that
    // idle expiry would count from the sign-in. `access::session` sets a signed-in session's
    // expiry itself and renews it every few minutes.
    let store = PostgresStore::new(pool.clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name("roster_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies())
        .with_path("/")
        .with_expiry(Expiry::OnSessionEnd);

    let routes = generate_route_list(app::App);
    let origin = csrf::AllowedOrigin(config.public_url.origin().ascii_serialization());
    let api_state = api::ApiState {
        app: state.clone(),
        oidc: oidc.clone(),
        api_clients: config
            .oidc
            .as_ref()
            .map(|o| o.api_clients.clone())
            .unwrap_or_default()
            .into(),
    };
    let auth_state = auth_routes::AuthState {
        app: state.clone(),
        oidc,
        secure_cookies: config.secure_cookies(),
        stylesheet: stylesheet_href(&leptos_options).into(),
    };
    let router = Router::new()
        .leptos_routes(&state, routes, {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
        .with_state(state.clone())
        .nest("/pkg", pkg_files(&leptos_options))
        .merge(auth_routes::routes(auth_state))
        .merge(feeds::routes(state.clone()))
        .merge(exports::routes(state.clone()))
        .merge(live::routes(state.clone(), live::Live::start(pool.clone())))
        .merge(api::routes(api_state))
        .layer(axum::middleware::from_fn_with_state(
            origin,
            csrf::reject_cross_site,
        ))
        .layer(sessions)
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz).with_state(pool))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(telemetry::request_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Pages and API answers are always fresh; `/pkg` sets its own.
                .layer(SetResponseHeaderLayer::if_not_present(
                    CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ))
                // Pages and API answers are compressed on the fly at level 4: brotli's default
                // (11) takes seconds per streamed page. `/pkg` comes precompressed at 11.
                .layer(CompressionLayer::new().quality(CompressionLevel::Precise(4))),
        );
    let background = jobs::start(state, jobs::BackgroundConfig::new(config))
        .await
        .map_err(StartError)?;
    Ok((router, background))
}

/// `GET /readyz`: 200 when the database answers within two seconds.
async fn readyz(State(pool): State<PgPool>) -> (StatusCode, &'static str) {
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("select 1").execute(&pool),
    )
    .await;
    match ping {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut sig) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            sig.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing open requests");
}
