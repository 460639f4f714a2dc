//! Upgrading a data directory of an older release in place: the redb files
//! of formats 2 and 3 are built here by hand, exactly as those releases laid
//! them out (`git show <release>:connectors/embedded/src/schema.rs`), then
//! opened. Every record, committed offset, epoch, state entry and view must
//! come through, the redb files must be gone, and a migration interrupted
//! before or after its commit point (the rename of `store.migrating/` to
//! `store/`) must end in the same place.

use bytes::Bytes;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::payment::PaymentStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::time::HOUR;
use slotstream_domain::{BookingId, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{
    self, BOOKING_COMMANDS, BOOKING_EVENTS, DEAD_LETTERS, Group, PAYMENT_EVENTS, REPLIES, groups,
};
use slotstream_runtime::{
    Backend, BookingView, PaymentView, Session, StateEntry, StateWrite, TopicPartition,
    Transaction, UserView, ViewStore, ViewWrite,
};
use slotstream_testkit::contract::log::{assignment, now_ms, poll_until, record};
use slotstream_testkit::contract::views::{booking, resource, user};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The redb tables of formats 1–3, as `schema.rs` of those releases defined them.
mod old {
    use redb::TableDefinition;

    pub const LOG_FILE: &str = "slotstream.redb";
    pub const VIEWS_FILE: &str = "views.redb";

    pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
    pub const OFFSETS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("offsets");
    pub const STATE_LOG: TableDefinition<(&str, u32, u64), &[u8]> =
        TableDefinition::new("state_log");
    pub const STATE: TableDefinition<(&str, u32, &[u8]), &[u8]> = TableDefinition::new("state");
    pub const EPOCHS: TableDefinition<(&str, u32), u64> = TableDefinition::new("epochs");
    pub const BOOKINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/bookings");
    pub const BOOKINGS_BY_USER: TableDefinition<(&str, i64, &str), u8> =
        TableDefinition::new("view/bookings_by_user");
    pub const BOOKINGS_BY_RESOURCE: TableDefinition<(&str, i64, &str), i64> =
        TableDefinition::new("view/bookings_by_resource");
    pub const BOOKINGS_BY_VENDOR: TableDefinition<(&str, i64, &str), i64> =
        TableDefinition::new("view/bookings_by_vendor");
    pub const VENDOR_SPAN: TableDefinition<&str, i64> = TableDefinition::new("view/vendor_span");
    pub const BOOKING_SPAN: TableDefinition<&str, i64> = TableDefinition::new("view/booking_span");
    pub const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("view/resources");
    pub const RESOURCES_BY_VENDOR: TableDefinition<(&str, &str), ()> =
        TableDefinition::new("view/resources_by_vendor");
    pub const RESOURCES_BY_KIND: TableDefinition<(&str, &str), ()> =
        TableDefinition::new("view/resources_by_kind");
    pub const PAYMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/payments");
    pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/users");

    /// Key of a log record: (partition, offset).
    pub type LogKey = (u32, u64);
    /// Value of a log record: (timestamp, key, value).
    pub type LogValue = (i64, &'static [u8], &'static [u8]);

    /// `log/<topic>`: (partition, offset) -> (timestamp, key, value).
    pub fn log_table(name: &str) -> TableDefinition<'_, LogKey, LogValue> {
        TableDefinition::new(name)
    }
}

const BOOKING_GROUP: &str = groups::BOOKING.name;
const VIEW_GROUP: &str = groups::VIEWS_BOOKING.name;
/// A group of a notification processor: its state in the log file, no view writes.
const OTHER_GROUP: &str = groups::NOTIFICATION_BOOKING.name;
const T: Millis = 1_800_000_000_000;

