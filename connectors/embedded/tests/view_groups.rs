//! The view groups (`EmbeddedOptions::view_groups`): their joins and commits
//! go through the views writer, which keeps their rules (epochs fence, views
//! only from view groups, no appends from them); a clean close keeps their
//! unsynced commits; and a views rebuild clears every view and the view
//! groups' offsets, state and epochs, and nothing else.

use bytes::Bytes;
use slotstream_domain::{BookingId, PaymentId, ResourceId, UserId};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS, Group, groups};
use slotstream_runtime::{
    Backend, LogError, Session, StateEntry, StateWrite, TopicPartition, Transaction, ViewStore,
    ViewWrite,
};
use slotstream_testkit::contract::log::{assignment, poll_until, record};
use slotstream_testkit::contract::views::{booking, resource, user};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const VIEWS: Group = groups::VIEWS_BOOKING;
const OTHER: Group = groups::BOOKING;

fn open(dir: &Path) -> Arc<EmbeddedBackend> {
    EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("open")
}

fn reopen(backend: Arc<EmbeddedBackend>, dir: &Path) -> Arc<EmbeddedBackend> {
    backend.close();
    drop(backend);
    open(dir)
}

/// A session of `group` (by name) on `inputs`, member 0 of 1, past its assignment.
async fn join(
    backend: &EmbeddedBackend,
    group: &str,
    inputs: &[slotstream_runtime::TopicSpec],
) -> Box<dyn Session> {
    let mut s = backend
        .subscribe(group, inputs, 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    s
}

async fn join_group(backend: &EmbeddedBackend, group: Group) -> Box<dyn Session> {
    join(backend, group.name, group.inputs).await
}

/// Partition 0 of booking-events: an input of both groups used here.
fn tp0() -> TopicPartition {
    TopicPartition::new(BOOKING_EVENTS.name, 0)
}

/// Appends `n` records to partition 0 of booking-events.
async fn fill(backend: &EmbeddedBackend, n: usize) {
    let records = (0..n)
        .map(|i| {
            record(
                BOOKING_EVENTS.name,
                &format!("k{i}"),
                &format!("v{i}"),
                Some(0),
            )
        })
        .collect();
    backend.producer().send(records).await.expect("append");
}

fn put(partition: u32, key: &str, value: &str) -> StateWrite {
    StateWrite {
        partition,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
    }
}

fn entry(key: &str, value: &str) -> StateEntry {
    (
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    )
}

/// A view row and an offset, as a view group commits them.
fn projection(email: &str, offset: u64) -> Transaction {
    Transaction {
        views: vec![ViewWrite::PutUser(user(email))],
        offsets: vec![(tp0(), offset)],
        ..Transaction::default()
    }
}

async fn has_user(backend: &EmbeddedBackend, email: &str) -> bool {
    backend
        .user_by_email(email)
        .await
        .expect("read the users view")
        .is_some()
}

async fn end_offset(backend: &EmbeddedBackend, tp: &TopicPartition) -> u64 {
    backend.reader().end_offset(tp).await.expect("end offset")
}

#[tokio::test]
async fn a_view_groups_commits_survive_a_clean_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    fill(&backend, 3).await;
    let mut s = join_group(&backend, VIEWS).await;
    let mut txn = projection("kept@x.test", 3);
    txn.state.push(put(0, "seen", "3"));
    s.commit(txn).await.expect("commit");
    drop(s);

    let backend = reopen(backend, dir.path());
    assert!(has_user(&backend, "kept@x.test").await);
    assert_eq!(
        backend
            .committed_offset(VIEWS.name, &tp0())
            .expect("committed"),
        Some(3)
    );
    assert_eq!(
        backend
            .committed_offset(OTHER.name, &tp0())
            .expect("committed"),
        None,
        "offsets are per group"
    );
    let mut s = join_group(&backend, VIEWS).await;
    assert_eq!(
        s.restore(0).await.expect("restore"),
        vec![entry("seen", "3")]
    );
}

#[tokio::test]
async fn an_older_session_of_a_view_group_is_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut old = join_group(&backend, VIEWS).await;
    let mut new = join_group(&backend, VIEWS).await;
    let refused = old.commit(projection("zombie@x.test", 9)).await;
    assert!(matches!(refused, Err(LogError::Fenced(_))), "{refused:?}");
    new.commit(projection("live@x.test", 4))
        .await
        .expect("commit");
    assert!(!has_user(&backend, "zombie@x.test").await);
    assert!(has_user(&backend, "live@x.test").await);
    assert_eq!(
        backend
            .committed_offset(VIEWS.name, &tp0())
            .expect("committed"),
        Some(4)
    );
}

