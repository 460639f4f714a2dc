//! Consumer-group sessions: a static split of task partitions, positions
//! resumed from committed offsets, fair round-robin polling that waits on the
//! writer's commit notifications, and epoch fencing of older sessions.
//!
//! A session reads records from the log file and waits on the log writer's
//! commits; it joins, restores and commits through its group's home file
//! (the views file for a view group, else the log file), whose writer
//! checks its epoch.

use crate::log::{call, committed, read_partition, transient, wait_for_commit};
use crate::schema;
use crate::state;
use crate::writer::Request;
use crate::{Files, Handle};
use async_trait::async_trait;
use slotstream_runtime::{
    ConsumedRecord, LogError, Poll, Session, StateEntry, TopicPartition, TopicSpec, Transaction,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// One (topic, partition) this session reads.
#[derive(Debug)]
struct Slot {
    topic: usize,
    partition: u32,
    /// Next offset to hand out.
    next: u64,
    /// Next offset as last committed.
    committed: u64,
}

/// A member of a consumer group on the embedded log.
#[derive(Debug)]
pub struct EmbeddedSession {
    /// The log file: records and their commit notifications.
    handle: Arc<Handle>,
    /// The group's home file: joins, offsets, state, commits.
    home: Arc<Handle>,
    group: Arc<str>,
    member: u32,
    epoch: u64,
    live_epoch: Arc<AtomicU64>,
    tasks: Vec<u32>,
    slots: Vec<Slot>,
    announced: bool,
    /// Reads records written but not yet durable (an eager group: see
    /// `EmbeddedOptions::eager_groups`).
    eager: bool,
    round: usize,
    commits: watch::Receiver<u64>,
}

impl EmbeddedSession {
    /// Validates the subscription, bumps the member's epoch (fencing any older
    /// session of the same member) and loads the committed positions.
    pub(crate) async fn join(
        files: Files,
        group: &str,
        inputs: &[TopicSpec],
        member: u32,
        members: u32,
    ) -> Result<Self, LogError> {
        let topics = input_topics(inputs)?;
        if members == 0 || member >= members {
            return Err(LogError::Invalid(format!(
                "member {member} of {members}: need 0 <= member < members"
            )));
        }
        let partitions = inputs[0].partitions;
        let tasks: Vec<u32> = (0..partitions).filter(|p| p % members == member).collect();
        let home = Arc::clone(files.home(group));
        let eager = files.is_eager(group);
        let handle = files.log;
        let group: Arc<str> = Arc::from(group);
        // Subscribe to commits before joining, so no commit after the join is missed.
        let commits = handle.store.watch_commits();
        let g = Arc::clone(&group);
        let epoch = call(&home, |ack| Request::Join {
            group: g,
            member,
            ack,
        })
        .await?;
        let live_epoch = home.store.epoch_cell(&group, member);

        let mut slots = Vec::with_capacity(tasks.len() * topics.len());
        for &partition in &tasks {
            for &topic in &topics {
                let name = &handle.store.topic_names[topic];
                let tp = TopicPartition::new(&**name, partition);
                let committed = committed(&home, &group, &tp)?.unwrap_or(0);
                slots.push(Slot {
                    topic,
                    partition,
                    next: committed,
                    committed,
                });
            }
        }
        Ok(Self {
            handle,
            home,
            group,
            member,
            epoch,
            live_epoch,
            tasks,
            slots,
            announced: false,
            eager,
            round: 0,
            commits,
        })
    }

    fn check_fenced(&self) -> Result<(), LogError> {
        let live = self.live_epoch.load(Ordering::Acquire);
        if live == self.epoch {
            Ok(())
        } else {
            Err(LogError::Fenced(format!(
                "group {} member {} at epoch {} was replaced by epoch {live}",
                self.group, self.member, self.epoch
            )))
        }
    }

    /// Reads what is available, spreading `max` fairly over the slots that
    /// have data, starting one slot further each call.
    fn read_available(&mut self, max: usize) -> Result<Vec<ConsumedRecord>, LogError> {
        let store = &self.handle.store;
        let n = self.slots.len();
        let eager = self.eager;
        let ready: Vec<(usize, u64)> = (0..n)
            .map(|i| (self.round + i) % n)
            .filter_map(|i| {
                let s = &self.slots[i];
                let end = if eager {
                    store.written_end(s.topic, s.partition)
                } else {
                    store.end(s.topic, s.partition)
                };
                (end > s.next).then(|| (i, end - s.next))
            })
            .collect();
        self.round = (self.round + 1) % n.max(1);
        if ready.is_empty() {
            return Ok(Vec::new());
        }
        let quota = max.div_ceil(ready.len()) as u64;
        let mut left = max as u64;
        let snap = store.snapshot();
        let mut out = Vec::with_capacity(max.min(4096));
        for (i, available) in ready {
            if left == 0 {
                break;
            }
            let take = available.min(quota).min(left);
            let s = &mut self.slots[i];
            let before = out.len();
            let end = s.next + available;
            s.next = read_partition(
                &snap,
                store,
                (s.topic, s.partition),
                (s.next, end),
                take,
                &mut out,
            )?;
            left -= (out.len() - before) as u64;
        }
        Ok(out)
    }
}

/// Topic indexes of the inputs; all must be platform topics of one partition count.
fn input_topics(inputs: &[TopicSpec]) -> Result<Vec<usize>, LogError> {
    let Some(first) = inputs.first() else {
        return Err(LogError::Invalid(
            "subscribe needs at least one input topic".into(),
        ));
    };
    let mut topics = Vec::with_capacity(inputs.len());
    for spec in inputs {
        let known = schema::topic_index(spec.name)
            .filter(|&i| schema::all_topics()[i].partitions == spec.partitions)
            .ok_or_else(|| {
                LogError::Invalid(format!(
                    "input {:?} with {} partitions is not a platform topic",
                    spec.name, spec.partitions
                ))
            })?;
        if spec.partitions != first.partitions {
            return Err(LogError::Invalid(format!(
                "inputs must share one partition count: {:?} has {}, {:?} has {}",
                first.name, first.partitions, spec.name, spec.partitions
            )));
        }
        if !topics.contains(&known) {
            topics.push(known);
        }
    }
    Ok(topics)
}

#[async_trait]
impl Session for EmbeddedSession {
    async fn poll(&mut self, max_records: usize, max_wait: Duration) -> Result<Poll, LogError> {
        self.check_fenced()?;
        if !self.announced {
            self.announced = true;
            return Ok(Poll::Assigned(self.tasks.clone()));
        }
        let deadline = Instant::now() + max_wait;
        if self.slots.is_empty() || max_records == 0 {
            // Nothing to read: wait the full time rather than spin the caller.
            tokio::time::sleep_until(deadline).await;
            return Ok(Poll::Idle);
        }
        loop {
            self.commits.borrow_and_update();
            let records = self.read_available(max_records)?;
            if !records.is_empty() {
                return Ok(Poll::Records(records));
            }
            if !wait_for_commit(&mut self.commits, deadline).await {
                return Ok(Poll::Idle);
            }
            self.check_fenced()?;
        }
    }

    async fn restore(&mut self, partition: u32) -> Result<Vec<StateEntry>, LogError> {
        self.check_fenced()?;
        state::restore(&self.home.store, &self.group, partition).map_err(transient)
    }

    async fn commit(&mut self, txn: Transaction) -> Result<(), LogError> {
        if let Err(e) = self.check_fenced() {
            self.rewind();
            return Err(e);
        }
        let committed: Vec<(TopicPartition, u64)> = txn.offsets.clone();
        let group = Arc::clone(&self.group);
        let (member, epoch) = (self.member, self.epoch);
        let result = call(&self.home, |ack| Request::Commit {
            group,
            member,
            epoch,
            txn,
            ack,
        })
        .await;
        match result {
            Ok(()) => {
                for (tp, next) in committed {
                    let names = &self.handle.store.topic_names;
                    if let Some(s) = self
                        .slots
                        .iter_mut()
                        .find(|s| s.partition == tp.partition && *names[s.topic] == *tp.topic)
                    {
                        s.committed = next;
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.rewind();
                Err(e)
            }
        }
    }

    /// Published end minus the next offset to hand out, per slot: two
    /// atomic loads each.
    fn lag(&self, report: &mut dyn FnMut(&str, u32, u64)) -> bool {
        let store = &self.handle.store;
        for s in &self.slots {
            let end = if self.eager {
                store.written_end(s.topic, s.partition)
            } else {
                store.end(s.topic, s.partition)
            };
            report(
                &store.topic_names[s.topic],
                s.partition,
                end.saturating_sub(s.next),
            );
        }
        true
    }
}

impl EmbeddedSession {
    /// Back to the last committed positions, after a failed commit.
    fn rewind(&mut self) {
        for s in &mut self.slots {
            s.next = s.committed;
        }
    }
}
