//! Driving the load: closed loop (N workers, each sending as soon as its
//! previous answer arrived) or open loop (sends scheduled at a fixed rate,
//! independent of answers), with a warm-up, a deadline, a request budget and
//! Ctrl-C.
//!
//! Invariant: a request is measured iff it was *sent* after the warm-up, and
//! its latency counts from its *scheduled* send time (in the closed loop that
//! is the send itself). So in the open loop a slow server cannot hide its
//! queueing delay by slowing the client down (no coordinated omission): when
//! the in-flight cap is full, due sends wait and their wait is in their
//! latency; they are counted as late, and those still waiting when the run
//! ends are counted as dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Client;
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::api::describe;
use crate::progress::Progress;
use crate::stats::{Outcome, Recorder, StatsError, Tally};
use crate::workload::Workload;

mod open;

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// `concurrency` workers, each sending as soon as its previous answer came back.
    Closed {
        /// Number of workers (and so of requests in flight).
        concurrency: usize,
    },
    /// `rate` requests per second on a fixed schedule, at most `max_in_flight` at once.
    Open {
        /// Requests per second.
        rate: f64,
        /// Cap on requests in flight.
        max_in_flight: usize,
    },
}

/// How long and how much.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    /// Closed or open loop.
    pub mode: Mode,
    /// Load offered but not measured before the measured window.
    pub warmup: Duration,
    /// Length of the measured window.
    pub duration: Duration,
    /// Most requests sent in the whole run, warm-up included.
    pub max_requests: u64,
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// `--duration` elapsed.
    Duration,
    /// `--max-requests` were sent.
    MaxRequests,
    /// Ctrl-C.
    Interrupted,
}

/// A one-shot, many-listener stop signal; the first reason wins.
#[derive(Debug, Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl Stop {
    /// Stops the run for `reason`, unless it already stopped.
    pub fn trigger(&self, reason: StopReason) {
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Why it stopped, if it did.
    pub fn reason(&self) -> Option<StopReason> {
        *self.tx.borrow()
    }

    /// Resolves once the run is told to stop.
    pub async fn stopped(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// What a run measured.
#[derive(Debug)]
pub struct RunOutcome {
    /// The measured window's tally.
    pub tally: Tally,
    /// From the start of the measured window to the last answer.
    pub measured: Duration,
    /// Why it stopped.
    pub stopped_by: StopReason,
    /// Open loop only: measured sends that left more than 1 ms behind schedule.
    pub late: Option<u64>,
    /// Open loop only: sends due before the run ended that never left (the backlog).
    pub dropped: Option<u64>,
}

/// Everything the loops share.
struct Shared {
    workload: Arc<Workload>,
    client: Client,
    recorder: Recorder,
    stop: Stop,
    measure_from: Instant,
    sent: AtomicU64,
    max_requests: u64,
    last_done: AtomicU64,
}

impl Shared {
    /// Claims one request from the budget; on exhaustion stops the run.
    fn claim(&self) -> bool {
        if self.sent.fetch_add(1, Ordering::Relaxed) < self.max_requests {
            return true;
        }
        self.stop.trigger(StopReason::MaxRequests);
        false
    }

    /// Sends one request; `due` is when it was scheduled to go.
    async fn exchange(&self, due: Instant) {
        let sent = Instant::now();
        let outcome = match self.workload.next_request(&self.client).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                match resp.bytes().await {
                    Ok(body) => Outcome::Response { status, body },
                    Err(e) => Outcome::Transport {
                        timeout: e.is_timeout(),
                        detail: describe(&e),
                    },
                }
            }
            Err(e) => Outcome::Transport {
                timeout: e.is_timeout(),
                detail: describe(&e),
            },
        };
        let done = Instant::now();
        let measured = sent >= self.measure_from;
        self.recorder
            .record(measured, done - due, done - sent, &outcome);
        if measured {
            let micros = u64::try_from((done - self.measure_from).as_micros()).unwrap_or(u64::MAX);
            self.last_done.fetch_max(micros, Ordering::Relaxed);
        }
    }
}

/// Runs the load until the deadline, the budget or `stop`, then waits for the
/// answers in flight (each bounded by the client's timeout).
pub async fn run(
    workload: Arc<Workload>,
    client: Client,
    plan: RunPlan,
    stop: Stop,
    progress: &Progress,
) -> Result<RunOutcome, StatsError> {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        recorder: Recorder::new(workload.success_status())?,
        workload,
        client,
        stop: stop.clone(),
        measure_from: start + plan.warmup,
        sent: AtomicU64::new(0),
        max_requests: plan.max_requests,
        last_done: AtomicU64::new(0),
    });
    let end = start + plan.warmup + plan.duration;
    let deadline = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(end) => stop.trigger(StopReason::Duration),
                () = stop.stopped() => {}
            }
        })
    };
    let ticker = progress.watch(
        start,
        plan.warmup,
        plan.duration,
        Arc::clone(&shared) as Arc<dyn crate::progress::Live>,
        stop.clone(),
    );

    let (late, dropped) = match plan.mode {
        Mode::Closed { concurrency } => {
            closed_loop(&shared, concurrency).await;
            (None, None)
        }
        Mode::Open {
            rate,
            max_in_flight,
        } => {
            let (late, dropped) = open::open_loop(&shared, rate, max_in_flight, start, end).await;
            (Some(late), Some(dropped))
        }
    };
    stop.trigger(StopReason::Duration);
    let _ = deadline.await;
    let _ = ticker.await;

    let stopped_by = stop.reason().unwrap_or(StopReason::Duration);
    let measured = Duration::from_micros(shared.last_done.load(Ordering::Relaxed));
    Ok(RunOutcome {
        tally: shared.recorder.tally(),
        measured,
        stopped_by,
        late,
        dropped,
    })
}

