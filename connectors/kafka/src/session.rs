//! A processor's consumer-group member: subscription, assignment tracking
//! at the level of *task partitions*, and batched polling.
//!
//! Task partition `p` is partition `p` of every input topic. The group uses
//! the KIP-848 protocol with the server-side `range` assignor, which hands
//! partition `p` of each input to the same member; the session still reports
//! a task `Assigned` only once *all* its input partitions are ours, and
//! `Revoked` as soon as one leaves. Records of a partition whose task is not
//! announced yet are held back, so `Assigned` always precedes its records.
//!
//! librdkafka's consumer calls block, so polls run on tokio's blocking pool.
//! A poll cancelled by the caller keeps its blocking half running; its
//! records are picked up by the next poll, never lost.

use crate::closing::Closing;
use crate::config::KafkaOptions;
use crate::errors::{joined, to_log};
use crate::txn;
use crate::txn::TxnProducer;
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError as RdError;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;
use slotstream_runtime::{
    ConsumedRecord, LogError, Poll, Session, StateEntry, TopicSpec, Transaction, ViewStore, topics,
};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::runtime::RuntimeFlavor;
use tokio::task::JoinHandle;

/// An assignment change reported by librdkafka, in wire names.
#[derive(Debug)]
pub(crate) enum Change {
    Assign(Vec<(String, i32)>),
    Revoke(Vec<(String, i32)>),
}

/// Applies librdkafka's rebalances incrementally and records the assignment
/// changes as its rebalance callback runs them (inside `poll`, on the
/// polling thread); keeps the lag per partition from librdkafka's
/// statistics (every `statistics.interval.ms`, also served inside `poll`).
#[derive(Debug, Default)]
pub(crate) struct GroupContext {
    changes: Mutex<Vec<Change>>,
    dirty: AtomicBool,
    /// `(wire topic, partition, lag)` as of the last statistics.
    lags: Mutex<Vec<(String, i32, u64)>>,
}

impl GroupContext {
    fn take(&self) -> Vec<Change> {
        self.dirty.store(false, Ordering::Release);
        std::mem::take(&mut *self.changes.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ClientContext for GroupContext {
    /// Lag per fetched partition: the end of the committed data (the last
    /// stable offset, which `read_committed` reads up to; the high
    /// watermark when unknown) minus the consumer's position. The position
    /// is where the application stands (past transaction markers too, so a
    /// caught-up partition shows 0), or, before anything was delivered
    /// since the assignment, the committed offset it started from (for a
    /// group that never committed there, the next offset to fetch minus
    /// what is fetched but not delivered).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut lags = Vec::new();
        for (topic, t) in &statistics.topics {
            for (&p, part) in &t.partitions {
                if p < 0 || !part.desired {
                    continue;
                }
                let end = if part.ls_offset >= 0 {
                    part.ls_offset
                } else {
                    part.hi_offset
                };
                let position = if part.app_offset >= 0 {
                    part.app_offset
                } else if part.committed_offset >= 0 {
                    part.committed_offset
                } else if part.next_offset >= 0 {
                    // Never committed (a new group): it fetches from the
                    // log start; what is fetched but not delivered is not
                    // read yet.
                    part.next_offset.saturating_sub(part.fetchq_cnt).max(0)
                } else {
                    continue;
                };
                if end < 0 || position < 0 {
                    continue;
                }
                lags.push((topic.clone(), p, end.saturating_sub(position).max(0) as u64));
            }
        }
        *self.lags.lock().unwrap_or_else(PoisonError::into_inner) = lags;
    }
}

impl ConsumerContext for GroupContext {
    /// Assigns and unassigns incrementally, without rdkafka's default, which
    /// first asks librdkafka for the rebalance protocol: a blocking request
    /// that can wait forever when the callback runs while the consumer
    /// closes (librdkafka #4041, rust-rdkafka #509). It froze a consumer's
    /// drop in CI. The KIP-848 consumer protocol is always incremental.
    ///
    /// Once the consumer's group has terminated (`closed()`), a rebalance
    /// event still queued is stale and is not applied. librdkafka drops a
    /// group request that is served after its group terminated without
    /// answering it, so an `incremental_unassign` caught by the termination
    /// waits for its reply forever (librdkafka #4884). gdb caught exactly
    /// that freezing a processor's shutdown in the Kafka e2e suite, about one
    /// test app stop in 400: the close loop's poll stuck in this callback's
    /// unassign, the group's thread idle. Nothing is assigned to a
    /// terminated group, so skipping the call loses nothing. The check
    /// narrows the race to the instant between it and the request; what
    /// remains is bounded by [`crate::closing`].
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let terminated = consumer.closed();
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if terminated {
                    tracing::debug!("ignoring an assignment that reached a closed consumer");
                    return;
                }
                if let Err(e) = consumer.incremental_assign(tpl) {
                    tracing::warn!(error = %e, "incremental assign failed");
                }
                Rebalance::Assign(tpl)
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if !terminated && let Err(e) = consumer.incremental_unassign(tpl) {
                    tracing::warn!(error = %e, "incremental unassign failed");
                }
                Rebalance::Revoke(tpl)
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                Rebalance::Error(RdError::Rebalance(code))
            }
        };
        self.post_rebalance(consumer, &rebalance);
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = |tpl: &rdkafka::TopicPartitionList| {
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect::<Vec<_>>()
        };
        let change = match rebalance {
            Rebalance::Assign(tpl) => Change::Assign(list(tpl)),
            Rebalance::Revoke(tpl) => Change::Revoke(list(tpl)),
            Rebalance::Error(e) => {
                tracing::warn!(error = %e, "consumer group rebalance error");
                return;
            }
        };
        self.changes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(change);
        self.dirty.store(true, Ordering::Release);
    }
}

