//! One process's telemetry: the Prometheus recorder every part of the
//! process records into (the drivers, the gateway, the auditor), and the
//! readiness of the processors it runs.
//!
//! There is no global recorder: a [`Telemetry`] is passed down from the
//! composition root, so several platforms in one test process never share
//! counts. Handles are registered once ([`Telemetry::with`]) and then used
//! directly: recording through a handle is an atomic operation, with no
//! lookup and no allocation.

use metrics::Recorder;
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets of every `_seconds` histogram: 0.5 ms to 5 minutes (hold
/// expiry lateness and restores can take long; commits and decisions
/// take milliseconds).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0,
];

/// Buckets of every `_records` histogram (records per commit).
pub const RECORDS_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// How often histogram samples are folded into their buckets when nothing
/// scrapes (the recorder keeps raw samples until then).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Default of [`Readiness::max_lag`]: a processor is ready once each of its
/// input partitions is at most this many records behind its end.
pub const DEFAULT_READY_MAX_LAG: u64 = 100;

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    readiness: Readiness,
    born: Instant,
    /// Milliseconds after `born` of the last upkeep.
    upkept: AtomicU64,
}

/// The process's recorder and readiness; cheap to clone (shared).
#[derive(Clone)]
pub struct Telemetry(Arc<Inner>);

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("readiness", &self.0.readiness)
            .finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A fresh recorder ([`SECONDS_BUCKETS`], [`RECORDS_BUCKETS`]) with
    /// every metric of [`crate::internal_events`] described, and an empty
    /// readiness with the default bound.
    pub fn new() -> Self {
        let recorder = builder().build_recorder();
        let handle = recorder.handle();
        let t = Self(Arc::new(Inner {
            recorder,
            handle,
            readiness: Readiness::new(DEFAULT_READY_MAX_LAG),
            born: Instant::now(),
            upkept: AtomicU64::new(0),
        }));
        t.with(crate::internal_events::describe);
        t
    }

    /// Runs `f` with this recorder as the thread's recorder: the `metrics`
    /// macros inside register (or find) handles here. Register handles once
    /// and keep them; do not call this per record.
    pub fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.0.recorder as &dyn Recorder, f)
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.note_upkeep();
        self.0.handle.render()
    }

    /// Folds histogram samples into their buckets. [`Telemetry::render`]
    /// does it too; drivers call [`Telemetry::upkeep_if_due`] so memory
    /// stays bounded when nothing scrapes.
    pub fn upkeep(&self) {
        self.note_upkeep();
        self.0.handle.run_upkeep();
    }

    /// [`Telemetry::upkeep`] when the last one is more than 5 s old. Costs
    /// a clock read and an atomic load otherwise.
    pub fn upkeep_if_due(&self) {
        let now = self.0.born.elapsed().as_millis() as u64;
        let last = self.0.upkept.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= UPKEEP_EVERY.as_millis() as u64
            && self
                .0
                .upkept
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.0.handle.run_upkeep();
        }
    }

    fn note_upkeep(&self) {
        let now = self.0.born.elapsed().as_millis() as u64;
        self.0.upkept.store(now, Ordering::Relaxed);
    }

    /// Whether the processors of this process are ready.
    pub fn readiness(&self) -> &Readiness {
        &self.0.readiness
    }
}

fn builder() -> PrometheusBuilder {
    let b = PrometheusBuilder::new();
    // Both lists are non-empty constants; these cannot fail.
    let b = match b.set_buckets(SECONDS_BUCKETS) {
        Ok(b) => b,
        Err(_) => PrometheusBuilder::new(),
    };
    match b.set_buckets_for_metric(Matcher::Suffix("_records".into()), RECORDS_BUCKETS) {
        Ok(b) => b,
        Err(_) => PrometheusBuilder::new(),
    }
}

/// One group member's readiness flag, set by its driver.
#[derive(Clone, Debug)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// Marks the member ready or not.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether it is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// One member's readiness, as `/readyz` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberReadiness {
    /// Its consumer group.
    pub group: String,
    /// Its member index.
    pub member: u32,
    /// Restored and caught up.
    pub ready: bool,
    /// Whether the process's readiness waits for it.
    pub gates: bool,
}