impl crate::progress::Live for Shared {
    fn live(&self) -> (u64, u64) {
        self.recorder.live()
    }
}

async fn closed_loop(shared: &Arc<Shared>, concurrency: usize) {
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let shared = Arc::clone(shared);
            tokio::spawn(async move {
                while shared.stop.reason().is_none() && shared.claim() {
                    shared.exchange(Instant::now()).await;
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
}

/// How many sends of a `rate`-per-second schedule are due strictly before
/// `elapsed` (send `k` is due at `k / rate`, the first at zero).
fn due_before(elapsed: Duration, rate: f64) -> u64 {
    if elapsed.is_zero() {
        return 0;
    }
    // Saturating float-to-int cast: a non-finite or huge value cannot wrap.
    (elapsed.as_secs_f64() * rate).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::serve_ok;

    async fn run_against(
        delay: Duration,
        mode: Mode,
        duration: Duration,
        max_requests: u64,
    ) -> RunOutcome {
        let url = serve_ok(delay).await;
        let plan = RunPlan {
            mode,
            warmup: Duration::ZERO,
            duration,
            max_requests,
        };
        let client = Client::builder().no_proxy().build().unwrap();
        let workload = Arc::new(Workload::Healthz { url });
        run(
            workload,
            client,
            plan,
            Stop::default(),
            &Progress::new(false),
        )
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_loop_stops_at_max_requests_with_every_answer_counted() {
        let mode = Mode::Closed { concurrency: 4 };
        let out = run_against(Duration::ZERO, mode, Duration::from_secs(60), 50).await;
        assert_eq!(out.stopped_by, StopReason::MaxRequests);
        assert_eq!(out.tally.requests(), 50);
        assert_eq!(out.tally.count(200), 50);
        assert!(out.measured > Duration::ZERO && out.measured < Duration::from_secs(60));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_keeps_its_schedule_against_a_fast_server() {
        let mode = Mode::Open {
            rate: 400.0,
            max_in_flight: 64,
        };
        let out = run_against(Duration::ZERO, mode, Duration::from_millis(500), 1_000).await;
        assert_eq!(out.stopped_by, StopReason::Duration);
        let (sent, dropped) = (out.tally.requests(), out.dropped.unwrap());
        assert_eq!(
            sent + dropped,
            200,
            "every due send is either answered or dropped"
        );
        assert!(sent >= 150, "only {sent} of 200 sends went out");
        assert_eq!(out.tally.count(200), sent);
        // Latency counts from the schedule, so it is never below the service time.
        assert!(
            out.tally.latency.value_at_quantile(0.5) >= out.tally.service.value_at_quantile(0.5)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_open_loop_that_cannot_keep_up_counts_late_and_dropped_sends_and_their_wait() {
        let mode = Mode::Open {
            rate: 200.0,
            max_in_flight: 1,
        };
        let out = run_against(
            Duration::from_millis(50),
            mode,
            Duration::from_millis(500),
            1_000,
        )
        .await;
        let (sent, dropped, late) = (
            out.tally.requests(),
            out.dropped.unwrap(),
            out.late.unwrap(),
        );
        assert!(
            sent <= 12,
            "one in flight at 50 ms each cannot answer {sent} in 0.5 s"
        );
        assert_eq!(sent + dropped, 100);
        assert!(late >= sent - 1, "{late} late of {sent}");
        let (lat, svc) = (out.tally.latency.max(), out.tally.service.max());
        assert!(
            lat > svc + 100_000,
            "the queueing wait is in the latency: {lat} µs vs {svc} µs"
        );
    }

    #[test]
    fn the_schedule_counts_sends_due_strictly_before_a_time() {
        assert_eq!(due_before(Duration::ZERO, 100.0), 0);
        assert_eq!(due_before(Duration::from_millis(1), 100.0), 1); // only the one at 0
        assert_eq!(due_before(Duration::from_millis(10), 100.0), 1); // the next is due at 10 ms
        assert_eq!(due_before(Duration::from_millis(11), 100.0), 2);
        assert_eq!(due_before(Duration::from_secs(30), 5000.0), 150_000);
    }

    #[test]
    fn the_first_stop_reason_wins() {
        let stop = Stop::default();
        assert_eq!(stop.reason(), None);
        stop.trigger(StopReason::Interrupted);
        stop.trigger(StopReason::Duration);
        assert_eq!(stop.reason(), Some(StopReason::Interrupted));
    }

    #[tokio::test]
    async fn waiting_for_a_stop_resolves_even_if_it_was_triggered_before() {
        let stop = Stop::default();
        stop.trigger(StopReason::MaxRequests);
        tokio::time::timeout(Duration::from_secs(5), stop.stopped())
            .await
            .expect("stopped() resolves");
        assert_eq!(stop.reason(), Some(StopReason::MaxRequests));
    }
}
