//! The `slotstream` binary: parse the command line, load settings, run.

use anyhow::Context;
use clap::{Parser, Subcommand};
use slotstream::{App, Settings};
use slotstream_runtime::SystemClock;
use std::path::PathBuf;
use std::sync::Arc;

// Profiled: glibc malloc/free took a third of the booking hot path (small
// short-lived allocations per record); mimalloc cuts that (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resource booking as a Kafka-streaming choreography.
#[derive(Debug, Parser)]
#[command(name = "slotstream", version, about)]
struct Cli {
    /// Optional TOML configuration file (also `SLOTSTREAM_CONFIG`).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (overrides `SLOTSTREAM_DATA_DIR`).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Gateway address (overrides `SLOTSTREAM_LISTEN`).
    #[arg(long, global = true)]
    listen: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and every processor in one process on the embedded backend.
    Up,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLOTSTREAM_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(d) = cli.data_dir {
        settings.data_dir = d;
    }
    if let Some(l) = cli.listen {
        settings.listen = l;
    }
    match cli.command {
        Command::Up => up(settings).await,
    }
}

async fn up(settings: Settings) -> anyhow::Result<()> {
    let mut app = App::start(&settings, Arc::new(SystemClock))
        .await
        .context("starting slotstream")?;
    let url = app.url();
    println!(
        "slotstream is up on {url} (embedded backend in {})",
        settings.data_dir.display()
    );
    println!("  API docs:  {url}/docs    health: {url}/healthz    metrics: {url}/metrics");
    println!(
        "  emails go to {}",
        settings
            .smtp_url
            .clone()
            .unwrap_or_else(|| { settings.data_dir.join("outbox").display().to_string() })
    );
    println!("  try: curl -s {url}/healthz    (Ctrl-C or SIGTERM drains and stops)");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        err = app.platform.failed() => return Err(err),
    }
    tracing::info!("draining");
    app.stop().await
}