/// One record of the old log.
#[derive(Clone, Debug)]
struct Rec {
    topic: &'static str,
    partition: u32,
    offset: u64,
    timestamp: i64,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// What an older release left in its data directory, and what it must read
/// as after the upgrade.
struct Fixture {
    records: Vec<Rec>,
    /// (group, topic, partition) -> committed next offset.
    offsets: Vec<(&'static str, &'static str, u32, u64)>,
    bookings: Vec<BookingView>,
    resources: Vec<Resource>,
    payment: PaymentView,
    user: UserView,
}

fn fixture() -> Fixture {
    // Recent timestamps: the retention thread of the opened backend keeps them.
    let base = now_ms() - 60_000;
    let mut records = Vec::new();
    let mut add = |topic: &'static str, partition: u32, n: u64| {
        for offset in 0..n {
            records.push(Rec {
                topic,
                partition,
                offset,
                timestamp: base + (partition as i64) * 100 + offset as i64,
                key: format!("{topic}/{partition}/k\0{offset}").into_bytes(),
                value: vec![0, offset as u8, 0xFF, partition as u8],
            });
        }
    };
    add(BOOKING_COMMANDS.name, 0, 5);
    add(BOOKING_COMMANDS.name, 3, 2);
    add(BOOKING_EVENTS.name, 0, 3);
    add(REPLIES.name, 1, 1);
    // An empty key and value come through too.
    records.push(Rec {
        topic: REPLIES.name,
        partition: 1,
        offset: 1,
        timestamp: base,
        key: Vec::new(),
        value: Vec::new(),
    });

    let mut b1 = booking("bk-1", "u1", "r1", T + HOUR, T + 2 * HOUR, T);
    b1.vendor_id = UserId::new("v1");
    let mut b2 = booking("bk-2", "u1", "r1", T + 3 * HOUR, T + 5 * HOUR, T + 10);
    b2.vendor_id = UserId::new("v1");
    b2.status = BookingStatus::Confirmed;
    let mut b3 = booking("bk-3", "u2", "r2", T + HOUR, T + 2 * HOUR, T + 20);
    b3.vendor_id = UserId::new("v1");
    Fixture {
        records,
        offsets: vec![
            (BOOKING_GROUP, BOOKING_COMMANDS.name, 0, 4),
            (BOOKING_GROUP, BOOKING_COMMANDS.name, 3, 2),
            (BOOKING_GROUP, PAYMENT_EVENTS.name, 0, 0),
            (VIEW_GROUP, BOOKING_EVENTS.name, 0, 3),
        ],
        bookings: vec![b1, b2, b3],
        resources: vec![
            resource("r1", "v1", "room"),
            resource("r2", "v1", "desk"),
            resource("r3", "v2", "room"),
        ],
        payment: PaymentView {
            id: PaymentId::new("pay-1"),
            booking_id: BookingId::new("bk-1"),
            resource_id: ResourceId::new("r1"),
            user_id: UserId::new("u1"),
            status: PaymentStatus::RequiresPayment,
            amount: Money::new(1500, "EUR"),
            refunded_amount: 0,
            checkout_url: "https://pay.example/checkout".into(),
            updated_at: T,
        },
        user: user("migrated@x.test"),
    }
}

/// A format-2/3 state changelog entry: tag (1 put, 0 delete), key length
/// (u32 LE), key, value.
fn changelog(key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut out = vec![u8::from(value.is_some())];
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(value.unwrap_or_default());
    out
}

fn entry(key: &[u8], value: &[u8]) -> StateEntry {
    (Bytes::copy_from_slice(key), Bytes::copy_from_slice(value))
}

/// The booking group's state after folding the legacy rows and the
/// changelog, per task partition.
fn folded_state() -> Vec<(u32, Vec<StateEntry>)> {
    vec![
        (
            0,
            vec![
                entry(b"a", b"2"),
                entry(b"legacy", b"old"),
                entry(b"overridden", b"new"),
            ],
        ),
        (1, vec![entry(b"only-legacy", b"v")]),
        (2, vec![entry(b"k\0bin", &[0, 1, 2])]),
        (3, Vec::new()),
    ]
}

/// A changelog entry to write: (partition, sequence, key, value or delete).
type Change = (u32, u64, &'static [u8], Option<&'static [u8]>);

/// The booking group's state as the old file kept it: format-1 rows, then
/// a changelog that overrides and deletes some of them.
fn write_state(w: &WriteTransaction) {
    let mut rows = w.open_table(old::STATE).expect("state");
    for (p, k, v) in [
        (0, "legacy", "old"),
        (0, "overridden", "old"),
        (0, "deleted", "old"),
        (1, "only-legacy", "v"),
    ] {
        rows.insert((BOOKING_GROUP, p, k.as_bytes()), v.as_bytes())
            .expect("state row");
    }
    let mut log = w.open_table(old::STATE_LOG).expect("state_log");
    let changes: [Change; 7] = [
        (0, 1, b"a", Some(b"1")),
        (0, 2, b"b", Some(b"1")),
        (0, 3, b"overridden", Some(b"new")),
        (0, 4, b"deleted", None),
        (0, 5, b"a", Some(b"2")),
        (0, 6, b"b", None),
        (2, 1, b"k\0bin", Some(&[0, 1, 2])),
    ];
    for (p, seq, k, v) in changes {
        log.insert((BOOKING_GROUP, p, seq), &changelog(k, v)[..])
            .expect("state_log entry");
    }
    // Another group's entries under the same partitions stay its own.
    log.insert((OTHER_GROUP, 0, 1), &changelog(b"a", Some(b"other"))[..])
        .expect("state_log entry");
}

