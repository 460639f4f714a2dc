//! The end-of-run summary: a human-readable block on stdout and, with
//! `--json`, the same numbers as one line of JSON.
//!
//! Invariant: every rate is "count in the measured window / measured
//! seconds", and a run that measured nothing reports zeros, never NaN.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::drive::{Mode, RunOutcome, StopReason};
use crate::stats::{Percentiles, Sample};

/// The numbers of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `bookings` or `healthz`.
    pub scenario: &'static str,
    /// Closed (`concurrency`) or open (`rate`, `max_in_flight`) loop.
    #[serde(flatten)]
    pub mode: Mode,
    /// Why the run stopped.
    pub stopped_by: StopReason,
    /// Seconds spent creating accounts and resources (bookings only).
    pub setup_s: Option<f64>,
    /// Seconds of unmeasured warm-up.
    pub warmup_s: f64,
    /// Seconds from the start of the measured window to its last answer.
    pub duration_s: f64,
    /// Requests sent in the window that completed or failed.
    pub requests: u64,
    /// `requests / duration_s`.
    pub throughput_rps: f64,
    /// The expected status (201 bookings, 200 healthz).
    pub ok_status: u16,
    /// Answers with the expected status.
    pub ok: u64,
    /// `ok / duration_s`.
    pub ok_rps: f64,
    /// Bookings only: availability decisions (201 + 409) per second.
    pub decisions_rps: Option<f64>,
    /// Answers per HTTP status code.
    pub status_counts: BTreeMap<String, u64>,
    /// Requests with no HTTP answer (timeouts included).
    pub transport_errors: u64,
    /// Requests that hit `--timeout`.
    pub timeouts: u64,
    /// Open loop: measured sends that left more than 1 ms behind schedule.
    pub late: Option<u64>,
    /// Open loop: sends due before the run ended that never left (the backlog).
    pub dropped: Option<u64>,
    /// Latency from the scheduled send time (open loop) or the send (closed loop).
    pub latency_ms: Percentiles,
    /// Latency from the actual send (equal to `latency_ms` in a closed loop).
    pub service_ms: Percentiles,
    /// The first few answers that were not `ok_status`.
    pub unexpected: Vec<Sample>,
}

/// Per-second rate, zero for an empty window.
pub fn per_second(count: u64, window: Duration) -> f64 {
    let secs = window.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

impl Summary {
    /// Builds the summary of a run of `scenario` whose success status is `ok_status`.
    pub fn new(
        scenario: &'static str,
        ok_status: u16,
        mode: Mode,
        warmup: Duration,
        setup: Option<Duration>,
        run: &RunOutcome,
    ) -> Self {
        let t = &run.tally;
        let requests = t.requests();
        let ok = t.count(ok_status);
        let decisions =
            (scenario == "bookings").then(|| per_second(t.count(201) + t.count(409), run.measured));
        Self {
            scenario,
            mode,
            stopped_by: run.stopped_by,
            setup_s: setup.map(|d| d.as_secs_f64()),
            warmup_s: warmup.as_secs_f64(),
            duration_s: run.measured.as_secs_f64(),
            requests,
            throughput_rps: per_second(requests, run.measured),
            ok_status,
            ok,
            ok_rps: per_second(ok, run.measured),
            decisions_rps: decisions,
            status_counts: t
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            transport_errors: t.transport_errors,
            timeouts: t.timeouts,
            late: run.late,
            dropped: run.dropped,
            latency_ms: Percentiles::from_micros(&t.latency),
            service_ms: Percentiles::from_micros(&t.service),
            unexpected: t.samples.clone(),
        }
    }

    /// The summary as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    fn status(&self, code: u16) -> u64 {
        self.status_counts
            .get(&code.to_string())
            .copied()
            .unwrap_or(0)
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mode = match self.mode {
            Mode::Closed { concurrency } => format!("closed loop, {concurrency} workers"),
            Mode::Open {
                rate,
                max_in_flight,
            } => format!("open loop at {rate} req/s (at most {max_in_flight} in flight)"),
        };
        let stopped = match self.stopped_by {
            StopReason::Duration => "--duration elapsed",
            StopReason::MaxRequests => "--max-requests reached",
            StopReason::Interrupted => "Ctrl-C",
        };
        let _ = writeln!(s, "slotstream-loadgen {}: {mode}", self.scenario);
        let setup = self
            .setup_s
            .map(|x| format!(", setup {x:.1} s"))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  window      {:.2} s measured after {:.1} s warm-up{setup}; stopped by {stopped}",
            self.duration_s, self.warmup_s
        );
        let _ = writeln!(
            s,
            "  requests    {} ({:.1} req/s)",
            self.requests, self.throughput_rps
        );
        let _ = write!(
            s,
            "  ok ({})    {} ({:.1} req/s)",
            self.ok_status, self.ok, self.ok_rps
        );
        if let Some(d) = self.decisions_rps {
            let _ = write!(s, "; decisions (201 + 409) {d:.1}/s");
        }
        s.push('\n');
        let mut listed = vec![self.ok_status];
        if self.scenario == "bookings" {
            listed.extend([202, 409]);
        }
        listed.push(429);
        let mut codes: Vec<String> = listed
            .iter()
            .map(|c| format!("{c}: {}", self.status(*c)))
            .collect();
        let fivexx: u64 = self
            .codes_where(|c| (500..600).contains(&c))
            .map(|(_, n)| n)
            .sum();
        codes.push(format!("5xx: {fivexx}"));
        for (code, n) in self.codes_where(|c| !listed.contains(&c) && !(500..600).contains(&c)) {
            codes.push(format!("{code}: {n}"));
        }
        codes.push(format!(
            "transport errors: {} (timeouts {})",
            self.transport_errors, self.timeouts
        ));
        let _ = writeln!(s, "  statuses    {}", codes.join("  "));
        if let (Some(late), Some(dropped)) = (self.late, self.dropped) {
            let _ = writeln!(
                s,
                "  schedule    {late} sends late (> 1 ms behind schedule), {dropped} due but never sent"
            );
        }
        let open = matches!(self.mode, Mode::Open { .. });
        let from = if open {
            "   (from the scheduled send)"
        } else {
            ""
        };
        let _ = writeln!(s, "  latency ms  {}{from}", line(&self.latency_ms));
        if open {
            let _ = writeln!(
                s,
                "  (service)   {}   (from the actual send)",
                line(&self.service_ms)
            );
        }
        if self.scenario == "bookings" && self.status(409) > 0 {
            let _ = writeln!(
                s,
                "  WARNING     {} answers were 409 although every (resource, slot) was requested once: a server bug",
                self.status(409)
            );
        }
        if !self.unexpected.is_empty() {
            let _ = writeln!(s, "  first answers other than {}:", self.ok_status);
            for sample in &self.unexpected {
                let status = sample
                    .status
                    .map_or_else(|| "transport".to_owned(), |c| c.to_string());
                let _ = writeln!(s, "    {status}: {}", sample.text.replace('\n', " "));
            }
        }
        s
    }

    fn codes_where<'a>(
        &'a self,
        keep: impl Fn(u16) -> bool + 'a,
    ) -> impl Iterator<Item = (u16, u64)> + 'a {
        self.status_counts
            .iter()
            .filter_map(|(c, n)| c.parse::<u16>().ok().map(|c| (c, *n)))
            .filter(move |(c, _)| keep(*c))
    }
}

