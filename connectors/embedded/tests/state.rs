//! Processor state in the `state` keyspace: a restore reads exactly the live
//! entries the committed transactions left (last write of each key wins, a
//! delete is a tombstone), per group and task partition, across reopens;
//! commits that append nothing survive a clean close; a fenced session's
//! state writes are never seen.

use bytes::Bytes;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::BOOKING_COMMANDS;
use slotstream_runtime::{
    Backend, LogError, Session, StateEntry, StateWrite, TopicPartition, Transaction,
};
use slotstream_testkit::contract::log::assignment;
use std::path::Path;
use std::sync::Arc;

const GROUP: &str = "state-test";

fn put(partition: u32, key: &str, value: &str) -> StateWrite {
    StateWrite {
        partition,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
    }
}

fn delete(partition: u32, key: &str) -> StateWrite {
    StateWrite {
        partition,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: None,
    }
}

fn entry(key: &str, value: &str) -> StateEntry {
    (
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    )
}

fn open(dir: &Path) -> Arc<EmbeddedBackend> {
    EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("open")
}

/// A session of `group` (member 0 of 1), past its assignment.
async fn session_of(backend: &EmbeddedBackend, group: &str) -> Box<dyn Session> {
    let mut s = backend
        .subscribe(group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    s
}

async fn session(backend: &EmbeddedBackend) -> Box<dyn Session> {
    session_of(backend, GROUP).await
}

async fn commit_state(s: &mut dyn Session, state: Vec<StateWrite>) {
    let txn = Transaction {
        state,
        ..Transaction::default()
    };
    s.commit(txn).await.expect("commit");
}

async fn restore(s: &mut dyn Session, partition: u32) -> Vec<StateEntry> {
    s.restore(partition).await.expect("restore")
}

/// Closes the backend and opens the directory again.
fn reopen(backend: Arc<EmbeddedBackend>, dir: &Path) -> Arc<EmbeddedBackend> {
    backend.close();
    drop(backend);
    open(dir)
}

#[tokio::test]
async fn a_restore_sees_the_last_write_of_each_key_and_no_deleted_key_in_every_partition_after_a_reopen()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    commit_state(
        &mut *s,
        vec![
            put(3, "a", "1"),
            put(3, "b", "1"),
            put(4, "a", "x"),
            put(4, "b", "y"),
        ],
    )
    .await;
    commit_state(
        &mut *s,
        vec![put(3, "a", "2"), delete(3, "b"), put(3, "c", "1")],
    )
    .await;
    drop(s);

    let expected_3 = vec![entry("a", "2"), entry("c", "1")];
    let expected_4 = vec![entry("a", "x"), entry("b", "y")];
    let mut s = session(&backend).await;
    assert_eq!(restore(&mut *s, 3).await, expected_3);
    assert_eq!(
        restore(&mut *s, 4).await,
        expected_4,
        "a delete in partition 3 leaves the same key of partition 4 alone"
    );
    assert!(restore(&mut *s, 5).await.is_empty());
    drop(s);

    let backend = reopen(backend, dir.path());
    let mut s = session(&backend).await;
    assert_eq!(restore(&mut *s, 3).await, expected_3, "after a reopen");
    assert_eq!(restore(&mut *s, 4).await, expected_4, "after a reopen");
    assert!(restore(&mut *s, 5).await.is_empty());
}

#[tokio::test]
async fn a_deleted_key_stays_deleted_after_reopens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    commit_state(&mut *s, vec![put(1, "gone", "v"), put(1, "kept", "v")]).await;
    drop(s);

    // The put is durable in an earlier run; the tombstone comes in a later one.
    let backend = reopen(backend, dir.path());
    let mut s = session(&backend).await;
    assert_eq!(
        restore(&mut *s, 1).await,
        vec![entry("gone", "v"), entry("kept", "v")]
    );
    commit_state(&mut *s, vec![delete(1, "gone")]).await;
    drop(s);

    let mut backend = backend;
    for round in 0..2 {
        backend = reopen(backend, dir.path());
        let mut s = session(&backend).await;
        assert_eq!(
            restore(&mut *s, 1).await,
            vec![entry("kept", "v")],
            "reopen {round}: the tombstone still hides the older put"
        );
    }
}