/// The status codes of the old by-user index.
fn status_code(status: BookingStatus) -> u8 {
    match status {
        BookingStatus::Pending => 0,
        BookingStatus::Confirmed => 1,
        BookingStatus::Failed => 2,
        BookingStatus::Expired => 3,
        BookingStatus::Cancelled => 4,
    }
}

/// Writes the views as the old `views/write.rs` did: rows as postcard of the
/// runtime structs, every index entry, the spans.
fn write_views(w: &WriteTransaction, f: &Fixture) {
    for b in &f.bookings {
        let id = b.id.as_str();
        w.open_table(old::BOOKINGS)
            .expect("bookings")
            .insert(id, &postcard::to_stdvec(b).expect("encode")[..])
            .expect("booking");
        w.open_table(old::BOOKINGS_BY_USER)
            .expect("by user")
            .insert(
                (b.user_id.as_str(), !b.created_at, id),
                status_code(b.status),
            )
            .expect("by user");
        w.open_table(old::BOOKINGS_BY_RESOURCE)
            .expect("by resource")
            .insert((b.resource_id.as_str(), b.start, id), b.end)
            .expect("by resource");
        w.open_table(old::BOOKINGS_BY_VENDOR)
            .expect("by vendor")
            .insert((b.vendor_id.as_str(), b.start, id), b.end)
            .expect("by vendor");
        for (def, owner) in [
            (old::BOOKING_SPAN, b.resource_id.as_str()),
            (old::VENDOR_SPAN, b.vendor_id.as_str()),
        ] {
            let mut spans = w.open_table(def).expect("spans");
            let widest = spans.get(owner).expect("span").map_or(0, |g| g.value());
            if b.end - b.start > widest {
                spans.insert(owner, b.end - b.start).expect("span");
            }
        }
    }
    for r in &f.resources {
        let id = r.id.as_str();
        w.open_table(old::RESOURCES)
            .expect("resources")
            .insert(id, &postcard::to_stdvec(r).expect("encode")[..])
            .expect("resource");
        w.open_table(old::RESOURCES_BY_VENDOR)
            .expect("by vendor")
            .insert((r.vendor_id.as_str(), id), ())
            .expect("by vendor");
        w.open_table(old::RESOURCES_BY_KIND)
            .expect("by kind")
            .insert((r.kind.as_str(), id), ())
            .expect("by kind");
    }
    w.open_table(old::PAYMENTS)
        .expect("payments")
        .insert(
            f.payment.id.as_str(),
            &postcard::to_stdvec(&f.payment).expect("encode")[..],
        )
        .expect("payment");
    w.open_table(old::USERS)
        .expect("users")
        .insert(
            f.user.email.as_str(),
            &postcard::to_stdvec(&f.user).expect("encode")[..],
        )
        .expect("user");
}

/// The view group's offsets, state and epoch.
fn write_view_group(w: &WriteTransaction, f: &Fixture) {
    let mut offsets = w.open_table(old::OFFSETS).expect("offsets");
    for &(g, topic, p, next) in f.offsets.iter().filter(|o| o.0 == VIEW_GROUP) {
        offsets.insert((g, topic, p), next).expect("offset");
    }
    w.open_table(old::STATE_LOG)
        .expect("state_log")
        .insert((VIEW_GROUP, 0, 1), &changelog(b"projected", Some(b"3"))[..])
        .expect("state_log entry");
    w.open_table(old::EPOCHS)
        .expect("epochs")
        .insert((VIEW_GROUP, 0), 5)
        .expect("epoch");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One file: the log, every group's rows and the views.
    Two,
    /// `slotstream.redb` without the views and the view groups' rows, and
    /// `views.redb` with them.
    Three,
}

