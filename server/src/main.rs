//! `roster`: serves the web app. Configuration comes from the environment (see README.md).

use std::net::SocketAddr;
use std::process::ExitCode;

use server::config::Config;

#[tokio::main]
async fn main() -> ExitCode {
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

async fn run(config: Config) -> Result<(), server::StartError> {
    let pool = server::connect(&config).await?;
    let options = server::leptos_options(&config);
    let (router, background) = server::build(&config, pool.clone(), options).await?;
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
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(server::shutdown_signal())
    .await
    .map_err(|e| server::StartError(format!("server error: {e}")))?;
    tracing::info!("stopping background jobs");
    background.stop().await;
    pool.close().await;
    tracing::info!("stopped");
    Ok(())
}
