//! The command producer (the gateway's path): idempotent, `acks=all`, every
//! record's partition chosen here with Kafka's Java murmur2.

use crate::config::KafkaOptions;
use crate::errors::{KafkaError, to_log};
use async_trait::async_trait;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::{LogError, OutRecord, Producer, RecordPosition, topics};
use std::sync::Arc;
use std::time::Duration;

/// Where a record goes: its on-wire topic and partition. Unknown topics and
/// partitions out of range are [`LogError::Invalid`].
pub(crate) fn place(opts: &KafkaOptions, rec: &OutRecord) -> Result<(String, u32), LogError> {
    let spec = topics::by_name(rec.topic)
        .ok_or_else(|| LogError::Invalid(format!("{:?} is not a platform topic", rec.topic)))?;
    let partition = match rec.partition {
        Some(p) if p < spec.partitions => p,
        Some(p) => {
            return Err(LogError::Invalid(format!(
                "partition {p} of {} does not exist (it has {})",
                rec.topic, spec.partitions
            )));
        }
        None => partition_for(&rec.key, spec.partitions),
    };
    Ok((opts.wire(rec.topic), partition))
}

/// Appends commands outside any transaction; see [`Producer`].
pub struct KafkaProducer {
    opts: Arc<KafkaOptions>,
    inner: FutureProducer,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaProducer")
            .field("brokers", &self.opts.brokers)
            .field("namespace", &self.opts.namespace)
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    pub(crate) fn new(opts: Arc<KafkaOptions>) -> Result<Self, KafkaError> {
        let inner: FutureProducer = opts
            .producer()
            .create()
            .map_err(|e| KafkaError::Client(e.to_string()))?;
        Ok(Self { opts, inner })
    }

    /// The underlying client (metadata checks).
    pub(crate) fn raw(&self) -> FutureProducer {
        self.inner.clone()
    }
}

#[async_trait]
impl Producer for KafkaProducer {
    async fn send(&self, records: Vec<OutRecord>) -> Result<Vec<RecordPosition>, LogError> {
        // Validate the whole batch first: a bad record appends nothing.
        let placed = records
            .iter()
            .map(|r| place(&self.opts, r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut pending = Vec::with_capacity(records.len());
        for (rec, (topic, partition)) in records.iter().zip(&placed) {
            let mut record = FutureRecord::to(topic)
                .partition(*partition as i32)
                .key(&rec.key[..])
                .payload(&rec.value[..])
                .timestamp(rec.timestamp);
            if let Some(headers) = crate::headers::to_kafka(&rec.headers) {
                record = record.headers(headers);
            }
            // Enqueue without awaiting deliveries: the whole send is one
            // round of batches. A full local queue waits for room.
            loop {
                match self.inner.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(to_log("enqueueing a record", &e)),
                }
            }
        }
        let results = futures_util::future::join_all(pending).await;
        let mut positions = Vec::with_capacity(results.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(Ok(delivery)) => positions.push(RecordPosition {
                    partition: delivery.partition as u32,
                    offset: delivery.offset as u64,
                }),
                Ok(Err((e, _))) => {
                    first_error.get_or_insert_with(|| to_log("delivering a record", &e));
                }
                Err(_) => {
                    first_error.get_or_insert(LogError::Closed);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(positions),
        }
    }
}
