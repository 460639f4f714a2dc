//! The log port: a partitioned, replicated-in-spirit commit log with consumer
//! groups and transactional consume-transform-produce, as Kafka has it.

use crate::topics::TopicSpec;
use async_trait::async_trait;
use bytes::Bytes;
use slotstream_domain::Millis;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// A topic and one of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number, `0..partitions`.
    pub partition: u32,
}

impl TopicPartition {
    /// Builds a topic-partition.
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

/// One record header, as Kafka has them: a name and opaque bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header's name (`traceparent`, ...). Static for the names the
    /// platform writes, so writing one allocates nothing for the name.
    pub name: Cow<'static, str>,
    /// The header's value.
    pub value: Bytes,
}

/// A record's headers, in the order written; a name may repeat, as on
/// Kafka. No headers is an empty `Vec`, which never allocates: records
/// without headers (every record when tracing is off) cost nothing more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Appends a header (an existing one of that name is kept).
    pub fn push(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<Bytes>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Sets `name` to `value`, replacing every header of that name.
    pub fn set(&mut self, name: &'static str, value: impl Into<Bytes>) {
        self.0.retain(|h| h.name != name);
        self.push(name, value);
    }

    /// The last value of `name`, as Kafka clients read a repeated header.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.0
            .iter()
            .rev()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// Every header, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A record to append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutRecord {
    /// Destination topic.
    pub topic: &'static str,
    /// Explicit partition; `None` means murmur2 of the key, as Kafka's default.
    pub partition: Option<u32>,
    /// Record key (the partitioning key).
    pub key: Bytes,
    /// Record value (Confluent-framed Avro for every platform topic).
    pub value: Bytes,
    /// Event time, epoch milliseconds.
    pub timestamp: Millis,
    /// Record headers (the trace context); kept by every backend.
    pub headers: Headers,
}

/// A record read from a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Source topic.
    pub topic: Arc<str>,
    /// Source partition.
    pub partition: u32,
    /// Offset within the partition (dense from 0 in the embedded log; gaps
    /// possible on Kafka where transaction markers take offsets).
    pub offset: u64,
    /// Record key.
    pub key: Bytes,
    /// Record value.
    pub value: Bytes,
    /// Event time.
    pub timestamp: Millis,
    /// Record headers, as written.
    pub headers: Headers,
}

/// Where an appended record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPosition {
    /// Partition chosen.
    pub partition: u32,
    /// Offset assigned.
    pub offset: u64,
}

/// One change to a processor's state store (a compacted changelog on Kafka).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    /// The task's partition number the key belongs to.
    pub partition: u32,
    /// State key.
    pub key: Bytes,
    /// New value; `None` deletes (a tombstone on Kafka).
    pub value: Option<Bytes>,
}

/// One entry of a restored state store.
pub type StateEntry = (Bytes, Bytes);

/// Everything one processing step commits, all or nothing.
#[derive(Debug, Default)]
pub struct Transaction {
    /// Records to append.
    pub outputs: Vec<OutRecord>,
    /// State-store changes.
    pub state: Vec<StateWrite>,
    /// Read-view changes (applied atomically by backends whose view store
    /// shares the log's storage, idempotently before the offset commit otherwise).
    pub views: Vec<crate::views::ViewWrite>,
    /// Consumed positions to commit: the *next* offset to read per partition.
    pub offsets: Vec<(TopicPartition, u64)>,
}

impl Transaction {
    /// True when committing it would change nothing.
    pub fn is_empty(&self) -> bool {
        self.outputs.is_empty()
            && self.state.is_empty()
            && self.views.is_empty()
            && self.offsets.is_empty()
    }
}

/// What a poll returned.
#[derive(Debug)]
pub enum Poll {
    /// Records from assigned partitions, in offset order per partition.
    Records(Vec<ConsumedRecord>),
    /// These task partitions are now ours: restore their state before use.
    Assigned(Vec<u32>),
    /// These task partitions are no longer ours: drop their state.
    Revoked(Vec<u32>),
    /// Nothing arrived within the wait.
    Idle,
}

/// Why a log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The storage or broker is unreachable or busy; retrying may help.
    #[error("log temporarily unavailable: {0} (retry)")]
    Transient(String),
    /// This member was fenced by a newer one (zombie); it must re-subscribe.
    #[error("member fenced: {0}; re-subscribe to continue")]
    Fenced(String),
    /// The request can never succeed (unknown topic, bad partition, corrupt data).
    #[error("log request invalid: {0}")]
    Invalid(String),
    /// The backend is shutting down.
    #[error("log closed")]
    Closed,
}

impl LogError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// Appends records, durably, outside any consumer transaction (the gateway).
#[async_trait]
pub trait Producer: Send + Sync + std::fmt::Debug {
    /// Appends `records`; resolves once all are durable. Records to one
    /// partition keep the order given.
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<RecordPosition>, LogError>;
}

/// Reads a partition directly, without a group (replies, tests, replay tools).
#[async_trait]
pub trait LogReader: Send + Sync + std::fmt::Debug {
    /// Up to `max` records from `from` on; waits up to `wait` when none is there yet.
    async fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError>;
    /// The offset the next appended record will get.
    async fn end_offset(&self, tp: &TopicPartition) -> Result<u64, LogError>;
    /// The next offset consumer group `group` will read from `tp`, as last
    /// committed; `None` when the group never committed there.
    async fn committed_offset(
        &self,
        group: &str,
        tp: &TopicPartition,
    ) -> Result<Option<u64>, LogError>;
}

/// A consumer-group member running one processor.
#[async_trait]
pub trait Session: Send + std::fmt::Debug {
    /// Next batch, or an assignment change. The first polls after subscribing
    /// return `Assigned` before any record of those partitions.
    async fn poll(&mut self, max_records: usize, max_wait: Duration) -> Result<Poll, LogError>;
    /// The state store of one assigned task partition.
    async fn restore(&mut self, partition: u32) -> Result<Vec<StateEntry>, LogError>;
    /// Commits outputs, state changes, view changes and offsets as one unit.
    /// On error nothing of it is visible and the caller must not ack anything;
    /// the session rewinds to its last committed offsets.
    async fn commit(&mut self, txn: Transaction) -> Result<(), LogError>;
    /// Reports, for each input partition this member reads, how many
    /// records it has not read yet: `report(topic, partition, lag)`, from
    /// what the session already knows (no round trip; called every few
    /// hundred milliseconds). Partitions whose end or position is not known
    /// yet are left out. Returns false when the backend cannot tell (the
    /// driver then treats a restored partition as caught up).
    fn lag(&self, report: &mut dyn FnMut(&str, u32, u64)) -> bool {
        let _ = report;
        false
    }
}

/// A whole backend (embedded or Kafka).
#[async_trait]
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// A producer for commands.
    fn producer(&self) -> Arc<dyn Producer>;
    /// A reader for direct partition reads.
    fn reader(&self) -> Arc<dyn LogReader>;
    /// Joins consumer group `group` reading `inputs`, which must share one
    /// partition count: task partition `p` is partition `p` of every input.
    /// `member` / `members` give a static split (`p % members == member`) for
    /// backends without group coordination; Kafka ignores them.
    async fn subscribe(
        &self,
        group: &str,
        inputs: &[TopicSpec],
        member: u32,
        members: u32,
    ) -> Result<Box<dyn Session>, LogError>;
}