/// The readiness of every processor (group member) of a process: ready
/// once each has restored the state of every partition assigned to it and
/// its consumer is at most [`Readiness::max_lag`] records behind the end
/// of each input partition. A process that runs no processor is ready.
/// Members of an [exempt](Readiness::exempt) group are listed but do not
/// gate it.
#[derive(Debug)]
pub struct Readiness {
    members: Mutex<Vec<(String, u32, ReadyFlag)>>,
    exempt: Mutex<Vec<String>>,
    max_lag: AtomicU64,
}

impl Readiness {
    fn new(max_lag: u64) -> Self {
        Self {
            members: Mutex::new(Vec::new()),
            exempt: Mutex::new(Vec::new()),
            max_lag: AtomicU64::new(max_lag),
        }
    }

    /// The lag bound, in records per input partition.
    pub fn max_lag(&self) -> u64 {
        self.max_lag.load(Ordering::Relaxed)
    }

    /// Sets the lag bound (the `ready_max_lag` setting).
    pub fn set_max_lag(&self, records: u64) {
        self.max_lag.store(records, Ordering::Relaxed);
    }

    /// The flag of `group`'s member `member`, registered (not ready) on
    /// first use. Register before the driver starts, so readiness never
    /// reports a processor that has not started yet as ready.
    pub fn member(&self, group: &str, member: u32) -> ReadyFlag {
        let mut members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, _, flag)) = members.iter().find(|(g, m, _)| g == group && *m == member) {
            return flag.clone();
        }
        let flag = ReadyFlag(Arc::new(AtomicBool::new(false)));
        members.push((group.to_owned(), member, flag.clone()));
        flag
    }

    /// Lists `group`'s members without waiting for them: for a processor
    /// off the request path (the auditor inside `slotstream up`, which may
    /// read a long history after an upgrade) that must not hold back the
    /// process it shares.
    pub fn exempt(&self, group: &str) {
        let mut exempt = self.exempt.lock().unwrap_or_else(PoisonError::into_inner);
        if !exempt.iter().any(|g| g == group) {
            exempt.push(group.to_owned());
        }
    }

    /// Every registered member and whether it is ready.
    pub fn members(&self) -> Vec<MemberReadiness> {
        let exempt = self.exempt.lock().unwrap_or_else(PoisonError::into_inner);
        self.members
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(g, m, f)| MemberReadiness {
                group: g.clone(),
                member: *m,
                ready: f.get(),
                gates: !exempt.contains(g),
            })
            .collect()
    }

    /// True when every registered member that gates readiness is ready.
    pub fn is_ready(&self) -> bool {
        self.members().iter().all(|m| m.ready || !m.gates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_telemetries_do_not_share_counts() {
        let a = Telemetry::new();
        let b = Telemetry::new();
        let c = a.with(|| metrics::counter!("slotstream_test_total", "group" => "g"));
        c.increment(3);
        assert!(a.render().contains("slotstream_test_total{group=\"g\"} 3"));
        assert!(!b.render().contains("slotstream_test_total"));
    }

    #[test]
    fn batch_sizes_get_record_buckets_and_latencies_second_buckets() {
        let t = Telemetry::new();
        let (h, s) = t.with(|| {
            (
                metrics::histogram!("slotstream_x_records"),
                metrics::histogram!("slotstream_x_seconds"),
            )
        });
        h.record(7.0);
        s.record(0.003);
        let text = t.render();
        assert!(
            text.contains("slotstream_x_records_bucket{le=\"10\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("slotstream_x_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_process_is_ready_once_every_registered_member_is() {
        let t = Telemetry::new();
        let r = t.readiness();
        assert!(r.is_ready(), "nothing registered: ready");
        let a = r.member("g1", 0);
        let b = r.member("g2", 0);
        assert!(!r.is_ready());
        a.set(true);
        assert!(!r.is_ready());
        b.set(true);
        assert!(r.is_ready());
        // The same member again is the same flag.
        r.member("g1", 0).set(false);
        assert!(!r.is_ready());
        assert_eq!(r.members().len(), 2);
        // An exempt group is listed but does not hold the process back.
        r.exempt("g1");
        assert!(r.is_ready());
        assert!(
            r.members()
                .iter()
                .any(|m| m.group == "g1" && !m.ready && !m.gates)
        );
    }
}
