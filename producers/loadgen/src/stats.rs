//! Recording answers while the load runs: latency histograms, status counts,
//! the first few unexpected bodies, and live counters for the progress bar.
//!
//! Invariant: only requests *sent* inside the measured window (after the
//! warm-up) enter the histograms and counts; the live counters see everything.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms resolve, in microseconds (one hour); longer
/// values are clamped to it.
const MAX_MICROS: u64 = 3_600_000_000;
/// How many unexpected answers are kept verbatim for the summary.
pub const MAX_SAMPLES: usize = 5;
/// How much of an unexpected body is kept.
const MAX_SAMPLE_CHARS: usize = 400;

/// Why the recorder could not be created.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The histogram bounds were refused (a bug in this tool, not in the server).
    #[error(
        "cannot create a latency histogram: {0}; this is a bug in slotstream-loadgen, please report it"
    )]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// What came back for one request.
#[derive(Debug)]
pub enum Outcome {
    /// An HTTP answer, with its whole body read.
    Response {
        /// The status code.
        status: u16,
        /// The body.
        body: bytes::Bytes,
    },
    /// No HTTP answer: connect error, reset, timeout...
    Transport {
        /// Whether the client's `--timeout` expired.
        timeout: bool,
        /// The error, for the summary.
        detail: String,
    },
}

/// One unexpected answer kept for the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sample {
    /// The status, or `None` for a transport error.
    pub status: Option<u16>,
    /// The body (or the error), cut to a few hundred characters.
    pub text: String,
}

/// Everything measured in the window.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Latency from the *scheduled* send time to the end of the answer, in µs.
    pub latency: Histogram<u64>,
    /// Latency from the *actual* send to the end of the answer, in µs.
    pub service: Histogram<u64>,
    /// Answers per HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (timeouts included).
    pub transport_errors: u64,
    /// Of `transport_errors`, how many were `--timeout` expiring.
    pub timeouts: u64,
    /// The first few answers that were not the expected status.
    pub samples: Vec<Sample>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Result<Self, StatsError> {
        Ok(Self {
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)?,
            service: Histogram::new_with_bounds(1, MAX_MICROS, 3)?,
            statuses: BTreeMap::new(),
            transport_errors: 0,
            timeouts: 0,
            samples: Vec::new(),
        })
    }

    /// Requests answered or failed in the window.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport_errors
    }

    /// Answers with exactly this status.
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
}

/// Thread-safe sink for outcomes, shared by every worker.
#[derive(Debug)]
pub struct Recorder {
    success: u16,
    tally: Mutex<Tally>,
    completed: AtomicU64,
    failed: AtomicU64,
}

