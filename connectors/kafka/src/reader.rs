//! Direct partition reads (the gateway's reply router, tools, tests).
//!
//! The reply router calls `read` in a loop on one partition with an
//! advancing `from`, long-polling. Each partition gets its own assigned
//! `read_committed` consumer, kept while `from` equals the position it
//! stopped at, so a steady loop never seeks and keeps librdkafka's prefetch.

use crate::closing::Closing;
use crate::config::KafkaOptions;
use crate::errors::{joined, to_log};
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use slotstream_runtime::{ConsumedRecord, LogError, LogReader, TopicPartition, topics};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bound on metadata and offset queries.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The context of every consumer that reads assigned partitions directly
/// (readers, restores, offset queries): rdkafka's default, except that an
/// end-of-partition report that reaches the client's error callback (it
/// happens around an unassign or a close) is logged at debug, not as the
/// error it is not.
#[derive(Debug, Default)]
pub(crate) struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: RdError, reason: &str) {
        match error {
            RdError::Global(RDKafkaErrorCode::PartitionEOF) => {
                tracing::debug!(%reason, "end of partition");
            }
            error => tracing::error!(%error, %reason, "librdkafka error"),
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// A consumer of assigned partitions; see [`ReaderContext`].
pub(crate) type PlainConsumer = BaseConsumer<ReaderContext>;

/// One partition's consumer and where it stands.
struct Cursor {
    consumer: Closing<ReaderContext>,
    /// The next offset this consumer delivers, when it is assigned.
    position: Option<u64>,
    /// The consumer reported reaching the end at `position`.
    at_end: bool,
}

/// How long a read waits for data already in the partition to arrive from
/// the broker, whatever its `wait` (a fresh assignment needs a fetch first).
const FETCH_BOUND: Duration = Duration::from_secs(10);

/// Retries `f` while the broker is still settling a partition (leadership
/// right after topic creation), for up to 5 s.
pub(crate) fn settled<T>(
    mut f: impl FnMut() -> rdkafka::error::KafkaResult<T>,
) -> rdkafka::error::KafkaResult<T> {
    use rdkafka::error::RDKafkaErrorCode as Code;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match f() {
            Err(e)
                if Instant::now() < deadline
                    && matches!(
                        e.rdkafka_error_code(),
                        Some(
                            Code::NotLeaderForPartition
                                | Code::LeaderNotAvailable
                                | Code::UnknownTopicOrPartition
                                | Code::UnknownLeaderEpoch
                        )
                    ) =>
            {
                // Leadership propagates asynchronously; asking again is the
                // only way to see it settle.
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Reads partitions directly, without a group; see [`LogReader`].
pub struct KafkaReader {
    opts: Arc<KafkaOptions>,
    cursors: Mutex<HashMap<TopicPartition, Arc<Mutex<Cursor>>>>,
}

impl std::fmt::Debug for KafkaReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaReader")
            .field("namespace", &self.opts.namespace)
            .finish_non_exhaustive()
    }
}

impl KafkaReader {
    pub(crate) fn new(opts: Arc<KafkaOptions>) -> Self {
        Self {
            opts,
            cursors: Mutex::new(HashMap::new()),
        }
    }

    fn cursor(&self, tp: &TopicPartition) -> Result<Arc<Mutex<Cursor>>, LogError> {
        check(tp)?;
        let mut cursors = self.cursors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cursors.get(tp) {
            return Ok(Arc::clone(c));
        }
        let consumer: PlainConsumer = self
            .opts
            .plain_consumer(true)
            .create_with_context(ReaderContext)
            .map_err(|e| to_log("creating a reader", &e))?;
        let cursor = Arc::new(Mutex::new(Cursor {
            consumer: Closing::new(consumer),
            position: None,
            at_end: false,
        }));
        cursors.insert(tp.clone(), Arc::clone(&cursor));
        Ok(cursor)
    }
}

/// Refuses topics and partitions the platform does not have.
fn check(tp: &TopicPartition) -> Result<(), LogError> {
    match topics::by_name(&tp.topic) {
        Some(spec) if tp.partition < spec.partitions => Ok(()),
        Some(spec) => Err(LogError::Invalid(format!(
            "partition {} of {} does not exist (it has {})",
            tp.partition, tp.topic, spec.partitions
        ))),
        None => Err(LogError::Invalid(format!(
            "{:?} is not a platform topic",
            tp.topic
        ))),
    }
}

/// Polls `cursor` from `from` until a record arrives or `wait` passes, then
/// drains what is already there, up to `max`. Records already in the
/// partition are returned even with a zero `wait`: the read waits (bounded)
/// for a record or the consumer's end-of-partition report.
fn read_blocking(
    cursor: &mut Cursor,
    wire: &str,
    topic: Arc<str>,
    partition: u32,
    from: u64,
    max: usize,
    wait: Duration,
) -> Result<Vec<ConsumedRecord>, LogError> {
    if cursor.position != Some(from) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(wire, partition as i32, Offset::Offset(from as i64))
            .map_err(|e| to_log("positioning a reader", &e))?;
        cursor
            .consumer
            .assign(&tpl)
            .map_err(|e| to_log("positioning a reader", &e))?;
        cursor.position = Some(from);
        cursor.at_end = false;
    }
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < max {
        let timeout = if !out.is_empty() {
            Duration::ZERO
        } else if cursor.at_end {
            (start + wait).saturating_duration_since(Instant::now())
        } else {
            (start + wait.max(FETCH_BOUND)).saturating_duration_since(Instant::now())
        };
        match cursor.consumer.poll(timeout) {
            Some(Ok(m)) => {
                let offset = m.offset() as u64;
                if offset < from {
                    continue;
                }
                out.push(ConsumedRecord {
                    topic: Arc::clone(&topic),
                    partition,
                    offset,
                    key: Bytes::copy_from_slice(m.key().unwrap_or_default()),
                    value: Bytes::copy_from_slice(m.payload().unwrap_or_default()),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    headers: crate::headers::from_kafka(&m),
                });
                cursor.position = Some(offset + 1);
                cursor.at_end = false;
            }
            Some(Err(RdError::PartitionEOF(_))) => {
                cursor.at_end = true;
                if !out.is_empty() {
                    break;
                }
            }
            Some(Err(e)) => {
                // The next call reassigns at `from`.
                cursor.position = None;
                return Err(to_log("reading", &e));
            }
            None if timeout.is_zero() => break,
            None => {}
        }
    }
    Ok(out)
}

#[async_trait]
impl LogReader for KafkaReader {
    async fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError> {
        let cursor = self.cursor(tp)?;
        if max == 0 {
            return Ok(Vec::new());
        }
        let wire = self.opts.wire(&tp.topic);
        let topic: Arc<str> = Arc::from(tp.topic.as_str());
        let partition = tp.partition;
        tokio::task::spawn_blocking(move || {
            let mut cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
            read_blocking(&mut cursor, &wire, topic, partition, from, max, wait)
        })
        .await
        .map_err(joined)?
    }

    /// The high watermark; for these `read_committed` consumers Kafka
    /// answers the last stable offset (LSO): the end of what is committed.
    async fn end_offset(&self, tp: &TopicPartition) -> Result<u64, LogError> {
        let cursor = self.cursor(tp)?;
        let wire = self.opts.wire(&tp.topic);
        let partition = tp.partition as i32;
        tokio::task::spawn_blocking(move || {
            let cursor = cursor.lock().unwrap_or_else(PoisonError::into_inner);
            settled(|| {
                cursor
                    .consumer
                    .fetch_watermarks(&wire, partition, QUERY_TIMEOUT)
            })
            .map(|(_, high)| high.max(0) as u64)
            .map_err(|e| to_log("querying the end offset", &e))
        })
        .await
        .map_err(joined)?
    }

    async fn committed_offset(
        &self,
        group: &str,
        tp: &TopicPartition,
    ) -> Result<Option<u64>, LogError> {
        check(tp)?;
        let consumer: PlainConsumer = self
            .opts
            .offsets_consumer(group)
            .create_with_context(ReaderContext)
            .map_err(|e| to_log("creating an offsets reader", &e))?;
        let consumer = Closing::new(consumer);
        let wire = self.opts.wire(&tp.topic);
        let partition = tp.partition as i32;
        tokio::task::spawn_blocking(move || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&wire, partition);
            let got = consumer
                .committed_offsets(tpl, QUERY_TIMEOUT)
                .map_err(|e| to_log("querying committed offsets", &e))?;
            let offset = got.find_partition(&wire, partition).map(|e| e.offset());
            Ok(match offset {
                Some(Offset::Offset(o)) if o >= 0 => Some(o as u64),
                _ => None,
            })
        })
        .await
        .map_err(joined)?
    }
}
