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

use crate::clock::Clock;
use crate::log::{
    Backend, ConsumedRecord, LogError, OutRecord, Poll, Session, TopicPartition, Transaction,
};
use crate::ports::{Effect, EffectError, Mailer, PaymentProvider};
use crate::processor::{Output, Poison, Processor};
use slotstream_domain::Millis;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

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
}

impl std::fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("max_batch", &self.max_batch)
            .field("max_wait", &self.max_wait)
            .field("member", &self.member)
            .field("members", &self.members)
            .field("linger", &self.linger)
            .finish_non_exhaustive()
    }
}

impl DriverConfig {
    /// Defaults: batches of 1024, 50 ms waits, one member, no linger.
    pub fn new(dead_letter: DeadLetterEncoder) -> Self {
        Self {
            max_batch: 1024,
            max_wait: Duration::from_millis(50),
            member: 0,
            members: 1,
            dead_letter,
            linger: Duration::ZERO,
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
    let mut session = backend
        .subscribe(group, &processor.inputs(), cfg.member, cfg.members)
        .await?;
    let mut owned: BTreeSet<u32> = BTreeSet::new();
    let linger = cfg.linger;
    // A poll result that arrived while lingering, handled next round.
    let mut pending: Option<Poll> = None;
    tracing::info!(group, ?linger, "processor started");

    loop {
        if *shutdown.borrow() {
            break;
        }
        // Due timers first: an expiry that is due is decided before newer commands.
        let now = clock.now();
        let mut out = Output::default();
        let mut next_deadline: Option<Millis> = None;
        for &p in &owned {
            if let Some(d) = processor.next_deadline(p) {
                if d <= now {
                    processor.on_timer(p, now, &mut out);
                }
                if let Some(d) = processor.next_deadline(p) {
                    next_deadline = Some(next_deadline.map_or(d, |n: Millis| n.min(d)));
                }
            }
        }
        processor.before_commit(&mut out);
        if !out.is_empty() {
            let Some(txn) = finish(out, Vec::new(), &ports, &shutdown).await else {
                break;
            };
            if let Err(e) = commit(&mut *session, txn).await {
                recover(&mut processor, &mut *session, &owned, e).await?;
                continue;
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
        match polled {
            Poll::Idle => {}
            Poll::Assigned(parts) => {
                for p in parts {
                    let state = session.restore(p).await?;
                    processor
                        .restore(p, state)
                        .map_err(|e| LogError::Invalid(format!("restoring {group}[{p}]: {e}")))?;
                    owned.insert(p);
                }
                tracing::info!(group, partitions = ?owned, "assigned");
            }
            Poll::Revoked(parts) => {
                for p in parts {
                    processor.revoke(p);
                    owned.remove(&p);
                }
                tracing::info!(group, partitions = ?owned, "revoked");
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
                let mut offsets: BTreeMap<(Arc<str>, u32), u64> = BTreeMap::new();
                for r in &records {
                    if let Err(poison) = processor.process(r, now, &mut out) {
                        tracing::warn!(group, topic = %r.topic, partition = r.partition, offset = r.offset, reason = %poison.reason, "dead-lettered");
                        out.records.push((cfg.dead_letter)(r, &poison, now));
                    }
                    offsets.insert((r.topic.clone(), r.partition), r.offset + 1);
                }
                processor.before_commit(&mut out);
                let offsets = offsets
                    .into_iter()
                    .map(|((t, p), o)| (TopicPartition::new(&*t, p), o))
                    .collect();
                let Some(txn) = finish(out, offsets, &ports, &shutdown).await else {
                    break;
                };
                if let Err(e) = commit(&mut *session, txn).await {
                    recover(&mut processor, &mut *session, &owned, e).await?;
                }
            }
        }
    }
    tracing::info!(group, "processor stopped");
    Ok(())
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

/// Most effects of one batch in flight at once.
const EFFECT_CONCURRENCY: usize = 64;

/// Performs the effects, then packs the transaction. `None` when shutdown
/// interrupted an effect: nothing may be committed, the batch runs again
/// after restart (effects are idempotent by key).
async fn finish(
    out: Output,
    offsets: Vec<(TopicPartition, u64)>,
    ports: &EffectPorts,
    shutdown: &watch::Receiver<bool>,
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
        .map(|effect| perform(effect, ports, shutdown.clone()))
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
) -> Result<(), LogError> {
    if !err.is_retryable() && !matches!(err, LogError::Fenced(_)) {
        return Err(err);
    }
    tracing::warn!(group = processor.group(), error = %err, "commit failed; reloading state");
    tokio::time::sleep(Duration::from_millis(100)).await;
    for &p in owned {
        processor.revoke(p);
        let state = session.restore(p).await?;
        processor
            .restore(p, state)
            .map_err(|e| LogError::Invalid(format!("restoring partition {p}: {e}")))?;
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
            } => match &ports.payments {
                Some(p) => p.refund(payment_id, refund_id, amount).await,
                None => Err(EffectError::Permanent(
                    "no payment provider configured".into(),
                )),
            },
        };
        match result {
            Ok(()) => return true,
            Err(EffectError::Permanent(reason)) => {
                tracing::error!(effect = %effect.describe(), %reason, "effect failed permanently; skipped");
                return true;
            }
            Err(EffectError::Transient(reason)) => {
                if *shutdown.borrow() {
                    // Not committed: the effect is retried after restart.
                    tracing::warn!(%reason, "effect still failing at shutdown");
                    return false;
                }
                tracing::warn!(effect = %effect.describe(), %reason, ?backoff, "effect failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
