//! # slotstream-kafka: the log ports on Apache Kafka
//!
//! The distributed backend behind the same ports as the embedded one
//! ([`Backend`], [`Producer`], [`LogReader`], [`Session`]). It owns every
//! Kafka client the platform uses: the idempotent command producer, the
//! direct partition readers, one consumer-group member plus one transactional
//! producer per processor session, and the admin calls that create topics.
//!
//! **The invariant it keeps: a processing step is exactly-once.** Outputs,
//! state changes (a compacted `{group}-changelog` topic) and consumed offsets
//! of one [`slotstream_runtime::Transaction`] commit in one Kafka transaction
//! (EOS v2, `send_offsets_to_transaction` with the consumer's group
//! metadata); every consumer reads `read_committed`, so an aborted step is
//! invisible, and a failed commit rewinds the session to its committed
//! offsets so the batch is delivered again. View writes (ScyllaDB) cannot
//! join the Kafka transaction: they are idempotent and applied *before* the
//! commit, so a redelivered batch re-applies them harmlessly.
//!
//! Names: with a non-empty [`KafkaOptions::namespace`] every topic and group
//! is `"{namespace}.{name}"` on the wire; records handed to processors carry
//! the platform name (`topics::X.name`), so processors never see namespaces.
//! Keys are always placed by [`slotstream_runtime::partitioner::partition_for`]
//! (Kafka's Java murmur2, which librdkafka's default partitioner is not), so
//! the embedded log and Kafka put a key on the same partition.

mod admin;
mod closing;
mod config;
mod deliveries;
mod errors;
mod headers;
mod producer;
mod reader;
mod session;
mod txn;

pub use admin::{TopicReport, delete_namespace, ensure_topics};
pub use config::KafkaOptions;
pub use errors::KafkaError;
pub use producer::KafkaProducer;
pub use reader::KafkaReader;
pub use session::KafkaSession;

use async_trait::async_trait;
use rdkafka::producer::Producer as _;
use slotstream_runtime::{Backend, LogError, LogReader, Producer, Session, TopicSpec, ViewStore};
use std::sync::Arc;
use std::time::Duration;

/// How long [`KafkaBackend::connect`] waits for the brokers to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The Kafka backend: hand `Arc<KafkaBackend>` out as `Arc<dyn Backend>`.
#[derive(Debug)]
pub struct KafkaBackend {
    opts: Arc<KafkaOptions>,
    views: Option<Arc<dyn ViewStore>>,
    producer: Arc<KafkaProducer>,
    reader: Arc<KafkaReader>,
}

impl KafkaBackend {
    /// Connects (checks the brokers answer within a bounded time, with a
    /// clear error naming the brokers). `views`: where `Transaction::views`
    /// are applied (the views processor's store), idempotently, before the
    /// Kafka transaction commits; a transaction carrying views with `None`
    /// here is refused as [`LogError::Invalid`].
    pub async fn connect(
        opts: KafkaOptions,
        views: Option<Arc<dyn ViewStore>>,
    ) -> Result<Arc<Self>, KafkaError> {
        let opts = Arc::new(opts);
        let producer = Arc::new(KafkaProducer::new(Arc::clone(&opts))?);
        let client = producer.raw();
        let brokers = opts.brokers.clone();
        tokio::task::spawn_blocking(move || {
            client
                .client()
                .fetch_metadata(None, CONNECT_TIMEOUT)
                .map(|_| ())
        })
        .await
        .map_err(|e| KafkaError::Unreachable {
            brokers: brokers.clone(),
            reason: e.to_string(),
        })?
        .map_err(|e| KafkaError::Unreachable {
            brokers,
            reason: e.to_string(),
        })?;
        let reader = Arc::new(KafkaReader::new(Arc::clone(&opts)));
        tracing::info!(brokers = %opts.brokers, namespace = %opts.namespace, "kafka backend connected");
        Ok(Arc::new(Self {
            opts,
            views,
            producer,
            reader,
        }))
    }

    /// The on-wire name of a platform topic or group in this namespace.
    pub fn wire_name(&self, name: &str) -> String {
        self.opts.wire(name)
    }

    /// The options this backend was connected with.
    pub fn options(&self) -> &KafkaOptions {
        &self.opts
    }
}

#[async_trait]
impl Backend for KafkaBackend {
    fn producer(&self) -> Arc<dyn Producer> {
        Arc::clone(&self.producer) as Arc<dyn Producer>
    }

    fn reader(&self) -> Arc<dyn LogReader> {
        Arc::clone(&self.reader) as Arc<dyn LogReader>
    }

    /// Joins group `{namespace}.{group}`; `member` / `members` are ignored:
    /// the group coordinator assigns partitions (KIP-848, range assignor).
    async fn subscribe(
        &self,
        group: &str,
        inputs: &[TopicSpec],
        _member: u32,
        _members: u32,
    ) -> Result<Box<dyn Session>, LogError> {
        let session =
            KafkaSession::join(Arc::clone(&self.opts), self.views.clone(), group, inputs).await?;
        Ok(Box::new(session))
    }
}