#[tokio::test]
async fn a_view_groups_session_cannot_append_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = join_group(&backend, VIEWS).await;
    let mut txn = projection("appending@x.test", 2);
    txn.outputs
        .push(record(BOOKING_COMMANDS.name, "k", "v", Some(0)));
    let refused = s.commit(txn).await;
    assert!(matches!(refused, Err(LogError::Invalid(_))), "{refused:?}");

    assert!(
        !has_user(&backend, "appending@x.test").await,
        "no view written"
    );
    assert_eq!(
        backend
            .committed_offset(VIEWS.name, &tp0())
            .expect("committed"),
        None,
        "no offset committed"
    );
    let commands = TopicPartition::new(BOOKING_COMMANDS.name, 0);
    assert_eq!(
        end_offset(&backend, &commands).await,
        0,
        "no record appended"
    );
    // The refusal does not fence or break the session.
    s.commit(projection("after@x.test", 0))
        .await
        .expect("a valid commit after the refused one");
    assert!(has_user(&backend, "after@x.test").await);
}

#[tokio::test]
async fn a_group_that_is_not_a_view_group_cannot_commit_view_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = open(dir.path());
    let mut s = join_group(&backend, OTHER).await;
    let mut txn = projection("stray@x.test", 2);
    txn.outputs
        .push(record(BOOKING_COMMANDS.name, "k", "v", Some(0)));
    let refused = s.commit(txn).await;
    assert!(matches!(refused, Err(LogError::Invalid(_))), "{refused:?}");

    assert!(!has_user(&backend, "stray@x.test").await);
    assert_eq!(
        backend
            .committed_offset(OTHER.name, &tp0())
            .expect("committed"),
        None
    );
    let commands = TopicPartition::new(BOOKING_COMMANDS.name, 0);
    assert_eq!(
        end_offset(&backend, &commands).await,
        0,
        "the whole commit was refused, its output too"
    );
}

#[tokio::test]
async fn the_view_groups_are_the_ones_the_options_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions {
        view_groups: vec!["custom-views".to_owned()],
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(dir.path(), options).expect("open");
    let mut custom = join(&backend, "custom-views", VIEWS.inputs).await;
    custom
        .commit(projection("custom@x.test", 1))
        .await
        .expect("a named view group writes views");
    let mut platform = join_group(&backend, VIEWS).await;
    let refused = platform.commit(projection("platform@x.test", 1)).await;
    assert!(
        matches!(refused, Err(LogError::Invalid(_))),
        "a platform view group not named in the options is an ordinary group: {refused:?}"
    );
    assert!(has_user(&backend, "custom@x.test").await);
    assert!(!has_user(&backend, "platform@x.test").await);
}