pub(crate) type GroupConsumer = BaseConsumer<GroupContext>;

/// The session's consumer, shared with its in-flight poll; the last owner
/// to drop it closes it within [`crate::closing::CLOSE_DEADLINE`].
pub(crate) type SharedConsumer = Arc<Closing<GroupContext>>;

/// One input topic: its wire name and the platform name records carry.
#[derive(Clone, Debug)]
pub(crate) struct Input {
    pub(crate) wire: String,
    pub(crate) name: Arc<str>,
}

type Polled = Result<Vec<ConsumedRecord>, LogError>;

/// A consumer-group member running one processor on Kafka; see [`Session`].
pub struct KafkaSession {
    pub(crate) opts: Arc<KafkaOptions>,
    pub(crate) views: Option<Arc<dyn ViewStore>>,
    pub(crate) group: String,
    pub(crate) inputs: Vec<Input>,
    /// Partition count shared by the inputs and the changelog.
    pub(crate) partitions: u32,
    /// Wire name of `{group}-changelog`.
    pub(crate) changelog: String,
    pub(crate) consumer: Option<SharedConsumer>,
    pub(crate) producer: Option<Arc<TxnProducer>>,
    /// Input partitions librdkafka assigned us: (input index, partition).
    owned: BTreeSet<(usize, u32)>,
    /// Task partitions reported `Assigned` and not since `Revoked`.
    announced: BTreeSet<u32>,
    events: VecDeque<Poll>,
    /// Records polled but not yet handed out, in arrival order.
    pub(crate) held: VecDeque<ConsumedRecord>,
    inflight: Option<JoinHandle<Polled>>,
    /// Set once another session took over our `transactional.id`.
    pub(crate) zombie: Option<String>,
}

impl std::fmt::Debug for KafkaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSession")
            .field("group", &self.group)
            .field("namespace", &self.opts.namespace)
            .field("announced", &self.announced)
            .field("zombie", &self.zombie)
            .finish_non_exhaustive()
    }
}

