//! The exactly-once half of a session: restoring state from the changelog,
//! committing a step as one Kafka transaction, and recovering from a failed
//! one (abort, recreate a broken producer, rewind the consumer).

use crate::closing::Closing;
use crate::config::KafkaOptions;
use crate::errors::{is_group_fenced, is_producer_fenced, joined, to_log};
use crate::producer::place;
use crate::reader::{PlainConsumer, ReaderContext};
use crate::session::{KafkaSession, entries};
use bytes::Bytes;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

/// The transactional producer: a background thread serves its delivery
/// reports, which `abort_transaction` waits for, and which keep the offsets
/// the replies of a transaction cite ([`Deliveries`]).
pub(crate) type TxnProducer = ThreadedProducer<Deliveries>;
use crate::deliveries::Deliveries;
use rdkafka::{Offset, TopicPartitionList};
use slotstream_runtime::positions::{self, Cite, Position};
use slotstream_runtime::{LogError, StateEntry, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A restore fails when the changelog makes no progress for this long.
const RESTORE_STALL: Duration = Duration::from_secs(30);
/// Bound on offset queries and seeks.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the session's transactional producer and registers its
/// `transactional.id`, which fences (and aborts the open transaction of)
/// any older producer with the same id.
pub(crate) async fn start_producer(
    opts: &KafkaOptions,
    group: &str,
) -> Result<Arc<TxnProducer>, LogError> {
    let producer: TxnProducer = opts
        .transactional(group)
        .create_with_context(Deliveries::default())
        .map_err(|e| to_log("creating the transactional producer", &e))?;
    let producer = Arc::new(producer);
    let p = Arc::clone(&producer);
    let timeout = opts.transaction_timeout;
    tokio::task::spawn_blocking(move || p.init_transactions(timeout))
        .await
        .map_err(joined)?
        .map_err(|e| to_log("initialising transactions", &e))?;
    Ok(producer)
}

/// Reads `{group}-changelog` partition `partition` from its beginning to
/// its end (`read_committed`): the last value per key wins, tombstones delete.
pub(crate) async fn restore(
    session: &KafkaSession,
    partition: u32,
) -> Result<Vec<StateEntry>, LogError> {
    if partition >= session.partitions {
        return Err(LogError::Invalid(format!(
            "task partition {partition} does not exist (group {} has {})",
            session.group, session.partitions
        )));
    }
    let consumer: PlainConsumer = session
        .opts
        .plain_consumer(true)
        .create_with_context(ReaderContext)
        .map_err(|e| to_log("creating a restore consumer", &e))?;
    let consumer = Closing::new(consumer);
    let topic = session.changelog.clone();
    tokio::task::spawn_blocking(move || read_changelog(&consumer, &topic, partition as i32))
        .await
        .map_err(joined)?
}

fn read_changelog(
    consumer: &PlainConsumer,
    topic: &str,
    partition: i32,
) -> Result<Vec<StateEntry>, LogError> {
    let ctx = |what: &str| format!("restoring {topic}[{partition}]: {what}");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .map_err(|e| to_log(&ctx("assign"), &e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| to_log(&ctx("assign"), &e))?;
    let (low, high) =
        crate::reader::settled(|| consumer.fetch_watermarks(topic, partition, QUERY_TIMEOUT))
            .map_err(|e| to_log(&ctx("end offset"), &e))?;
    let mut state: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    if high <= low {
        return Ok(Vec::new());
    }
    let mut stall = Instant::now() + RESTORE_STALL;
    loop {
        match consumer.poll(stall.saturating_duration_since(Instant::now())) {
            Some(Ok(m)) => {
                stall = Instant::now() + RESTORE_STALL;
                if let Some(key) = m.key() {
                    let key = Bytes::copy_from_slice(key);
                    match m.payload() {
                        Some(v) => state.insert(key, Bytes::copy_from_slice(v)),
                        None => state.remove(&key),
                    };
                }
                if m.offset() + 1 >= high {
                    break;
                }
            }
            // End of the committed data (transaction markers and aborted
            // records take offsets below `high` but are never delivered).
            Some(Err(RdError::PartitionEOF(p))) if p == partition => break,
            Some(Err(RdError::PartitionEOF(_))) => {}
            Some(Err(e)) => return Err(to_log(&ctx("read"), &e)),
            None if Instant::now() >= stall => {
                return Err(LogError::Transient(ctx("no progress for 30 s")));
            }
            None => {}
        }
    }
    Ok(entries(state))
}

/// One record of a transaction, owned so it can cross to a blocking thread.
struct Prepared {
    topic: String,
    partition: i32,
    key: Bytes,
    value: Option<Bytes>,
    timestamp: Option<i64>,
    headers: Option<rdkafka::message::OwnedHeaders>,
    /// The platform topic of an output whose offset a reply may cite
    /// (a topic positions can name), else `None`.
    cited_as: Option<&'static str>,
    /// A reply citing the records before it: its cite, its headers, and the
    /// floor partition's wire topic.
    cite: Option<(Cite, slotstream_runtime::Headers, String)>,
}

/// Checks everything that can be refused before anything is sent.
fn prepare(
    session: &KafkaSession,
    txn: &Transaction,
) -> Result<(Vec<Prepared>, TopicPartitionList), LogError> {
    if !txn.views.is_empty() && session.views.is_none() {
        return Err(LogError::Invalid(
            "the transaction carries view writes but this backend has no view store; pass one to KafkaBackend::connect".into(),
        ));
    }
    let mut records = Vec::with_capacity(txn.outputs.len() + txn.state.len());
    for r in &txn.outputs {
        let (topic, partition) = place(&session.opts, r)?;
        let cite = positions::cite_of(&r.headers)
            .map(|c| (c, r.headers.clone(), session.opts.wire(c.floor.0)));
        records.push(Prepared {
            topic,
            partition: partition as i32,
            key: r.key.clone(),
            value: Some(r.value.clone()),
            timestamp: Some(r.timestamp),
            headers: crate::headers::to_kafka(&r.headers),
            cited_as: positions::code_of(r.topic).map(|_| r.topic),
            cite,
        });
    }
    for w in &txn.state {
        if w.partition >= session.partitions {
            return Err(LogError::Invalid(format!(
                "state for task partition {} of group {} (it has {})",
                w.partition, session.group, session.partitions
            )));
        }
        records.push(Prepared {
            topic: session.changelog.clone(),
            partition: w.partition as i32,
            key: w.key.clone(),
            value: w.value.clone(),
            timestamp: None,
            headers: None,
            cited_as: None,
            cite: None,
        });
    }
    let mut offsets = TopicPartitionList::new();
    for (tp, next) in &txn.offsets {
        let Some(input) = session.inputs.iter().find(|i| *i.name == *tp.topic) else {
            return Err(LogError::Invalid(format!(
                "offset for {:?}, which group {} does not read",
                tp.topic, session.group
            )));
        };
        offsets
            .add_partition_offset(
                &input.wire,
                tp.partition as i32,
                Offset::Offset(*next as i64),
            )
            .map_err(|e| to_log("offsets", &e))?;
    }
    Ok((records, offsets))
}

/// Begins the transaction and enqueues its records. Replies that cite
/// records of the transaction go last, once what they cite is
/// acknowledged, with the cited offsets in their headers (`positions`);
/// they are on another topic, so no partition's order changes.
fn produce(producer: &TxnProducer, records: &[Prepared], timeout: Duration) -> Result<(), RdError> {
    producer.begin_transaction()?;
    let deliveries = producer.context();
    deliveries.begin();
    let mut citing = false;
    for (i, r) in records.iter().enumerate() {
        if r.cite.is_some() {
            citing = true;
            continue;
        }
        let seq = if r.cited_as.is_some() { i + 1 } else { 0 };
        send(producer, r, r.headers.clone(), seq)?;
    }
    if !citing {
        return Ok(());
    }
    drain(producer, timeout)?;
    for (i, r) in records.iter().enumerate() {
        let Some((cite, headers, floor_wire)) = &r.cite else {
            continue;
        };
        let from = i.saturating_sub(usize::from(cite.previous));
        let cited: Vec<Position> = (from..i)
            .filter_map(|j| {
                let c = &records[j];
                Some(Position {
                    topic: c.cited_as?,
                    partition: c.partition as u32,
                    offset: deliveries.offset(j + 1)?,
                })
            })
            .collect();
        let floor_last = deliveries.last(floor_wire, cite.floor.1 as i32);
        let stamped = positions::resolve(headers, cite, &cited, floor_last);
        send(producer, r, crate::headers::to_kafka(&stamped), 0)?;
    }
    Ok(())
}

fn send(
    producer: &TxnProducer,
    r: &Prepared,
    headers: Option<rdkafka::message::OwnedHeaders>,
    seq: usize,
) -> Result<(), RdError> {
    let mut rec: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(&r.topic, seq)
        .partition(r.partition)
        .key(&r.key[..]);
    if let Some(v) = &r.value {
        rec = rec.payload(&v[..]);
    }
    if let Some(ts) = r.timestamp {
        rec = rec.timestamp(ts);
    }
    if let Some(h) = headers {
        rec = rec.headers(h);
    }
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Commits `txn` as one Kafka transaction; on failure nothing of it is
/// visible and the session is rewound to its committed offsets.
pub(crate) async fn commit(session: &mut KafkaSession, txn: Transaction) -> Result<(), LogError> {
    let result = match prepare(session, &txn) {
        Ok((records, offsets)) => run(session, &txn, records, offsets).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        if session.zombie.is_none()
            && let Err(rewind_err) = rewind(session).await
        {
            // Without a rewind the failed batch would be skipped: stop
            // this session rather than lose records.
            let why = format!("{e}; then rewinding failed: {rewind_err}");
            session.zombie = Some(why.clone());
            session.close();
            return Err(LogError::Fenced(why));
        }
        return Err(e);
    }
    Ok(())
}

async fn run(
    session: &mut KafkaSession,
    txn: &Transaction,
    records: Vec<Prepared>,
    offsets: TopicPartitionList,
) -> Result<(), LogError> {
    let producer = session.producer.clone().ok_or(LogError::Closed)?;
    let consumer = session.consumer()?;
    let timeout = session.opts.transaction_timeout;
    let started = std::time::Instant::now();
    let n_records = records.len();

    let p = Arc::clone(&producer);
    let sent = tokio::task::spawn_blocking(move || produce(&p, &records, timeout))
        .await
        .map_err(joined)?;
    if let Err(e) = sent {
        return Err(fail(session, "producing the transaction", e).await);
    }
    if !txn.views.is_empty()
        && let Some(views) = &session.views
        && let Err(e) = views.apply(&txn.views).await
    {
        let err = LogError::Transient(format!("applying view writes: {e}"));
        abort(session).await;
        return Err(err);
    }
    let meta = if offsets.count() > 0 {
        match consumer.group_metadata() {
            Some(meta) => Some(meta),
            None => {
                abort(session).await;
                return Err(LogError::Transient(
                    "the consumer has not joined its group yet; retry".into(),
                ));
            }
        }
    } else {
        None
    };
    let before_commit = started.elapsed();
    let p = Arc::clone(&producer);
    let done = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        if let Some(meta) = meta {
            p.send_offsets_to_transaction(&offsets, &meta, timeout)?;
        }
        let offsets_took = t.elapsed();
        drain(&p, timeout)?;
        p.commit_transaction(timeout).map(|()| offsets_took)
    })
    .await
    .map_err(joined)?;
    if let Ok(offsets_took) = &done {
        tracing::debug!(
            group = %session.group,
            records = n_records,
            produce_and_views_ms = before_commit.as_secs_f64() * 1e3,
            send_offsets_ms = offsets_took.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "transaction committed"
        );
    }
    let done = done.map(|_| ());
    match done {
        Ok(()) => Ok(()),
        Err(e) => Err(fail(session, "committing the transaction", e).await),
    }
}

/// Waits until every produced record is acknowledged. rdkafka's
/// `commit_transaction` flushes first, but its flush waits on the producer's
/// event queue in 100 ms slices, and a `ThreadedProducer`'s own thread serves
/// that queue, so the wait always ran the full 100 ms: profiled as 100 ms of
/// every transaction that carried records. Polling the in-flight count here
/// makes the commit's own flush find nothing to do.
fn drain(producer: &TxnProducer, timeout: Duration) -> Result<(), RdError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(50);
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            return Err(RdError::Flush(RDKafkaErrorCode::MessageTimedOut));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
    Ok(())
}

