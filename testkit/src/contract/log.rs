//! The log port's contract: partitioning, offsets, reads, consumer groups,
//! atomic commits and fencing.

use crate::contract::unique;
use bytes::Bytes;
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::topics::{
    BOOKING_COMMANDS, BOOKING_EVENTS, IDENTITY_COMMANDS, REPLIES, TopicSpec,
};
use slotstream_runtime::{
    Backend, ConsumedRecord, Headers, LogError, OutRecord, Poll, Session, StateWrite,
    TopicPartition, Transaction,
};
use std::time::{Duration, Instant};

/// How long a contract step may wait for something that should happen now.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A record for `topic` with string key and value; `partition: None`
/// leaves the choice to the partitioner.
pub fn record(topic: &'static str, key: &str, value: &str, partition: Option<u32>) -> OutRecord {
    OutRecord {
        topic,
        partition,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        timestamp: now_ms(),
        headers: slotstream_runtime::Headers::new(),
    }
}

/// Wall-clock milliseconds. Records carry the time they are written: a
/// broker deletes records older than a topic's `retention.ms` at its next
/// retention check, so a fixed old timestamp would let a real broker drop
/// test records between the write and the read.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The partition the platform partitioner gives `key` on `spec`.
pub fn partition_of(spec: TopicSpec, key: &str) -> u32 {
    partition_for(key.as_bytes(), spec.partitions)
}

/// Polls until the session reports its assignment; returns it.
pub async fn assignment(session: &mut dyn Session) -> Vec<u32> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        match session.poll(100, Duration::from_millis(100)).await {
            Ok(Poll::Assigned(parts)) => return parts,
            Ok(Poll::Records(r)) => panic!("{} records arrived before any assignment", r.len()),
            Ok(_) => {}
            Err(e) => panic!("poll failed while waiting for an assignment: {e}"),
        }
    }
    panic!("no assignment within {PATIENCE:?}");
}

/// Polls (after the assignment) until `done` holds for everything received.
pub async fn poll_until(
    session: &mut dyn Session,
    mut done: impl FnMut(&[ConsumedRecord]) -> bool,
) -> Vec<ConsumedRecord> {
    let start = Instant::now();
    let mut got = Vec::new();
    while start.elapsed() < PATIENCE {
        match session.poll(1000, Duration::from_millis(200)).await {
            Ok(Poll::Records(r)) => got.extend(r),
            Ok(_) => {}
            Err(e) => panic!("poll failed: {e}"),
        }
        if done(&got) {
            return got;
        }
    }
    panic!(
        "condition not met within {PATIENCE:?}; got {} records",
        got.len()
    );
}

fn on<'a>(
    records: &'a [ConsumedRecord],
    tp: &'a TopicPartition,
) -> impl Iterator<Item = &'a ConsumedRecord> {
    records
        .iter()
        .filter(move |r| *r.topic == *tp.topic && r.partition == tp.partition)
}

fn text(b: &Bytes) -> &str {
    std::str::from_utf8(b).unwrap_or("<not utf-8>")
}

/// Keyed records without a partition land where Kafka's murmur2 puts them;
/// an explicit partition wins.
pub async fn keyed_records_land_on_murmur2_partitions(backend: &dyn Backend) {
    let producer = backend.producer();
    let keys: Vec<String> = (0..50).map(|i| unique(&format!("res{i}"))).collect();
    let records = keys
        .iter()
        .map(|k| record(BOOKING_COMMANDS.name, k, k, None))
        .collect();
    let positions = producer.send(records).await.expect("send keyed records");
    assert_eq!(positions.len(), keys.len(), "one position per record");
    for (k, pos) in keys.iter().zip(&positions) {
        assert_eq!(
            pos.partition,
            partition_of(BOOKING_COMMANDS, k),
            "partition of key {k}"
        );
    }
    let reader = backend.reader();
    for (k, pos) in keys.iter().zip(&positions).take(5) {
        let tp = TopicPartition::new(BOOKING_COMMANDS.name, pos.partition);
        let got = reader
            .read(&tp, pos.offset, 1, Duration::ZERO)
            .await
            .expect("read back");
        assert_eq!(got.len(), 1, "the record at {tp:?}@{}", pos.offset);
        assert_eq!(text(&got[0].key), k);
        assert_eq!(text(&got[0].value), k);
    }
    let other = (partition_of(BOOKING_COMMANDS, &keys[0]) + 1) % BOOKING_COMMANDS.partitions;
    let explicit = record(BOOKING_COMMANDS.name, &keys[0], "explicit", Some(other));
    let pos = producer
        .send(vec![explicit])
        .await
        .expect("send with explicit partition");
    assert_eq!(pos[0].partition, other, "an explicit partition is honoured");
}

