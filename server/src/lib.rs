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
pub mod monitoring;
pub mod oidc;
pub mod overload;
pub mod pwa;
pub mod security;
pub mod telemetry;
pub mod throttle;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Connects to Postgres and applies pending migrations (several servers starting at once
/// take turns: the migrator holds an advisory lock, so each migration runs once). A request
/// waits at most `ROSTER_DB_ACQUIRE_TIMEOUT_MS` for a connection, then it is answered 503.
pub async fn connect(config: &Config) -> Result<PgPool, StartError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
        .connect(config.database_url.expose_secret())
        .await
        .map_err(|e| StartError(format!("DATABASE_URL: cannot connect to PostgreSQL: {e}")))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| StartError(format!("applying migrations failed: {e}")))?;
    Ok(pool)
}

/// Where a server process is in its life: serving, or draining after SIGTERM (`/readyz`
/// answers 503 so the load balancer stops sending), and whether its live streams must end.
#[derive(Clone)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    streams: tokio::sync::watch::Sender<bool>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: Arc::new(AtomicBool::new(false)),
            streams: tokio::sync::watch::channel(false).0,
        }
    }
}

impl Lifecycle {
    /// `/readyz` answers 503 from now on.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        metrics::gauge!("roster_ready").set(0.0);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Open live streams end (with a hint to reconnect, to another server).
    pub fn end_streams(&self) {
        self.streams.send_replace(true);
    }

    /// Becomes true when live streams must end.
    pub fn streams_ending(&self) -> tokio::sync::watch::Receiver<bool> {
        self.streams.subscribe()
    }
}

/// A built server: its routes, its background work, and its lifecycle.
pub struct Built {
    pub router: Router,
    pub background: jobs::Background,
    pub lifecycle: Lifecycle,
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

/// This build's `/pkg` files by the names pages link them with: hashed (`roster.<hash>.css`)
/// in a release build, plain in development. Read once at start.
#[derive(Debug, Clone)]
pub struct Assets {
    pub stylesheet: String,
    pub script: String,
    pub wasm: String,
}

impl Assets {
    pub fn of(options: &LeptosOptions) -> Self {
        let hashes = options
            .hash_files
            .then(|| hash_file(options))
            .flatten()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        let name = |kind: &str, suffix: &str| {
            let hash = hashes.lines().find_map(|line| {
                let (file, hash) = line.split_once(':')?;
                (file.trim() == kind).then(|| hash.trim().to_string())
            });
            let base = format!("/{}/{}", options.site_pkg_dir, options.output_name);
            match hash {
                Some(hash) => format!("{base}.{hash}.{kind}"),
                None => format!("{base}{suffix}.{kind}"),
            }
        };
        Self {
            stylesheet: name("css", ""),
            script: name("js", ""),
            // As Leptos links it: `<name>_bg.wasm` unhashed, unless built by cargo-leptos.
            wasm: name(
                "wasm",
                if option_env!("LEPTOS_OUTPUT_NAME").is_some() {
                    ""
                } else {
                    "_bg"
                },
            ),
        }
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
) -> Result<Built, StartError> {
    telemetry::init_executor();
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
        identity_recheck: chrono::Duration::seconds(config.identity_recheck_secs),
        demo_accounts,
        trust_forwarded_for: config.trust_forwarded_for,
        vapid_key: app::notifications::push::vapid_key(
            &pool,
            config.vapid_private_key.as_ref().map(|k| k.expose_secret()),
        )
        .await
        .map_err(StartError)?
        .into(),
        push_loopback: config.push_loopback,
        checkin_key: app::secret::SigningKey::load(&pool, "checkin")
            .await
            .map_err(|e| StartError(format!("loading the check-in key failed: {e}")))?,
    };
    let http = app::notifications::push::client(config.push_loopback)
        .map_err(|e| StartError(format!("building the HTTP client failed: {e}")))?;
    let oidc = match &config.oidc {
        Some(oidc_config) => {
            let oidc =
                oidc::Oidc::new(oidc_config.clone(), &config.public_url).map_err(StartError)?;
            oidc.warm_up().await;
            Some(Arc::new(oidc))
        }
        None => None,
    };
    let state = AppState {
        leptos_options: leptos_options.clone(),
        pool: pool.clone(),
        mailer,
        http,
        settings: Arc::new(settings),
        gates: Arc::new(app::admission::Gates::new(Default::default())),
        identity_check: oidc
            .clone()
            .map(|o| o as Arc<dyn app::state::IdentityCheck>),
    };
    monitoring::recorder();
    let lifecycle = Lifecycle::default();
    let limits = Arc::new(throttle::Limits::new(config));