fn line(p: &Percentiles) -> String {
    format!(
        "p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}  mean {:.3}",
        p.p50, p.p90, p.p99, p.p99_9, p.max, p.mean
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Outcome, Recorder};

    fn run_of(outcomes: &[(u16, u64)], latency_ms: u64, window: Duration) -> RunOutcome {
        let r = Recorder::new(201).unwrap();
        let d = Duration::from_millis(latency_ms);
        for (status, n) in outcomes {
            for _ in 0..*n {
                let body = bytes::Bytes::from_static(b"{\"code\":\"x\"}");
                r.record(
                    true,
                    d,
                    d,
                    &Outcome::Response {
                        status: *status,
                        body,
                    },
                );
            }
        }
        RunOutcome {
            tally: r.tally(),
            measured: window,
            stopped_by: StopReason::Duration,
            late: None,
            dropped: None,
        }
    }

    #[test]
    fn rates_are_counts_over_the_measured_window() {
        let run = run_of(
            &[(201, 900), (409, 60), (429, 40)],
            3,
            Duration::from_secs(2),
        );
        let s = Summary::new(
            "bookings",
            201,
            Mode::Closed { concurrency: 8 },
            Duration::ZERO,
            None,
            &run,
        );
        assert_eq!((s.requests, s.ok), (1000, 900));
        assert_eq!(s.throughput_rps, 500.0);
        assert_eq!(s.ok_rps, 450.0);
        assert_eq!(s.decisions_rps, Some(480.0));
        assert!((s.latency_ms.p99 - 3.0).abs() < 0.01, "{:?}", s.latency_ms);
    }

    #[test]
    fn an_empty_window_reports_zeros_not_nan() {
        let run = run_of(&[], 0, Duration::ZERO);
        let s = Summary::new(
            "healthz",
            200,
            Mode::Closed { concurrency: 1 },
            Duration::ZERO,
            None,
            &run,
        );
        assert_eq!(
            (s.throughput_rps, s.ok_rps, s.decisions_rps),
            (0.0, 0.0, None)
        );
        assert!(s.render().contains("requests    0 (0.0 req/s)"));
    }

    #[test]
    fn the_json_summary_is_one_line_with_the_mode_flattened() {
        let run = run_of(&[(201, 10)], 1, Duration::from_secs(1));
        let mode = Mode::Open {
            rate: 5000.0,
            max_in_flight: 64,
        };
        let s = Summary::new(
            "bookings",
            201,
            mode,
            Duration::from_secs(3),
            Some(Duration::from_secs(9)),
            &run,
        );
        let line = s.to_json_line().unwrap();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["mode"], "open");
        assert_eq!(v["rate"], 5000.0);
        assert_eq!(v["status_counts"]["201"], 10);
        assert_eq!(v["latency_ms"]["p99_9"], s.latency_ms.p99_9);
        assert_eq!(v["setup_s"], 9.0);
    }

    #[test]
    fn conflicts_on_a_non_conflicting_run_are_flagged_with_their_bodies() {
        let run = run_of(&[(201, 5), (409, 2), (503, 1)], 1, Duration::from_secs(1));
        let text = Summary::new(
            "bookings",
            201,
            Mode::Closed { concurrency: 2 },
            Duration::ZERO,
            None,
            &run,
        )
        .render();
        assert!(text.contains("409: 2"), "{text}");
        assert!(text.contains("5xx: 1"), "{text}");
        assert!(text.contains("WARNING"), "{text}");
        assert!(text.contains("409: {\"code\":\"x\"}"), "{text}");
    }
}
