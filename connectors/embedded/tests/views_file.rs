//! The views file (format 3): the view groups' joins, commits and offsets go
//! to it, its commits keep their rules (epochs fence, no appends), a clean
//! close keeps its unsynced commits, and a views file that does not belong
//! to the log next to it is not trusted.

use slotstream_embedded::contract::log::{assignment, record};
use slotstream_embedded::contract::views::user;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS, groups};
use slotstream_runtime::{
    Backend, LogError, Session, TopicPartition, Transaction, ViewStore, ViewWrite,
};
use std::path::Path;
use std::sync::Arc;

const VIEW_GROUP: &str = groups::VIEWS_IDENTITY.name;
const OTHER_GROUP: &str = "views-file-test";

fn open(dir: &Path) -> Arc<EmbeddedBackend> {
    EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("open")
}

async fn join(backend: &EmbeddedBackend, group: &str) -> Box<dyn Session> {
    let mut s = backend
        .subscribe(group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    s
}

fn tp0() -> TopicPartition {
    TopicPartition::new(BOOKING_COMMANDS.name, 0)
}

/// Appends `n` records to partition 0 of the input topic, so that a view
/// group's offsets up to `n` point at records that exist.
async fn fill(backend: &EmbeddedBackend, n: usize) {
    let records = (0..n)
        .map(|i| record(BOOKING_COMMANDS.name, &format!("k{i}"), "v", Some(0)))
        .collect();
    backend.producer().send(records).await.expect("append");
}

/// A view row and an offset, as a view group commits them.
fn projection(email: &str, offset: u64) -> Transaction {
    let mut txn = Transaction::default();
    txn.views.push(ViewWrite::PutUser(user(email)));
    txn.offsets.push((tp0(), offset));
    txn
}

/// Opens `dir`, appends `records` records, commits a view row for `email`
/// with `offset` as the view group, and closes it all.
async fn project_and_close(dir: &Path, records: usize, email: &str, offset: u64) {
    let backend = open(dir);
    fill(&backend, records).await;
    let mut s = join(&backend, VIEW_GROUP).await;
    s.commit(projection(email, offset)).await.expect("commit");
    drop(s);
    backend.close();
}

async fn has_user(backend: &EmbeddedBackend, email: &str) -> bool {
    backend
        .user_by_email(email)
        .await
        .expect("read the users view")
        .is_some()
}

#[tokio::test]
async fn a_view_groups_commits_survive_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    project_and_close(dir.path(), 3, "kept@x.test", 3).await;

    let backend = open(dir.path());
    assert!(has_user(&backend, "kept@x.test").await);
    assert_eq!(
        backend.committed_offset(VIEW_GROUP, &tp0()).unwrap(),
        Some(3)
    );
    assert_eq!(
        backend.committed_offset(OTHER_GROUP, &tp0()).unwrap(),
        None,
        "offsets are per group"
    );
}

#[tokio::test]
async fn an_older_session_of_a_view_group_is_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut old = join(&backend, VIEW_GROUP).await;
    let mut new = join(&backend, VIEW_GROUP).await;
    let refused = old.commit(projection("zombie@x.test", 9)).await;
    assert!(matches!(refused, Err(LogError::Fenced(_))), "{refused:?}");
    new.commit(projection("live@x.test", 4))
        .await
        .expect("commit");
    assert!(!has_user(&backend, "zombie@x.test").await);
    assert!(has_user(&backend, "live@x.test").await);
    assert_eq!(
        backend.committed_offset(VIEW_GROUP, &tp0()).unwrap(),
        Some(4)
    );
}

#[tokio::test]
async fn a_view_group_cannot_append_and_other_groups_cannot_write_views() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());

    let mut s = join(&backend, VIEW_GROUP).await;
    let mut txn = projection("appending@x.test", 2);
    txn.outputs
        .push(record(BOOKING_EVENTS.name, "k", "v", Some(0)));
    let refused = s.commit(txn).await;
    assert!(matches!(refused, Err(LogError::Invalid(_))), "{refused:?}");

    let mut s = join(&backend, OTHER_GROUP).await;
    let refused = s.commit(projection("stray@x.test", 2)).await;
    assert!(matches!(refused, Err(LogError::Invalid(_))), "{refused:?}");

    // Neither wrote anything.
    for email in ["appending@x.test", "stray@x.test"] {
        assert!(!has_user(&backend, email).await);
    }
    for group in [VIEW_GROUP, OTHER_GROUP] {
        assert_eq!(backend.committed_offset(group, &tp0()).unwrap(), None);
    }
    let end = backend
        .reader()
        .end_offset(&TopicPartition::new(BOOKING_EVENTS.name, 0))
        .await
        .unwrap();
    assert_eq!(end, 0, "no record appended");
}

#[tokio::test]
async fn a_deleted_views_file_is_rebuilt_from_the_start_of_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    project_and_close(dir.path(), 6, "before@x.test", 6).await;
    std::fs::remove_file(dir.path().join("views.redb")).expect("delete the views file");

    let backend = open(dir.path());
    assert!(!has_user(&backend, "before@x.test").await);
    assert_eq!(
        backend.committed_offset(VIEW_GROUP, &tp0()).unwrap(),
        None,
        "the view group starts again from offset 0"
    );
}

#[tokio::test]
async fn a_views_file_left_next_to_a_new_log_is_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    project_and_close(dir.path(), 8, "older@x.test", 8).await;
    std::fs::remove_file(dir.path().join("slotstream.redb")).expect("delete the log file");

    let backend = open(dir.path());
    assert!(!has_user(&backend, "older@x.test").await);
    assert_eq!(backend.committed_offset(VIEW_GROUP, &tp0()).unwrap(), None);
}

#[tokio::test]
async fn a_views_file_ahead_of_its_log_is_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Two records exist; an offset of 5 says views of records that do not.
    project_and_close(dir.path(), 2, "ahead@x.test", 5).await;

    let backend = open(dir.path());
    assert!(!has_user(&backend, "ahead@x.test").await);
    assert_eq!(backend.committed_offset(VIEW_GROUP, &tp0()).unwrap(), None);
}