/// Headers travel with their record, in order and byte for byte, whether
/// the record was sent by a producer or committed by a session, and read
/// by a reader or a session; a record without headers reads without any.
pub async fn headers_travel_with_records(backend: &dyn Backend) {
    let group = unique("contract-headers");
    let key = unique("k");
    let commands = TopicPartition::new(BOOKING_COMMANDS.name, partition_of(BOOKING_COMMANDS, &key));
    let events = TopicPartition::new(BOOKING_EVENTS.name, commands.partition);
    let mut headers = Headers::new();
    headers.push(
        "traceparent",
        &b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"[..],
    );
    headers.push("tracestate", &b""[..]);
    headers.push("binary", &[0u8, 255, 10][..]);
    headers.push("traceparent", &b"repeated"[..]);
    let with = OutRecord {
        headers: headers.clone(),
        ..record(BOOKING_COMMANDS.name, &key, "with", None)
    };
    let without = record(BOOKING_COMMANDS.name, &key, "without", None);
    let sent = backend
        .producer()
        .send(vec![with, without])
        .await
        .expect("send records with headers");
    let got = backend
        .reader()
        .read(&commands, sent[0].offset, 2, PATIENCE)
        .await
        .expect("read back");
    assert_eq!(got.len(), 2, "both records read back");
    assert_eq!(got[0].headers, headers, "a produced record's headers");
    assert!(got[1].headers.is_empty(), "no headers written, none read");
    assert_eq!(
        got[0].headers.get("traceparent").map(|v| &v[..]),
        Some(&b"repeated"[..]),
        "a repeated name reads as its last value"
    );

    let mut session = backend
        .subscribe(&group, &[BOOKING_COMMANDS, BOOKING_EVENTS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    let polled = poll_until(&mut *session, |rs| {
        on(rs, &commands).any(|r| r.offset == sent[1].offset)
    })
    .await;
    let consumed = on(&polled, &commands)
        .find(|r| r.offset == sent[0].offset)
        .expect("the record with headers was polled");
    assert_eq!(consumed.headers, headers, "a polled record's headers");
    let mut child = Headers::new();
    child.push(
        "traceparent",
        &b"00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"[..],
    );
    let out = OutRecord {
        headers: child.clone(),
        ..record(BOOKING_EVENTS.name, &key, "committed", None)
    };
    let end = backend.reader().end_offset(&events).await.expect("end");
    session
        .commit(Transaction {
            outputs: vec![out],
            offsets: vec![(commands.clone(), sent[1].offset + 1)],
            ..Transaction::default()
        })
        .await
        .expect("commit an output with headers");
    let got = backend
        .reader()
        .read(&events, end, 10, PATIENCE)
        .await
        .expect("read the committed output");
    let committed = got
        .iter()
        .find(|r| text(&r.value) == "committed")
        .expect("the committed output");
    assert_eq!(committed.headers, child, "a committed output's headers");
}

/// Offsets of a partition are dense and in send order, also under
/// concurrent producers, and reads return exactly what was appended.
pub async fn offsets_are_dense_and_ordered(backend: &dyn Backend) {
    let producer = backend.producer();
    let reader = backend.reader();
    let tp = TopicPartition::new(BOOKING_EVENTS.name, 3);
    let base = reader.end_offset(&tp).await.expect("end offset");
    let mut offsets = Vec::new();
    let mut n = 0;
    for size in [5, 1, 10] {
        let batch = (n..n + size)
            .map(|i| record(BOOKING_EVENTS.name, "k", &i.to_string(), Some(3)))
            .collect();
        n += size;
        offsets.extend(
            producer
                .send(batch)
                .await
                .expect("send")
                .iter()
                .map(|p| p.offset),
        );
    }
    assert_eq!(
        offsets,
        (base..base + 16).collect::<Vec<_>>(),
        "dense offsets in send order"
    );
    assert_eq!(reader.end_offset(&tp).await.expect("end offset"), base + 16);
    let got = reader
        .read(&tp, base, 100, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(got.len(), 16, "everything appended is read");
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset, base + i as u64);
        assert_eq!((&*r.topic, r.partition), (tp.topic.as_str(), 3));
        assert_eq!(text(&r.value), i.to_string());
    }
    let middle = reader
        .read(&tp, base + 10, 3, Duration::ZERO)
        .await
        .expect("read");
    let middle: Vec<u64> = middle.iter().map(|r| r.offset).collect();
    assert_eq!(
        middle,
        vec![base + 10, base + 11, base + 12],
        "reads honour from and max"
    );

    let base = reader.end_offset(&tp).await.expect("end offset");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let producer = backend.producer();
        tasks.push(tokio::spawn(async move {
            let batch = (0..20)
                .map(|i| record(BOOKING_EVENTS.name, "k", &format!("{t}-{i}"), Some(3)))
                .collect();
            producer.send(batch).await
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        let positions = task.await.expect("task").expect("concurrent send");
        let mine: Vec<u64> = positions.iter().map(|p| p.offset).collect();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one send keeps its order"
        );
        all.extend(mine);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (base..base + 160).collect::<Vec<_>>(),
        "concurrent sends stay dense"
    );
}

/// Unknown topics and partitions are refused as invalid, appending nothing,
/// while a good send at the same moment succeeds.
pub async fn invalid_records_are_refused_without_harming_others(backend: &dyn Backend) {
    let producer = backend.producer();
    let reader = backend.reader();
    let key = unique("bad");
    let good_tp = TopicPartition::new(BOOKING_COMMANDS.name, partition_of(BOOKING_COMMANDS, &key));
    let base = reader.end_offset(&good_tp).await.expect("end offset");
    let unknown = record("slotstream.no-such-topic", &key, "x", None);
    let too_far = record(
        BOOKING_COMMANDS.name,
        &key,
        "x",
        Some(BOOKING_COMMANDS.partitions),
    );
    let mixed = vec![
        record(BOOKING_COMMANDS.name, &key, "half", None),
        record(BOOKING_COMMANDS.name, &key, "x", Some(u32::MAX)),
    ];
    let good = vec![record(BOOKING_COMMANDS.name, &key, "good", None)];
    let (a, b, c, d) = tokio::join!(
        producer.send(vec![unknown]),
        producer.send(vec![too_far]),
        producer.send(mixed),
        producer.send(good),
    );
    assert!(
        matches!(a, Err(LogError::Invalid(_))),
        "unknown topic: {a:?}"
    );
    assert!(
        matches!(b, Err(LogError::Invalid(_))),
        "bad partition: {b:?}"
    );
    assert!(
        matches!(c, Err(LogError::Invalid(_))),
        "batch with a bad record: {c:?}"
    );
    let d = d.expect("a good send beside bad ones");
    assert_eq!(d[0].offset, base, "the refused batch appended nothing");
    let got = reader
        .read(&good_tp, base, 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(
        got.iter().map(|r| text(&r.value)).collect::<Vec<_>>(),
        vec!["good"]
    );
}

/// A read or poll waiting for data returns as soon as it is appended.
pub async fn readers_are_woken_by_new_data(backend: &dyn Backend) {
    let producer = backend.producer();
    let reader = backend.reader();
    let tp = TopicPartition::new(REPLIES.name, 2);
    let base = reader.end_offset(&tp).await.expect("end offset");
    let empty = reader
        .read(&tp, base, 10, Duration::from_millis(20))
        .await
        .expect("read");
    assert!(empty.is_empty(), "nothing past the end yet");

    let waiting = {
        let tp = tp.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let got = reader.read(&tp, base, 10, PATIENCE * 3).await;
            (got, start.elapsed())
        })
    };
    producer
        .send(vec![record(REPLIES.name, "gw", "wake", Some(2))])
        .await
        .expect("send");
    let (got, waited) = waiting.await.expect("reader task");
    let got = got.expect("read");
    assert_eq!(got.len(), 1, "the new record is returned");
    assert_eq!(text(&got[0].value), "wake");
    assert!(
        waited < PATIENCE,
        "woken by the append, not by the timeout ({waited:?})"
    );

    let group = unique("contract-wake");
    let mut session = backend
        .subscribe(&group, &[REPLIES], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    let marker = unique("wake-session");
    let watcher = {
        let marker = marker.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            while start.elapsed() < PATIENCE * 3 {
                match session.poll(1000, PATIENCE * 3).await {
                    Ok(Poll::Records(rs)) if rs.iter().any(|r| text(&r.value) == marker) => {
                        return Some(start.elapsed());
                    }
                    Ok(_) => {}
                    Err(e) => panic!("poll failed: {e}"),
                }
            }
            None
        })
    };
    producer
        .send(vec![record(REPLIES.name, "gw", &marker, Some(1))])
        .await
        .expect("send");
    let waited = watcher
        .await
        .expect("session task")
        .expect("the session saw the record");
    assert!(
        waited < PATIENCE,
        "a waiting poll is woken by the append ({waited:?})"
    );
}

