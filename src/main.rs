//! The `slotstream` binary: parse the command line, load settings, run.

use anyhow::Context;
use clap::{Parser, Subcommand};
use slotstream::settings::Flags;
use slotstream::{App, Platform, Role, Settings};
use slotstream_runtime::{Clock, SystemClock};
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
    /// its partitions through its consumer group. It serves `/healthz`,
    /// `/readyz` and `/metrics` on `SLOTSTREAM_LISTEN` (`--listen`).
    Processor {
        /// Which processor.
        #[arg(value_enum)]
        role: Role,
    },
    /// Check the platform's invariants once over the whole log (no two
    /// active bookings overlap, every hold ends within its deadline plus
    /// `SLOTSTREAM_AUDIT_SLACK`, every payment outcome reaches its booking
    /// exactly once); prints every violation and a summary. Exit status: 0
    /// clean, 1 violations found, 2 the log could not be read. The embedded
    /// data dir must not be in use by a running `slotstream up`; the
    /// continuous auditor runs inside `up` and as `slotstream processor audit`.
    Audit {
        /// Read every partition from offset 0 (required: the one-shot audit
        /// always reads the whole log).
        #[arg(long)]
        from_beginning: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load_with(cli.config.as_deref(), &cli.flags)?;
    let role = match &cli.command {
        Command::Up => "up".to_owned(),
        Command::Init => "init".to_owned(),
        Command::Gateway => "gateway".to_owned(),
        Command::Processor { role } => format!("processor {role:?}").to_ascii_lowercase(),
        Command::Audit { .. } => "audit".to_owned(),
    };
    let traces = slotstream::traces::init(settings.otlp_endpoint.as_deref(), &role)?;
    let result = run(cli.command, settings).await;
    traces.shutdown();
    result
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Up => up(settings).await,
        Command::Init => {
            for line in slotstream::storage::init(&settings).await? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Gateway => gateway(settings).await,
        Command::Processor { role } => processor(settings, role).await,
        Command::Audit { from_beginning } => {
            anyhow::ensure!(
                from_beginning,
                "`slotstream audit` reads the whole log once: pass --from-beginning \
                 (the continuous auditor is `slotstream processor audit`, and runs inside `slotstream up`)"
            );
            std::process::exit(audit(settings).await)
        }
    }
}

/// `slotstream audit --from-beginning`: the exit status.
async fn audit(settings: Settings) -> i32 {
    let now = SystemClock.now();
    let found = slotstream::ops::audit_once(&settings, now, |v| println!("{v}")).await;
    match found {
        Ok(report) => {
            print!("{}", slotstream::ops::audit_summary(&report));
            i32::from(!report.is_clean())
        }
        Err(e) => {
            eprintln!("slotstream audit: {e:#}");
            2
        }
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

/// A processor process. It answers on `SLOTSTREAM_LISTEN` (`--listen`):
/// `GET /healthz` while its drivers run (liveness), `GET /readyz` once
/// their state is restored and they have caught up (readiness), `GET
/// /metrics` (Prometheus). It exits (non-zero) when a driver fails, so
/// orchestrators restart it.
async fn processor(settings: Settings, role: Role) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("binding {} for /healthz", settings.listen))?;
    let addr = listener.local_addr()?;
    let mut platform = Platform::start_roles(&settings, Arc::new(SystemClock), None, &[role])
        .await
        .with_context(|| format!("starting the {role:?} processor"))?;
    let ops = slotstream::ops::processor_router(role, platform.telemetry.clone());
    let server = tokio::spawn(async move { axum::serve(listener, ops).await });
    println!(
        "slotstream processor {role:?} is up ({:?} backend; http://{addr}/healthz, /readyz, /metrics)",
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
    println!(
        "  API docs:  {url}/docs    health: {url}/healthz    ready: {url}/readyz    metrics: {url}/metrics"
    );
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
