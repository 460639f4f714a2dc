//! Shared helpers for the end-to-end tests: a platform on a fresh data dir
//! with a clock the test moves, and ways to send commands and await events
//! (bounded waits on the log, never sleeps).

#![allow(dead_code)]

use bytes::Bytes;
use slotstream::{Platform, Settings};
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::fixtures;
use slotstream_domain::identity::IdentityEvent;
use slotstream_domain::payment::PaymentEvent;
use slotstream_domain::resource::Resource;
use slotstream_domain::{CommandId, Millis, ResourceId};
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::{
    ConsumedRecord, ManualClock, OutRecord, TopicPartition, TopicSpec, topics,
};
use slotstream_schemas::{Codec, Contract, Envelope, Reply, ReplyPayload};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Start of the tests' world: 2027-01-15T08:00:00Z (aligned to 15 minutes).
pub const T0: Millis = 1_800_000_000_000;
/// The gateway id replies are addressed to.
pub const GATEWAY: &str = "test-gateway";
/// Longest any awaited event may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub struct TestPlatform {
    pub platform: Option<Platform>,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
    pub codec: Codec,
    pub settings: Settings,
    /// Replies-partition end offset when the last command was sent: its
    /// reply can only come after it.
    reply_from: std::sync::atomic::AtomicU64,
}

