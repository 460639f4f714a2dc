//! Internal events: everything the runtime reports about itself, each one
//! logged (tracing) and counted (the `metrics` facade, into the process's
//! [`Telemetry`]) by one call, so a log line and its metric never drift
//! apart.
//!
//! Handles are registered when a driver starts or a partition is assigned,
//! never per record: recording is an atomic add (counters, gauges) or a
//! push of one sample (histograms). Labels are bounded: group, topic,
//! partition, kind, outcome, reason; never an id.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `slotstream_consumer_lag` | gauge | group, topic, partition | records of the input partition this member has not read yet (refreshed every 200 ms and whenever a poll finds nothing) |
//! | `slotstream_records_processed_total` | counter | group, topic, partition | records processed and committed |
//! | `slotstream_commit_duration_seconds` | histogram | group | one commit (a transaction on Kafka, a group commit on the embedded log) |
//! | `slotstream_commit_batch_records` | histogram | group | records consumed per commit |
//! | `slotstream_transactions_aborted_total` | counter | group, reason (`transient`, `fenced`, `invalid`, `closed`) | commits that failed; the state is reloaded and the batch runs again (`invalid` and `closed` stop the processor) |
//! | `slotstream_dead_letters_total` | counter | group, topic (the source) | records sent to the dead-letter topic |
//! | `slotstream_effects_total` | counter | group, kind (`email`, `checkout`, `refund`, `reconcile`), outcome (`performed`, `retried`, `failed`) | side effects: done, one failed attempt that is retried (for a provider call after the commit: asked again by the payment's check timer), given up for good |
//! | `slotstream_restores_total` | counter | group, partition | state restores (assignment, reload after an abort) |
//! | `slotstream_restore_duration_seconds` | gauge | group, partition | how long the latest restore took |
//! | `slotstream_restored_records` | gauge | group, partition | state entries the latest restore loaded |
//! | `slotstream_decision_latency_seconds` | histogram | group, topic (a `-commands` topic) | a command's append (its timestamp) to the commit of its decision, per command |
//! | `slotstream_event_lag_seconds` | histogram | group, topic (an `-events` topic) | per commit, the age of its oldest event: how far the reaction (a view write, a payment intent, an email) trails the event; for the views groups, how far the views lag behind the events they project |
//! | `slotstream_timer_lateness_seconds` | histogram | group | per timer (a hold's expiry), its commit against its deadline |
//! | `slotstream_processor_ready` | gauge | group, member | 1 once the member is ready ([`crate::telemetry::Readiness`]) |
//! | `slotstream_audit_violations_total` | counter | kind | what the overlap auditor found |
//!
//! Latencies are measured on the platform clock against record timestamps
//! (milliseconds), the clock that stamped them.

use crate::log::{ConsumedRecord, LogError};
use crate::ports::Effect;
use crate::telemetry::{ReadyFlag, Telemetry};
use crate::topics::{self, TopicSpec};
use metrics::{Counter, Gauge, Histogram, Unit};
use slotstream_domain::Millis;
use std::time::Duration;

/// Describes every metric (HELP and unit lines); run once per recorder.
pub(crate) fn describe() {
    use metrics::{describe_counter as c, describe_gauge as g, describe_histogram as h};
    g!(
        "slotstream_consumer_lag",
        Unit::Count,
        "Records of the input partition this member has not read yet"
    );
    c!(
        "slotstream_records_processed_total",
        Unit::Count,
        "Records processed and committed"
    );
    h!(
        "slotstream_commit_duration_seconds",
        Unit::Seconds,
        "Duration of one commit (transaction)"
    );
    h!(
        "slotstream_commit_batch_records",
        Unit::Count,
        "Records consumed per commit"
    );
    c!(
        "slotstream_transactions_aborted_total",
        Unit::Count,
        "Commits that failed, by reason"
    );
    c!(
        "slotstream_dead_letters_total",
        Unit::Count,
        "Records sent to the dead-letter topic, by source topic"
    );
    c!(
        "slotstream_effects_total",
        Unit::Count,
        "Side effects by kind and outcome (performed, retried, failed)"
    );
    c!(
        "slotstream_restores_total",
        Unit::Count,
        "State restores per partition"
    );
    g!(
        "slotstream_restore_duration_seconds",
        Unit::Seconds,
        "Duration of the latest restore of the partition"
    );
    g!(
        "slotstream_restored_records",
        Unit::Count,
        "State entries loaded by the latest restore of the partition"
    );
    h!(
        "slotstream_decision_latency_seconds",
        Unit::Seconds,
        "Command appended to its decision committed"
    );
    h!(
        "slotstream_event_lag_seconds",
        Unit::Seconds,
        "Per commit, the age of its oldest input event"
    );
    h!(
        "slotstream_timer_lateness_seconds",
        Unit::Seconds,
        "Timer (hold expiry) committed against its deadline"
    );
    g!(
        "slotstream_processor_ready",
        Unit::Count,
        "1 when the group member is ready"
    );
    c!(
        "slotstream_audit_violations_total",
        Unit::Count,
        "Invariant violations the overlap auditor found, by kind"
    );
}

