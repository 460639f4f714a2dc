//! Where the log, the views and the schema ids come from: the embedded backend
//! under the data dir, or Kafka + a schema registry + ScyllaDB. This is the
//! one place that knows which; everything above it talks to the ports.

use crate::settings::{BackendKind, Settings, required};
use anyhow::Context;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_kafka::{KafkaBackend, KafkaOptions};
use slotstream_registry::{RegistryOptions, RegistryResolver};
use slotstream_runtime::{Backend, SentLedger, ViewStore};
use slotstream_schemas::Codec;
use slotstream_scylla::{ScyllaOptions, ScyllaViews};
use std::sync::Arc;

/// An opened backend: the log, the read views and the codec.
#[derive(Debug, Clone)]
pub struct Storage {
    /// The log (commands, events, replies; processor sessions).
    pub backend: Arc<dyn Backend>,
    /// The read views.
    pub views: Arc<dyn ViewStore>,
    /// Encodes and decodes every record (compiled-in ids or the registry's).
    pub codec: Codec,
    /// The SMTP sent-ledger every notification processor shares (ScyllaDB in
    /// distributed mode); `None` keeps it in the data dir (one process).
    pub sent_ledger: Option<Arc<dyn SentLedger>>,
}

impl Storage {
    /// Opens what `settings.backend` names. Distributed mode expects the
    /// topics, keyspace and subjects to exist: run [`init`] first
    /// (`slotstream init`; `slotstream up` does it itself).
    pub async fn open(settings: &Settings) -> anyhow::Result<Self> {
        match settings.backend {
            BackendKind::Embedded => {
                let backend = EmbeddedBackend::open(
                    &settings.data_dir,
                    EmbeddedOptions {
                        durable: settings.embedded.durable,
                        retention: settings.retention(),
                        ..EmbeddedOptions::default()
                    },
                )
                .with_context(|| {
                    format!(
                        "opening the embedded log in {}",
                        settings.data_dir.display()
                    )
                })?;
                Ok(Self {
                    backend: backend.clone(),
                    views: backend,
                    codec: Codec::embedded(),
                    sent_ledger: None,
                })
            }
            BackendKind::Kafka => {
                let codec = registry_codec(settings).await?;
                let scylla = scylla_options(settings);
                let scylla_views = ScyllaViews::connect(&scylla)
                    .await
                    .with_context(|| format!("connecting to ScyllaDB at {:?}", scylla.nodes))?;
                let sent_ledger: Arc<dyn SentLedger> = scylla_views.clone();
                let views: Arc<dyn ViewStore> = scylla_views;
                let backend = KafkaBackend::connect(kafka_options(settings)?, Some(views.clone()))
                    .await
                    .context("connecting to Kafka")?;
                Ok(Self {
                    backend,
                    views,
                    codec,
                    sent_ledger: Some(sent_ledger),
                })
            }
        }
    }
}

/// Creates what distributed mode needs, idempotently: every topic (with its
/// partition count, cleanup policy and configs) and changelog, the views'
/// keyspace and tables, and every schema subject (with its compatibility).
/// Nothing to do on the embedded backend. Returns a line per step for the
/// operator.
pub async fn init(settings: &Settings) -> anyhow::Result<Vec<String>> {
    if settings.backend == BackendKind::Embedded {
        return Ok(vec![
            "embedded backend: nothing to create (the data dir is set up on start)".into(),
        ]);
    }
    let mut done = Vec::new();
    let kafka = kafka_options(settings)?;
    let report = slotstream_kafka::ensure_topics(&kafka)
        .await
        .context("creating the Kafka topics")?;
    done.push(format!(
        "kafka: {} topics created, {} already there (namespace {:?})",
        report.created.len(),
        report.existing.len(),
        settings.kafka.namespace
    ));
    for t in &report.created {
        done.push(format!("  created {t}"));
    }
    let scylla = scylla_options(settings);
    ScyllaViews::ensure_schema(&scylla)
        .await
        .with_context(|| format!("creating keyspace {}", scylla.keyspace))?;
    done.push(format!(
        "views: keyspace {} and its tables",
        scylla.keyspace
    ));
    registry_codec(settings).await?;
    done.push(format!(
        "schema registry: every subject registered (namespace {:?}, BACKWARD)",
        settings.kafka.namespace
    ));
    Ok(done)
}

/// Removes a namespace's topics and keyspace (test runs clean up after
/// themselves). Refuses the empty namespace and the default keyspace.
pub async fn destroy(settings: &Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.backend == BackendKind::Kafka && !settings.kafka.namespace.is_empty(),
        "destroy only removes a non-empty namespace of the kafka backend"
    );
    slotstream_kafka::delete_namespace(&kafka_options(settings)?)
        .await
        .context("deleting the namespace's topics")?;
    ScyllaViews::drop_keyspace(&scylla_options(settings))
        .await
        .context("dropping the namespace's keyspace")?;
    Ok(())
}

/// The Kafka client options `settings` describe.
pub fn kafka_options(settings: &Settings) -> anyhow::Result<KafkaOptions> {
    let k = &settings.kafka;
    let mut o = KafkaOptions::new(required("kafka_brokers", k.brokers.as_deref())?);
    o.namespace = k.namespace.clone();
    if let Some(i) = &k.instance {
        o.instance = i.clone();
    }
    o.commit_interval = k.commit_interval;
    o.transaction_timeout = k.transaction_timeout;
    o.replication_factor = k.replication_factor;
    o.librdkafka = k.librdkafka.clone();
    Ok(o)
}

/// The ScyllaDB options `settings` describe.
pub fn scylla_options(settings: &Settings) -> ScyllaOptions {
    let s = &settings.scylla;
    let mut o = ScyllaOptions::new(s.nodes.clone());
    o.keyspace = s.keyspace.clone();
    o.replication_factor = s.replication_factor;
    o.local_dc = s.local_dc.clone();
    o
}

/// A codec whose ids come from the schema registry (registering our subjects).
async fn registry_codec(settings: &Settings) -> anyhow::Result<Codec> {
    let mut opts = RegistryOptions::new(required(
        "schema_registry_url",
        settings.kafka.schema_registry_url.as_deref(),
    )?);
    opts.namespace = settings.kafka.namespace.clone();
    // The registry client is blocking HTTP: keep it off the async workers.
    let resolver = tokio::task::spawn_blocking(move || RegistryResolver::connect(opts))
        .await
        .context("registry task")?
        .context("registering the Avro schemas")?;
    Ok(Codec::new(Arc::new(resolver)))
}
