//! The log port contract, run against the embedded backend, plus what only
//! the embedded backend promises (reopen, static fencing of polls, fairness).

use bytes::Bytes;
use slotstream_embedded::{EmbeddedBackend, EmbeddedError, EmbeddedOptions};
use slotstream_runtime::topics::BOOKING_COMMANDS;
use slotstream_runtime::{Backend, LogError, Poll, StateWrite, TopicPartition, Transaction};
use slotstream_testkit::contract::log::{self as contract, assignment, poll_until, record};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

fn open() -> (TempDir, Arc<EmbeddedBackend>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("open");
    (dir, backend)
}

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (_dir, backend) = open();
            contract::$name(&*backend).await;
        }
    )*};
}

contract_tests!(
    keyed_records_land_on_murmur2_partitions,
    headers_travel_with_records,
    offsets_are_dense_and_ordered,
    invalid_records_are_refused_without_harming_others,
    readers_are_woken_by_new_data,
    committed_offsets_resume_in_a_new_session,
    commits_are_atomic_and_fenced_sessions_write_nothing,
    a_failed_commit_rewinds_to_committed_offsets,
    static_members_split_task_partitions,
);

#[tokio::test]
async fn records_offsets_and_state_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, 5);
    {
        let backend = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("open");
        let records = (0..10)
            .map(|i| record(BOOKING_COMMANDS.name, "k", &i.to_string(), Some(5)))
            .collect();
        backend.producer().send(records).await.expect("send");
        let mut session = backend
            .subscribe("g", &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe");
        assignment(&mut *session).await;
        poll_until(&mut *session, |rs| rs.len() >= 10).await;
        let txn = Transaction {
            state: vec![StateWrite {
                partition: 5,
                key: Bytes::from_static(b"seen"),
                value: Some(Bytes::from_static(b"7")),
            }],
            offsets: vec![(tp.clone(), 7)],
            ..Transaction::default()
        };
        session.commit(txn).await.expect("commit");
    }
    let backend = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("reopen");
    assert_eq!(
        backend.reader().end_offset(&tp).await.expect("end"),
        10,
        "end offset recovered"
    );
    assert_eq!(backend.committed_offset("g", &tp).expect("offset"), Some(7));
    let next = backend
        .producer()
        .send(vec![record(BOOKING_COMMANDS.name, "k", "10", Some(5))])
        .await
        .expect("send after reopen");
    assert_eq!(
        next[0].offset, 10,
        "offsets continue densely after a reopen"
    );
    let mut session = backend
        .subscribe("g", &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    let state = session.restore(5).await.expect("restore");
    assert_eq!(
        state,
        vec![(Bytes::from_static(b"seen"), Bytes::from_static(b"7"))]
    );
    let got = poll_until(&mut *session, |rs| rs.len() >= 4).await;
    let offsets: Vec<u64> = got.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        vec![7, 8, 9, 10],
        "resumes at the committed offset"
    );
}

#[tokio::test]
async fn a_fenced_session_can_no_longer_poll_or_restore() {
    let (_dir, backend) = open();
    let mut old = backend
        .subscribe("g", &[BOOKING_COMMANDS], 0, 2)
        .await
        .expect("subscribe");
    let _new = backend
        .subscribe("g", &[BOOKING_COMMANDS], 0, 2)
        .await
        .expect("subscribe again");
    let poll = old.poll(10, Duration::from_millis(10)).await;
    assert!(matches!(poll, Err(LogError::Fenced(_))), "poll: {poll:?}");
    let restore = old.restore(0).await;
    assert!(
        matches!(restore, Err(LogError::Fenced(_))),
        "restore: {restore:?}"
    );
    let mut other = backend
        .subscribe("g", &[BOOKING_COMMANDS], 1, 2)
        .await
        .expect("member 1");
    let poll = other.poll(10, Duration::from_millis(10)).await;
    assert!(
        matches!(poll, Ok(Poll::Assigned(_))),
        "another member is not fenced: {poll:?}"
    );
}

#[tokio::test]
async fn polls_share_records_fairly_across_partitions() {
    let (_dir, backend) = open();
    for p in [0, 1] {
        let records = (0..200)
            .map(|i| record(BOOKING_COMMANDS.name, "k", &i.to_string(), Some(p)))
            .collect();
        backend.producer().send(records).await.expect("send");
    }
    let mut session = backend
        .subscribe("g", &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    for _ in 0..4 {
        let Ok(Poll::Records(rs)) = session.poll(50, Duration::from_secs(5)).await else {
            panic!("records expected");
        };
        assert_eq!(rs.len(), 50, "a full batch");
        let from_p0 = rs.iter().filter(|r| r.partition == 0).count();
        assert_eq!(from_p0, 25, "half of each batch from each busy partition");
    }
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let (dir, _backend) = open();
    let second = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default());
    assert!(
        matches!(second, Err(EmbeddedError::Locked { .. })),
        "{second:?}"
    );
}

#[tokio::test]
async fn writes_after_close_fail_with_closed_and_reads_still_work() {
    let (_dir, backend) = open();
    let producer = backend.producer();
    producer
        .send(vec![record(BOOKING_COMMANDS.name, "k", "before", Some(0))])
        .await
        .expect("send");
    backend.close();
    let after = producer
        .send(vec![record(BOOKING_COMMANDS.name, "k", "after", Some(0))])
        .await;
    assert!(matches!(after, Err(LogError::Closed)), "{after:?}");
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, 0);
    let got = backend
        .reader()
        .read(&tp, 0, 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(got.len(), 1, "what was acked before the close is there");
}

#[tokio::test]
async fn non_durable_writes_are_kept_by_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = EmbeddedOptions {
        durable: false,
        max_group: 64,
        ..EmbeddedOptions::default()
    };
    {
        let backend = EmbeddedBackend::open(dir.path(), fast).expect("open");
        let records = (0..100)
            .map(|i| record(BOOKING_COMMANDS.name, "k", &i.to_string(), Some(2)))
            .collect();
        backend.producer().send(records).await.expect("send");
    }
    let backend = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("reopen");
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, 2);
    assert_eq!(backend.reader().end_offset(&tp).await.expect("end"), 100);
}