/// Writes the data directory an older release would have left.
fn write_legacy(dir: &Path, format: Format, f: &Fixture) {
    let db = redb::Database::create(dir.join(old::LOG_FILE)).expect("create the log file");
    let w = db.begin_write().expect("begin");
    {
        let version = match format {
            Format::Two => 2,
            Format::Three => 3,
        };
        w.open_table(old::META)
            .expect("meta")
            .insert("format", version)
            .expect("format");
        // That release created every table at open, empty ones too.
        for t in topics::ALL {
            w.open_table(old::log_table(&format!("log/{}", t.name)))
                .expect("log table");
        }
        for r in &f.records {
            let name = format!("log/{}", r.topic);
            w.open_table(old::log_table(&name))
                .expect("log table")
                .insert(
                    (r.partition, r.offset),
                    (r.timestamp, &r.key[..], &r.value[..]),
                )
                .expect("record");
        }
        let mut offsets = w.open_table(old::OFFSETS).expect("offsets");
        for &(g, topic, p, next) in f.offsets.iter().filter(|o| o.0 != VIEW_GROUP) {
            offsets.insert((g, topic, p), next).expect("offset");
        }
        drop(offsets);
        w.open_table(old::EPOCHS)
            .expect("epochs")
            .insert((BOOKING_GROUP, 0), 7)
            .expect("epoch");
        write_state(&w);
        if format == Format::Two {
            write_views(&w, f);
            write_view_group(&w, f);
        }
    }
    w.commit().expect("commit the log file");
    if format == Format::Three {
        let db = redb::Database::create(dir.join(old::VIEWS_FILE)).expect("create the views file");
        let w = db.begin_write().expect("begin");
        {
            w.open_table(old::META)
                .expect("meta")
                .insert("format", 1)
                .expect("format");
            // That release created these in the views file too.
            w.open_table(old::STATE).expect("state");
            write_views(&w, f);
            write_view_group(&w, f);
        }
        w.commit().expect("commit the views file");
    }
}

fn open(dir: &Path) -> Arc<EmbeddedBackend> {
    EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("open")
}

fn reopen(backend: Arc<EmbeddedBackend>, dir: &Path) -> Arc<EmbeddedBackend> {
    backend.close();
    drop(backend);
    open(dir)
}

fn tp(topic: &str, partition: u32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn ids(bookings: &[BookingView]) -> Vec<&str> {
    bookings.iter().map(|b| b.id.as_str()).collect()
}

fn resource_ids(resources: &[Resource]) -> Vec<&str> {
    resources.iter().map(|r| r.id.as_str()).collect()
}

/// A session of `group` on its inputs (member 0 of 1), past its assignment.
async fn join(backend: &EmbeddedBackend, group: &Group) -> Box<dyn Session> {
    let mut s = backend
        .subscribe(group.name, group.inputs, 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *s).await;
    s
}

/// Every record at its old offset, byte for byte, and nothing else.
async fn check_log(backend: &EmbeddedBackend, f: &Fixture) {
    let reader = backend.reader();
    for t in topics::ALL {
        for p in 0..t.partitions {
            let mut expected: Vec<&Rec> = f
                .records
                .iter()
                .filter(|r| r.topic == t.name && r.partition == p)
                .collect();
            expected.sort_by_key(|r| r.offset);
            let end = reader.end_offset(&tp(t.name, p)).await.expect("end offset");
            assert_eq!(end, expected.len() as u64, "end offset of {} {p}", t.name);
            if expected.is_empty() {
                continue;
            }
            let got = reader
                .read(&tp(t.name, p), 0, 100, Duration::ZERO)
                .await
                .expect("read");
            let got: Vec<_> = got
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.to_vec(), r.value.to_vec()))
                .collect();
            let want: Vec<_> = expected
                .iter()
                .map(|r| (r.offset, r.timestamp, r.key.clone(), r.value.clone()))
                .collect();
            assert_eq!(got, want, "records of {} {p}", t.name);
        }
    }
}

async fn check_offsets(backend: &EmbeddedBackend, f: &Fixture) {
    let reader = backend.reader();
    for &(g, topic, p, next) in &f.offsets {
        assert_eq!(
            reader
                .committed_offset(g, &tp(topic, p))
                .await
                .expect("committed"),
            Some(next),
            "committed offset of {g} on {topic} {p}"
        );
    }
    assert_eq!(
        reader
            .committed_offset(BOOKING_GROUP, &tp(BOOKING_COMMANDS.name, 1))
            .await
            .expect("committed"),
        None,
        "no offset appears that was never committed"
    );
}

