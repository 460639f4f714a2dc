//! The producer and the direct reader, plus the record-reading and waiting
//! helpers sessions share with them.

use crate::schema::{self, LogKey};
use crate::writer::{self, Request};
use crate::{Files, Handle};
use async_trait::async_trait;
use bytes::Bytes;
use redb::ReadTransaction;
use slotstream_runtime::{
    ConsumedRecord, LogError, LogReader, OutRecord, Producer, RecordPosition, TopicPartition,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// Maps a storage error to the retryable log error.
pub(crate) fn transient(e: impl Into<redb::Error>) -> LogError {
    LogError::Transient(e.into().to_string())
}

/// Appends up to `max` records of one partition from `from` on to `out`.
pub(crate) fn read_partition(
    txn: &ReadTransaction,
    handle: &Handle,
    topic: usize,
    partition: u32,
    from: u64,
    max: u64,
    out: &mut Vec<ConsumedRecord>,
) -> Result<(), LogError> {
    if max == 0 {
        return Ok(());
    }
    let store = &handle.store;
    let table = txn
        .open_table(schema::log_table(&store.log_tables[topic]))
        .map_err(transient)?;
    let lo: LogKey = (partition, from);
    let hi: LogKey = (partition, from.saturating_add(max));
    let name = &store.topic_names[topic];
    for entry in table.range(lo..hi).map_err(transient)? {
        let (k, v) = entry.map_err(transient)?;
        let (_, offset) = k.value();
        let (timestamp, key, value) = v.value();
        out.push(ConsumedRecord {
            topic: Arc::clone(name),
            partition,
            offset,
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            timestamp,
        });
    }
    Ok(())
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
    let txn = handle.store.begin_read().map_err(transient)?;
    let table = txn.open_table(schema::OFFSETS).map_err(transient)?;
    let found = table
        .get((group, tp.topic.as_str(), tp.partition))
        .map_err(transient)?;
    Ok(found.map(|g| g.value()))
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
                let n = (end - from).min(max as u64);
                let txn = store.begin_read().map_err(transient)?;
                read_partition(&txn, handle, topic, partition, from, n, &mut out)?;
                return Ok(out);
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
