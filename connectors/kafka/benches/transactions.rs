//! Throughput on the real broker: the idempotent producer (the ceiling) and
//! a consume-transform-produce loop committing one transaction per batch.
//!
//! `eval "$(scripts/engines/kafka.sh start)"; cargo bench -p slotstream-kafka`

use bytes::Bytes;
use slotstream_kafka::{KafkaBackend, KafkaOptions, delete_namespace, ensure_topics};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS};
use slotstream_runtime::{Backend, OutRecord, Poll, StateWrite, TopicPartition, Transaction};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const RECORDS: usize = 50_000;
const BATCH: usize = 1000;

fn out(topic: &'static str, i: usize) -> OutRecord {
    OutRecord {
        topic,
        partition: None,
        key: Bytes::from(format!("res_{}", i % 500)),
        value: Bytes::from(vec![b'x'; 200]),
        // Now: a broker deletes records older than the topic's retention.
        timestamp: slotstream_testkit::contract::log::now_ms(),
        headers: slotstream_runtime::Headers::new(),
    }
}

#[tokio::main]
async fn main() {
    let brokers = std::env::var("SLOTSTREAM_TEST_KAFKA_BROKERS")
        .expect("start Kafka: eval \"$(scripts/engines/kafka.sh start)\"");
    let mut opts = KafkaOptions::new(brokers);
    opts.namespace = format!("bench{}", uuid::Uuid::new_v4().simple());
    ensure_topics(&opts).await.expect("ensure_topics");
    let backend = KafkaBackend::connect(opts.clone(), None)
        .await
        .expect("connect");

    // The ceiling: idempotent producer, 4 sends of 1000 records in flight.
    let producer = backend.producer();
    let start = Instant::now();
    let mut sends = Vec::new();
    for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(BATCH) {
        let records = chunk
            .iter()
            .map(|&i| out(BOOKING_COMMANDS.name, i))
            .collect();
        let p = producer.clone();
        sends.push(tokio::spawn(async move { p.send(records).await }));
        if sends.len() >= 4 {
            sends.remove(0).await.expect("task").expect("send");
        }
    }
    for s in sends {
        s.await.expect("task").expect("send");
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "idempotent producer: {RECORDS} records in {secs:.2} s = {:.0} records/s",
        RECORDS as f64 / secs
    );

    // Consume-transform-produce: one output and one state write per input,
    // one transaction per polled batch.
    let mut session = backend
        .subscribe("bench.ctp", &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    let (mut seen, mut txns) = (0usize, 0usize);
    let mut start = None;
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen < RECORDS && Instant::now() < deadline {
        match session
            .poll(BATCH, Duration::from_millis(100))
            .await
            .expect("poll")
        {
            Poll::Records(rs) => {
                start.get_or_insert_with(Instant::now);
                let mut offsets = BTreeMap::new();
                let mut txn = Transaction::default();
                for r in &rs {
                    txn.outputs.push(OutRecord {
                        topic: BOOKING_EVENTS.name,
                        partition: Some(r.partition),
                        key: r.key.clone(),
                        value: r.value.clone(),
                        timestamp: r.timestamp,
                        headers: slotstream_runtime::Headers::new(),
                    });
                    txn.state.push(StateWrite {
                        partition: r.partition,
                        key: r.key.clone(),
                        value: Some(Bytes::from(r.offset.to_string())),
                    });
                    offsets.insert(r.partition, r.offset + 1);
                }
                txn.offsets = offsets
                    .into_iter()
                    .map(|(p, o)| (TopicPartition::new(BOOKING_COMMANDS.name, p), o))
                    .collect();
                session.commit(txn).await.expect("commit");
                seen += rs.len();
                txns += 1;
            }
            Poll::Assigned(parts) => {
                for p in parts {
                    session.restore(p).await.expect("restore");
                }
            }
            Poll::Revoked(_) | Poll::Idle => {}
        }
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "consume-transform-produce: {seen} records in {txns} transactions in {secs:.2} s = {:.1} txn/s, {:.0} records/s (avg {:.0} records/txn)",
        txns as f64 / secs,
        seen as f64 / secs,
        seen as f64 / txns.max(1) as f64
    );
    drop(session);
    delete_namespace(&opts).await.expect("delete namespace");
}
