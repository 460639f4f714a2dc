//! The child process of `tests/crash.rs`: works the embedded backend until it
//! is SIGKILLed.
//!
//! Usage: `crash_child <dir> <first-seq> <seed>`.
//!
//! * A producer appends numbered records (value: the sequence number) with
//!   random keys to the booking-commands topic, in batches of 1 to 8, and
//!   prints `ack <partition> <offset> <seq>` for each record once acked.
//! * A consume-transform-produce loop (group `crash-ctp`) reads that topic
//!   and, per input, writes one output (value `<partition>:<offset>`) to the
//!   same partition of booking-events, plus a per-partition counter in its
//!   state store, plus the consumed offsets: all in one commit.
//! * A view group (`slotstream.views.booking`, whose commits append nothing
//!   and so are not fsynced on their own) reads the same topic and, per
//!   input, puts one user row (email `<partition>-<offset>@crash.test`)
//!   plus a per-partition counter plus the consumed offsets: all in one
//!   commit.

use bytes::Bytes;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS, groups};
use slotstream_runtime::{
    Backend, ConsumedRecord, OutRecord, Poll, Session, StateWrite, TopicPartition, Transaction,
    ViewWrite,
};
use slotstream_testkit::contract::views::user;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The state key of the per-partition counter.
const COUNT: &[u8] = b"count";

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: crash_child <dir> <first-seq> <seed>";
    let dir = PathBuf::from(args.next().ok_or(usage)?);
    let first_seq: u64 = args.next().ok_or(usage)?.parse()?;
    let seed: u64 = args.next().ok_or(usage)?.parse()?;
    // Views made durable often, so that kills land both before and after.
    // The transform reads eagerly (records written but not yet fsynced), as
    // the booking processor does: kills land between a command's write and
    // the fsync that covers it and the decision.
    let opts = EmbeddedOptions {
        flush_every: Duration::from_millis(40),
        eager_groups: vec!["crash-ctp".to_owned()],
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(&dir, opts)?;

    let ctp = tokio::spawn(transform(Arc::clone(&backend)));
    let views = tokio::spawn(project(Arc::clone(&backend)));
    let produce = tokio::spawn(produce(Arc::clone(&backend), first_seq, seed | 1));
    // The loops run until the process is killed; any ending is a failure.
    tokio::select! {
        r = ctp => r??,
        r = views => r??,
        r = produce => r??,
    }
    Err("a loop ended".into())
}

async fn produce(backend: Arc<EmbeddedBackend>, mut seq: u64, seed: u64) -> Result<(), Error> {
    let producer = backend.producer();
    let mut rng = XorShift(seed);
    loop {
        let n = 1 + rng.next() % 8;
        let mut seqs = Vec::new();
        let mut records = Vec::new();
        for _ in 0..n {
            let key = format!("key-{}", rng.next() % 10_000);
            records.push(OutRecord {
                topic: BOOKING_COMMANDS.name,
                partition: None,
                key: Bytes::from(key),
                value: Bytes::from(seq.to_string()),
                timestamp: 0,
                headers: slotstream_runtime::Headers::new(),
            });
            seqs.push(seq);
            seq += 1;
        }
        let positions = producer.send(records).await?;
        let mut out = std::io::stdout().lock();
        for (pos, s) in positions.iter().zip(seqs) {
            writeln!(out, "ack {} {} {}", pos.partition, pos.offset, s)?;
        }
        out.flush()?;
    }
}

async fn transform(backend: Arc<EmbeddedBackend>) -> Result<(), Error> {
    let session = backend
        .subscribe("crash-ctp", &[BOOKING_COMMANDS], 0, 1)
        .await?;
    counting_loop(session, |r, txn| {
        txn.outputs.push(OutRecord {
            topic: BOOKING_EVENTS.name,
            partition: Some(r.partition),
            key: r.key.clone(),
            value: Bytes::from(format!("{}:{}", r.partition, r.offset)),
            timestamp: r.timestamp,
            headers: slotstream_runtime::Headers::new(),
        });
    })
    .await
}

async fn project(backend: Arc<EmbeddedBackend>) -> Result<(), Error> {
    let session = backend
        .subscribe(groups::VIEWS_BOOKING.name, &[BOOKING_COMMANDS], 0, 1)
        .await?;
    counting_loop(session, |r, txn| {
        let email = format!("{}-{}@crash.test", r.partition, r.offset);
        txn.views.push(ViewWrite::PutUser(user(&email)));
    })
    .await
}

/// Polls the session forever; per record, `each` adds its effect to the
/// batch's transaction, which also carries a per-partition counter of the
/// records seen and the consumed offsets.
async fn counting_loop(
    mut session: Box<dyn Session>,
    each: impl Fn(&ConsumedRecord, &mut Transaction),
) -> Result<(), Error> {
    let mut counters: HashMap<u32, u64> = HashMap::new();
    loop {
        match session.poll(256, Duration::from_millis(50)).await? {
            Poll::Assigned(parts) => {
                for p in parts {
                    let state = session.restore(p).await?;
                    let count = match state.iter().find(|(k, _)| k == COUNT) {
                        Some((_, v)) => std::str::from_utf8(v)?.parse()?,
                        None => 0,
                    };
                    counters.insert(p, count);
                }
            }
            Poll::Revoked(_) | Poll::Idle => {}
            Poll::Records(records) => {
                let mut txn = Transaction::default();
                let mut next: BTreeMap<u32, u64> = BTreeMap::new();
                for r in &records {
                    each(r, &mut txn);
                    *counters.entry(r.partition).or_insert(0) += 1;
                    next.insert(r.partition, r.offset + 1);
                }
                for (&p, &offset) in &next {
                    let count = counters.get(&p).copied().unwrap_or(0);
                    txn.state.push(StateWrite {
                        partition: p,
                        key: Bytes::from_static(COUNT),
                        value: Some(Bytes::from(count.to_string())),
                    });
                    txn.offsets
                        .push((TopicPartition::new(BOOKING_COMMANDS.name, p), offset));
                }
                session.commit(txn).await?;
            }
        }
    }
}