/// The inputs as the session reads them; all must be platform topics of one
/// partition count.
fn check_inputs(opts: &KafkaOptions, inputs: &[TopicSpec]) -> Result<(Vec<Input>, u32), LogError> {
    let Some(first) = inputs.first() else {
        return Err(LogError::Invalid(
            "subscribe needs at least one input topic".into(),
        ));
    };
    let mut out: Vec<Input> = Vec::new();
    for spec in inputs {
        if topics::by_name(spec.name) != Some(*spec) {
            return Err(LogError::Invalid(format!(
                "input {:?} with {} partitions is not a platform topic",
                spec.name, spec.partitions
            )));
        }
        if spec.partitions != first.partitions {
            return Err(LogError::Invalid(format!(
                "inputs must share one partition count: {:?} has {}, {:?} has {}",
                first.name, first.partitions, spec.name, spec.partitions
            )));
        }
        if !out.iter().any(|i| &*i.name == spec.name) {
            out.push(Input {
                wire: opts.wire(spec.name),
                name: Arc::from(spec.name),
            });
        }
    }
    Ok((out, first.partitions))
}

impl KafkaSession {
    /// Validates the inputs, makes sure the changelog exists, starts the
    /// transactional producer (fencing any older session with our
    /// `transactional.id`) and subscribes.
    pub(crate) async fn join(
        opts: Arc<KafkaOptions>,
        views: Option<Arc<dyn ViewStore>>,
        group: &str,
        inputs: &[TopicSpec],
    ) -> Result<Self, LogError> {
        let (inputs, partitions) = check_inputs(&opts, inputs)?;
        let changelog_name = KafkaOptions::changelog(group);
        crate::admin::ensure_changelog(&opts, &changelog_name, partitions).await?;
        let producer = txn::start_producer(&opts, group).await?;
        let consumer: GroupConsumer = opts
            .group_consumer(group)
            .create_with_context(GroupContext::default())
            .map_err(|e| to_log("creating the group consumer", &e))?;
        let wires: Vec<&str> = inputs.iter().map(|i| i.wire.as_str()).collect();
        consumer
            .subscribe(&wires)
            .map_err(|e| to_log("subscribing", &e))?;
        tracing::info!(group, namespace = %opts.namespace, "joined consumer group");
        Ok(Self {
            changelog: opts.wire(&changelog_name),
            opts,
            views,
            group: group.to_owned(),
            inputs,
            partitions,
            consumer: Some(Arc::new(Closing::new(consumer))),
            producer: Some(producer),
            owned: BTreeSet::new(),
            announced: BTreeSet::new(),
            events: VecDeque::new(),
            held: VecDeque::new(),
            inflight: None,
            zombie: None,
        })
    }

    /// `Fenced` once this session is a zombie; the live consumer otherwise.
    pub(crate) fn consumer(&self) -> Result<SharedConsumer, LogError> {
        match (&self.zombie, &self.consumer) {
            (Some(why), _) => Err(LogError::Fenced(why.clone())),
            (None, Some(c)) => Ok(Arc::clone(c)),
            (None, None) => Err(LogError::Closed),
        }
    }

    fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs
            .iter()
            .position(|i| i.wire == name || &*i.name == name)
    }

    fn complete(&self, p: u32) -> bool {
        (0..self.inputs.len()).all(|i| self.owned.contains(&(i, p)))
    }

    /// Input partitions we own, in wire names (for rewinds).
    pub(crate) fn owned_wire(&self) -> Vec<(String, i32)> {
        self.owned
            .iter()
            .map(|&(i, p)| (self.inputs[i].wire.clone(), p as i32))
            .collect()
    }

    /// Folds librdkafka's assignment changes into task-level events.
    fn reconcile(&mut self) {
        let Some(consumer) = &self.consumer else {
            return;
        };
        for change in consumer.context().take() {
            let (list, add) = match change {
                Change::Assign(l) => (l, true),
                Change::Revoke(l) => (l, false),
            };
            for (wire, p) in list {
                let Some(i) = self.input_index(&wire) else {
                    continue;
                };
                if add {
                    self.owned.insert((i, p as u32));
                } else {
                    self.owned.remove(&(i, p as u32));
                }
            }
        }
        let revoked: Vec<u32> = self
            .announced
            .iter()
            .copied()
            .filter(|&p| !self.complete(p))
            .collect();
        if !revoked.is_empty() {
            for p in &revoked {
                self.announced.remove(p);
            }
            self.events.push_back(Poll::Revoked(revoked));
        }
        let owned = &self.owned;
        let inputs = &self.inputs;
        self.held.retain(|r| {
            inputs
                .iter()
                .position(|i| i.name == r.topic)
                .is_some_and(|i| owned.contains(&(i, r.partition)))
        });
        let assigned: Vec<u32> = (0..self.partitions)
            .filter(|&p| !self.announced.contains(&p) && self.complete(p))
            .collect();
        if !assigned.is_empty() {
            self.announced.extend(assigned.iter().copied());
            self.events.push_back(Poll::Assigned(assigned));
        }
    }

    /// Up to `max` held records of announced tasks, in arrival order.
    fn take_ready(&mut self, max: usize) -> Vec<ConsumedRecord> {
        let mut ready = Vec::new();
        let mut keep = VecDeque::with_capacity(self.held.len());
        for r in self.held.drain(..) {
            if ready.len() < max && self.announced.contains(&r.partition) {
                ready.push(r);
            } else {
                keep.push_back(r);
            }
        }
        self.held = keep;
        ready
    }

    /// Waits for a poll a cancelled call left running and keeps its records.
    async fn finish_inflight(&mut self) -> Result<(), LogError> {
        if let Some(handle) = self.inflight.as_mut() {
            let polled = handle.await;
            self.inflight = None;
            self.held.extend(polled.map_err(joined)??);
        }
        Ok(())
    }
}

/// Collects records for up to `wait`, returning early `linger` after the
/// first one, at `max`, or when the assignment changed.
fn poll_blocking(
    consumer: &GroupConsumer,
    inputs: &[Input],
    max: usize,
    wait: Duration,
    linger: Duration,
) -> Polled {
    let deadline = Instant::now() + wait;
    let mut first: Option<Instant> = None;
    let mut out = Vec::new();
    while out.len() < max && !consumer.context().dirty.load(Ordering::Acquire) {
        let until = first.map_or(deadline, |f| (f + linger).min(deadline));
        let timeout = until.saturating_duration_since(Instant::now());
        match consumer.poll(timeout) {
            Some(Ok(m)) => {
                let Some(input) = inputs.iter().find(|i| i.wire == m.topic()) else {
                    continue;
                };
                first.get_or_insert_with(Instant::now);
                out.push(ConsumedRecord {
                    topic: Arc::clone(&input.name),
                    partition: m.partition() as u32,
                    offset: m.offset() as u64,
                    key: Bytes::copy_from_slice(m.key().unwrap_or_default()),
                    value: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    headers: crate::headers::from_kafka(&m),
                });
            }
            Some(Err(RdError::MessageConsumptionFatal(code))) => {
                return Err(LogError::Fenced(format!(
                    "the group consumer failed fatally: {code}; re-subscribe"
                )));
            }
            Some(Err(e)) => {
                if out.is_empty() {
                    return Err(LogError::Transient(format!("polling: {e}")));
                }
                break;
            }
            None if timeout.is_zero() => break,
            None => {}
        }
    }
    Ok(out)
}

