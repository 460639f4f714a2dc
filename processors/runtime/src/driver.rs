//! The processor driver: poll a batch, run the processor over it, perform the
//! effects it asked for, commit outputs + state + views + offsets in one
//! transaction, fire due timers. One driver per group member.
//!
//! Batching is what makes it fast: one commit (one fsync on the embedded log,
//! one transaction on Kafka) covers up to `max_batch` records. A driver can
//! also *linger*: when a poll returns a small batch it keeps polling for up to
//! [`DriverConfig::linger`] before processing, so it commits less often with
//! bigger batches (for processors no request waits on). Lingering only delays
//! a batch; what is processed, and the one atomic commit per batch, are
//! unchanged.
//!
//! Every driver reports what it does through [`GroupEvents`]
//! (`crate::internal_events`): lag, records processed, commit latency and
//! batch size, aborts, dead letters, effects, restores, decision latency,
//! timer lateness, and its readiness. Counts are kept per batch (one add
//! per touched partition), latencies per commit; only command records get
//! one latency sample each, merged by timestamp.
//!
//! Traces (`crate::trace`): when spans are on, each record is processed in a
//! span that continues the record's `traceparent`, the records that step
//! produces carry that span's context, and its effects run in child spans.
//! When off, one check per batch, and a record's trace context is passed on
//! to its outputs unchanged.

use crate::clock::Clock;
use crate::internal_events::GroupEvents;
use crate::log::Headers;
use crate::log::{
    Backend, ConsumedRecord, LogError, OutRecord, Poll, Session, TopicPartition, Transaction,
};
use crate::ports::{Effect, EffectError, EffectReport, Mailer, PaymentProvider, ProviderStatus};
use crate::processor::{Output, Poison, Processor};
use crate::telemetry::Telemetry;
use crate::trace;
use slotstream_domain::Millis;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{Instrument as _, Span};

/// How often lag is refreshed while records keep coming (an empty poll
/// refreshes it at once).
const LAG_EVERY: Duration = Duration::from_millis(200);

/// Turns a record no processor can read into a dead-letter record.
pub type DeadLetterEncoder =
    Arc<dyn Fn(&ConsumedRecord, &Poison, Millis) -> OutRecord + Send + Sync>;

/// How a driver runs.
#[derive(Clone)]
pub struct DriverConfig {
    /// Most records per transaction.
    pub max_batch: usize,
    /// Longest wait for records before checking timers and shutdown.
    pub max_wait: Duration,
    /// This member's index in a static split (embedded backend).
    pub member: u32,
    /// Number of members in a static split.
    pub members: u32,
    /// How poison records are written to the dead-letter topic.
    pub dead_letter: DeadLetterEncoder,
    /// How long to keep polling for more records when a poll returned fewer
    /// than `max_batch` (default zero: process at once). Worth setting only
    /// for processors no request waits on; it delays their output by up to
    /// this much.
    pub linger: Duration,
    /// Where the driver's metrics and readiness go (the process's one
    /// recorder; a private one by default).
    pub telemetry: Telemetry,
    /// How long one effect performed after the commit (a provider call)
    /// may take before it counts as failed (its retry is the processor's
    /// own timer).
    pub effect_timeout: Duration,
}

impl std::fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("max_batch", &self.max_batch)
            .field("max_wait", &self.max_wait)
            .field("member", &self.member)
            .field("members", &self.members)
            .field("linger", &self.linger)
            .field("effect_timeout", &self.effect_timeout)
            .finish_non_exhaustive()
    }
}

impl DriverConfig {
    /// Defaults: batches of 1024, 50 ms waits, one member, no linger, 10 s
    /// for a provider call after the commit.
    pub fn new(dead_letter: DeadLetterEncoder) -> Self {
        Self {
            max_batch: 1024,
            max_wait: Duration::from_millis(50),
            member: 0,
            members: 1,
            dead_letter,
            linger: Duration::ZERO,
            telemetry: Telemetry::new(),
            effect_timeout: Duration::from_secs(10),
        }
    }
}

/// The side-effect ports a driver may need.
#[derive(Clone, Debug, Default)]
pub struct EffectPorts {
    /// For `Effect::SendEmail`.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// For checkout and refund effects.
    pub payments: Option<Arc<dyn PaymentProvider>>,
}

