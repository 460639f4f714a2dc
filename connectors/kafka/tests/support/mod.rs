//! Test helpers: a view store that fails on demand, group members driven in
//! background tasks, and raw rdkafka access to check what is on the wire.

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    BookingView, LoginLockView, Page, PaymentView, Poll, Session, StateEntry, UserView, ViewError,
    ViewStore, ViewWrite,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long a group may take to settle (KIP-848 heartbeats are 5 s apart).
pub const SETTLE: Duration = Duration::from_secs(60);

pub fn text(b: &Bytes) -> &str {
    std::str::from_utf8(b).unwrap_or("<not utf-8>")
}

/// A view store whose first `apply` fails (transiently); counts the rest.
#[derive(Debug)]
pub struct FlakyViews {
    failures_left: AtomicUsize,
    applied: AtomicUsize,
}

impl FlakyViews {
    pub fn failing_once() -> Self {
        Self {
            failures_left: AtomicUsize::new(1),
            applied: AtomicUsize::new(0),
        }
    }

    pub fn applied(&self) -> usize {
        self.applied.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ViewStore for FlakyViews {
    async fn apply(&self, _writes: &[ViewWrite]) -> Result<(), ViewError> {
        let failed = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if failed.is_ok() {
            return Err(ViewError::Transient("injected failure".into()));
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn booking(&self, _: &BookingId) -> Result<Option<BookingView>, ViewError> {
        Ok(None)
    }
    async fn bookings_by_user(
        &self,
        _: &UserId,
        _: Option<BookingStatus>,
        _: usize,
        _: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        Ok(empty())
    }
    async fn bookings_by_resource(
        &self,
        _: &ResourceId,
        _: Millis,
        _: Millis,
        _: usize,
        _: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        Ok(empty())
    }
    async fn bookings_by_vendor(
        &self,
        _: &UserId,
        _: Millis,
        _: Millis,
        _: usize,
        _: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        Ok(empty())
    }
    async fn resource(&self, _: &ResourceId) -> Result<Option<Resource>, ViewError> {
        Ok(None)
    }
    async fn resources(
        &self,
        _: Option<&UserId>,
        _: Option<&str>,
        _: usize,
        _: Option<&str>,
    ) -> Result<Page<Resource>, ViewError> {
        Ok(empty())
    }
    async fn payment(&self, _: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
        Ok(None)
    }
    async fn user_by_email(&self, _: &str) -> Result<Option<UserView>, ViewError> {
        Ok(None)
    }
    async fn login_lock(&self, _: &str) -> Result<Option<LoginLockView>, ViewError> {
        Ok(None)
    }
    async fn api_key(&self, _: &str) -> Result<Option<slotstream_runtime::ApiKeyView>, ViewError> {
        Ok(None)
    }
    async fn api_keys_by_owner(
        &self,
        _: &UserId,
        _: usize,
    ) -> Result<Vec<slotstream_runtime::ApiKeyView>, ViewError> {
        Ok(Vec::new())
    }
    async fn webhook(
        &self,
        _: &UserId,
        _: &str,
    ) -> Result<Option<slotstream_runtime::WebhookView>, ViewError> {
        Ok(None)
    }
    async fn webhooks_by_owner(
        &self,
        _: &UserId,
        _: usize,
    ) -> Result<Vec<slotstream_runtime::WebhookView>, ViewError> {
        Ok(Vec::new())
    }
    async fn applied(&self, _: &str, _: u32) -> Result<u64, ViewError> {
        Ok(0)
    }
    async fn events(
        &self,
        _: &UserId,
        _: &str,
        _: u32,
        _: Option<u64>,
        _: usize,
    ) -> Result<Vec<slotstream_runtime::EventView>, ViewError> {
        Ok(Vec::new())
    }
}

fn empty<T>() -> Page<T> {
    Page {
        items: Vec::new(),
        next_cursor: None,
    }
}

/// What a member saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberEvent {
    Assigned(Vec<u32>),
    Revoked(Vec<u32>),
}

type Report = (MemberEvent, Vec<(u32, Vec<StateEntry>)>);

/// A session polled in a background task, as the driver would: it restores
/// every task it is assigned and reports assignment changes.
pub struct Member {
    rx: mpsc::UnboundedReceiver<Report>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    pub owned: BTreeSet<u32>,
    pub restored: Vec<(u32, Vec<StateEntry>)>,
    pub events: Vec<MemberEvent>,
}

impl Member {
    pub fn start(mut session: Box<dyn Session>, owned: BTreeSet<u32>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                let polled = tokio::select! {
                    _ = &mut stopped => break,
                    p = session.poll(100, Duration::from_millis(200)) => p,
                };
                let report = match polled.expect("member poll") {
                    Poll::Assigned(parts) => {
                        let mut restored = Vec::new();
                        for &p in &parts {
                            restored.push((p, session.restore(p).await.expect("restore")));
                        }
                        (MemberEvent::Assigned(parts), restored)
                    }
                    Poll::Revoked(parts) => (MemberEvent::Revoked(parts), Vec::new()),
                    Poll::Records(_) | Poll::Idle => continue,
                };
                if tx.send(report).is_err() {
                    break;
                }
            }
        });
        Self {
            rx,
            stop: Some(stop),
            task: Some(task),
            owned,
            restored: Vec::new(),
            events: Vec::new(),
        }
    }

    fn apply(&mut self, (event, restored): Report) {
        match &event {
            MemberEvent::Assigned(p) => self.owned.extend(p),
            MemberEvent::Revoked(p) => {
                for q in p {
                    self.owned.remove(q);
                }
            }
        }
        self.restored.extend(restored);
        self.events.push(event);
    }

    /// Stops polling and drops the session (it leaves the group).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("member task");
        }
        while let Ok(r) = self.rx.try_recv() {
            self.apply(r);
        }
    }
}

/// Waits (bounded) until `done` holds for the two members' task sets.
pub async fn settle(
    a: &mut Member,
    b: &mut Member,
    done: impl Fn(&BTreeSet<u32>, &BTreeSet<u32>) -> bool,
) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if done(&a.owned, &b.owned) {
            return (a.owned.clone(), b.owned.clone());
        }
        let b_live = b.task.is_some();
        tokio::select! {
            Some(r) = a.rx.recv() => a.apply(r),
            Some(r) = b.rx.recv(), if b_live => b.apply(r),
            _ = tokio::time::sleep_until(deadline) => panic!(
                "group did not settle within {SETTLE:?}: a {:?} ({:?}), b {:?} ({:?})",
                a.owned, a.events, b.owned, b.events
            ),
        }
    }
}

/// The value at `offset` of a wire topic's partition, read with plain rdkafka.
pub async fn raw_read(brokers: &str, wire: &str, partition: i32, offset: u64) -> Vec<u8> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "slotstream-test-raw")
        .create()
        .expect("raw consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(wire, partition, Offset::Offset(offset as i64))
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    tokio::task::spawn_blocking(move || {
        let m = consumer
            .poll(Duration::from_secs(10))
            .expect("a record within 10 s")
            .expect("no consumer error");
        m.payload().unwrap_or_default().to_vec()
    })
    .await
    .expect("raw read task")
}

/// Creates a topic directly (to set up mismatches).
pub async fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin");
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = admin
        .create_topics([&topic], &AdminOptions::new())
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}
