//! The producer and the direct reader, plus the record-reading and waiting
//! helpers sessions share with them.

use crate::keys;
use crate::schema;
use crate::store::Store;
use crate::writer::{self, Request};
use crate::{Files, Handle};
use async_trait::async_trait;
use bytes::Bytes;
use fjall::{Readable, Snapshot};
use slotstream_runtime::{
    ConsumedRecord, LogError, LogReader, OutRecord, Producer, RecordPosition, TopicPartition,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Maps a storage error to the retryable log error.
pub(crate) fn transient(e: impl std::fmt::Display) -> LogError {
    LogError::Transient(e.to_string())
}

/// Appends up to `max` records of one partition with offsets in
/// `[from, end)` to `out`, and returns the offset to read from next.
///
/// Offsets are dense, but retention may have deleted the oldest records: a
/// read from below the partition's first record continues at it, as a Kafka
/// consumer reset to the earliest offset would. `end` must be a published
/// end offset: records above it may be in the database but not yet durable.
pub(crate) fn read_partition(
    snap: &Snapshot,
    store: &Store,
    (topic, partition): (usize, u32),
    (from, end): (u64, u64),
    max: u64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<u64, LogError> {
    if max == 0 || from >= end {
        return Ok(from);
    }
    let ks = &store.ks.log[topic][partition as usize];
    let name = &store.topic_names[topic];
    let mut next = end;
    let mut taken = 0;
    for guard in snap.range(ks, keys::offset_key(from)..keys::offset_key(end)) {
        let (k, v) = guard.into_inner().map_err(transient)?;
        let corrupt = || {
            LogError::Invalid(format!(
                "a record of {name} partition {partition} is corrupt; restore the data directory"
            ))
        };
        let offset = keys::offset_of(&k).ok_or_else(corrupt)?;
        let stored = schema::decode_record(&v).ok_or_else(corrupt)?;
        out.push(ConsumedRecord {
            topic: Arc::clone(name),
            partition,
            offset,
            key: Bytes::copy_from_slice(stored.key),
            value: Bytes::copy_from_slice(stored.value),
            timestamp: stored.timestamp,
            headers: stored.headers().ok_or_else(corrupt)?,
        });
        taken += 1;
        if taken == max {
            next = offset + 1;
            break;
        }
    }
    Ok(next)
}

/// Waits for the next commit, or until `deadline`. False on timeout.
pub(crate) async fn wait_for_commit(commits: &mut watch::Receiver<u64>, deadline: Instant) -> bool {
    // The sender lives as long as the store this receiver was made from, so
    // `changed` only fails if that invariant is broken; treat it as a timeout.
    matches!(
        tokio::time::timeout_at(deadline, commits.changed()).await,
        Ok(Ok(()))
    )
}

/// Sends a request to the writer and awaits its answer.
pub(crate) async fn call<T>(
    handle: &Handle,
    make: impl FnOnce(oneshot::Sender<Result<T, LogError>>) -> Request,
) -> Result<T, LogError> {
    let (tx, rx) = oneshot::channel();
    handle.send(make(tx))?;
    rx.await.map_err(|_| LogError::Closed)?
}

/// Appends records through the writer; answers once they are durable.
#[derive(Debug, Clone)]
pub struct EmbeddedProducer {
    pub(crate) handle: Arc<Handle>,
}

#[async_trait]
impl Producer for EmbeddedProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<RecordPosition>, LogError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        call(&self.handle, |ack| Request::Produce { records, ack }).await
    }
}

/// Reads partitions directly from read snapshots.
#[derive(Debug, Clone)]
pub struct EmbeddedReader {
    pub(crate) files: Files,
}

/// The committed next offset of `group` on `tp`.
pub(crate) fn committed(
    handle: &Handle,
    group: &str,
    tp: &TopicPartition,
) -> Result<Option<u64>, LogError> {
    let found = handle
        .store
        .ks
        .offsets
        .get(schema::offset_key(group, &tp.topic, tp.partition))
        .map_err(transient)?;
    found
        .map(|v| {
            schema::decode_u64(&v)
                .ok_or_else(|| LogError::Invalid("a committed offset is corrupt".into()))
        })
        .transpose()
}

#[async_trait]
impl LogReader for EmbeddedReader {
    async fn committed_offset(
        &self,
        group: &str,
        tp: &TopicPartition,
    ) -> Result<Option<u64>, LogError> {
        committed(self.files.home(group), group, tp)
    }

    async fn read(
        &self,
        tp: &TopicPartition,
        from: u64,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ConsumedRecord>, LogError> {
        let (topic, partition) = writer::resolve(&tp.topic, Some(tp.partition), &[])?;
        let handle = &self.files.log;
        let store = &handle.store;
        let mut commits = store.watch_commits();
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            commits.borrow_and_update();
            let end = store.end(topic, partition);
            if end > from && max > 0 {
                let snap = store.snapshot();
                read_partition(
                    &snap,
                    store,
                    (topic, partition),
                    (from, end),
                    max as u64,
                    &mut out,
                )?;
                if !out.is_empty() {
                    return Ok(out);
                }
            }
            if !wait_for_commit(&mut commits, deadline).await {
                return Ok(out);
            }
        }
    }

    async fn end_offset(&self, tp: &TopicPartition) -> Result<u64, LogError> {
        let (topic, partition) = writer::resolve(&tp.topic, Some(tp.partition), &[])?;
        Ok(self.files.log.store.end(topic, partition))
    }
}