/// Runs `processor` until `shutdown` turns true, then returns after the batch
/// in flight is committed.
pub async fn run<P: Processor>(
    mut processor: P,
    backend: Arc<dyn Backend>,
    ports: EffectPorts,
    clock: Arc<dyn Clock>,
    cfg: DriverConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), LogError> {
    let group = processor.group();
    let inputs = processor.inputs();
    let mut events = GroupEvents::new(&cfg.telemetry, group, cfg.member, &inputs);
    let mut session = backend
        .subscribe(group, &inputs, cfg.member, cfg.members)
        .await?;
    let mut owned: BTreeSet<u32> = BTreeSet::new();
    let linger = cfg.linger;
    // A poll result that arrived while lingering, handled next round.
    let mut pending: Option<Poll> = None;
    let mut tally = Tally::new(&events);
    let mut catch_up = CatchUp::new(&events);
    let max_lag = cfg.telemetry.readiness().max_lag();
    let mut lag_at = Instant::now();
    let mut later = AfterCommit::new(ports.clone(), cfg.effect_timeout);
    tracing::info!(group, ?linger, "processor started");

    loop {
        if *shutdown.borrow() {
            break;
        }
        events.telemetry().upkeep_if_due();
        // What effects performed after earlier commits learnt, then due
        // timers: an expiry that is due is decided before newer commands.
        let now = clock.now();
        let mut out = Output::default();
        later.collect(&mut processor, &owned, now, &mut out, &events);
        let mut next_deadline: Option<Millis> = None;
        let mut spans = EffectSpans::default();
        for &p in &owned {
            if let Some(d) = processor.next_deadline(p) {
                if d <= now {
                    let span = trace::timer_span(group, p);
                    let marks = Marks::of(&out);
                    span.in_scope(|| processor.on_timer(p, now, &mut out));
                    spans.note(&span, &Headers::new(), &marks, &mut out);
                }
                if let Some(d) = processor.next_deadline(p) {
                    next_deadline = Some(next_deadline.map_or(d, |n: Millis| n.min(d)));
                }
            }
        }
        processor.before_commit(&mut out);
        if !out.is_empty() {
            let fired = std::mem::take(&mut out.fired);
            let deferred = std::mem::take(&mut out.after_commit);
            let Some(txn) = finish(out, &spans, Vec::new(), &ports, &shutdown, &events).await
            else {
                break;
            };
            let started = Instant::now();
            // Effects alone leave nothing to commit.
            let committing = !txn.is_empty();
            if let Err(e) = commit(&mut *session, txn).await {
                events.aborted(&e);
                recover(&mut processor, &mut *session, &owned, e, &events).await?;
                catch_up.restart(&owned, &mut events);
                continue;
            }
            if committing {
                events.committed(0, started.elapsed());
            }
            later.spawn(deferred, &spans);
            let now = clock.now();
            for deadline in fired {
                events.timer_fired(deadline, now);
            }
        }

        let mut wait = cfg.max_wait;
        if let Some(d) = next_deadline {
            let until = (d - clock.now()).max(1);
            wait = wait.min(Duration::from_millis(until as u64));
        }
        let polled = match pending.take() {
            Some(p) => Ok(p),
            None => tokio::select! {
                r = session.poll(cfg.max_batch, wait) => r,
                _ = shutdown.changed() => break,
            },
        };
        let polled = match polled {
            Ok(p) => p,
            // A broker or disk hiccup: back off and poll again from the
            // session's positions rather than stop the processor.
            Err(e) if e.is_retryable() => {
                tracing::warn!(group, error = %e, "poll failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = shutdown.changed() => break,
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut refresh = false;
        match polled {
            Poll::Idle => refresh = true,
            Poll::Assigned(parts) => {
                events.assigned(&parts);
                for &p in &parts {
                    let started = Instant::now();
                    let state = session.restore(p).await?;
                    let entries = state.len();
                    processor
                        .restore(p, state)
                        .map_err(|e| LogError::Invalid(format!("restoring {group}[{p}]: {e}")))?;
                    events.restored(p, entries, started.elapsed());
                    owned.insert(p);
                }
                catch_up.assigned(&parts, &mut events);
                refresh = true;
            }
            Poll::Revoked(parts) => {
                for &p in &parts {
                    processor.revoke(p);
                    owned.remove(&p);
                }
                events.revoked(&parts);
                catch_up.revoked(&parts);
            }
            Poll::Records(mut records) => {
                if !linger.is_zero() && records.len() < cfg.max_batch {
                    pending = linger_for_more(
                        &mut *session,
                        &mut records,
                        cfg.max_batch,
                        linger,
                        &mut shutdown,
                    )
                    .await;
                }
                let now = clock.now();
                let mut out = Output::default();
                let mut spans = EffectSpans::default();
                // Asked once per batch: with no exporter the records below
                // open no span at all (ARCHITECTURE.md, "Traces").
                let traced = trace::enabled();
                tally.clear();
                for r in &records {
                    let marks = Marks::of(&out);
                    // Consume → decide → produce of one record is one span.
                    let span = if traced {
                        trace::record_span(group, r)
                    } else {
                        Span::none()
                    };
                    let decided = if traced {
                        span.in_scope(|| processor.process(r, now, &mut out))
                    } else {
                        processor.process(r, now, &mut out)
                    };
                    if let Err(poison) = decided {
                        events.dead_lettered(r, &poison.reason);
                        out.records.push((cfg.dead_letter)(r, &poison, now));
                    }
                    if traced || !r.headers.is_empty() {
                        spans.note(&span, &r.headers, &marks, &mut out);
                    }
                    tally.note(&events, r);
                }
                processor.before_commit(&mut out);
                let fired = std::mem::take(&mut out.fired);
                let deferred = std::mem::take(&mut out.after_commit);
                let offsets = tally.offsets(&events);
                let Some(txn) = finish(out, &spans, offsets, &ports, &shutdown, &events).await
                else {
                    break;
                };
                let started = Instant::now();
                match commit(&mut *session, txn).await {
                    Ok(()) => {
                        events.committed(records.len(), started.elapsed());
                        later.spawn(deferred, &spans);
                        let now = clock.now();
                        tally.report(&events, now);
                        for deadline in fired {
                            events.timer_fired(deadline, now);
                        }
                    }
                    Err(e) => {
                        events.aborted(&e);
                        recover(&mut processor, &mut *session, &owned, e, &events).await?;
                        catch_up.restart(&owned, &mut events);
                        refresh = true;
                    }
                }
            }
        }
        if refresh || lag_at.elapsed() >= LAG_EVERY {
            catch_up.refresh(&*session, &mut events, max_lag);
            lag_at = Instant::now();
        }
    }
    events.ready(false);
    tracing::info!(group, "processor stopped");
    Ok(())
}

/// What one batch consumed, per input partition: the next offset to commit,
/// how many records, and the timestamps its latencies are measured from.
/// Reused across batches (no allocation per record).
#[derive(Debug)]
struct Tally {
    partitions: usize,
    /// `(next offset, records)` per `input * partitions + partition`.
    slots: Vec<(u64, u64)>,
    touched: Vec<usize>,
    /// Command records as runs of one input and timestamp: `(input, ts, n)`.
    runs: Vec<(usize, Millis, usize)>,
    /// The oldest timestamp per event input in this batch.
    oldest: Vec<Option<Millis>>,
    /// Records of a topic the group does not declare (not expected; kept
    /// so their offsets are still committed).
    strays: BTreeMap<(Arc<str>, u32), u64>,
}

impl Tally {
    fn new(events: &GroupEvents) -> Self {
        let partitions = events.partitions() as usize;
        Self {
            partitions,
            slots: vec![(0, 0); partitions * events.inputs()],
            touched: Vec::new(),
            runs: Vec::new(),
            oldest: vec![None; events.inputs()],
            strays: BTreeMap::new(),
        }
    }

    fn clear(&mut self) {
        for &i in &self.touched {
            self.slots[i] = (0, 0);
        }
        self.touched.clear();
        self.runs.clear();
        self.oldest.iter_mut().for_each(|o| *o = None);
        self.strays.clear();
    }

    fn note(&mut self, events: &GroupEvents, r: &ConsumedRecord) {
        let p = r.partition as usize;
        let Some(input) = events.input_index(&r.topic).filter(|_| p < self.partitions) else {
            self.strays
                .insert((r.topic.clone(), r.partition), r.offset + 1);
            return;
        };
        let i = input * self.partitions + p;
        let slot = &mut self.slots[i];
        if slot.1 == 0 {
            self.touched.push(i);
        }
        *slot = (r.offset + 1, slot.1 + 1);
        if events.is_command_input(input) {
            match self.runs.last_mut() {
                Some((x, ts, n)) if *x == input && *ts == r.timestamp => *n += 1,
                _ => self.runs.push((input, r.timestamp, 1)),
            }
        } else {
            let o = &mut self.oldest[input];
            *o = Some(o.map_or(r.timestamp, |t| t.min(r.timestamp)));
        }
    }

    /// The positions to commit, ordered by topic and partition.
    fn offsets(&mut self, events: &GroupEvents) -> Vec<(TopicPartition, u64)> {
        let n = self.partitions;
        self.touched
            .sort_by_key(|&i| (events.input_name(i / n), i % n));
        let mut out: Vec<(TopicPartition, u64)> = self
            .touched
            .iter()
            .map(|&i| {
                let tp = TopicPartition::new(events.input_name(i / n), (i % n) as u32);
                (tp, self.slots[i].0)
            })
            .collect();
        out.extend(
            self.strays
                .iter()
                .map(|((t, p), o)| (TopicPartition::new(&**t, *p), *o)),
        );
        out
    }

    /// After the commit at `now`: records processed and their latencies.
    fn report(&self, events: &GroupEvents, now: Millis) {
        let n = self.partitions;
        for &i in &self.touched {
            events.processed(i / n, (i % n) as u32, self.slots[i].1);
        }
        for &(input, ts, count) in &self.runs {
            events.latency(input, ts, now, count);
        }
        for (input, oldest) in self.oldest.iter().enumerate() {
            if let Some(ts) = oldest {
                events.latency(input, *ts, now, 1);
            }
        }
    }
}

/// Readiness: the member is ready once it has been assigned partitions,
/// restored them, and read each of their inputs to within the bound.
#[derive(Debug)]
struct CatchUp {
    /// Assigned partitions not caught up yet.
    pending: BTreeSet<u32>,
    /// Whether any assignment arrived yet.
    assigned: bool,
    inputs: usize,
    /// Per partition, during a refresh: inputs reported, and whether one
    /// is behind the bound.
    reported: Vec<(usize, bool)>,
}

impl CatchUp {
    fn new(events: &GroupEvents) -> Self {
        Self {
            pending: BTreeSet::new(),
            assigned: false,
            inputs: events.inputs(),
            reported: vec![(0, false); events.partitions() as usize],
        }
    }

    fn assigned(&mut self, parts: &[u32], events: &mut GroupEvents) {
        self.assigned = true;
        self.pending.extend(parts.iter().copied());
        events.ready(self.pending.is_empty());
    }

    fn revoked(&mut self, parts: &[u32]) {
        for p in parts {
            self.pending.remove(p);
        }
    }

    /// The state was reloaded: every partition catches up again.
    fn restart(&mut self, owned: &BTreeSet<u32>, events: &mut GroupEvents) {
        self.pending.extend(owned.iter().copied());
        events.ready(false);
    }

    /// Reads the session's lag into the gauges and re-evaluates readiness.
    fn refresh(&mut self, session: &dyn Session, events: &mut GroupEvents, max_lag: u64) {
        self.reported.iter_mut().for_each(|r| *r = (0, false));
        let reported = &mut self.reported;
        let ev: &GroupEvents = events;
        let known = session.lag(&mut |topic, p, lag| {
            if let Some(input) = ev.input_index(topic) {
                ev.lag(input, p, lag);
                if let Some(r) = reported.get_mut(p as usize) {
                    r.0 += 1;
                    r.1 |= lag > max_lag;
                }
            }
        });
        if known {
            let (reported, inputs) = (&self.reported, self.inputs);
            self.pending.retain(|&p| {
                reported
                    .get(p as usize)
                    .is_none_or(|&(n, behind)| n < inputs || behind)
            });
        } else {
            self.pending.clear();
        }
        events.ready(self.assigned && self.pending.is_empty());
    }
}

/// Keeps polling into `records` until `max` records, `linger` elapsed, an
/// empty poll, or shutdown. Returns a non-record poll result (an assignment
/// change) for the caller to handle after this batch. A poll error ends the
/// linger; the next regular poll meets it again.
async fn linger_for_more(
    session: &mut dyn Session,
    records: &mut Vec<ConsumedRecord>,
    max: usize,
    linger: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<Poll> {
    let until = Instant::now() + linger;
    while records.len() < max {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let polled = tokio::select! {
            r = session.poll(max - records.len(), left) => r,
            _ = shutdown.changed() => break,
        };
        match polled {
            Ok(Poll::Records(more)) => records.extend(more),
            Ok(Poll::Idle) => break,
            Ok(other) => return Some(other),
            Err(e) => {
                tracing::debug!(error = %e, "poll failed while lingering; processing what we have");
                break;
            }
        }
    }
    None
}

/// Where one step's outputs start in the batch's [`Output`].
#[derive(Debug, Clone, Copy)]
struct Marks {
    records: usize,
    effects: usize,
    after_commit: usize,
}

impl Marks {
    fn of(out: &Output) -> Self {
        Self {
            records: out.records.len(),
            effects: out.effects.len(),
            after_commit: out.after_commit.len(),
        }
    }
}

/// The span each effect of a batch was asked for in, by effect index (the
/// effects before the commit, then those after it). Stays empty (no
/// allocation) while spans are off.
#[derive(Debug, Default)]
struct EffectSpans(Vec<(usize, Span)>, Vec<(usize, Span)>);

impl EffectSpans {
    /// After one step (`span`, reading a record with `input` headers):
    /// stamps the records it produced with its trace context, and
    /// remembers its span for the effects it asked for.
    fn note(&mut self, span: &Span, input: &Headers, from: &Marks, out: &mut Output) {
        trace::stamp(span, input, &mut out.records[from.records..]);
        if !span.is_disabled() {
            self.0
                .extend((from.effects..out.effects.len()).map(|i| (i, span.clone())));
            self.1
                .extend((from.after_commit..out.after_commit.len()).map(|i| (i, span.clone())));
        }
    }

    /// The parent span of effect `i` (before the commit), if it was traced.
    fn of(&self, i: usize) -> Option<&Span> {
        Self::find(&self.0, i)
    }

    /// The parent span of after-commit effect `i`, if it was traced.
    fn of_after(&self, i: usize) -> Option<&Span> {
        Self::find(&self.1, i)
    }

    fn find(spans: &[(usize, Span)], i: usize) -> Option<&Span> {
        spans
            .binary_search_by_key(&i, |(e, _)| *e)
            .ok()
            .map(|k| &spans[k].1)
    }
}

/// Most effects of one batch in flight at once.
const EFFECT_CONCURRENCY: usize = 64;

/// Performs the effects, then packs the transaction. `None` when shutdown
/// interrupted an effect: nothing may be committed, the batch runs again
/// after restart (effects are idempotent by key).
async fn finish(
    out: Output,
    spans: &EffectSpans,
    offsets: Vec<(TopicPartition, u64)>,
    ports: &EffectPorts,
    shutdown: &watch::Receiver<bool>,
    events: &GroupEvents,
) -> Option<Transaction> {
    // Effects of one batch are independent (distinct idempotency keys): run
    // them concurrently, so a batch of emails costs one round of fsyncs or
    // SMTP round trips, not one per email.
    use futures_util::StreamExt;
    // Futures built up front: a `map` closure inside the stream would trip
    // the compiler's higher-ranked lifetime check under `tokio::spawn`.
    let pending: Vec<_> = out
        .effects
        .iter()
        .enumerate()
        .map(|(i, effect)| {
            let span = spans.of(i).map_or_else(Span::none, |parent| {
                trace::effect_span(parent, effect.kind())
            });
            perform(effect, ports, shutdown.clone(), events).instrument(span)
        })
        .collect();
    let results: Vec<bool> = futures_util::stream::iter(pending)
        .buffer_unordered(EFFECT_CONCURRENCY)
        .collect()
        .await;
    if results.iter().any(|done| !done) {
        return None;
    }
    Some(Transaction {
        outputs: out.records,
        state: out.state,
        views: out.views,
        offsets,
    })
}

async fn commit(session: &mut dyn Session, txn: Transaction) -> Result<(), LogError> {
    if txn.is_empty() {
        return Ok(());
    }
    session.commit(txn).await
}

/// After a failed commit the processor's memory is ahead of what was stored:
/// throw it away and reload every partition from the store. The session has
/// rewound to its committed offsets, so the batch is processed again.
async fn recover<P: Processor>(
    processor: &mut P,
    session: &mut dyn Session,
    owned: &BTreeSet<u32>,
    err: LogError,
    events: &GroupEvents,
) -> Result<(), LogError> {
    if !err.is_retryable() && !matches!(err, LogError::Fenced(_)) {
        return Err(err);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for &p in owned {
        processor.revoke(p);
        let started = Instant::now();
        let state = session.restore(p).await?;
        let entries = state.len();
        processor
            .restore(p, state)
            .map_err(|e| LogError::Invalid(format!("restoring partition {p}: {e}")))?;
        events.restored(p, entries, started.elapsed());
    }
    Ok(())
}

/// Runs one effect until it succeeds or fails for good. Transient failures
/// back off up to 5 s and retry: a mail server outage stalls this processor
/// (losing nothing) instead of dropping email. False when shutdown came first.
async fn perform(
    effect: &Effect,
    ports: &EffectPorts,
    mut shutdown: watch::Receiver<bool>,
    events: &GroupEvents,
) -> bool {
    let mut backoff = Duration::from_millis(50);
    loop {
        let result = match effect {
            Effect::SendEmail(email) => match &ports.mailer {
                Some(m) => m.send(email).await,
                None => Err(EffectError::Permanent("no mailer configured".into())),
            },
            Effect::SubmitCheckout {
                payment_id,
                resource_id,
                outcome,
            } => match &ports.payments {
                Some(p) => p.submit_checkout(payment_id, resource_id, *outcome).await,
                None => Err(EffectError::Permanent(
                    "no payment provider configured".into(),
                )),
            },
            Effect::Refund {
                payment_id,
                refund_id,
                amount,
                ..
            } => match &ports.payments {
                Some(p) => p.refund(payment_id, refund_id, amount).await,
                None => Err(EffectError::Permanent(
                    "no payment provider configured".into(),
                )),
            },
            Effect::ReconcilePayment { .. } => call(effect, ports).await.map(|_| ()),
        };
        match result {
            Ok(()) => {
                events.effect_performed(effect);
                return true;
            }
            Err(EffectError::Permanent(reason)) => {
                events.effect_failed(effect, &reason);
                return true;
            }
            Err(EffectError::Transient(reason)) => {
                if *shutdown.borrow() {
                    // Not committed: the effect is retried after restart.
                    tracing::warn!(%reason, "effect still failing at shutdown");
                    return false;
                }
                events.effect_retried(effect, &reason, backoff);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Most effects performed after the commit in flight at once, per driver.
const AFTER_COMMIT_CONCURRENCY: usize = 256;

/// An effect performed after the commit, and how it went.
type Finished = (u32, Effect, Result<Option<EffectReport>, String>);

/// The effects performed after their commit ([`Effect::after_commit`]):
/// each runs once on its own task, bounded by a timeout, so a provider that
/// hangs holds back only the payments it was asked about. What they learn
/// comes back through a channel and is decided by the partition that asked
/// at the top of the next round (with the timers). A failure is counted
/// and logged, nothing more: the processor's own durable timer asks again.
/// Nothing here survives a crash, and nothing needs to: whatever asked for
/// these calls was committed first.
struct AfterCommit {
    ports: EffectPorts,
    timeout: Duration,
    limit: Arc<tokio::sync::Semaphore>,
    tx: tokio::sync::mpsc::UnboundedSender<Finished>,
    rx: tokio::sync::mpsc::UnboundedReceiver<Finished>,
}

impl AfterCommit {
    fn new(ports: EffectPorts, timeout: Duration) -> Self {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        Self {
            ports,
            timeout,
            limit: Arc::new(tokio::sync::Semaphore::new(AFTER_COMMIT_CONCURRENCY)),
            tx,
            rx,
        }
    }

    /// Starts the effects of a batch that was just committed, each in a
    /// child span of the step that asked for it (when traced).
    fn spawn(&self, effects: Vec<(u32, Effect)>, spans: &EffectSpans) {
        for (i, (partition, effect)) in effects.into_iter().enumerate() {
            let span = spans.of_after(i).map_or_else(Span::none, |parent| {
                trace::effect_span(parent, effect.kind())
            });
            let (ports, tx, limit, timeout) = (
                self.ports.clone(),
                self.tx.clone(),
                self.limit.clone(),
                self.timeout,
            );
            tokio::spawn(
                async move {
                    let Ok(_permit) = limit.acquire_owned().await else {
                        return;
                    };
                    let result =
                        match tokio::time::timeout(timeout, call_retrying(&effect, &ports)).await {
                            Ok(Ok(report)) => Ok(report),
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err(format!("no answer within {timeout:?}")),
                        };
                    // The driver may have stopped; then nobody needs the answer.
                    let _ = tx.send((partition, effect, result));
                }
                .instrument(span),
            );
        }
    }

    /// Hands what finished since the last round to the partitions that
    /// asked (still owned by this member; a moved partition's new owner
    /// asks again on its own timer).
    fn collect<P: Processor>(
        &mut self,
        processor: &mut P,
        owned: &BTreeSet<u32>,
        now: Millis,
        out: &mut Output,
        events: &GroupEvents,
    ) {
        while let Ok((partition, effect, result)) = self.rx.try_recv() {
            match result {
                Ok(report) => {
                    events.effect_performed(&effect);
                    if let Some(report) = report.filter(|_| owned.contains(&partition)) {
                        processor.on_report(partition, report, now, out);
                    }
                }
                Err(reason) => events.effect_retried(&effect, &reason, Duration::ZERO),
            }
        }
    }
}

/// Calls an effect performed after the commit, again after a transient
/// failure (a blip: 50 ms, doubling) until it succeeds, fails for good, or
/// the caller's timeout ends it.
async fn call_retrying(
    effect: &Effect,
    ports: &EffectPorts,
) -> Result<Option<EffectReport>, EffectError> {
    let mut backoff = Duration::from_millis(50);
    loop {
        match call(effect, ports).await {
            Err(EffectError::Transient(reason)) => {
                tracing::debug!(effect = %effect.describe(), %reason, ?backoff, "provider call failed; trying again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            done => return done,
        }
    }
}

/// One call of an effect performed after the commit.
async fn call(effect: &Effect, ports: &EffectPorts) -> Result<Option<EffectReport>, EffectError> {
    let provider = || {
        ports
            .payments
            .as_ref()
            .ok_or_else(|| EffectError::Permanent("no payment provider configured".into()))
    };
    match effect {
        Effect::SubmitCheckout {
            payment_id,
            resource_id,
            outcome,
        } => {
            provider()?
                .submit_checkout(payment_id, resource_id, *outcome)
                .await?;
            Ok(None)
        }
        Effect::ReconcilePayment {
            payment_id,
            resource_id,
            outcome,
        } => {
            let p = provider()?;
            match p.lookup(payment_id).await? {
                ProviderStatus::Settled(decided) => Ok(Some(EffectReport::PaymentSettled {
                    payment_id: payment_id.clone(),
                    resource_id: resource_id.clone(),
                    outcome: decided,
                })),
                ProviderStatus::Pending => Ok(None),
                // It never got the checkout (the call was lost before it
                // arrived): hand it over again, under the same key.
                ProviderStatus::NotFound => {
                    p.submit_checkout(payment_id, resource_id, *outcome).await?;
                    Ok(None)
                }
            }
        }
        Effect::Refund {
            payment_id,
            resource_id,
            refund_id,
            amount,
        } => {
            provider()?.refund(payment_id, refund_id, amount).await?;
            Ok(Some(EffectReport::RefundAccepted {
                payment_id: payment_id.clone(),
                resource_id: resource_id.clone(),
                refund_id: refund_id.clone(),
            }))
        }
        Effect::SendEmail(_) => Err(EffectError::Permanent(format!(
            "{} runs before the commit",
            effect.describe()
        ))),
    }
}