/// Why a commit failed, as a bounded label.
fn abort_reason(err: &LogError) -> usize {
    match err {
        LogError::Transient(_) => 0,
        LogError::Fenced(_) => 1,
        LogError::Invalid(_) => 2,
        LogError::Closed => 3,
    }
}

const ABORT_REASONS: [&str; 4] = ["transient", "fenced", "invalid", "closed"];
const EFFECT_KINDS: [&str; 4] = ["email", "checkout", "refund", "reconcile"];
const EFFECT_OUTCOMES: [&str; 3] = ["performed", "retried", "failed"];

fn effect_kind(effect: &Effect) -> usize {
    match effect {
        Effect::SendEmail(_) => 0,
        Effect::SubmitCheckout { .. } => 1,
        Effect::Refund { .. } => 2,
        Effect::ReconcilePayment { .. } => 3,
    }
}

/// Seconds in `ms` milliseconds (never negative: clocks of other hosts
/// may stamp records slightly ahead).
fn secs(ms: Millis) -> f64 {
    ms.max(0) as f64 / 1000.0
}

/// Per input topic.
#[derive(Debug)]
struct Input {
    spec: TopicSpec,
    /// `slotstream_decision_latency_seconds` (commands) or
    /// `slotstream_event_lag_seconds` (events).
    latency: Histogram,
    commands: bool,
    dead_letters: Counter,
}

/// Per assigned task partition, registered at its first assignment.
#[derive(Debug)]
struct Partition {
    /// Per input, in input order.
    lag: Vec<Gauge>,
    processed: Vec<Counter>,
    restores: Counter,
    restore_seconds: Gauge,
    restored_records: Gauge,
}

/// The events of one processor's driver (one group member). Built when
/// the driver starts; see the module docs for the metrics.
#[derive(Debug)]
pub struct GroupEvents {
    group: &'static str,
    telemetry: Telemetry,
    inputs: Vec<Input>,
    parts: Vec<Option<Partition>>,
    commit_seconds: Histogram,
    batch_records: Histogram,
    aborted: [Counter; 4],
    timer_lateness: Histogram,
    /// `[kind][outcome]`.
    effects: [[Counter; 3]; 4],
    ready: ReadyFlag,
    ready_gauge: Gauge,
    was_ready: bool,
}

