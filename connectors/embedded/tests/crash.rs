//! SIGKILL safety: a child process (examples/crash_child.rs) produces and
//! runs a consume-transform-produce loop on one data directory and is killed
//! at random moments, again and again. Afterwards every acknowledged record
//! must be where its ack said, exactly once, and the transform's outputs,
//! state and committed offsets must agree exactly. So must a view group's
//! views, state and offsets: its commits append nothing, so they are not
//! fsynced on their own (`EmbeddedOptions::relaxed_derived`), and a kill
//! rolls it back to an earlier commit, but never to a mix of two.

use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_runtime::topics::{BOOKING_COMMANDS, BOOKING_EVENTS, TopicSpec, groups};
use slotstream_runtime::{Backend, ConsumedRecord, LogReader, Session, TopicPartition, ViewStore};
use slotstream_testkit::contract::log::assignment;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ROUNDS: u64 = 20;
const GROUP: &str = "crash-ctp";

/// An acknowledged record: (partition, offset, sequence number).
type Ack = (u32, u64, u64);

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The example binary, built (or found up to date) by cargo in the target
/// directory this test runs from, with the same profile.
fn child_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--example",
            "crash_child",
            "-p",
            "slotstream-embedded",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(target) = profile_dir.parent() {
        cargo.env("CARGO_TARGET_DIR", target);
    }
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    let status = cargo.status().expect("run cargo build");
    assert!(status.success(), "building the crash child failed");
    let bin = profile_dir.join("examples").join("crash_child");
    assert!(bin.exists(), "crash child not found at {}", bin.display());
    bin
}

fn parse(line: &str) -> Option<Ack> {
    let mut parts = line.strip_suffix('\n')?.split(' ');
    if parts.next()? != "ack" {
        return None;
    }
    let p = parts.next()?.parse().ok()?;
    let o = parts.next()?.parse().ok()?;
    let s = parts.next()?.parse().ok()?;
    Some((p, o, s))
}

/// Runs the child once and kills it; returns the acks it printed.
fn run_and_kill(bin: &Path, dir: &Path, round: u64, rng: &mut XorShift) -> Vec<Ack> {
    let mut child = Command::new(bin)
        .arg(dir)
        .arg((round * 1_000_000_000).to_string())
        .arg((rng.below(u64::MAX - 1) + 1).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn crash child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout);
        let mut acks = Vec::new();
        let mut line = String::new();
        // A line cut by the kill has no newline and is not counted.
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(ack) = parse(&line) {
                if acks.is_empty() {
                    // The receiver may have stopped listening; nothing to do then.
                    let _ = tx.send(());
                }
                acks.push(ack);
            }
            line.clear();
        }
        acks
    });
    if round % 5 == 4 {
        // Now and then, kill it early: while it opens or recovers the database.
        std::thread::sleep(Duration::from_millis(rng.below(60)));
    } else {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the child acked a first record");
        // The crash moment itself, chosen at random.
        std::thread::sleep(Duration::from_millis(50 + rng.below(350)));
    }
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed, it did not exit");
    reader.join().expect("stdout reader")
}

async fn read_all(reader: &dyn LogReader, spec: TopicSpec) -> Vec<ConsumedRecord> {
    let mut all = Vec::new();
    for p in 0..spec.partitions {
        let tp = TopicPartition::new(spec.name, p);
        let end = reader.end_offset(&tp).await.expect("end offset");
        let mut from = 0;
        while from < end {
            let batch = reader
                .read(&tp, from, 10_000, Duration::ZERO)
                .await
                .expect("read");
            assert!(
                !batch.is_empty(),
                "{tp:?} has records below its end offset {end}"
            );
            for (i, r) in batch.iter().enumerate() {
                assert_eq!(r.offset, from + i as u64, "dense offsets in {tp:?}");
            }
            from += batch.len() as u64;
            all.extend(batch);
        }
    }
    all
}

fn text(r: &ConsumedRecord) -> &str {
    std::str::from_utf8(&r.value).expect("utf-8 value")
}

#[test]
fn acked_records_and_committed_transforms_survive_sigkill() {
    let bin = child_binary();
    let dir = tempfile::tempdir().expect("tempdir");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = XorShift(seed);
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        acked.extend(run_and_kill(&bin, dir.path(), round, &mut rng));
    }
    assert!(
        acked.len() >= 100,
        "the child made progress: {} acks",
        acked.len()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(verify(dir.path(), &acked));
}

