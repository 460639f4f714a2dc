//! Throughput of the embedded log: `cargo bench -p slotstream-embedded --bench log`.
//!
//! Scenarios, each with fsync on (durable) and off:
//! * produce, batches of 256, one producer and four concurrent ones;
//! * produce, batches of 1, one producer (latency-bound) and 256 concurrent
//!   ones (what a busy gateway does: group commit merges them);
//! * consume-transform-produce over pre-loaded records: poll up to 1024,
//!   one output per input, one state write per partition, offsets, one commit;
//! * both at once: 256 single-record producers feeding a transform loop.
//!
//! Records are 24-byte keys and 200-byte values, about a booking command.
//! `SLOTSTREAM_BENCH_RECORDS` sets the records per scenario (default 200000).

use bytes::Bytes;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS};
use slotstream_runtime::{Backend, OutRecord, Poll, StateWrite, TopicPartition, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn record(i: u64) -> OutRecord {
    OutRecord {
        topic: BOOKING_COMMANDS.name,
        partition: None,
        key: Bytes::from(format!("res_{:020}", i % 5000)),
        value: Bytes::from(vec![b'x'; 200]),
        timestamp: 1_700_000_000_000,
        headers: slotstream_runtime::Headers::new(),
    }
}

fn open(durable: bool) -> Result<(tempfile::TempDir, Arc<EmbeddedBackend>), Error> {
    let dir = tempfile::tempdir()?;
    let opts = EmbeddedOptions {
        durable,
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(dir.path(), opts)?;
    Ok((dir, backend))
}

/// `producers` tasks send `total` records in batches of `batch`.
async fn produce(
    backend: &EmbeddedBackend,
    total: u64,
    batch: u64,
    producers: u64,
) -> Result<f64, Error> {
    let start = Instant::now();
    let per = total / producers;
    let mut tasks = Vec::new();
    for t in 0..producers {
        let producer = backend.producer();
        tasks.push(tokio::spawn(async move {
            let mut i = t * per;
            let end = i + per;
            while i < end {
                let n = batch.min(end - i);
                producer.send((i..i + n).map(record).collect()).await?;
                i += n;
            }
            Ok::<(), slotstream_runtime::LogError>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per * producers) as f64 / start.elapsed().as_secs_f64())
}

/// Transforms until `total` inputs were committed; returns records/s.
async fn transform(backend: Arc<EmbeddedBackend>, total: u64) -> Result<f64, Error> {
    let mut session = backend
        .subscribe("bench", &[BOOKING_COMMANDS], 0, 1)
        .await?;
    let mut done = 0;
    let mut start = None;
    while done < total {
        match session.poll(1024, Duration::from_millis(100)).await? {
            Poll::Records(records) => {
                start.get_or_insert_with(Instant::now);
                let mut txn = Transaction::default();
                let mut next: BTreeMap<u32, u64> = BTreeMap::new();
                for r in &records {
                    txn.outputs.push(OutRecord {
                        topic: BOOKING_EVENTS.name,
                        partition: Some(r.partition),
                        key: r.key.clone(),
                        value: r.value.clone(),
                        timestamp: r.timestamp,
                        headers: slotstream_runtime::Headers::new(),
                    });
                    next.insert(r.partition, r.offset + 1);
                }
                for (&p, &o) in &next {
                    txn.state.push(StateWrite {
                        partition: p,
                        key: Bytes::from_static(b"pos"),
                        value: Some(Bytes::from(o.to_string())),
                    });
                    txn.offsets
                        .push((TopicPartition::new(BOOKING_COMMANDS.name, p), o));
                }
                done += records.len() as u64;
                session.commit(txn).await?;
            }
            Poll::Assigned(_) | Poll::Revoked(_) | Poll::Idle => {}
        }
    }
    let secs = start.map_or(f64::NAN, |s: Instant| s.elapsed().as_secs_f64());
    Ok(done as f64 / secs)
}

fn report(name: &str, durable: bool, rate: f64) {
    let mode = if durable { "durable" } else { "no-fsync" };
    println!("{name:<48} {mode:<9} {rate:>12.0} records/s");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let total: u64 = std::env::var("SLOTSTREAM_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    for durable in [true, false] {
        let (_d, b) = open(durable)?;
        report(
            "produce, batch 256, 1 producer",
            durable,
            produce(&b, total, 256, 1).await?,
        );
        let (_d, b) = open(durable)?;
        report(
            "produce, batch 256, 4 producers",
            durable,
            produce(&b, total, 256, 4).await?,
        );
        let (_d, b) = open(durable)?;
        let single = if durable { total / 100 } else { total / 10 };
        report(
            "produce, batch 1, 1 producer",
            durable,
            produce(&b, single, 1, 1).await?,
        );
        let (_d, b) = open(durable)?;
        report(
            "produce, batch 1, 256 producers",
            durable,
            produce(&b, total, 1, 256).await?,
        );

        let (_d, b) = open(durable)?;
        produce(&b, total, 256, 1).await?;
        report(
            "consume-transform-produce, pre-loaded",
            durable,
            transform(Arc::clone(&b), total).await?,
        );

        let (_d, b) = open(durable)?;
        let whole = total / 256 * 256;
        let start = Instant::now();
        let ctp = tokio::spawn(transform(Arc::clone(&b), whole));
        produce(&b, whole, 1, 256).await?;
        ctp.await??;
        let rate = whole as f64 / start.elapsed().as_secs_f64();
        report(
            "end to end: 256 producers (batch 1) + transform",
            durable,
            rate,
        );
    }
    Ok(())
}
