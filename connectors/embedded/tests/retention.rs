//! Retention: expired records of a topic with a retention time are deleted
//! a whole table at a time once they are flushed to tables, never the
//! newest record of a partition, never a topic kept forever; end offsets
//! and consumers carry on as if the records had been read.
//!
//! The backend's own retention thread is turned off (no topic listed); each
//! test runs a pass itself with `enforce_retention` at a `now` of its
//! choosing, against records whose timestamps it picks.

use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions, Retention};
use slotstream_runtime::topics::{BOOKING_EVENTS, REPLIES, TopicSpec};
use slotstream_runtime::{Backend, OutRecord, TopicPartition, Transaction};
use slotstream_testkit::contract::log::{assignment, poll_until, record};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The wall clock the retention passes pretend to run at.
const NOW: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
/// Older than the replies' hour at `NOW`.
const OLD: i64 = NOW - 120 * MINUTE;
/// Younger than the replies' hour at `NOW`.
const FRESH: i64 = NOW - 10 * MINUTE;

/// Replies kept an hour; everything else as the platform keeps it.
fn policy() -> Retention {
    Retention::platform().with(REPLIES.name, Some(Duration::from_secs(3600)))
}

fn open(dir: &Path) -> Arc<EmbeddedBackend> {
    let options = EmbeddedOptions {
        retention: Retention {
            topics: Vec::new(),
            check_every: Duration::from_secs(3600),
        },
        ..EmbeddedOptions::default()
    };
    EmbeddedBackend::open(dir, options).expect("open")
}

fn reopen(backend: Arc<EmbeddedBackend>, dir: &Path) -> Arc<EmbeddedBackend> {
    backend.close();
    drop(backend);
    open(dir)
}

fn tp(spec: TopicSpec, partition: u32) -> TopicPartition {
    TopicPartition::new(spec.name, partition)
}

/// `n` records for one partition, stamped `timestamp`, valued `<tag><i>`.
fn batch(spec: TopicSpec, partition: u32, n: usize, timestamp: i64, tag: &str) -> Vec<OutRecord> {
    (0..n)
        .map(|i| {
            let mut r = record(
                spec.name,
                &format!("k{i}"),
                &format!("{tag}{i}"),
                Some(partition),
            );
            r.timestamp = timestamp;
            r
        })
        .collect()
}

/// Appends the records, then flushes them to tables of their own.
async fn append_and_flush(backend: &EmbeddedBackend, records: Vec<OutRecord>) {
    backend.producer().send(records).await.expect("append");
    backend.flush_log_tables().expect("flush");
}

/// (offset, value) of every record of `tp` from offset 0.
async fn read_all(backend: &EmbeddedBackend, tp: &TopicPartition) -> Vec<(u64, String)> {
    backend
        .reader()
        .read(tp, 0, 10_000, Duration::ZERO)
        .await
        .expect("read")
        .iter()
        .map(|r| {
            (
                r.offset,
                String::from_utf8(r.value.to_vec()).expect("utf-8"),
            )
        })
        .collect()
}

async fn end_offset(backend: &EmbeddedBackend, tp: &TopicPartition) -> u64 {
    backend.reader().end_offset(tp).await.expect("end offset")
}

fn numbered(first: u64, tag: &str, n: u64) -> Vec<(u64, String)> {
    (0..n).map(|i| (first + i, format!("{tag}{i}"))).collect()
}

#[tokio::test]
async fn expired_records_flushed_to_their_own_tables_are_deleted_and_newer_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 0);
    append_and_flush(&backend, batch(REPLIES, 0, 50, OLD, "old")).await;
    append_and_flush(&backend, batch(REPLIES, 0, 10, FRESH, "fresh")).await;
    let everything = [numbered(0, "old", 50), numbered(50, "fresh", 10)].concat();

    // An hour after the old batch nothing has expired yet.
    let trimmed = backend
        .enforce_retention(&policy(), OLD + 30 * MINUTE)
        .expect("retention");
    assert_eq!(trimmed, 0);
    assert_eq!(read_all(&backend, &replies).await, everything);

    let trimmed = backend
        .enforce_retention(&policy(), NOW)
        .expect("retention");
    assert_eq!(trimmed, 1, "one partition had tables dropped");
    let kept = numbered(50, "fresh", 10);
    assert_eq!(
        read_all(&backend, &replies).await,
        kept,
        "a read from offset 0 starts at the first kept record"
    );
    assert_eq!(end_offset(&backend, &replies).await, 60);

    let backend = reopen(backend, dir.path());
    assert_eq!(read_all(&backend, &replies).await, kept, "after a reopen");
    assert_eq!(end_offset(&backend, &replies).await, 60);
    let positions = backend
        .producer()
        .send(batch(REPLIES, 0, 1, NOW, "next"))
        .await
        .expect("append");
    assert_eq!(positions[0].offset, 60, "offsets continue after the end");
}

#[tokio::test]
async fn records_not_yet_flushed_to_a_table_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 0);
    backend
        .producer()
        .send(batch(REPLIES, 0, 20, OLD, "old"))
        .await
        .expect("append");
    backend
        .producer()
        .send(batch(REPLIES, 0, 1, FRESH, "fresh"))
        .await
        .expect("append");

    let trimmed = backend
        .enforce_retention(&policy(), NOW)
        .expect("retention");
    assert_eq!(trimmed, 0, "the memtable is never dropped");
    assert_eq!(read_all(&backend, &replies).await.len(), 21);
}