async fn check_state(backend: &EmbeddedBackend) {
    let mut s = join(backend, &groups::BOOKING).await;
    for (p, want) in folded_state() {
        assert_eq!(
            s.restore(p).await.expect("restore"),
            want,
            "state of the booking group's partition {p}"
        );
    }
    drop(s);
    let mut s = join(backend, &groups::NOTIFICATION_BOOKING).await;
    assert_eq!(
        s.restore(0).await.expect("restore"),
        vec![entry(b"a", b"other")]
    );
    drop(s);
    let mut s = join(backend, &groups::VIEWS_BOOKING).await;
    assert_eq!(
        s.restore(0).await.expect("restore"),
        vec![entry(b"projected", b"3")],
        "the view group's state"
    );
}

async fn check_views(backend: &EmbeddedBackend, f: &Fixture) {
    for b in &f.bookings {
        assert_eq!(
            backend.booking(&b.id).await.expect("booking").as_ref(),
            Some(b),
            "booking {}",
            b.id.as_str()
        );
    }
    let u1 = UserId::new("u1");
    let page = backend
        .bookings_by_user(&u1, None, 10, None)
        .await
        .expect("by user");
    assert_eq!(ids(&page.items), ["bk-2", "bk-1"], "newest first");
    let page = backend
        .bookings_by_user(&u1, Some(BookingStatus::Confirmed), 10, None)
        .await
        .expect("by user and status");
    assert_eq!(ids(&page.items), ["bk-2"], "the status codes came through");
    let page = backend
        .bookings_by_user(&u1, None, 1, None)
        .await
        .expect("first page");
    let cursor = page.next_cursor.expect("a second page");
    let page = backend
        .bookings_by_user(&u1, None, 1, Some(&cursor))
        .await
        .expect("second page");
    assert_eq!(ids(&page.items), ["bk-1"]);

    let r1 = ResourceId::new("r1");
    // bk-1 starts before the window and reaches into it: found only through
    // the migrated span of r1.
    let page = backend
        .bookings_by_resource(&r1, T + 90 * 60_000, T + 4 * HOUR, 10, None)
        .await
        .expect("by resource");
    assert_eq!(ids(&page.items), ["bk-1", "bk-2"]);
    let page = backend
        .bookings_by_resource(&r1, T + 2 * HOUR, T + 3 * HOUR, 10, None)
        .await
        .expect("by resource");
    assert!(page.items.is_empty(), "half-open: {:?}", ids(&page.items));
    let page = backend
        .bookings_by_vendor(&UserId::new("v1"), T + 90 * 60_000, T + 4 * HOUR, 10, None)
        .await
        .expect("by vendor");
    assert_eq!(ids(&page.items), ["bk-1", "bk-3", "bk-2"]);

    let v1 = UserId::new("v1");
    let page = backend
        .resources(Some(&v1), None, 10, None)
        .await
        .expect("by vendor");
    assert_eq!(resource_ids(&page.items), ["r1", "r2"]);
    let page = backend
        .resources(None, Some("room"), 10, None)
        .await
        .expect("by kind");
    assert_eq!(resource_ids(&page.items), ["r1", "r3"]);
    let page = backend
        .resources(Some(&v1), Some("room"), 10, None)
        .await
        .expect("by vendor and kind");
    assert_eq!(resource_ids(&page.items), ["r1"]);
    assert_eq!(
        backend
            .resource(&ResourceId::new("r2"))
            .await
            .expect("resource")
            .as_ref(),
        Some(&f.resources[1])
    );

    assert_eq!(
        backend
            .payment(&f.payment.id)
            .await
            .expect("payment")
            .as_ref(),
        Some(&f.payment)
    );
    assert_eq!(
        backend
            .user_by_email(&f.user.email)
            .await
            .expect("user")
            .as_ref(),
        Some(&f.user)
    );
}

/// Everything the old directory held reads back through the new store.
async fn check_migrated(backend: &EmbeddedBackend, f: &Fixture) {
    check_log(backend, f).await;
    check_offsets(backend, f).await;
    check_state(backend).await;
    check_views(backend, f).await;
}