/// A new session of a group resumes at the offsets the group committed.
pub async fn committed_offsets_resume_in_a_new_session(backend: &dyn Backend) {
    let group = unique("contract-resume");
    let key = unique("k");
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, partition_of(BOOKING_COMMANDS, &key));
    let records = (0..10)
        .map(|i| record(BOOKING_COMMANDS.name, &key, &i.to_string(), None))
        .collect();
    let base = backend.producer().send(records).await.expect("send")[0].offset;
    let reader = backend.reader();
    assert_eq!(
        reader
            .committed_offset(&group, &tp)
            .await
            .expect("committed"),
        None,
        "a new group has committed nothing"
    );

    let mut first = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *first).await;
    poll_until(&mut *first, |rs| {
        on(rs, &tp).filter(|r| r.offset >= base).count() >= 10
    })
    .await;
    let txn = Transaction {
        offsets: vec![(tp.clone(), base + 4)],
        ..Transaction::default()
    };
    first.commit(txn).await.expect("commit offsets");
    drop(first);
    assert_eq!(
        reader
            .committed_offset(&group, &tp)
            .await
            .expect("committed"),
        Some(base + 4),
        "the reader sees the committed offset"
    );

    let mut second = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("resubscribe");
    assignment(&mut *second).await;
    let got = poll_until(&mut *second, |rs| on(rs, &tp).next().is_some()).await;
    let first_offset = on(&got, &tp).next().map(|r| r.offset);
    assert_eq!(
        first_offset,
        Some(base + 4),
        "resumes at the committed offset"
    );
}

