//! The `sales-agent` binary: parse the command line, set up logging, run.

use clap::Parser;
use sales_agent::cli::{CatalogCommand, Cli, Command, run_admin};
use sales_agent::config::read_catalog;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Catalog(CatalogCommand::Check { file })) = &cli.command {
        let catalog = read_catalog(file)?;
        println!(
            "{}: valid ({} products, {} formats, {} properties)",
            file.display(),
            catalog.products.len(),
            catalog.formats.len(),
            catalog.properties.len()
        );
        return Ok(());
    }
    let config = cli.load_config()?;
    init_tracing(config.json_logs);
    match &cli.command {
        None | Some(Command::Serve) => serve(config).await,
        Some(command) => run_admin(&config, command).await,
    }
}

async fn serve(config: sales_agent::config::Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: draining requests");
        trigger.cancel();
    });
    sales_agent::run(config, listener, shutdown).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,rmcp=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