#[tokio::test]
async fn a_commit_that_appends_nothing_survives_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions::default();
    assert!(
        options.durable && options.relaxed_derived,
        "the default options skip the fsync of a derived-only commit"
    );
    let backend = EmbeddedBackend::open(dir.path(), options).expect("open");
    let mut s = session(&backend).await;
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, 0);
    // Derived-only: committed without its own fsync, made durable at close.
    let txn = Transaction {
        state: vec![put(0, "derived", "yes")],
        offsets: vec![(tp.clone(), 0)],
        ..Transaction::default()
    };
    s.commit(txn).await.expect("commit");
    drop(s);

    let backend = reopen(backend, dir.path());
    let mut s = session(&backend).await;
    assert_eq!(restore(&mut *s, 0).await, vec![entry("derived", "yes")]);
    assert_eq!(
        backend.committed_offset(GROUP, &tp).expect("committed"),
        Some(0)
    );
}

#[tokio::test]
async fn a_fenced_sessions_state_writes_are_not_visible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut old = session(&backend).await;
    commit_state(&mut *old, vec![put(2, "k", "before")]).await;

    let mut new = session(&backend).await;
    let refused = old
        .commit(Transaction {
            state: vec![put(2, "k", "zombie"), put(2, "extra", "zombie")],
            ..Transaction::default()
        })
        .await;
    assert!(matches!(refused, Err(LogError::Fenced(_))), "{refused:?}");
    assert_eq!(restore(&mut *new, 2).await, vec![entry("k", "before")]);

    commit_state(&mut *new, vec![put(2, "k", "after")]).await;
    drop((old, new));
    let backend = reopen(backend, dir.path());
    let mut s = session(&backend).await;
    assert_eq!(
        restore(&mut *s, 2).await,
        vec![entry("k", "after")],
        "after a reopen too"
    );
}

#[tokio::test]
async fn many_overwrites_of_few_keys_restore_exactly_the_live_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    for round in 0..30 {
        let writes = (0..100)
            .map(|i| put(1, &format!("k{}", i % 10), &format!("{round}-{i}")))
            .collect();
        commit_state(&mut *s, writes).await;
    }
    commit_state(&mut *s, vec![delete(1, "k0")]).await;
    drop(s);

    // The last round wrote k{j} last with i = 90 + j.
    let expected: Vec<_> = (1..10)
        .map(|j| entry(&format!("k{j}"), &format!("29-{}", 90 + j)))
        .collect();
    let mut s = session(&backend).await;
    assert_eq!(restore(&mut *s, 1).await, expected);
    drop(s);

    let backend = reopen(backend, dir.path());
    let mut s = session(&backend).await;
    assert_eq!(restore(&mut *s, 1).await, expected, "after a reopen");
    commit_state(&mut *s, vec![put(1, "k1", "after"), put(1, "k0", "back")]).await;
    drop(s);
    let mut s = session(&backend).await;
    let mut after = expected.clone();
    after[0] = entry("k1", "after");
    after.insert(0, entry("k0", "back"));
    assert_eq!(
        restore(&mut *s, 1).await,
        after,
        "later writes land on top of the overwritten keys"
    );
}

#[tokio::test]
async fn a_groups_state_is_not_seen_by_a_group_whose_name_extends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let longer = format!("{GROUP}-2");
    let mut s = session(&backend).await;
    commit_state(&mut *s, vec![put(0, "mine", "1")]).await;
    let mut other = session_of(&backend, &longer).await;
    commit_state(&mut *other, vec![put(0, "theirs", "2")]).await;

    assert_eq!(restore(&mut *s, 0).await, vec![entry("mine", "1")]);
    assert_eq!(restore(&mut *other, 0).await, vec![entry("theirs", "2")]);
}