#[tokio::test]
async fn the_end_offset_survives_a_reopen_when_every_record_but_the_newest_expired() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 2);
    append_and_flush(&backend, batch(REPLIES, 2, 20, OLD, "old")).await;
    // The newest record has expired too, in a table of its own.
    append_and_flush(&backend, batch(REPLIES, 2, 1, OLD + MINUTE, "newest")).await;

    let trimmed = backend
        .enforce_retention(&policy(), NOW)
        .expect("retention");
    assert_eq!(trimmed, 1);
    let newest = vec![(20, "newest0".to_owned())];
    assert_eq!(
        read_all(&backend, &replies).await,
        newest,
        "the newest record is never deleted"
    );

    let backend = reopen(backend, dir.path());
    assert_eq!(end_offset(&backend, &replies).await, 21);
    assert_eq!(read_all(&backend, &replies).await, newest);
    let positions = backend
        .producer()
        .send(batch(REPLIES, 2, 1, NOW, "next"))
        .await
        .expect("append");
    assert_eq!(
        positions[0].offset, 21,
        "no offset is handed out twice after a reopen"
    );
}

#[tokio::test]
async fn events_topics_are_never_trimmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let events = tp(BOOKING_EVENTS, 0);
    let replies = tp(REPLIES, 0);
    for (tag, timestamp) in [("a", OLD), ("b", OLD + MINUTE)] {
        backend
            .producer()
            .send(
                [
                    batch(BOOKING_EVENTS, 0, 10, timestamp, tag),
                    batch(REPLIES, 0, 10, timestamp, tag),
                ]
                .concat(),
            )
            .await
            .expect("append");
        backend.flush_log_tables().expect("flush");
    }
    let policy = policy();
    assert_eq!(
        policy
            .topics
            .iter()
            .find(|(t, _)| t == BOOKING_EVENTS.name)
            .map(|(_, keep)| *keep),
        Some(None),
        "the platform keeps events forever"
    );

    // A year later.
    let trimmed = backend
        .enforce_retention(&policy, NOW + 365 * 24 * 60 * MINUTE)
        .expect("retention");
    assert_eq!(trimmed, 1, "the replies partition, and only it");
    assert_eq!(
        read_all(&backend, &events).await,
        [numbered(0, "a", 10), numbered(10, "b", 10)].concat(),
        "every event is kept"
    );
    assert_eq!(read_all(&backend, &replies).await, numbered(10, "b", 10));
}

#[tokio::test]
async fn a_group_committed_below_the_first_kept_record_continues_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 1);
    append_and_flush(&backend, batch(REPLIES, 1, 30, OLD, "old")).await;
    append_and_flush(&backend, batch(REPLIES, 1, 5, FRESH, "fresh")).await;

    let group = "retention-test";
    let mut s = backend
        .subscribe(group, &[REPLIES], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    s.commit(Transaction {
        offsets: vec![(replies.clone(), 10)],
        ..Transaction::default()
    })
    .await
    .expect("commit");
    drop(s);

    assert_eq!(
        backend
            .enforce_retention(&policy(), NOW)
            .expect("retention"),
        1
    );

    let mut s = backend
        .subscribe(group, &[REPLIES], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    let got = poll_until(&mut *s, |got| got.len() >= 5).await;
    let got: Vec<_> = got
        .iter()
        .map(|r| {
            assert_eq!(r.partition, 1);
            (
                r.offset,
                String::from_utf8(r.value.to_vec()).expect("utf-8"),
            )
        })
        .collect();
    assert_eq!(got, numbered(30, "fresh", 5));
    s.commit(Transaction {
        offsets: vec![(replies.clone(), 35)],
        ..Transaction::default()
    })
    .await
    .expect("commit");
    assert_eq!(
        backend
            .committed_offset(group, &replies)
            .expect("committed"),
        Some(35)
    );
}

#[tokio::test]
async fn retention_of_a_partition_with_one_record_deletes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 3);
    append_and_flush(&backend, batch(REPLIES, 3, 1, OLD, "only")).await;

    let trimmed = backend
        .enforce_retention(&policy(), NOW + 24 * 60 * MINUTE)
        .expect("retention");
    assert_eq!(trimmed, 0);
    assert_eq!(read_all(&backend, &replies).await, numbered(0, "only", 1));
    assert_eq!(end_offset(&backend, &replies).await, 1);
}

/// One record stamped in the past (a clock stepped back, a producer with a
/// skewed clock) in the middle of fresh records must not make the tables
/// below it look expired: as Kafka, retention stops at the first record
/// that has not expired. (A binary search on timestamps got this wrong.)
#[tokio::test]
async fn a_record_with_an_old_timestamp_does_not_expire_the_fresh_records_before_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let replies = tp(REPLIES, 0);
    append_and_flush(&backend, batch(REPLIES, 0, 20, FRESH, "fresh")).await;
    append_and_flush(&backend, batch(REPLIES, 0, 1, OLD, "skewed")).await;
    append_and_flush(&backend, batch(REPLIES, 0, 20, FRESH + MINUTE, "later")).await;

    backend
        .enforce_retention(&policy(), NOW)
        .expect("retention");
    let got = read_all(&backend, &replies).await;
    assert_eq!(
        got.first(),
        Some(&(0, "fresh0".to_owned())),
        "records 0..20 are ten minutes old, well inside the replies' hour"
    );
}