impl GroupEvents {
    /// Registers the group's handles in `telemetry`; `ready` is this
    /// member's readiness flag.
    pub fn new(
        telemetry: &Telemetry,
        group: &'static str,
        member: u32,
        inputs: &[TopicSpec],
    ) -> Self {
        let ready = telemetry.readiness().member(group, member);
        let partitions = inputs.first().map_or(0, |t| t.partitions) as usize;
        telemetry.with(|| {
            let inputs = inputs
                .iter()
                .map(|spec| {
                    let commands = spec.name.ends_with("-commands");
                    let latency = if commands {
                        metrics::histogram!("slotstream_decision_latency_seconds", "group" => group, "topic" => spec.name)
                    } else {
                        metrics::histogram!("slotstream_event_lag_seconds", "group" => group, "topic" => spec.name)
                    };
                    Input {
                        spec: *spec,
                        latency,
                        commands,
                        dead_letters: metrics::counter!("slotstream_dead_letters_total", "group" => group, "topic" => spec.name),
                    }
                })
                .collect();
            let aborted = ABORT_REASONS.map(|reason| {
                metrics::counter!("slotstream_transactions_aborted_total", "group" => group, "reason" => reason)
            });
            let effects = EFFECT_KINDS.map(|kind| {
                EFFECT_OUTCOMES.map(|outcome| {
                    metrics::counter!("slotstream_effects_total", "group" => group, "kind" => kind, "outcome" => outcome)
                })
            });
            let ready_gauge = metrics::gauge!("slotstream_processor_ready", "group" => group, "member" => member.to_string());
            ready_gauge.set(0.0);
            Self {
                group,
                telemetry: telemetry.clone(),
                inputs,
                parts: (0..partitions).map(|_| None).collect(),
                commit_seconds: metrics::histogram!("slotstream_commit_duration_seconds", "group" => group),
                batch_records: metrics::histogram!("slotstream_commit_batch_records", "group" => group),
                aborted,
                timer_lateness: metrics::histogram!("slotstream_timer_lateness_seconds", "group" => group),
                effects,
                ready,
                ready_gauge,
                was_ready: false,
            }
        })
    }

    /// The group id.
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// Number of input topics.
    pub fn inputs(&self) -> usize {
        self.inputs.len()
    }

    /// Number of task partitions.
    pub fn partitions(&self) -> u32 {
        self.parts.len() as u32
    }

    /// The input index of `topic`, if the group reads it.
    pub fn input_index(&self, topic: &str) -> Option<usize> {
        self.inputs.iter().position(|i| i.spec.name == topic)
    }

