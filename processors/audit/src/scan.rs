//! The auditor once over the whole log (`slotstream audit --from-beginning`):
//! every partition of the booking and payment events from offset 0 to the
//! end it had when the scan started, through the same [`Ledger`] as the
//! continuous role, without a consumer group (nothing is committed).
//!
//! The two topics of a partition are merged by record time, as they were
//! written. Checks that wait (a hold's deadline, a payment's pairing, plus
//! the slack) run as event time passes them, and once more at the end
//! against `now`: a hold still pending past its deadline plus the slack
//! when the scan ends is a violation.

use crate::ledger::{Kind, Ledger, Violation};
use crate::processor::feed;
use slotstream_domain::Millis;
use slotstream_runtime::{ConsumedRecord, LogError, LogReader, TopicPartition, topics};
use slotstream_schemas::Codec;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Records read per call.
const CHUNK: usize = 2048;

/// What a scan found.
#[derive(Debug, Default)]
pub struct Report {
    /// Records read (both topics, every partition).
    pub records: u64,
    /// Records that did not decode (skipped).
    pub undecodable: u64,
    /// Bookings and payments still tracked at the end (not yet settled).
    pub tracked: (usize, usize),
    /// Everything found, in the order found.
    pub violations: Vec<Violation>,
}

impl Report {
    /// Violations per kind (every kind, zeros included).
    pub fn by_kind(&self) -> BTreeMap<Kind, usize> {
        let mut m: BTreeMap<Kind, usize> = Kind::ALL.iter().map(|k| (*k, 0)).collect();
        for v in &self.violations {
            *m.entry(v.kind).or_default() += 1;
        }
        m
    }

    /// True when nothing was found.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Reads one partition of a topic in order, up to the end it had at start.
struct Cursor<'a> {
    reader: &'a dyn LogReader,
    tp: TopicPartition,
    next: u64,
    end: u64,
    buf: VecDeque<ConsumedRecord>,
    done: bool,
}

impl<'a> Cursor<'a> {
    async fn open(
        reader: &'a dyn LogReader,
        topic: &str,
        partition: u32,
    ) -> Result<Self, LogError> {
        let tp = TopicPartition::new(topic, partition);
        let end = reader.end_offset(&tp).await?;
        Ok(Self {
            reader,
            tp,
            next: 0,
            end,
            buf: VecDeque::new(),
            done: end == 0,
        })
    }

    /// The next record, without taking it.
    async fn peek(&mut self) -> Result<Option<&ConsumedRecord>, LogError> {
        if self.buf.is_empty() && !self.done {
            let got = self
                .reader
                .read(&self.tp, self.next, CHUNK, Duration::ZERO)
                .await?;
            for r in got {
                if r.offset >= self.end {
                    break;
                }
                self.next = r.offset + 1;
                self.buf.push_back(r);
            }
            // Offsets may have gaps (Kafka's transaction markers, records
            // removed by retention): an empty read below the end is the end.
            self.done = self.buf.is_empty() || self.next >= self.end;
        }
        Ok(self.buf.front())
    }

    fn take(&mut self) -> Option<ConsumedRecord> {
        self.buf.pop_front()
    }
}

/// Audits every partition from the beginning. `now` is the instant the
/// final checks run at (holds still pending, payments still unanswered);
/// `on_violation` sees each finding as it is found.
pub async fn scan(
    reader: &dyn LogReader,
    codec: &Codec,
    slack: Millis,
    now: Millis,
    mut on_violation: impl FnMut(&Violation),
) -> Result<Report, LogError> {
    let mut report = Report::default();
    for p in 0..topics::RESOURCE_PARTITIONS {
        let mut ledger = Ledger::new(slack);
        let mut bookings = Cursor::open(reader, topics::BOOKING_EVENTS.name, p).await?;
        let mut payments = Cursor::open(reader, topics::PAYMENT_EVENTS.name, p).await?;
        loop {
            let b = bookings.peek().await?.map(|r| r.timestamp);
            let q = payments.peek().await?.map(|r| r.timestamp);
            let next = match (b, q) {
                (None, None) => break,
                // Ties go to the booking side: a hold precedes what follows it.
                (Some(b), Some(q)) if q < b => payments.take(),
                (Some(_), _) => bookings.take(),
                (None, Some(_)) => payments.take(),
            };
            let Some(record) = next else { break };
            report.records += 1;
            let mut found = match feed(codec, &mut ledger, &record) {
                Some(found) => found,
                None => {
                    report.undecodable += 1;
                    Vec::new()
                }
            };
            found.extend(ledger.due(ledger.newest()));
            for v in found {
                on_violation(&v);
                report.violations.push(v);
            }
        }
        for v in ledger.due(now) {
            on_violation(&v);
            report.violations.push(v);
        }
        let (b, q) = ledger.len();
        report.tracked.0 += b;
        report.tracked.1 += q;
    }
    Ok(report)
}
