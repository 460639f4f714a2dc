//! The transactional producer's delivery reports, kept for the replies
//! that cite the events of their transaction (consistency tokens,
//! `slotstream_runtime::positions`): a reply is produced only after the
//! records it cites were acknowledged, with their offsets in a header.

use rdkafka::ClientContext;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use std::collections::HashMap;
use std::sync::Mutex;

/// Offsets of this producer's acknowledged records: by the sequence number
/// a transaction gave them (1-based; 0 is "not kept"), and the last one per
/// topic partition it ever wrote a kept record to.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    book: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    by_seq: HashMap<usize, i64>,
    last: HashMap<(String, i32), i64>,
}

impl Deliveries {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // Plain map updates: a panic cannot leave them half done.
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the previous transaction's sequence numbers.
    pub(crate) fn begin(&self) {
        self.book().by_seq.clear();
    }

    /// The offset of the record sent with sequence number `seq`, once
    /// acknowledged.
    pub(crate) fn offset(&self, seq: usize) -> Option<u64> {
        self.book()
            .by_seq
            .get(&seq)
            .and_then(|&o| u64::try_from(o).ok())
    }

    /// The offset of the last kept record this producer wrote to
    /// `topic`/`partition` (wire name), if any since it was created.
    pub(crate) fn last(&self, topic: &str, partition: i32) -> Option<u64> {
        self.book()
            .last
            .get(&(topic.to_owned(), partition))
            .and_then(|&o| u64::try_from(o).ok())
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        // A failed delivery fails the transaction's commit: nothing to keep.
        let (false, Ok(m)) = (seq == 0, result) else {
            return;
        };
        let mut book = self.book();
        book.by_seq.insert(seq, m.offset());
        let last = book
            .last
            .entry((m.topic().to_owned(), m.partition()))
            .or_insert(m.offset());
        *last = (*last).max(m.offset());
    }
}