#[tokio::test]
async fn a_views_rebuild_clears_every_view_and_the_view_groups_progress_and_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let commands = TopicPartition::new(BOOKING_COMMANDS.name, 0);
    let b = booking("bk-rebuild", "u-rebuild", "r-rebuild", 1000, 2000, 10);
    {
        let backend = open(dir.path());
        fill(&backend, 4).await;
        backend
            .producer()
            .send(vec![record(BOOKING_COMMANDS.name, "c", "command", Some(0))])
            .await
            .expect("append");
        // Every view table and index gets an entry.
        let mut s = join_group(&backend, VIEWS).await;
        let txn = Transaction {
            views: vec![
                ViewWrite::PutUser(user("before@x.test")),
                ViewWrite::PutResource(resource("r-rebuild", "vendor", "room")),
                ViewWrite::PutBooking(b.clone()),
                ViewWrite::PutPayment(payment()),
            ],
            state: vec![put(0, "seen", "4")],
            offsets: vec![(tp0(), 4)],
            ..Transaction::default()
        };
        s.commit(txn).await.expect("view group commit");
        drop(s);
        let mut other = join_group(&backend, OTHER).await;
        let txn = Transaction {
            state: vec![put(0, "other", "kept")],
            offsets: vec![(commands.clone(), 1)],
            ..Transaction::default()
        };
        other.commit(txn).await.expect("other group commit");
        drop(other);
        assert!(
            has_user(&backend, "before@x.test").await,
            "the setup wrote views"
        );
        backend.close();
    }
    EmbeddedBackend::rebuild_views_at_next_open(dir.path()).expect("mark the views");

    let backend = open(dir.path());
    assert!(
        !dir.path().join("REBUILD_VIEWS").exists(),
        "the mark is consumed"
    );
    assert_views_empty(&backend, &b).await;
    assert_eq!(
        backend
            .committed_offset(VIEWS.name, &tp0())
            .expect("committed"),
        None,
        "the view group's offsets are gone"
    );
    // The log and the other group are untouched.
    assert_eq!(end_offset(&backend, &tp0()).await, 4);
    assert_eq!(end_offset(&backend, &commands).await, 1);
    let records = backend
        .reader()
        .read(&tp0(), 0, 10, Duration::ZERO)
        .await
        .expect("read");
    let values: Vec<_> = records.iter().map(|r| &r.value[..]).collect();
    assert_eq!(values, [b"v0", b"v1", b"v2", b"v3"]);
    assert_eq!(
        backend
            .committed_offset(OTHER.name, &commands)
            .expect("committed"),
        Some(1)
    );
    let mut other = join_group(&backend, OTHER).await;
    assert_eq!(
        other.restore(0).await.expect("restore"),
        vec![entry("other", "kept")]
    );
    drop(other);

    // The view group starts again at offset 0 with empty state.
    let mut s = join_group(&backend, VIEWS).await;
    assert!(s.restore(0).await.expect("restore").is_empty());
    let got = poll_until(&mut *s, |got| got.len() >= 4).await;
    let offsets: Vec<_> = got
        .iter()
        .filter(|r| *r.topic == *BOOKING_EVENTS.name && r.partition == 0)
        .map(|r| r.offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
    s.commit(projection("rebuilt@x.test", 4))
        .await
        .expect("the view group commits after the rebuild");
    drop(s);

    // Cleared stays cleared, and the mark is not applied twice.
    let backend = reopen(backend, dir.path());
    assert!(!has_user(&backend, "before@x.test").await);
    assert!(has_user(&backend, "rebuilt@x.test").await);
    assert_eq!(
        backend
            .committed_offset(VIEWS.name, &tp0())
            .expect("committed"),
        Some(4)
    );
}

fn payment() -> slotstream_runtime::PaymentView {
    slotstream_runtime::PaymentView {
        id: PaymentId::new("pay-rebuild"),
        booking_id: BookingId::new("bk-rebuild"),
        resource_id: ResourceId::new("r-rebuild"),
        user_id: UserId::new("u-rebuild"),
        status: slotstream_domain::payment::PaymentStatus::RequiresPayment,
        amount: slotstream_domain::Money::new(1500, "EUR"),
        refunded_amount: 0,
        checkout_url: "https://pay.example/checkout".into(),
        updated_at: 10,
    }
}

/// No row and no index entry of the views written before the rebuild.
async fn assert_views_empty(backend: &EmbeddedBackend, b: &slotstream_runtime::BookingView) {
    assert!(!has_user(backend, "before@x.test").await);
    assert_eq!(backend.booking(&b.id).await.expect("booking"), None);
    let by_user = backend
        .bookings_by_user(&b.user_id, None, 10, None)
        .await
        .expect("by user");
    assert!(by_user.items.is_empty());
    let by_resource = backend
        .bookings_by_resource(&b.resource_id, 0, i64::MAX, 10, None)
        .await
        .expect("by resource");
    assert!(by_resource.items.is_empty());
    let by_vendor = backend
        .bookings_by_vendor(&b.vendor_id, 0, i64::MAX, 10, None)
        .await
        .expect("by vendor");
    assert!(by_vendor.items.is_empty());
    let resources = backend
        .resources(None, None, 10, None)
        .await
        .expect("resources");
    assert!(resources.items.is_empty());
    let by_kind = backend
        .resources(None, Some("room"), 10, None)
        .await
        .expect("by kind");
    assert!(by_kind.items.is_empty());
    assert_eq!(
        backend
            .payment(&PaymentId::new("pay-rebuild"))
            .await
            .expect("payment"),
        None
    );
}
