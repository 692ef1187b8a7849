//! `roster`: serves the web app. Configuration comes from the environment (see README.md).
//! `roster healthcheck` asks a running Roster on `LEPTOS_SITE_ADDR` whether it is ready (for
//! container health checks: the image has no curl).

use std::process::ExitCode;
use std::time::Duration;

use server::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return healthcheck().await;
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("roster: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(config.json_logs);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("roster: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 0 when `/readyz` of the server on `LEPTOS_SITE_ADDR` answers 200 within 3 seconds.
async fn healthcheck() -> ExitCode {
    let addr = std::env::var("LEPTOS_SITE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let Ok(mut addr) = addr.parse::<std::net::SocketAddr>() else {
        eprintln!("roster healthcheck: LEPTOS_SITE_ADDR is not an address: {addr:?}");
        return ExitCode::from(2);
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build();
    let answer = match client {
        Ok(client) => client.get(format!("http://{addr}/readyz")).send().await,
        Err(e) => {
            eprintln!("roster healthcheck: {e}");
            return ExitCode::FAILURE;
        }
    };
    match answer {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("roster healthcheck: /readyz answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("roster healthcheck: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), server::StartError> {
    let pool = server::connect(&config).await?;
    let options = server::leptos_options(&config);
    let built = server::build(&config, pool.clone(), options).await?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| {
            server::StartError(format!(
                "LEPTOS_SITE_ADDR: cannot listen on {}: {e}",
                config.bind
            ))
        })?;
    tracing::info!(
        "Roster is listening on {} (open {})",
        config.bind,
        config.public_url
    );
    let stopping = server::Stopping {
        delay: Duration::from_secs(config.shutdown_delay_secs),
        drain: Duration::from_secs(config.drain_timeout_secs),
    };
    // The worker gives its jobs back while requests drain.
    let background = built.background;
    let stop_background = background.stopper();
    let signal = async move {
        server::shutdown_signal().await;
        stop_background();
    };
    let served = server::serve(
        listener,
        built.router,
        built.lifecycle.clone(),
        signal,
        stopping,
    );
    let result = served.await;
    tracing::info!("stopping background jobs");
    background.stop().await;
    pool.close().await;
    result.map_err(|e| server::StartError(format!("server error: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}
