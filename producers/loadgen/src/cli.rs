//! The command line: `bookings` and `healthz`, each in closed-loop
//! (`--concurrency`) or open-loop (`--rate`) mode.
//!
//! Invariant: every run is bounded: `--duration` (plus `--warmup`) and
//! `--max-requests` always apply, whatever the mode.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::drive::{Mode, RunPlan};

/// Concurrency of a closed-loop run when neither --rate nor --concurrency is given.
pub const DEFAULT_CONCURRENCY: u32 = 64;

const ABOUT: &str = "Slotstream's high-volume client: load for a running `slotstream up`, through the public HTTP API only.";

const LONG_ABOUT: &str = "\
Slotstream's high-volume client: load for a running `slotstream up`, through the public HTTP API only.

Two load shapes:
  --concurrency N   closed loop: N workers, each sending as soon as its previous answer came back
                    (measures the maximum sustained throughput)
  --rate R          open loop: R requests per second on a fixed schedule, whatever the answers;
                    latency is measured from each request's scheduled send time (no coordinated
                    omission); at most --max-in-flight requests are outstanding, sends that could
                    not leave on time are reported as late, and those never sent as dropped

Every run stops by itself after --warmup + --duration or --max-requests requests; Ctrl-C stops
early and still prints the summary (a second Ctrl-C exits at once).

Examples:
  slotstream-loadgen healthz --concurrency 64 --duration 10s
  slotstream-loadgen bookings --data-dir ./data --concurrency 256 --duration 30s --warmup 3s
  slotstream-loadgen bookings --data-dir ./data --rate 5000 --duration 30s --json out.json";

const BOOKINGS_ABOUT: &str = "\
Book non-conflicting 15-minute slots with POST /v1/bookings.

Setup (not measured, shown with its own progress bar): registers one vendor and --customers
customers, verifies each with the 6-digit code read from the newest `.eml` addressed to it in
`<DATA_DIR>/outbox/`, logs them in, and has the vendor create --resources resources
(slot_minutes 15, min_minutes 15).

This reads the EMBEDDED mode's outbox: run `slotstream up` on this machine with the same data
dir and without SLOTSTREAM_SMTP_URL, or setup waits --code-timeout per code and fails.

Load: each request books one 15-minute slot on one resource, walking slots forward from tomorrow
00:00 UTC, round-robin over the resources, each (resource, slot) exactly once, customers
round-robin, a unique Idempotency-Key per request. On a correct server every answer is 201;
anything else is counted and the first bodies are printed.";

/// The command line.
#[derive(Debug, Parser)]
#[command(name = "slotstream-loadgen", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// What to load.
    #[command(subcommand)]
    pub command: Command,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Book non-conflicting 15-minute slots through POST /v1/bookings (after creating accounts and resources).
    #[command(long_about = BOOKINGS_ABOUT)]
    Bookings(BookingsArgs),
    /// Load GET /healthz: the ceiling of the HTTP stack, with no business logic behind it.
    Healthz(LoadArgs),
}

/// Options of the `bookings` scenario.
#[derive(Debug, Clone, Args)]
pub struct BookingsArgs {
    /// Load shape and bounds.
    #[command(flatten)]
    pub load: LoadArgs,
    /// The server's data directory; verification codes are read from <DATA_DIR>/outbox/*.eml (embedded mode).
    #[arg(long, env = "SLOTSTREAM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Customers to register; requests go round-robin over them.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub customers: u32,
    /// Resources the vendor creates; slots go round-robin over them.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub resources: u32,
    /// Setup calls (register/verify/login, create resource) in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub setup_concurrency: u32,
    /// How long to wait for each verification email to appear in the outbox.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub code_timeout: Duration,
}