    /// The name of input `idx`.
    pub fn input_name(&self, idx: usize) -> &'static str {
        self.inputs[idx].spec.name
    }

    /// Whether input `idx` is a command topic (its latency is a decision
    /// latency, recorded per record).
    pub fn is_command_input(&self, idx: usize) -> bool {
        self.inputs[idx].commands
    }

    /// Task partitions now ours, about to be restored; registers their
    /// handles on first use.
    pub fn assigned(&mut self, parts: &[u32]) {
        let group = self.group;
        for &p in parts {
            let Some(slot) = self.parts.get_mut(p as usize) else {
                continue;
            };
            if slot.is_none() {
                let inputs: Vec<&'static str> = self.inputs.iter().map(|i| i.spec.name).collect();
                *slot = Some(self.telemetry.with(|| {
                    let partition = p.to_string();
                    Partition {
                        lag: inputs
                            .iter()
                            .map(|&t| metrics::gauge!("slotstream_consumer_lag", "group" => group, "topic" => t, "partition" => partition.clone()))
                            .collect(),
                        processed: inputs
                            .iter()
                            .map(|&t| metrics::counter!("slotstream_records_processed_total", "group" => group, "topic" => t, "partition" => partition.clone()))
                            .collect(),
                        restores: metrics::counter!("slotstream_restores_total", "group" => group, "partition" => partition.clone()),
                        restore_seconds: metrics::gauge!("slotstream_restore_duration_seconds", "group" => group, "partition" => partition.clone()),
                        restored_records: metrics::gauge!("slotstream_restored_records", "group" => group, "partition" => partition.clone()),
                    }
                }));
            }
        }
        tracing::info!(group, partitions = ?parts, "assigned; restoring their state");
    }

    /// Task partitions that moved elsewhere: their lag is no longer ours
    /// (set to 0, so sums over members stay right).
    pub fn revoked(&mut self, parts: &[u32]) {
        for &p in parts {
            if let Some(Some(part)) = self.parts.get(p as usize) {
                for g in &part.lag {
                    g.set(0.0);
                }
            }
        }
        tracing::info!(group = self.group, partitions = ?parts, "revoked");
    }

    /// The state of `partition` was restored: `records` entries in `took`.
    pub fn restored(&self, partition: u32, records: usize, took: Duration) {
        tracing::debug!(
            group = self.group,
            partition,
            records,
            ms = took.as_secs_f64() * 1e3,
            "state restored"
        );
        if let Some(Some(part)) = self.parts.get(partition as usize) {
            part.restores.increment(1);
            part.restore_seconds.set(took.as_secs_f64());
            part.restored_records.set(records as f64);
        }
    }

    /// `count` records of input `input`, partition `partition`, were
    /// processed and their results committed.
    pub fn processed(&self, input: usize, partition: u32, count: u64) {
        if let Some(Some(part)) = self.parts.get(partition as usize)
            && let Some(c) = part.processed.get(input)
        {
            c.increment(count);
        }
    }

    /// A commit succeeded after `took`, covering `records` consumed records
    /// (zero for a commit of timers alone).
    pub fn committed(&self, records: usize, took: Duration) {
        tracing::trace!(
            group = self.group,
            records,
            ms = took.as_secs_f64() * 1e3,
            "committed"
        );
        self.commit_seconds.record(took.as_secs_f64());
        if records > 0 {
            self.batch_records.record(records as f64);
        }
    }

    /// A commit failed with `err`; nothing of it is visible.
    pub fn aborted(&self, err: &LogError) {
        let reason = abort_reason(err);
        tracing::warn!(group = self.group, error = %err, reason = ABORT_REASONS[reason], "commit failed; reloading state");
        self.aborted[reason].increment(1);
    }

    /// `record` could not be read and went to the dead-letter topic.
    pub fn dead_lettered(&self, record: &ConsumedRecord, reason: &str) {
        tracing::warn!(group = self.group, topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "dead-lettered");
        if let Some(i) = self.input_index(&record.topic) {
            self.inputs[i].dead_letters.increment(1);
        }
    }

    /// An effect succeeded.
    pub fn effect_performed(&self, effect: &Effect) {
        tracing::trace!(group = self.group, effect = %effect.describe(), "effect performed");
        self.effects[effect_kind(effect)][0].increment(1);
    }

    /// An effect failed for now; it is retried after `backoff`.
    pub fn effect_retried(&self, effect: &Effect, reason: &str, backoff: Duration) {
        tracing::warn!(group = self.group, effect = %effect.describe(), %reason, ?backoff, "effect failed; retrying");
        self.effects[effect_kind(effect)][1].increment(1);
    }

    /// An effect can never succeed; it is skipped.
    pub fn effect_failed(&self, effect: &Effect, reason: &str) {
        tracing::error!(group = self.group, effect = %effect.describe(), %reason, "effect failed permanently; skipped");
        self.effects[effect_kind(effect)][2].increment(1);
    }

    /// A timer due at `deadline` had its outcome committed at `now`.
    pub fn timer_fired(&self, deadline: Millis, now: Millis) {
        tracing::debug!(group = self.group, late_ms = now - deadline, "timer fired");
        self.timer_lateness.record(secs(now - deadline));
    }

    /// `count` records of input `input` stamped `timestamp` had their
    /// decisions committed at `now` (commands), or the oldest event of a
    /// commit was stamped `timestamp` (events; `count` is 1).
    pub fn latency(&self, input: usize, timestamp: Millis, now: Millis, count: usize) {
        self.inputs[input]
            .latency
            .record_many(secs(now - timestamp), count);
    }

    /// This member is `lag` records behind the end of `partition` of input
    /// `input`.
    pub fn lag(&self, input: usize, partition: u32, lag: u64) {
        if let Some(Some(part)) = self.parts.get(partition as usize)
            && let Some(g) = part.lag.get(input)
        {
            g.set(lag as f64);
        }
    }

    /// Whether the member is ready; logged when it changes.
    pub fn ready(&mut self, ready: bool) {
        if ready != self.was_ready {
            self.was_ready = ready;
            if ready {
                tracing::info!(
                    group = self.group,
                    "ready: state restored, consumer caught up"
                );
            } else {
                tracing::info!(group = self.group, "not ready");
            }
            self.ready.set(ready);
            self.ready_gauge.set(if ready { 1.0 } else { 0.0 });
        }
    }

    /// The process's telemetry (for upkeep).
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
}

impl Drop for GroupEvents {
    /// A driver that stopped, cleanly or not, is not ready.
    fn drop(&mut self) {
        self.ready.set(false);
        self.ready_gauge.set(0.0);
    }
}