#[async_trait]
impl Session for KafkaSession {
    async fn poll(&mut self, max_records: usize, max_wait: Duration) -> Result<Poll, LogError> {
        self.consumer()?;
        let max = max_records.max(1);
        let deadline = Instant::now() + max_wait;
        let mut polled = false;
        loop {
            self.finish_inflight().await?;
            self.reconcile();
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            let ready = self.take_ready(max);
            if !ready.is_empty() {
                return Ok(Poll::Records(ready));
            }
            let now = Instant::now();
            if polled && now >= deadline {
                return Ok(Poll::Idle);
            }
            polled = true;
            let consumer = self.consumer()?;
            let inputs = self.inputs.clone();
            let wait = deadline.saturating_duration_since(now);
            let linger = self.opts.commit_interval;
            self.inflight = Some(tokio::task::spawn_blocking(move || {
                poll_blocking(&consumer, &inputs, max, wait, linger)
            }));
        }
    }

    async fn restore(&mut self, partition: u32) -> Result<Vec<StateEntry>, LogError> {
        self.consumer()?;
        txn::restore(self, partition).await
    }

    async fn commit(&mut self, txn: Transaction) -> Result<(), LogError> {
        self.consumer()?;
        self.finish_inflight().await?;
        txn::commit(self, txn).await
    }

    /// From librdkafka's statistics (every 500 ms; no broker round trip),
    /// for the input partitions this member owns.
    fn lag(&self, report: &mut dyn FnMut(&str, u32, u64)) -> bool {
        let Some(consumer) = &self.consumer else {
            return true;
        };
        let lags = consumer
            .context()
            .lags
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (wire, p, lag) in lags.iter() {
            let Some(i) = self.input_index(wire) else {
                continue;
            };
            if *p >= 0 && self.owned.contains(&(i, *p as u32)) {
                report(&self.inputs[i].name, *p as u32, *lag);
            }
        }
        true
    }
}

impl KafkaSession {
    /// Leaves the group and drops the clients. Closing a consumer blocks
    /// until it has left (at most [`crate::closing::CLOSE_DEADLINE`]): on a
    /// multi-threaded runtime this thread does it in place (so a session
    /// subscribed right after sees the partitions free); elsewhere it runs
    /// in the background.
    pub(crate) fn close(&mut self) {
        let consumer = self.consumer.take();
        let producer = self.producer.take();
        let inflight = self.inflight.take();
        let work = move || {
            drop(producer);
            drop(consumer);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if inflight.is_none() && rt.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(work);
            }
            Ok(rt) => {
                rt.spawn(async move {
                    // Let a poll in flight finish before the consumer closes.
                    if let Some(h) = inflight {
                        drop(h.await);
                    }
                    drop(tokio::task::spawn_blocking(work).await);
                });
            }
            Err(_) => work(),
        }
    }
}

impl Drop for KafkaSession {
    fn drop(&mut self) {
        self.close();
    }
}

/// Helper for tests and tools: the state entries of a map, sorted by key.
pub(crate) fn entries(map: std::collections::BTreeMap<Bytes, Bytes>) -> Vec<StateEntry> {
    map.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;
    use std::sync::mpsc;

    /// A KIP-848 member whose group has terminated: subscribed through an
    /// address where no broker listens, then closed. No engine needed.
    fn closed_member() -> GroupConsumer {
        let consumer: GroupConsumer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "slotstream.session-test")
            .set("group.protocol", "consumer")
            .set("log_level", "0")
            .create_with_context(GroupContext::default())
            .expect("a consumer");
        consumer.subscribe(&["t"]).expect("subscribe");
        consumer.close_queue().expect("close");
        let started = Instant::now();
        while !consumer.closed() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the close never finished"
            );
            drop(consumer.poll(Duration::from_millis(100)));
        }
        consumer
    }

    /// A stale assignment must not be reported: the session would announce
    /// a task partition its closed consumer will never fetch.
    #[test]
    fn an_assignment_reaching_a_closed_consumer_is_ignored() {
        let consumer = closed_member();
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition("t", 0);
            let err = RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
            consumer.context().rebalance(&consumer, err, &mut tpl);
            let _ = done.send(consumer.context().take());
        });
        let changes = finished
            .recv_timeout(Duration::from_secs(30))
            .expect("the rebalance callback returned");
        assert!(changes.is_empty(), "{changes:?}");
    }
}