/// Cleans up after a failed step and says what the caller sees: a zombie
/// (another session has our `transactional.id`) stops for good; a fatal
/// producer is replaced; anything else is aborted.
async fn fail(session: &mut KafkaSession, what: &str, e: RdError) -> LogError {
    let fatal = matches!(&e, RdError::Transaction(t) if t.is_fatal());
    if is_producer_fenced(&e) {
        let why = format!(
            "group {} instance {}: {what}: {e}; a newer session took over",
            session.group, session.opts.instance
        );
        tracing::warn!(%why, "session fenced; leaving the group");
        session.zombie = Some(why.clone());
        session.close();
        return LogError::Fenced(why);
    }
    if fatal {
        tracing::warn!(group = %session.group, error = %e, "transactional producer failed fatally; recreating it");
        session.producer = None;
        match start_producer(&session.opts, &session.group).await {
            Ok(p) => session.producer = Some(p),
            Err(err) => return err,
        }
    } else {
        abort(session).await;
    }
    let err = to_log(what, &e);
    if is_group_fenced(&e) {
        return LogError::Fenced(format!("{what}: {e}; the partitions moved, reloading"));
    }
    match err {
        // A refused record inside a started transaction is still a refusal.
        LogError::Invalid(m) => LogError::Invalid(m),
        other => LogError::Transient(other.to_string()),
    }
}