/// The overlap auditor's events.
#[derive(Debug, Clone)]
pub struct AuditEvents {
    kinds: Vec<(&'static str, Counter)>,
}

impl AuditEvents {
    /// Registers `slotstream_audit_violations_total` for each of `kinds`
    /// (so every kind shows, at zero, before anything is found).
    pub fn new(telemetry: &Telemetry, kinds: &[&'static str]) -> Self {
        telemetry.with(|| Self {
            kinds: kinds
                .iter()
                .map(|&k| {
                    (
                        k,
                        metrics::counter!("slotstream_audit_violations_total", "kind" => k),
                    )
                })
                .collect(),
        })
    }

    /// A violation of `kind`, described by `detail` (positions, never
    /// personal data).
    pub fn violation(&self, kind: &'static str, detail: &dyn std::fmt::Display) {
        tracing::warn!(kind, %detail, "audit violation");
        if let Some((_, c)) = self.kinds.iter().find(|(k, _)| *k == kind) {
            c.increment(1);
        }
    }
}

/// Whether `group` is one of the platform's view groups (its event lag is
/// the views' lag).
pub fn is_view_group(group: &str) -> bool {
    topics::groups::VIEWS.iter().any(|g| g.name == group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric_line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn one_call_counts_and_handles_are_per_partition_with_bounded_labels() {
        let t = Telemetry::new();
        let mut ev = GroupEvents::new(
            &t,
            "slotstream.booking",
            0,
            &[topics::BOOKING_COMMANDS, topics::PAYMENT_EVENTS],
        );
        ev.assigned(&[3]);
        ev.restored(3, 42, Duration::from_millis(7));
        ev.processed(0, 3, 5);
        ev.processed(1, 3, 2);
        ev.lag(0, 3, 9);
        ev.committed(7, Duration::from_millis(2));
        ev.latency(0, 1_000, 1_500, 5);
        ev.aborted(&LogError::Fenced("zombie".into()));
        ev.effect_retried(
            &Effect::Refund {
                payment_id: slotstream_domain::PaymentId::new("p"),
                resource_id: slotstream_domain::ResourceId::new("r1"),
                refund_id: "r".into(),
                amount: slotstream_domain::Money::new(1, "EUR"),
            },
            "down",
            Duration::from_millis(50),
        );
        ev.ready(true);
        let text = t.render();
        for want in [
            r#"slotstream_restores_total{group="slotstream.booking",partition="3"} 1"#,
            r#"slotstream_restored_records{group="slotstream.booking",partition="3"} 42"#,
            r#"slotstream_records_processed_total{group="slotstream.booking",topic="slotstream.booking-commands",partition="3"} 5"#,
            r#"slotstream_records_processed_total{group="slotstream.booking",topic="slotstream.payment-events",partition="3"} 2"#,
            r#"slotstream_consumer_lag{group="slotstream.booking",topic="slotstream.booking-commands",partition="3"} 9"#,
            r#"slotstream_decision_latency_seconds_count{group="slotstream.booking",topic="slotstream.booking-commands"} 5"#,
            r#"slotstream_decision_latency_seconds_sum{group="slotstream.booking",topic="slotstream.booking-commands"} 2.5"#,
            r#"slotstream_commit_batch_records_count{group="slotstream.booking"} 1"#,
            r#"slotstream_transactions_aborted_total{group="slotstream.booking",reason="fenced"} 1"#,
            r#"slotstream_effects_total{group="slotstream.booking",kind="refund",outcome="retried"} 1"#,
            r#"slotstream_processor_ready{group="slotstream.booking",member="0"} 1"#,
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        // Only the assigned partition has series.
        assert!(
            metric_line(
                &text,
                r#"slotstream_restores_total{group="slotstream.booking",partition="0"}"#
            )
            .is_none()
        );
        assert!(t.readiness().is_ready());
    }

    #[test]
    fn audit_kinds_show_at_zero_and_count() {
        let t = Telemetry::new();
        let a = AuditEvents::new(&t, &["overlap", "hold_late"]);
        a.violation("overlap", &"booking-events[0]@1 and @2");
        let text = t.render();
        assert!(
            text.contains(r#"slotstream_audit_violations_total{kind="overlap"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"slotstream_audit_violations_total{kind="hold_late"} 0"#),
            "{text}"
        );
    }
}
