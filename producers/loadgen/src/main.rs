//! `slotstream-loadgen`: Slotstream's high-volume client. It owns nothing of
//! the platform: it speaks only the public HTTP contract to a running
//! `slotstream up`, sets up accounts and resources through it, then offers
//! closed- or open-loop load on `POST /v1/bookings` or `GET /healthz` and
//! prints throughput, status counts and latency percentiles.
//!
//! Invariant it keeps: a bookings run never asks for the same
//! `(resource, 15-minute slot)` twice, so every non-201 answer is the
//! server's doing, and every run is bounded in time and in requests.

mod api;
mod cli;
mod drive;
mod outbox;
mod plan;
mod progress;
mod report;
mod setup;
mod stats;
#[cfg(test)]
mod testing;
mod workload;

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser as _;
use reqwest::{Client, Url};

use crate::api::{Api, SetupError};
use crate::cli::{Cli, Command, LoadArgs};
use crate::drive::{Stop, StopReason};
use crate::progress::Progress;
use crate::report::Summary;
use crate::setup::SetupOptions;
use crate::workload::{Bookings, Workload};

/// Access tokens live 15 minutes by default; warn before a run outlives them.
const TOKEN_LIFETIME_MARGIN: Duration = Duration::from_secs(14 * 60);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.command.load().threads {
        runtime.worker_threads(threads as usize);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if matches!(
                e.downcast_ref::<SetupError>(),
                Some(SetupError::Interrupted)
            ) =>
        {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let load = cli.command.load().clone();
    let base = base_url(&load.url)?;
    let client = http_client(&load)?;
    let api = Api::new(client.clone(), base);
    let stop = Stop::default();
    listen_for_ctrl_c(stop.clone());
    let progress = Progress::new(!load.no_progress);
    if load.warmup + load.duration > TOKEN_LIFETIME_MARGIN
        && matches!(cli.command, Command::Bookings(_))
    {
        eprintln!(
            "warning: access tokens live 15 minutes by default; a longer bookings run will see 401s"
        );
    }

    api.healthz().await?;
    let (workload, setup_time) = match &cli.command {
        Command::Healthz(_) => (
            Workload::Healthz {
                url: api.url("/healthz"),
            },
            None,
        ),
        Command::Bookings(b) => {
            let opts = SetupOptions {
                data_dir: b.data_dir.clone(),
                customers: b.customers as usize,
                resources: b.resources as usize,
                concurrency: b.setup_concurrency as usize,
                code_timeout: b.code_timeout,
            };
            let started = Instant::now();
            let bar = progress.setup_bar();
            let prepared = tokio::select! {
                prepared = setup::prepare(&api, &opts, &bar) => prepared?,
                () = stop.stopped() => return Err(SetupError::Interrupted.into()),
            };
            bar.finish_and_clear();
            let bookings = Bookings::new(api.url("/v1/bookings"), prepared)?;
            (Workload::Bookings(bookings), Some(started.elapsed()))
        }
    };

    let plan = load.plan();
    let scenario = workload.name();
    let ok_status = workload.success_status();
    let outcome = drive::run(Arc::new(workload), client, plan, stop, &progress).await?;
    let summary = Summary::new(
        scenario,
        ok_status,
        plan.mode,
        plan.warmup,
        setup_time,
        &outcome,
    );
    print!("{}", summary.render());
    if let Some(path) = &load.json {
        let line = summary
            .to_json_line()
            .context("cannot encode the summary as JSON")?;
        if path.as_os_str() == "-" {
            println!("{line}");
        } else {
            let mut file = std::fs::File::create(path).with_context(|| {
                format!("cannot create {}; check the --json path", path.display())
            })?;
            writeln!(file, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    Ok(())
}

/// First Ctrl-C: stop sending and print the summary. Second: exit at once.
fn listen_for_ctrl_c(stop: Stop) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return; // No signal handling here: the run stays bounded by its own limits.
        }
        eprintln!("\nCtrl-C: stopping, waiting for answers in flight (Ctrl-C again to quit now)");
        stop.trigger(StopReason::Interrupted);
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

fn base_url(raw: &str) -> Result<Url, SetupError> {
    let bad = |reason: &str| SetupError::BadUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("it needs an http:// or https:// scheme and a host"));
    }
    Ok(url)
}

/// One keep-alive HTTP/1.1 pool shared by every worker.
fn http_client(load: &LoadArgs) -> anyhow::Result<Client> {
    Client::builder()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::MAX)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(load.timeout.min(Duration::from_secs(5)))
        .timeout(load.timeout)
        .no_proxy()
        .user_agent(concat!("slotstream-loadgen/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}
