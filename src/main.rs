//! The `slotstream` binary: parse the command line, load settings, run.

use anyhow::Context;
use clap::{Parser, Subcommand};
use slotstream::settings::Flags;
use slotstream::{App, Platform, Role, Settings};
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
    /// Settings given as flags: they beat the environment and the file.
    #[command(flatten)]
    flags: Flags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and every processor in one process (the embedded
    /// backend by default; with SLOTSTREAM_BACKEND=kafka it also creates the
    /// topics, keyspace and subjects first).
    Up,
    /// Distributed mode: create the topics, the views' keyspace and tables and
    /// the schema subjects, idempotently, then exit.
    Init,
    /// Distributed mode: run only the REST gateway (any number of them).
    Gateway,
    /// Distributed mode: run one processor; instances of one processor share
    /// its partitions through its consumer group.
    Processor {
        /// Which processor.
        #[arg(value_enum)]
        role: Role,
    },
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
    let settings = Settings::load_with(cli.config.as_deref(), &cli.flags)?;
    match cli.command {
        Command::Up => up(settings).await,
        Command::Init => {
            for line in slotstream::storage::init(&settings).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Gateway => gateway(settings).await,
        Command::Processor { role } => processor(settings, role).await,
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

async fn gateway(settings: Settings) -> anyhow::Result<()> {
    let app = App::start_roles(&settings, Arc::new(SystemClock), &[])
        .await
        .context("starting the gateway")?;
    println!(
        "slotstream gateway is up on {} ({:?} backend)",
        app.url(),
        settings.backend
    );
    stop_signal().await?;
    tracing::info!("draining");
    app.stop().await
}

/// A processor process. It answers `GET /healthz` on `SLOTSTREAM_LISTEN`
/// while its drivers run, for orchestrators' liveness checks; it exits
/// (non-zero) when a driver fails, so they restart it.
async fn processor(settings: Settings, role: Role) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("binding {} for /healthz", settings.listen))?;
    let addr = listener.local_addr()?;
    let mut platform = Platform::start_roles(&settings, Arc::new(SystemClock), None, &[role])
        .await
        .with_context(|| format!("starting the {role:?} processor"))?;
    let health = axum::Router::new().route(
        "/healthz",
        axum::routing::get(move || async move {
            axum::Json(serde_json::json!({"status": "ok", "processor": format!("{role:?}").to_lowercase()}))
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, health).await });
    println!(
        "slotstream processor {role:?} is up ({:?} backend; health: http://{addr}/healthz)",
        settings.backend
    );
    let outcome = tokio::select! {
        r = stop_signal() => r,
        err = platform.failed() => Err(err),
    };
    server.abort();
    outcome?;
    tracing::info!("draining");
    platform.stop().await
}

async fn up(settings: Settings) -> anyhow::Result<()> {
    let mut app = App::start(&settings, Arc::new(SystemClock))
        .await
        .context("starting slotstream")?;
    let url = app.url();
    println!(
        "slotstream is up on {url} ({:?} backend, data dir {})",
        settings.backend,
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
    tokio::select! {
        r = stop_signal() => r?,
        err = app.platform.failed() => return Err(err),
    }
    tracing::info!("draining");
    app.stop().await
}