async fn verify(dir: &Path, acked: &[Ack]) {
    let backend =
        EmbeddedBackend::open(dir, EmbeddedOptions::default()).expect("reopen after crashes");
    let reader = backend.reader();

    // Every acked record is at its acked position, and no record twice.
    let inputs = read_all(&*reader, BOOKING_COMMANDS).await;
    let at: HashMap<(u32, u64), &str> = inputs
        .iter()
        .map(|r| ((r.partition, r.offset), text(r)))
        .collect();
    let mut seqs = HashSet::new();
    for r in &inputs {
        assert!(seqs.insert(text(r)), "sequence {} stored twice", text(r));
    }
    for &(p, o, s) in acked {
        assert_eq!(
            at.get(&(p, o)).copied(),
            Some(s.to_string().as_str()),
            "acked seq {s} at {p}@{o}"
        );
    }

    // Every input below the committed offset has exactly one output; none above.
    let outputs = read_all(&*reader, BOOKING_EVENTS).await;
    let mut produced: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for r in &outputs {
        let (p, o) = text(r).split_once(':').expect("p:o output");
        let p: u32 = p.parse().expect("partition");
        assert_eq!(p, r.partition, "output on its input's partition");
        produced
            .entry(p)
            .or_default()
            .push(o.parse().expect("offset"));
    }
    let mut session = joined(&backend, GROUP).await;
    let mut total = 0;
    for p in 0..BOOKING_COMMANDS.partitions {
        let tp = TopicPartition::new(BOOKING_COMMANDS.name, p);
        let committed = backend
            .committed_offset(GROUP, &tp)
            .expect("offset")
            .unwrap_or(0);
        let mut outs = produced.remove(&p).unwrap_or_default();
        outs.sort_unstable();
        assert_eq!(
            outs,
            (0..committed).collect::<Vec<_>>(),
            "outputs of partition {p}"
        );
        assert_eq!(
            counter(&mut *session, p).await,
            committed,
            "state counter of partition {p}"
        );
        total += committed;
    }
    assert!(
        produced.is_empty(),
        "outputs for unknown partitions: {produced:?}"
    );
    assert!(total > 0, "the transform committed some work");

    // The view group: a user row for exactly the inputs below its committed
    // offset, and a counter equal to it.
    let view_group = groups::VIEWS_BOOKING.name;
    let mut session = joined(&backend, view_group).await;
    let mut projected = 0;
    for p in 0..BOOKING_COMMANDS.partitions {
        let tp = TopicPartition::new(BOOKING_COMMANDS.name, p);
        let committed = backend
            .committed_offset(view_group, &tp)
            .expect("view group offset")
            .unwrap_or(0);
        assert_eq!(
            counter(&mut *session, p).await,
            committed,
            "view group counter of partition {p}"
        );
        let end = reader.end_offset(&tp).await.expect("end offset");
        for o in 0..end {
            let row = backend
                .user_by_email(&format!("{p}-{o}@crash.test"))
                .await
                .expect("read the users view");
            assert_eq!(
                row.is_some(),
                o < committed,
                "view row of input {p}@{o} (view group committed {committed})"
            );
        }
        projected += committed;
    }
    assert!(projected > 0, "the view group committed some work");
    eprintln!(
        "crash test: {} acks, {} inputs stored, {} transformed, {} projected",
        acked.len(),
        inputs.len(),
        total,
        projected
    );
}

/// A session of `group` on the input topic, past its assignment.
async fn joined(backend: &EmbeddedBackend, group: &str) -> Box<dyn Session> {
    let mut session = backend
        .subscribe(group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    session
}

/// The per-partition counter the child keeps in its state.
async fn counter(session: &mut dyn Session, p: u32) -> u64 {
    let state = session.restore(p).await.expect("restore");
    state
        .iter()
        .find(|(k, _)| &k[..] == b"count")
        .map(|(_, v)| {
            std::str::from_utf8(v)
                .expect("utf-8")
                .parse::<u64>()
                .expect("count")
        })
        .unwrap_or(0)
}
