//! The embedded log against a naive model: random appends, reads, commits
//! and reopens must agree with plain vectors and a map.

use bytes::Bytes;
use proptest::prelude::*;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::topics::BOOKING_COMMANDS;
use slotstream_runtime::{Backend, OutRecord, TopicPartition, Transaction};
use std::collections::HashMap;
use std::time::Duration;

const PARTS: u32 = BOOKING_COMMANDS.partitions;

#[derive(Clone, Debug)]
enum Op {
    /// Append records: (explicit partition or none, key number).
    Send(Vec<(Option<u32>, u8)>),
    /// Read `max` records of a partition from `from`.
    Read {
        partition: u32,
        from: u64,
        max: usize,
    },
    /// Commit an offset for a partition.
    Commit { partition: u32, offset: u64 },
    /// Close and open the store again.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec((prop::option::of(0..PARTS), any::<u8>()), 1..20).prop_map(Op::Send),
        2 => (0..PARTS, 0..40u64, 0..30usize).prop_map(|(partition, from, max)| Op::Read { partition, from, max }),
        1 => (0..PARTS, 0..40u64).prop_map(|(partition, offset)| Op::Commit { partition, offset }),
        1 => Just(Op::Reopen),
    ]
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let open = || EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("open");
    let mut backend = open();
    let mut log: Vec<Vec<(String, String)>> = vec![Vec::new(); PARTS as usize];
    let mut committed: HashMap<u32, u64> = HashMap::new();
    let mut n = 0u64;
    for op in ops {
        match op {
            Op::Send(records) => {
                let mut out = Vec::new();
                let mut want = Vec::new();
                for (partition, k) in records {
                    let key = format!("key-{k}");
                    let value = format!("v{n}");
                    n += 1;
                    let p = partition.unwrap_or_else(|| partition_for(key.as_bytes(), PARTS));
                    want.push((p, log[p as usize].len() as u64));
                    log[p as usize].push((key.clone(), value.clone()));
                    out.push(OutRecord {
                        topic: BOOKING_COMMANDS.name,
                        partition,
                        key: Bytes::from(key),
                        value: Bytes::from(value),
                        timestamp: 0,
                        headers: slotstream_runtime::Headers::new(),
                    });
                }
                let got = backend.producer().send(out).await.expect("send");
                let got: Vec<(u32, u64)> = got.iter().map(|p| (p.partition, p.offset)).collect();
                prop_assert_eq!(got, want);
            }
            Op::Read {
                partition,
                from,
                max,
            } => {
                let tp = TopicPartition::new(BOOKING_COMMANDS.name, partition);
                let got = backend
                    .reader()
                    .read(&tp, from, max, Duration::ZERO)
                    .await
                    .expect("read");
                let got: Vec<(u64, String, String)> = got
                    .iter()
                    .map(|r| {
                        (
                            r.offset,
                            String::from_utf8_lossy(&r.key).into(),
                            String::from_utf8_lossy(&r.value).into(),
                        )
                    })
                    .collect();
                let want: Vec<(u64, String, String)> = log[partition as usize]
                    .iter()
                    .enumerate()
                    .skip(from as usize)
                    .take(max)
                    .map(|(o, (k, v))| (o as u64, k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want);
                let end = backend.reader().end_offset(&tp).await.expect("end");
                prop_assert_eq!(end, log[partition as usize].len() as u64);
            }
            Op::Commit { partition, offset } => {
                let mut session = backend
                    .subscribe("model", &[BOOKING_COMMANDS], 0, 1)
                    .await
                    .expect("subscribe");
                let tp = TopicPartition::new(BOOKING_COMMANDS.name, partition);
                let txn = Transaction {
                    offsets: vec![(tp, offset)],
                    ..Transaction::default()
                };
                session.commit(txn).await.expect("commit");
                committed.insert(partition, offset);
            }
            Op::Reopen => {
                drop(backend);
                backend = open();
            }
        }
    }
    for p in 0..PARTS {
        let tp = TopicPartition::new(BOOKING_COMMANDS.name, p);
        prop_assert_eq!(
            backend.committed_offset("model", &tp).expect("offset"),
            committed.get(&p).copied()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn the_log_behaves_like_a_vector_per_partition(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run(ops))?;
    }
}
