//! Processor state kept as a changelog (format 2): restores fold it, compact
//! it, and read state a format-1 file kept in the old keyed table; commits
//! that append nothing survive a clean close even when not fsynced alone.

use bytes::Bytes;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::BOOKING_COMMANDS;
use slotstream_runtime::{Backend, Poll, Session, StateWrite, Transaction};
use std::path::Path;
use std::time::Duration;

const GROUP: &str = "state-log-test";

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

fn entry(key: &str, value: &str) -> (Bytes, Bytes) {
    (
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    )
}

async fn session(backend: &EmbeddedBackend) -> Box<dyn Session> {
    let mut s = backend
        .subscribe(GROUP, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    let first = s.poll(1, Duration::ZERO).await.expect("poll");
    assert!(matches!(first, Poll::Assigned(_)), "first poll assigns");
    s
}

async fn commit_state(s: &mut dyn Session, state: Vec<StateWrite>) {
    let txn = Transaction {
        state,
        ..Transaction::default()
    };
    s.commit(txn).await.expect("commit");
}

fn open(dir: &Path) -> std::sync::Arc<EmbeddedBackend> {
    EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("open")
}

#[tokio::test]
async fn a_restore_sees_the_last_write_of_each_key_and_no_deleted_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    commit_state(
        &mut *s,
        vec![put(3, "a", "1"), put(3, "b", "1"), put(4, "a", "x")],
    )
    .await;
    commit_state(
        &mut *s,
        vec![put(3, "a", "2"), delete(3, "b"), put(3, "c", "1")],
    )
    .await;
    drop(s);
    let mut s = session(&backend).await;
    assert_eq!(
        s.restore(3).await.expect("restore"),
        vec![entry("a", "2"), entry("c", "1")]
    );
    assert_eq!(s.restore(4).await.expect("restore"), vec![entry("a", "x")]);
    assert!(s.restore(5).await.expect("restore").is_empty());
}

#[tokio::test]
async fn a_long_changelog_is_compacted_without_changing_the_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let backend = open(dir.path());
        let mut s = session(&backend).await;
        for round in 0..30 {
            let writes = (0..100)
                .map(|i| put(1, &format!("k{}", i % 10), &format!("{round}-{i}")))
                .collect();
            commit_state(&mut *s, writes).await;
        }
        commit_state(&mut *s, vec![delete(1, "k0")]).await;
    }
    let expected: Vec<_> = (1..10)
        .map(|i| entry(&format!("k{i}"), &format!("29-{}", 90 + i)))
        .collect();
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    // 3,001 entries for 9 live keys: this restore compacts.
    assert_eq!(s.restore(1).await.expect("restore"), expected);
    commit_state(&mut *s, vec![put(1, "k1", "after")]).await;
    drop(s);
    let mut s = session(&backend).await;
    let mut after = expected.clone();
    after[0] = entry("k1", "after");
    assert_eq!(
        s.restore(1).await.expect("restore"),
        after,
        "writes after a compaction fold on top of it"
    );
    drop(s);
    backend.close();
    drop(backend);
    let db = redb::Database::open(dir.path().join("slotstream.redb")).expect("redb open");
    let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
    let log: redb::TableDefinition<(&str, u32, u64), &[u8]> =
        redb::TableDefinition::new("state_log");
    let table = txn.open_table(log).expect("state_log");
    let stored = redb::ReadableTable::range(&table, (GROUP, 1, 0)..=(GROUP, 1, u64::MAX))
        .expect("range")
        .count();
    assert_eq!(stored, 10, "9 compacted entries and the write after them");
}

#[tokio::test]
async fn state_from_a_format_1_file_is_restored_and_moved_to_the_changelog() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        // Make a current file, then turn it into what format 1 wrote: the
        // state in the keyed `state` table and the version set to 1.
        drop(open(dir.path()));
        let db = redb::Database::open(dir.path().join("slotstream.redb")).expect("redb open");
        let txn = db.begin_write().expect("begin");
        {
            let state: redb::TableDefinition<(&str, u32, &[u8]), &[u8]> =
                redb::TableDefinition::new("state");
            let mut t = txn.open_table(state).expect("state table");
            t.insert((GROUP, 2, &b"old"[..]), &b"v1"[..])
                .expect("insert");
            t.insert((GROUP, 2, &b"gone"[..]), &b"v1"[..])
                .expect("insert");
            t.insert((GROUP, 3, &b"other"[..]), &b"v3"[..])
                .expect("insert");
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            txn.open_table(meta)
                .expect("meta")
                .insert("format", 1)
                .expect("version");
        }
        txn.commit().expect("commit");
    }
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    assert_eq!(
        s.restore(2).await.expect("restore"),
        vec![entry("gone", "v1"), entry("old", "v1")]
    );
    commit_state(&mut *s, vec![delete(2, "gone"), put(2, "new", "v2")]).await;
    drop(s);
    let mut s = session(&backend).await;
    assert_eq!(
        s.restore(2).await.expect("restore"),
        vec![entry("new", "v2"), entry("old", "v1")],
        "a delete after the upgrade removes a format-1 key for good"
    );
    assert_eq!(
        s.restore(3).await.expect("restore"),
        vec![entry("other", "v3")],
        "other partitions keep their format-1 state"
    );
}

#[tokio::test]
async fn a_commit_that_appends_nothing_survives_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let backend = open(dir.path());
        let mut s = session(&backend).await;
        // Derived-only: committed without its own fsync, persisted at close.
        commit_state(&mut *s, vec![put(0, "derived", "yes")]).await;
        drop(s);
        backend.close();
    }
    let backend = open(dir.path());
    let mut s = session(&backend).await;
    assert_eq!(
        s.restore(0).await.expect("restore"),
        vec![entry("derived", "yes")]
    );
}