/// Outputs, state and offsets commit together; a fenced session's commit
/// fails with `Fenced` and leaves none of them; tombstones delete state.
pub async fn commits_are_atomic_and_fenced_sessions_write_nothing(backend: &dyn Backend) {
    let group = unique("contract-atomic");
    let key = unique("k");
    let p = partition_of(BOOKING_COMMANDS, &key);
    let in_tp = TopicPartition::new(BOOKING_COMMANDS.name, p);
    let out_tp = TopicPartition::new(BOOKING_EVENTS.name, p);
    let producer = backend.producer();
    let reader = backend.reader();
    let in_off = producer
        .send(vec![record(BOOKING_COMMANDS.name, &key, "in", None)])
        .await
        .expect("send input")[0]
        .offset;
    let step = |value: &str| Transaction {
        outputs: vec![record(BOOKING_EVENTS.name, &key, value, None)],
        state: vec![StateWrite {
            partition: p,
            key: Bytes::from_static(b"count"),
            value: Some(Bytes::from_static(b"1")),
        }],
        views: Vec::new(),
        offsets: vec![(in_tp.clone(), in_off + 1)],
    };

    let mut old = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *old).await;
    poll_until(&mut *old, |rs| on(rs, &in_tp).any(|r| r.offset == in_off)).await;
    let mut new = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe again");
    let out_base = reader.end_offset(&out_tp).await.expect("end offset");
    let err = old
        .commit(step("from-old"))
        .await
        .expect_err("the older session is fenced");
    assert!(matches!(err, LogError::Fenced(_)), "fenced, not {err:?}");
    assert_eq!(
        reader.end_offset(&out_tp).await.expect("end"),
        out_base,
        "no output"
    );
    assert!(
        new.restore(p).await.expect("restore").is_empty(),
        "no state"
    );

    assignment(&mut *new).await;
    poll_until(&mut *new, |rs| on(rs, &in_tp).any(|r| r.offset == in_off)).await;
    new.commit(step("from-new"))
        .await
        .expect("the live session commits");
    let out = reader
        .read(&out_tp, out_base, 10, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(
        out.iter().map(|r| text(&r.value)).collect::<Vec<_>>(),
        vec!["from-new"]
    );
    let state = new.restore(p).await.expect("restore");
    assert_eq!(
        state,
        vec![(Bytes::from_static(b"count"), Bytes::from_static(b"1"))]
    );

    let tombstone = Transaction {
        state: vec![StateWrite {
            partition: p,
            key: Bytes::from_static(b"count"),
            value: None,
        }],
        ..Transaction::default()
    };
    new.commit(tombstone).await.expect("delete state");
    assert!(
        new.restore(p).await.expect("restore").is_empty(),
        "a tombstone deletes"
    );
    drop(new);

    let next_off = producer
        .send(vec![record(BOOKING_COMMANDS.name, &key, "later", None)])
        .await
        .expect("send")[0]
        .offset;
    let mut third = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *third).await;
    let got = poll_until(&mut *third, |rs| {
        on(rs, &in_tp).any(|r| r.offset == next_off)
    })
    .await;
    assert!(
        on(&got, &in_tp).all(|r| r.offset != in_off),
        "the committed input is not delivered again"
    );
}