fn check_files(dir: &Path) {
    assert!(!dir.join(old::LOG_FILE).exists(), "slotstream.redb removed");
    assert!(!dir.join(old::VIEWS_FILE).exists(), "views.redb removed");
    assert!(
        !dir.join("store.migrating").exists(),
        "no temporary store left"
    );
    assert!(dir.join("store").is_dir(), "store/ exists");
}

#[tokio::test]
async fn a_format_3_directory_is_upgraded_in_place_and_reopens_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);

    let backend = open(dir.path());
    check_files(dir.path());
    check_migrated(&backend, &f).await;

    let backend = reopen(backend, dir.path());
    check_files(dir.path());
    check_migrated(&backend, &f).await;
}

#[tokio::test]
async fn a_migrated_group_resumes_from_its_offsets_and_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);
    let backend = open(dir.path());

    let mut s = join(&backend, &groups::BOOKING).await;
    // Committed: 4 of 5 on booking-commands 0, 2 of 2 on partition 3, and
    // nothing elsewhere (no records): exactly one record is left to read.
    let got = poll_until(&mut *s, |got| !got.is_empty()).await;
    let got: Vec<_> = got
        .iter()
        .map(|r| (r.topic.to_string(), r.partition, r.offset))
        .collect();
    assert_eq!(got, [(BOOKING_COMMANDS.name.to_owned(), 0, 4)]);

    let txn = Transaction {
        outputs: vec![record(BOOKING_EVENTS.name, "k", "after", Some(0))],
        state: vec![StateWrite {
            partition: 0,
            key: Bytes::from_static(b"a"),
            value: None,
        }],
        offsets: vec![(tp(BOOKING_COMMANDS.name, 0), 5)],
        ..Transaction::default()
    };
    s.commit(txn).await.expect("a migrated group commits");
    assert_eq!(
        s.restore(0).await.expect("restore"),
        vec![entry(b"legacy", b"old"), entry(b"overridden", b"new")]
    );
    drop(s);

    let backend = reopen(backend, dir.path());
    let reader = backend.reader();
    assert_eq!(
        reader
            .committed_offset(BOOKING_GROUP, &tp(BOOKING_COMMANDS.name, 0))
            .await
            .expect("committed"),
        Some(5)
    );
    let events = reader
        .read(&tp(BOOKING_EVENTS.name, 0), 3, 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(events.len(), 1, "appended after the 3 migrated records");
    assert_eq!(events[0].offset, 3);
    assert_eq!(&events[0].value[..], b"after");

    // Joins keep fencing on a migrated group: a second session fences the first.
    let mut old = join(&backend, &groups::BOOKING).await;
    let _new = join(&backend, &groups::BOOKING).await;
    let refused = old.commit(Transaction::default()).await;
    assert!(
        matches!(refused, Err(slotstream_runtime::LogError::Fenced(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_format_2_directory_migrates_the_views_it_kept_in_its_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Two, &f);
    assert!(!dir.path().join(old::VIEWS_FILE).exists());

    let backend = open(dir.path());
    check_files(dir.path());
    check_migrated(&backend, &f).await;
    let backend = reopen(backend, dir.path());
    check_migrated(&backend, &f).await;
}

#[tokio::test]
async fn a_migration_that_crashed_before_its_rename_is_discarded_and_redone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);

    // A store with other content, where an interrupted migration builds its copy.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    {
        let other = open(elsewhere.path());
        let records = (0..10)
            .map(|i| {
                record(
                    BOOKING_COMMANDS.name,
                    &format!("stale{i}"),
                    "stale",
                    Some(0),
                )
            })
            .collect();
        other.producer().send(records).await.expect("append");
        other
            .apply(&[ViewWrite::PutUser(user("stale@x.test"))])
            .await
            .expect("view");
        other.close();
    }
    std::fs::rename(
        elsewhere.path().join("store"),
        dir.path().join("store.migrating"),
    )
    .expect("plant a half-built store");

    let backend = open(dir.path());
    check_files(dir.path());
    check_migrated(&backend, &f).await;
    assert_eq!(
        backend.user_by_email("stale@x.test").await.expect("user"),
        None,
        "nothing of the interrupted copy survives"
    );
}