    // Not `Expiry::OnInactivity`: tower-sessions writes a session only when it changes, so that
    // idle expiry would count from the sign-in. `access::session` sets a signed-in session's
    // expiry itself and renews it every few minutes.
    let store = overload::GuardedStore(PostgresStore::new(pool.clone()));
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
        limits: limits.clone(),
        oidc: oidc.clone(),
        api_clients: config
            .oidc
            .as_ref()
            .map(|o| o.api_clients.clone())
            .unwrap_or_default()
            .into(),
    };
    let assets = Assets::of(&leptos_options);
    let auth_state = auth_routes::AuthState {
        app: state.clone(),
        oidc,
        secure_cookies: config.secure_cookies(),
        stylesheet: assets.stylesheet.clone().into(),
    };
    let headers = security::Headers::new(config);
    let pwa_routes = pwa::routes(&assets);
    let request_context = security::provide_request_context(state.clone(), config.secure_cookies());
    let router = Router::new()
        .leptos_routes_with_context(&state, routes, request_context.clone(), {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(request_context, app::shell))
        .with_state(state.clone())
        .nest("/pkg", pkg_files(&leptos_options))
        .merge(pwa_routes)
        .merge(auth_routes::routes(auth_state))
        .merge(feeds::routes(state.clone()))
        .merge(exports::routes(state.clone()))
        .merge(live::routes(
            state.clone(),
            live::Live::start(pool.clone()),
            lifecycle.streams_ending(),
            Duration::from_secs(config.live_recheck_secs),
        ))
        .merge(api::routes(api_state))
        .layer(axum::middleware::from_fn(pwa::name_the_person))
        // Outside the person's note: a request over the API's address limit is refused
        // before its session is read from the database.
        .layer(axum::middleware::from_fn(throttle::note_person))
        .layer(axum::middleware::from_fn_with_state(
            throttle::ThrottleState {
                limits,
                client: throttle::ClientAddress {
                    trust_forwarded_for: config.trust_forwarded_for,
                },
            },
            throttle::limit_requests,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers.clone(),
            security::keep_errors_ours,
        ))
        .layer(axum::middleware::from_fn_with_state(
            origin,
            csrf::reject_cross_site,
        ))
        .layer(sessions)
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(readyz).with_state((pool.clone(), lifecycle.clone())),
        )
        .layer(axum::middleware::from_fn_with_state(
            overload::RequestTimeout(Duration::from_secs(config.request_timeout_secs)),
            overload::limit_duration,
        ))
        .layer(axum::middleware::from_fn_with_state(
            headers,
            security::add_headers,
        ))
        .layer(axum::middleware::from_fn(overload::answer_overload))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(telemetry::request_span)
                        .on_failure(telemetry::on_failure),
                )
                .layer(axum::middleware::from_fn(telemetry::keep_span))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                // Pages and API answers are always fresh; `/pkg` sets its own.
                .layer(SetResponseHeaderLayer::if_not_present(
                    CACHE_CONTROL,
                    HeaderValue::from_static("no-cache"),
                ))
                // Pages and API answers are compressed on the fly at level 4: brotli's default
                // (11) takes seconds per streamed page. `/pkg` comes precompressed at 11.
                .layer(CompressionLayer::new().quality(CompressionLevel::Precise(4))),
        )
        .layer(axum::middleware::from_fn(monitoring::track));
    if let Some(addr) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            StartError(format!("ROSTER_METRICS_ADDR: cannot listen on {addr}: {e}"))
        })?;
        tracing::info!("metrics on http://{addr}/metrics");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, monitoring::routes()).await {
                tracing::error!(error = %e, "the metrics listener stopped");
            }
        });
    }
    tokio::spawn(monitoring::sample(
        pool.clone(),
        config.db_max_connections,
        Duration::from_secs(5),
    ));
    let background = jobs::start(state, jobs::BackgroundConfig::new(config))
        .await
        .map_err(StartError)?;
    Ok(Built {
        router,
        background,
        lifecycle,
    })
}

/// `GET /readyz`: 200 when the database answers within two seconds and the process is not
/// shutting down; 503 otherwise.
async fn readyz(
    State((pool, lifecycle)): State<(PgPool, Lifecycle)>,
) -> (StatusCode, &'static str) {
    if lifecycle.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        sqlx::query("select 1").execute(&pool),
    )
    .await;
    let (ready, answer) = match ping {
        Ok(Ok(_)) => (true, (StatusCode::OK, "ready")),
        _ => (
            false,
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
        ),
    };
    metrics::gauge!("roster_ready").set(if ready { 1.0 } else { 0.0 });
    answer
}

/// How a server stops: after `signal`, `/readyz` answers 503 at once; requests are still
/// accepted for `delay` (the load balancer notices meanwhile); then live streams end, new
/// connections are refused, and requests in flight get `drain` to finish.
pub struct Stopping {
    pub delay: Duration,
    pub drain: Duration,
}

/// Serves `router` on `listener` until `signal`, then stops as `Stopping` says.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    lifecycle: Lifecycle,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    stopping: Stopping,
) -> std::io::Result<()> {
    let draining = Arc::new(tokio::sync::Notify::new());
    let started = draining.clone();
    let graceful = {
        let lifecycle = lifecycle.clone();
        async move {
            signal.await;
            lifecycle.drain();
            tracing::info!(
                delay_secs = stopping.delay.as_secs(),
                "shutting down: /readyz answers 503, still accepting requests"
            );
            tokio::time::sleep(stopping.delay).await;
            lifecycle.end_streams();
            tracing::info!("shutting down: no new connections; finishing open requests");
            started.notify_one();
        }
    };
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful);
    tokio::select! {
        result = std::future::IntoFuture::into_future(server) => result,
        _ = async {
            draining.notified().await;
            tokio::time::sleep(stopping.drain).await;
        } => {
            tracing::warn!(
                drain_secs = stopping.drain.as_secs(),
                "requests still open after the drain timeout are cut off"
            );
            Ok(())
        }
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
}