/// Aborts the open transaction; a producer that cannot abort is replaced.
async fn abort(session: &mut KafkaSession) {
    let Some(producer) = session.producer.clone() else {
        return;
    };
    let timeout = session.opts.transaction_timeout;
    let aborted = tokio::task::spawn_blocking(move || producer.abort_transaction(timeout)).await;
    if !matches!(aborted, Ok(Ok(()))) {
        tracing::warn!(group = %session.group, "abort failed; recreating the transactional producer");
        session.producer = None;
        match start_producer(&session.opts, &session.group).await {
            Ok(p) => session.producer = Some(p),
            Err(e) => {
                tracing::error!(group = %session.group, error = %e, "cannot recreate the transactional producer")
            }
        }
    }
}

/// Seeks every owned input partition back to the group's committed offset
/// (the beginning where none was committed) and drops held records, so the
/// failed batch is delivered again.
async fn rewind(session: &mut KafkaSession) -> Result<(), LogError> {
    session.held.clear();
    let owned = session.owned_wire();
    if owned.is_empty() {
        return Ok(());
    }
    let consumer = session.consumer()?;
    tokio::task::spawn_blocking(move || {
        let mut tpl = TopicPartitionList::new();
        for (topic, p) in &owned {
            tpl.add_partition(topic, *p);
        }
        let committed = consumer
            .committed_offsets(tpl, QUERY_TIMEOUT)
            .map_err(|e| to_log("reading committed offsets to rewind", &e))?;
        let mut seek = TopicPartitionList::new();
        for e in committed.elements() {
            let to = match e.offset() {
                Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            seek.add_partition_offset(e.topic(), e.partition(), to)
                .map_err(|e| to_log("rewinding", &e))?;
        }
        let result = consumer
            .seek_partitions(seek, QUERY_TIMEOUT)
            .map_err(|e| to_log("rewinding", &e))?;
        for e in result.elements() {
            if let Err(err) = e.error() {
                return Err(LogError::Transient(format!(
                    "rewinding {}[{}]: {err}",
                    e.topic(),
                    e.partition()
                )));
            }
        }
        Ok(())
    })
    .await
    .map_err(joined)?
}