impl TestPlatform {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, ManualClock::new(T0)).await
    }

    pub async fn start_in(dir: tempfile::TempDir, clock: ManualClock) -> Self {
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            hold_ttl: Duration::from_secs(15 * 60),
            ..Settings::default()
        };
        let provider = Arc::new(InProcessProvider::default());
        let platform =
            Platform::start_with(&settings, Arc::new(clock.clone()), Some(provider.clone()))
                .await
                .expect("platform starts");
        provider.attach(platform.producer());
        Self {
            platform: Some(platform),
            clock,
            dir,
            codec: Codec::embedded(),
            settings,
            reply_from: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Stops the processors (commit and drain) and starts them again on the same data dir.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Like [`TestPlatform::restart`], doing `meanwhile` to the data dir
    /// while nothing runs.
    pub async fn restart_with(mut self, meanwhile: impl FnOnce(&Path)) -> Self {
        self.platform
            .take()
            .expect("running")
            .stop()
            .await
            .expect("clean stop");
        let Self { dir, clock, .. } = self;
        meanwhile(dir.path());
        Self::start_in(dir, clock).await
    }

    pub fn p(&self) -> &Platform {
        self.platform.as_ref().expect("running")
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn send<T: Contract>(&self, topic: &'static str, key: &str, value: &T) {
        self.send_raw(topic, key, self.codec.encode(value).expect("encode"))
            .await;
    }

    pub async fn send_raw(&self, topic: &'static str, key: &str, value: Bytes) {
        self.p()
            .producer()
            .send(vec![OutRecord {
                topic,
                partition: None,
                key: Bytes::copy_from_slice(key.as_bytes()),
                value,
                timestamp: self.clock.now_ms(),
                headers: slotstream_runtime::Headers::new(),
            }])
            .await
            .expect("produce");
    }

    /// Sends a command asking for a reply to [`GATEWAY`].
    pub async fn command<C>(&self, topic: &'static str, key: &str, payload: C)
    where
        Envelope<C>: Contract,
    {
        let end = self
            .p()
            .backend()
            .reader()
            .end_offset(&replies_partition())
            .await
            .expect("end offset");
        self.reply_from
            .store(end, std::sync::atomic::Ordering::SeqCst);
        let env = Envelope {
            event_id: format!("cmd-{}", uuid_like()),
            occurred_at: self.clock.now_ms(),
            reply_to: Some(GATEWAY.to_owned()),
            payload,
        };
        self.send(topic, key, &env).await;
    }

    /// Every record of a topic so far (all partitions), decoded.
    pub async fn all<T: Contract>(&self, topic: TopicSpec) -> Vec<(ConsumedRecord, T)> {
        let reader = self.p().backend().reader();
        let mut out = Vec::new();
        for p in 0..topic.partitions {
            let tp = TopicPartition::new(topic.name, p);
            let end = reader.end_offset(&tp).await.expect("end offset");
            let mut from = 0;
            while from < end {
                let recs = reader
                    .read(&tp, from, 10_000, Duration::ZERO)
                    .await
                    .expect("read");
                assert!(!recs.is_empty(), "no records below the end offset");
                for r in recs {
                    from = r.offset + 1;
                    let v = self.codec.decode::<T>(&r.value).expect("decode");
                    out.push((r, v));
                }
            }
        }
        out
    }

    /// Waits until a record of `topic` matches, returns the first match.
    pub async fn await_record<T: Contract, R>(
        &self,
        topic: TopicSpec,
        mut pick: impl FnMut(&T) -> Option<R>,
    ) -> R {
        let reader = self.p().backend().reader();
        let deadline = Instant::now() + PATIENCE;
        let mut next = vec![0u64; topic.partitions as usize];
        loop {
            for p in 0..topic.partitions {
                let tp = TopicPartition::new(topic.name, p);
                let recs = reader
                    .read(&tp, next[p as usize], 10_000, Duration::ZERO)
                    .await
                    .expect("read");
                for r in recs {
                    next[p as usize] = r.offset + 1;
                    let v = self.codec.decode::<T>(&r.value).expect("decode");
                    if let Some(found) = pick(&v) {
                        return found;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no matching record on {} within {PATIENCE:?}",
                topic.name
            );
            // Block on the log for new data on one partition instead of spinning.
            let tp = TopicPartition::new(topic.name, 0);
            let _ = reader
                .read(&tp, next[0], 1, Duration::from_millis(20))
                .await;
        }
    }

    /// The reply to the last command sent (`command_id`) on this test
    /// gateway's replies partition.
    pub async fn reply(&self, command_id: &CommandId) -> ReplyPayload {
        let reader = self.p().backend().reader();
        let tp = replies_partition();
        let deadline = Instant::now() + PATIENCE;
        let mut from = self.reply_from.load(std::sync::atomic::Ordering::SeqCst);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no reply to {command_id} within {PATIENCE:?}"
            );
            for r in reader
                .read(&tp, from, 10_000, left.min(Duration::from_millis(200)))
                .await
                .expect("read")
            {
                from = r.offset + 1;
                let reply: Reply = self.codec.decode(&r.value).expect("decode reply");
                if &reply.command_id == command_id {
                    return reply.payload;
                }
            }
        }
    }

    pub async fn booking_event(
        &self,
        pick: impl FnMut(&Envelope<BookingEvent>) -> Option<BookingEvent>,
    ) -> BookingEvent {
        self.await_record(topics::BOOKING_EVENTS, pick).await
    }

    pub async fn payment_event(
        &self,
        pick: impl FnMut(&Envelope<PaymentEvent>) -> Option<PaymentEvent>,
    ) -> PaymentEvent {
        self.await_record(topics::PAYMENT_EVENTS, pick).await
    }

    pub async fn identity_event(
        &self,
        pick: impl FnMut(&Envelope<IdentityEvent>) -> Option<IdentityEvent>,
    ) -> IdentityEvent {
        self.await_record(topics::IDENTITY_EVENTS, pick).await
    }

    /// Waits until the outbox holds `n` emails to `to`; returns their contents.
    pub async fn emails_to(&self, to: &str, n: usize) -> Vec<String> {
        let outbox = self.data_dir().join("outbox");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut found = Vec::new();
            if let Ok(entries) = std::fs::read_dir(&outbox) {
                for e in entries.flatten() {
                    let path = e.path();
                    if path.extension().is_some_and(|x| x == "eml") {
                        let text = std::fs::read_to_string(&path).expect("read eml");
                        if text.contains(&format!("To: {to}")) {
                            found.push(text);
                        }
                    }
                }
            }
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails to {to} within {PATIENCE:?}",
                found.len()
            );
            // The outbox is a directory, not a log: a short pause between looks.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A payment provider for processor-level tests (no gateway running): it
/// reports checkout outcomes straight onto payment-commands, as the sandbox's
/// webhook would through the gateway, with the same stable event ids.
#[derive(Debug, Default)]
pub struct InProcessProvider {
    producer: std::sync::OnceLock<Arc<dyn slotstream_runtime::Producer>>,
}

impl InProcessProvider {
    pub fn attach(&self, producer: Arc<dyn slotstream_runtime::Producer>) {
        let _ = self.producer.set(producer);
    }
}

#[async_trait::async_trait]
impl slotstream_runtime::PaymentProvider for InProcessProvider {
    fn checkout_url(&self, payment_id: &slotstream_domain::PaymentId) -> String {
        format!("http://sandbox.test/checkout/{payment_id}")
    }
    async fn submit_checkout(
        &self,
        payment_id: &slotstream_domain::PaymentId,
        resource_id: &ResourceId,
        outcome: slotstream_domain::payment::CheckoutOutcome,
    ) -> Result<(), slotstream_runtime::EffectError> {
        use slotstream_domain::payment::{CheckoutOutcome, PaymentCommand, RecordProviderOutcome};
        let producer = self.producer.get().ok_or_else(|| {
            slotstream_runtime::EffectError::Transient("provider not attached yet".into())
        })?;
        let id = slotstream_payments::SandboxProvider::event_id(payment_id, outcome);
        let env = Envelope {
            event_id: id.clone(),
            occurred_at: T0,
            reply_to: None,
            payload: PaymentCommand::RecordProviderOutcome(RecordProviderOutcome {
                provider_event_id: id,
                payment_id: payment_id.clone(),
                resource_id: resource_id.clone(),
                outcome,
                reason: if outcome == CheckoutOutcome::Failed {
                    "card_declined".into()
                } else {
                    String::new()
                },
                occurred_at: T0,
            }),
        };
        let value = Codec::embedded()
            .encode(&env)
            .map_err(|e| slotstream_runtime::EffectError::Permanent(e.to_string()))?;
        producer
            .send(vec![OutRecord {
                topic: topics::PAYMENT_COMMANDS.name,
                partition: None,
                key: Bytes::copy_from_slice(resource_id.as_str().as_bytes()),
                value,
                timestamp: T0,
                headers: slotstream_runtime::Headers::new(),
            }])
            .await
            .map_err(|e| slotstream_runtime::EffectError::Transient(e.to_string()))?;
        Ok(())
    }
    async fn refund(
        &self,
        _: &slotstream_domain::PaymentId,
        _: &str,
        _: &slotstream_domain::Money,
    ) -> Result<(), slotstream_runtime::EffectError> {
        Ok(())
    }
    /// It keeps no ledger: the reconciler hands the checkout over again,
    /// which reports the same event id.
    async fn lookup(
        &self,
        _payment_id: &slotstream_domain::PaymentId,
    ) -> Result<slotstream_runtime::ProviderStatus, slotstream_runtime::EffectError> {
        Ok(slotstream_runtime::ProviderStatus::NotFound)
    }
}

fn replies_partition() -> TopicPartition {
    TopicPartition::new(
        topics::REPLIES.name,
        partition_for(GATEWAY.as_bytes(), topics::REPLIES.partitions),
    )
}

pub trait ClockExt {
    fn now_ms(&self) -> Millis;
}

impl ClockExt for ManualClock {
    fn now_ms(&self) -> Millis {
        slotstream_runtime::Clock::now(self)
    }
}

pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:016x}", N.fetch_add(1, Ordering::Relaxed))
}

/// A room at 25.00 EUR per started hour, registered at [`T0`].
pub fn resource(id: &str, vendor: &str) -> Resource {
    Resource {
        name: format!("Resource {id}"),
        price: fixtures::hourly(2500),
        created_at: T0,
        ..fixtures::resource(id, vendor)
    }
}

pub fn partition_of(key: &str, topic: TopicSpec) -> u32 {
    partition_for(key.as_bytes(), topic.partitions)
}