impl Recorder {
    /// A recorder for which `success` (201 for bookings, 200 for healthz) is
    /// the expected status; every other outcome counts as an error.
    pub fn new(success: u16) -> Result<Self, StatsError> {
        Ok(Self {
            success,
            tally: Mutex::new(Tally::new()?),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    /// Records one outcome; `measured` says whether it was sent inside the window.
    pub fn record(&self, measured: bool, latency: Duration, service: Duration, outcome: &Outcome) {
        let ok = matches!(outcome, Outcome::Response { status, .. } if *status == self.success);
        self.completed.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if !measured {
            return;
        }
        let mut t = self.tally.lock().unwrap_or_else(PoisonError::into_inner);
        t.latency.saturating_record(micros(latency));
        t.service.saturating_record(micros(service));
        match outcome {
            Outcome::Response { status, body } => {
                *t.statuses.entry(*status).or_insert(0) += 1;
                if !ok && t.samples.len() < MAX_SAMPLES {
                    let text = cut(&String::from_utf8_lossy(body));
                    t.samples.push(Sample {
                        status: Some(*status),
                        text,
                    });
                }
            }
            Outcome::Transport { timeout, detail } => {
                t.transport_errors += 1;
                t.timeouts += u64::from(*timeout);
                if t.samples.len() < MAX_SAMPLES {
                    t.samples.push(Sample {
                        status: None,
                        text: cut(detail),
                    });
                }
            }
        }
    }

    /// `(completed, not successful)` so far, warm-up included: for the progress bar.
    pub fn live(&self) -> (u64, u64) {
        (
            self.completed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    /// A copy of the measured tally so far.
    pub fn tally(&self) -> Tally {
        self.tally
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn cut(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_SAMPLE_CHARS).collect();
    if text.chars().nth(MAX_SAMPLE_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest value seen.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram of microseconds (all zero when empty).
    /// A percentile is the smallest recorded value (to the histogram's 3
    /// significant digits) that at least that share of the values do not exceed.
    pub fn from_micros(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p99_9: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        let ms = |q: f64| ms_of(h.value_at_quantile(q));
        Self {
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p99_9: ms(0.999),
            max: ms_of(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

fn ms_of(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() <= want * 0.002
    }

    #[test]
    fn percentiles_of_a_uniform_histogram_are_where_they_should_be() {
        let mut h = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).unwrap();
        for us in 1..=10_000 {
            h.record(us).unwrap();
        }
        let p = Percentiles::from_micros(&h);
        assert!(close(p.p50, 5.0), "p50 {}", p.p50);
        assert!(close(p.p90, 9.0), "p90 {}", p.p90);
        assert!(close(p.p99, 9.9), "p99 {}", p.p99);
        assert!(close(p.p99_9, 9.99), "p99.9 {}", p.p99_9);
        assert!(close(p.max, 10.0), "max {}", p.max);
        assert!(close(p.mean, 5.0005), "mean {}", p.mean);
    }

    #[test]
    fn a_rare_slow_tail_shows_in_p99_9_but_not_in_p99() {
        let mut h = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).unwrap();
        h.record_n(1_000, 990).unwrap(); // 990 answers at 1 ms
        h.record_n(100_000, 10).unwrap(); // 10 answers at 100 ms
        let p = Percentiles::from_micros(&h);
        assert!(close(p.p50, 1.0) && close(p.p99, 1.0), "{p:?}");
        assert!(close(p.p99_9, 100.0) && close(p.max, 100.0), "{p:?}");
        assert!(close(p.mean, 1.99), "{p:?}");
    }

    #[test]
    fn an_empty_histogram_reads_as_zeros() {
        let h = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).unwrap();
        assert_eq!(Percentiles::from_micros(&h).max, 0.0);
    }

    #[test]
    fn only_measured_outcomes_are_tallied_but_all_are_counted_live() {
        let r = Recorder::new(201).unwrap();
        let ok = Outcome::Response {
            status: 201,
            body: bytes::Bytes::new(),
        };
        let conflict = Outcome::Response {
            status: 409,
            body: bytes::Bytes::from_static(b"{\"code\":\"slot_unavailable\"}"),
        };
        let ms = Duration::from_millis(2);
        r.record(false, ms, ms, &conflict); // warm-up
        r.record(true, ms, ms, &ok);
        r.record(true, ms, ms, &conflict);
        r.record(
            true,
            ms,
            ms,
            &Outcome::Transport {
                timeout: true,
                detail: "timed out".into(),
            },
        );
        assert_eq!(r.live(), (4, 3));
        let t = r.tally();
        assert_eq!(
            (t.count(201), t.count(409), t.transport_errors, t.timeouts),
            (1, 1, 1, 1)
        );
        assert_eq!(t.requests(), 3);
        assert_eq!(t.latency.len(), 3);
        assert_eq!(
            t.samples[0],
            Sample {
                status: Some(409),
                text: "{\"code\":\"slot_unavailable\"}".into()
            }
        );
        assert_eq!(t.samples[1].status, None);
    }

    #[test]
    fn only_the_first_few_unexpected_bodies_are_kept_and_long_ones_are_cut() {
        let r = Recorder::new(200).unwrap();
        let long = "x".repeat(MAX_SAMPLE_CHARS + 10);
        for _ in 0..MAX_SAMPLES + 3 {
            let body = bytes::Bytes::from(long.clone());
            r.record(
                true,
                Duration::ZERO,
                Duration::ZERO,
                &Outcome::Response { status: 500, body },
            );
        }
        let t = r.tally();
        assert_eq!(t.samples.len(), MAX_SAMPLES);
        assert_eq!(t.samples[0].text.chars().count(), MAX_SAMPLE_CHARS + 1);
        assert_eq!(t.count(500), (MAX_SAMPLES + 3) as u64);
    }
}