/// A commit that fails leaves the session at its committed offsets: the
/// uncommitted records are delivered again.
pub async fn a_failed_commit_rewinds_to_committed_offsets(backend: &dyn Backend) {
    let group = unique("contract-rewind");
    let key = unique("k");
    let tp = TopicPartition::new(BOOKING_COMMANDS.name, partition_of(BOOKING_COMMANDS, &key));
    let off = backend
        .producer()
        .send(vec![record(BOOKING_COMMANDS.name, &key, "again", None)])
        .await
        .expect("send")[0]
        .offset;
    let mut session = backend
        .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
        .await
        .expect("subscribe");
    assignment(&mut *session).await;
    poll_until(&mut *session, |rs| on(rs, &tp).any(|r| r.offset == off)).await;
    let bad = Transaction {
        outputs: vec![record(BOOKING_EVENTS.name, &key, "x", Some(u32::MAX))],
        offsets: vec![(tp.clone(), off + 1)],
        ..Transaction::default()
    };
    let err = session
        .commit(bad)
        .await
        .expect_err("a bad partition fails the commit");
    assert!(matches!(err, LogError::Invalid(_)), "invalid, not {err:?}");
    let again = poll_until(&mut *session, |rs| on(rs, &tp).any(|r| r.offset == off)).await;
    assert!(
        on(&again, &tp).any(|r| text(&r.value) == "again"),
        "redelivered after the failure"
    );
}

/// Static split: member `m` of `n` owns task partitions `p % n == m`; bad
/// splits and inputs of different partition counts are refused.
/// (For backends that use the static split; Kafka assigns by coordination.)
pub async fn static_members_split_task_partitions(backend: &dyn Backend) {
    let group = unique("contract-split");
    let mut seen = Vec::new();
    for member in 0..3 {
        let mut s = backend
            .subscribe(&group, &[BOOKING_COMMANDS, BOOKING_EVENTS], member, 3)
            .await
            .expect("subscribe");
        let parts = assignment(&mut *s).await;
        let want: Vec<u32> = (0..BOOKING_COMMANDS.partitions)
            .filter(|p| p % 3 == member)
            .collect();
        assert_eq!(parts, want, "member {member} of 3");
        seen.extend(parts);
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..BOOKING_COMMANDS.partitions).collect::<Vec<_>>(),
        "every partition once"
    );
    let bad_member = backend.subscribe(&group, &[BOOKING_COMMANDS], 3, 3).await;
    assert!(
        matches!(bad_member, Err(LogError::Invalid(_))),
        "member out of range"
    );
    let mixed = backend
        .subscribe(&group, &[BOOKING_COMMANDS, IDENTITY_COMMANDS], 0, 1)
        .await;
    assert!(
        matches!(mixed, Err(LogError::Invalid(_))),
        "inputs of different partition counts"
    );
}