#[tokio::test]
async fn redb_files_left_after_the_rename_are_removed_without_touching_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);
    open(dir.path()).close();

    // A crash after the rename and before the clean-up: the redb files are
    // back beside the complete store. Their content differs from the store's,
    // so a second copy would show.
    let stale = Fixture {
        records: vec![Rec {
            topic: DEAD_LETTERS.name,
            partition: 0,
            offset: 0,
            timestamp: now_ms(),
            key: b"stale".to_vec(),
            value: b"stale".to_vec(),
        }],
        user: user("leftover@x.test"),
        ..fixture()
    };
    write_legacy(dir.path(), Format::Three, &stale);
    std::fs::create_dir(dir.path().join("store.migrating")).expect("a stale temporary store");
    assert!(dir.path().join(old::LOG_FILE).exists());

    let backend = open(dir.path());
    check_files(dir.path());
    check_migrated(&backend, &f).await;
    assert_eq!(
        backend
            .user_by_email("leftover@x.test")
            .await
            .expect("user"),
        None
    );
}

#[tokio::test]
async fn a_views_file_without_its_log_file_is_discarded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);
    std::fs::remove_file(dir.path().join(old::LOG_FILE)).expect("remove the log file");

    let backend = open(dir.path());
    check_files(dir.path());
    assert_eq!(
        backend.user_by_email(&f.user.email).await.expect("user"),
        None
    );
    assert_eq!(
        backend
            .reader()
            .committed_offset(VIEW_GROUP, &tp(BOOKING_EVENTS.name, 0))
            .await
            .expect("committed"),
        None
    );
}

/// The fixture's own layout is what the old release read: a sanity check of
/// the test, so a mistake here cannot pass as a migration bug or hide one.
#[test]
fn the_hand_built_files_hold_what_the_fixture_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    write_legacy(dir.path(), Format::Three, &f);
    let db = redb::Database::open(dir.path().join(old::LOG_FILE)).expect("open");
    let r = redb::ReadableDatabase::begin_read(&db).expect("read");
    let meta = r.open_table(old::META).expect("meta");
    assert_eq!(meta.get("format").expect("get").map(|v| v.value()), Some(3));
    let commands = r
        .open_table(old::log_table(&format!("log/{}", BOOKING_COMMANDS.name)))
        .expect("log table");
    assert_eq!(commands.iter().expect("iter").count(), 7);
    let views: TableDefinition<&str, &[u8]> = TableDefinition::new("view/users");
    assert!(
        r.open_table(views).is_err(),
        "format 3 keeps no views in the log file"
    );
}

#[tokio::test]
async fn a_log_larger_than_a_memtable_is_migrated_whole() {
    const RECORDS: u64 = 3_000;
    const VALUE_BYTES: usize = 8 << 10;
    // ~24 MiB in one partition: several memtables' worth, flushed while
    // the migration copies and before its rename.
    let value = |offset: u64| {
        let mut v = vec![(offset % 251) as u8; VALUE_BYTES];
        v[..8].copy_from_slice(&offset.to_be_bytes());
        v
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let timestamp = now_ms();
    {
        let db = redb::Database::create(dir.path().join(old::LOG_FILE)).expect("create");
        let w = db.begin_write().expect("begin");
        {
            w.open_table(old::META)
                .expect("meta")
                .insert("format", 3)
                .expect("format");
            let name = format!("log/{}", BOOKING_COMMANDS.name);
            let mut log = w.open_table(old::log_table(&name)).expect("log table");
            for offset in 0..RECORDS {
                let key = format!("k{offset}");
                log.insert((5, offset), (timestamp, key.as_bytes(), &value(offset)[..]))
                    .expect("record");
            }
        }
        w.commit().expect("commit");
    }

    let partition = tp(BOOKING_COMMANDS.name, 5);
    let mut backend = open(dir.path());
    for round in ["after the migration", "after a reopen"] {
        check_files(dir.path());
        let reader = backend.reader();
        assert_eq!(
            reader.end_offset(&partition).await.expect("end"),
            RECORDS,
            "{round}"
        );
        let mut next = 0;
        while next < RECORDS {
            let page = reader
                .read(&partition, next, 500, Duration::ZERO)
                .await
                .expect("read");
            assert!(!page.is_empty(), "{round}: nothing at offset {next}");
            for r in page {
                assert_eq!(r.offset, next, "{round}: offsets stay dense");
                assert_eq!(r.key, format!("k{next}").into_bytes(), "{round}");
                assert!(r.value[..] == value(next)[..], "{round}: value at {next}");
                assert_eq!(r.timestamp, timestamp, "{round}");
                next += 1;
            }
        }
        drop(reader);
        backend = reopen(backend, dir.path());
    }
}