/// Load shape and bounds, common to every scenario.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Base URL of the gateway.
    #[arg(
        long,
        env = "SLOTSTREAM_LOADGEN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// Length of the measured window (after the warm-up), e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    pub duration: Duration,
    /// Load offered before the measured window and not counted (connections, caches).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Open loop: requests per second on a fixed schedule.
    #[arg(long, conflicts_with = "concurrency", value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Closed loop: workers each sending as soon as the previous answer came back [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,
    /// Open loop: most requests outstanding at once; further sends wait (and count as late).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_in_flight: u32,
    /// Most requests sent in the whole run, warm-up included.
    #[arg(long, default_value_t = 10_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// Per-request timeout (a timed-out request counts as a transport error).
    #[arg(long, default_value = "10s", value_parser = positive_duration)]
    pub timeout: Duration,
    /// Also write the summary as one line of JSON to this file (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Runtime worker threads of the load generator [default: the number of cores].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Do not draw progress bars.
    #[arg(long)]
    pub no_progress: bool,
}

impl LoadArgs {
    /// The load shape chosen by `--rate` / `--concurrency`.
    pub fn mode(&self) -> Mode {
        match self.rate {
            Some(rate) => Mode::Open {
                rate,
                max_in_flight: self.max_in_flight as usize,
            },
            None => Mode::Closed {
                concurrency: self.concurrency.unwrap_or(DEFAULT_CONCURRENCY) as usize,
            },
        }
    }

    /// The run's plan.
    pub fn plan(&self) -> RunPlan {
        RunPlan {
            mode: self.mode(),
            warmup: self.warmup,
            duration: self.duration,
            max_requests: self.max_requests,
        }
    }
}

impl Command {
    /// The load options of whichever scenario was chosen.
    pub fn load(&self) -> &LoadArgs {
        match self {
            Command::Bookings(b) => &b.load,
            Command::Healthz(l) => l,
        }
    }
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be more than zero, e.g. 10s".into());
    }
    Ok(d)
}

fn positive_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of requests per second"))?;
    if !(rate.is_finite() && rate > 0.0 && rate <= 10_000_000.0) {
        return Err("must be between 0 (exclusive) and 10000000 requests per second".into());
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rate_selects_the_open_loop_and_the_default_is_a_closed_loop_of_64() {
        let cli = Cli::try_parse_from(["slotstream-loadgen", "healthz", "--rate", "5000"]).unwrap();
        assert_eq!(
            cli.command.load().mode(),
            Mode::Open {
                rate: 5000.0,
                max_in_flight: 1024
            }
        );
        let cli = Cli::try_parse_from(["slotstream-loadgen", "healthz"]).unwrap();
        assert_eq!(cli.command.load().mode(), Mode::Closed { concurrency: 64 });
    }

    #[test]
    fn rate_and_concurrency_cannot_be_combined() {
        let err = Cli::try_parse_from([
            "slotstream-loadgen",
            "healthz",
            "--rate",
            "10",
            "--concurrency",
            "4",
        ]);
        assert!(err.is_err());
    }

    #[test]
    fn zero_durations_and_rates_are_refused() {
        for args in [
            ["--duration", "0s"],
            ["--rate", "0"],
            ["--rate", "NaN"],
            ["--timeout", "0s"],
        ] {
            let mut argv = vec!["slotstream-loadgen", "healthz"];
            argv.extend(args);
            assert!(Cli::try_parse_from(&argv).is_err(), "{args:?} was accepted");
        }
    }

    #[test]
    fn bookings_takes_the_documented_example_command_line() {
        let cli = Cli::try_parse_from([
            "slotstream-loadgen",
            "bookings",
            "--url",
            "http://127.0.0.1:8080",
            "--data-dir",
            "./data",
            "--customers",
            "200",
            "--resources",
            "50",
            "--duration",
            "30s",
            "--rate",
            "5000",
            "--warmup",
            "3s",
            "--json",
            "out.json",
        ])
        .unwrap();
        let Command::Bookings(b) = cli.command else {
            panic!("not bookings")
        };
        assert_eq!((b.customers, b.resources), (200, 50));
        assert_eq!(b.load.plan().duration, Duration::from_secs(30));
        assert_eq!(b.load.plan().warmup, Duration::from_secs(3));
        assert_eq!(b.load.json, Some(PathBuf::from("out.json")));
    }
}
