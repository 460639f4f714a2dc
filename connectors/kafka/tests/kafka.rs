//! What only the Kafka backend promises, against the real broker:
//! exactly-once under a failed commit, restore from the changelog,
//! co-partitioned group assignment with hand-over, zombie fencing, and
//! namespaced names.

mod common;
mod support;

use bytes::Bytes;
use slotstream_kafka::{KafkaError, KafkaOptions, delete_namespace, ensure_topics};
use slotstream_runtime::topics::{
    BOOKING_COMMANDS, BOOKING_EVENTS, IDENTITY_COMMANDS, PAYMENT_EVENTS, groups,
};
use slotstream_runtime::{
    Backend, LogError, Poll, StateWrite, TopicPartition, Transaction, ViewStore, ViewWrite,
};
use slotstream_testkit::contract::log::{assignment, partition_of, poll_until, record};
use slotstream_testkit::contract::unique;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use support::{FlakyViews, Member, MemberEvent, text};

fn state(p: u32, key: &str, value: Option<&str>) -> StateWrite {
    StateWrite {
        partition: p,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_commit_is_invisible_and_its_batch_is_redelivered() {
    common::in_namespace(common::options(), |opts| async move {
        let views = Arc::new(FlakyViews::failing_once());
        let backend = common::connect(&opts, Some(views.clone() as Arc<dyn ViewStore>)).await;
        let group = unique("eos");
        let key = unique("k");
        let p = partition_of(BOOKING_COMMANDS, &key);
        let in_tp = TopicPartition::new(BOOKING_COMMANDS.name, p);
        let out_tp = TopicPartition::new(BOOKING_EVENTS.name, p);
        let off = backend
            .producer()
            .send(vec![record(BOOKING_COMMANDS.name, &key, "cmd", None)])
            .await
            .expect("send")[0]
            .offset;
        let mut session = backend
            .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe");
        assignment(&mut *session).await;
        let step = || Transaction {
            outputs: vec![record(BOOKING_EVENTS.name, &key, "event", None)],
            state: vec![state(p, "seen", Some("1"))],
            views: vec![ViewWrite::MarkVerified { email: key.clone() }],
            offsets: vec![(in_tp.clone(), off + 1)],
        };
        poll_until(&mut *session, |rs| rs.iter().any(|r| r.offset == off)).await;
        let err = session
            .commit(step())
            .await
            .expect_err("the view store fails the first commit");
        assert!(
            matches!(err, LogError::Transient(_)),
            "transient, not {err:?}"
        );
        let reader = backend.reader();
        assert!(
            reader
                .read(&out_tp, 0, 10, Duration::from_millis(300))
                .await
                .expect("read")
                .is_empty(),
            "the aborted output is invisible to read_committed readers"
        );
        assert!(
            session.restore(p).await.expect("restore").is_empty(),
            "no state"
        );
        assert_eq!(
            reader
                .committed_offset(&group, &in_tp)
                .await
                .expect("committed"),
            None,
            "no offset committed"
        );

        let again = poll_until(&mut *session, |rs| rs.iter().any(|r| r.offset == off)).await;
        assert!(
            again.iter().any(|r| text(&r.value) == "cmd"),
            "the batch is delivered again"
        );
        session.commit(step()).await.expect("the retry commits");
        let out = reader
            .read(&out_tp, 0, 10, Duration::from_secs(5))
            .await
            .expect("read");
        assert_eq!(
            out.iter().map(|r| text(&r.value)).collect::<Vec<_>>(),
            vec!["event"],
            "exactly one output"
        );
        assert_eq!(views.applied(), 1, "views applied by the successful commit");
        assert_eq!(
            reader
                .committed_offset(&group, &in_tp)
                .await
                .expect("committed"),
            Some(off + 1)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_restores_the_last_state_from_the_changelog() {
    common::in_namespace(common::options(), |opts| async move {
        let backend = common::connect(&opts, None).await;
        let group = unique("restore");
        {
            let mut session = backend
                .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
                .await
                .expect("subscribe");
            for (k, v) in [
                ("a", Some("1")),
                ("b", Some("1")),
                ("a", Some("2")),
                ("b", None),
            ] {
                let txn = Transaction {
                    state: vec![state(4, k, v), state(5, "other", Some("x"))],
                    ..Transaction::default()
                };
                session.commit(txn).await.expect("commit state");
            }
        }
        let mut session = backend
            .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe again");
        let restored = session.restore(4).await.expect("restore");
        assert_eq!(
            restored,
            vec![(Bytes::from_static(b"a"), Bytes::from_static(b"2"))],
            "the last value wins and the tombstone deleted b"
        );
        assert!(session.restore(7).await.expect("restore").is_empty());
        let bad = session.restore(BOOKING_COMMANDS.partitions).await;
        assert!(matches!(bad, Err(LogError::Invalid(_))), "{bad:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_co_partitioned_tasks_and_the_survivor_takes_over_with_state() {
    common::in_namespace(common::options(), |opts| async move {
        let a = common::connect(&opts, None).await;
        let b = {
            let mut o = opts.clone();
            o.instance = unique("b");
            common::connect(&o, None).await
        };
        let group = groups::BOOKING;
        let all: BTreeSet<u32> = (0..BOOKING_COMMANDS.partitions).collect();

        let mut first = a
            .subscribe(group.name, group.inputs, 0, 1)
            .await
            .expect("subscribe a");
        let mut owned: BTreeSet<u32> = BTreeSet::new();
        while owned != all {
            owned.extend(assignment(&mut *first).await);
        }
        let txn = Transaction {
            state: all
                .iter()
                .map(|&p| state(p, "owner", Some(&format!("p{p}"))))
                .collect(),
            ..Transaction::default()
        };
        first.commit(txn).await.expect("commit state of every task");

        let mut ma = Member::start(first, owned);
        let mut mb = Member::start(
            b.subscribe(group.name, group.inputs, 0, 1)
                .await
                .expect("subscribe b"),
            BTreeSet::new(),
        );
        let split = support::settle(&mut ma, &mut mb, |a, b| {
            !a.is_empty() && !b.is_empty() && a.is_disjoint(b) && a.union(b).count() == all.len()
        })
        .await;
        let (a_parts, b_parts) = split;
        assert!(
            !b_parts.is_empty() && !a_parts.is_empty(),
            "both members own tasks: {a_parts:?} / {b_parts:?}"
        );
        for (p, st) in &mb.restored {
            assert_eq!(
                st,
                &vec![(Bytes::from_static(b"owner"), Bytes::from(format!("p{p}")))],
                "b restored task {p} with its state"
            );
        }

        mb.stop().await;
        let (a_parts, _) = support::settle(&mut ma, &mut mb, |a, _| a.len() == all.len()).await;
        assert_eq!(a_parts, all, "the survivor owns every task again");
        for p in &b_parts {
            let st = ma
                .restored
                .iter()
                .rev()
                .find(|(q, _)| q == p)
                .map(|(_, s)| s.clone());
            assert_eq!(
                st,
                Some(vec![(
                    Bytes::from_static(b"owner"),
                    Bytes::from(format!("p{p}"))
                )]),
                "a got task {p} back with its state"
            );
        }
        assert!(
            ma.events
                .iter()
                .any(|e| matches!(e, MemberEvent::Revoked(_))),
            "a was told about the partitions it gave up"
        );
        ma.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_zombie_commits_nothing_visible_and_stops() {
    common::in_namespace(common::options(), |opts| async move {
        let backend = common::connect(&opts, None).await;
        let group = unique("zombie");
        let key = unique("k");
        let p = partition_of(BOOKING_COMMANDS, &key);
        let out_tp = TopicPartition::new(BOOKING_EVENTS.name, p);
        let mut zombie = backend
            .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe");
        assignment(&mut *zombie).await;
        let mut live = backend
            .subscribe(&group, &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("the replacement subscribes");
        let txn = Transaction {
            outputs: vec![record(BOOKING_EVENTS.name, &key, "zombie", None)],
            state: vec![state(p, "z", Some("1"))],
            ..Transaction::default()
        };
        let err = zombie.commit(txn).await.expect_err("the zombie is fenced");
        assert!(matches!(err, LogError::Fenced(_)), "fenced, not {err:?}");
        let poll = zombie.poll(10, Duration::from_millis(10)).await;
        assert!(
            matches!(poll, Err(LogError::Fenced(_))),
            "a zombie stops: {poll:?}"
        );
        let reader = backend.reader();
        assert!(
            reader
                .read(&out_tp, 0, 10, Duration::from_millis(300))
                .await
                .expect("read")
                .is_empty(),
            "nothing the zombie produced is visible"
        );
        assert!(
            live.restore(p).await.expect("restore").is_empty(),
            "no zombie state"
        );
        let parts = assignment(&mut *live).await;
        assert!(!parts.is_empty(), "the live session gets the tasks");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_namespaced_on_the_wire_and_plain_in_records() {
    common::in_namespace(common::options(), |opts| async move {
        let backend = common::connect(&opts, None).await;
        let wire = backend.wire_name(BOOKING_EVENTS.name);
        assert_eq!(
            wire,
            format!("{}.slotstream.booking-events", opts.namespace)
        );
        let again = ensure_topics(&opts).await.expect("ensure again");
        assert!(again.created.is_empty(), "idempotent: {again:?}");
        assert!(again.existing.contains(&wire), "{again:?}");
        assert!(
            again
                .existing
                .contains(&format!("{}.slotstream.booking-changelog", opts.namespace)),
            "one changelog per group"
        );

        let pos = backend
            .producer()
            .send(vec![record(BOOKING_EVENTS.name, "k", "v", Some(1))])
            .await
            .expect("send");
        let raw = support::raw_read(&opts.brokers, &wire, 1, pos[0].offset).await;
        assert_eq!(raw, b"v".to_vec(), "the record is on the namespaced topic");
        let got = backend
            .reader()
            .read(
                &TopicPartition::new(BOOKING_EVENTS.name, 1),
                pos[0].offset,
                1,
                Duration::ZERO,
            )
            .await
            .expect("read");
        assert_eq!(
            &*got[0].topic, BOOKING_EVENTS.name,
            "records carry the platform name"
        );

        let group = unique("names");
        let mut session = backend
            .subscribe(&group, &[PAYMENT_EVENTS], 0, 1)
            .await
            .expect("subscribe");
        backend
            .producer()
            .send(vec![record(PAYMENT_EVENTS.name, "k", "pe", Some(0))])
            .await
            .expect("send");
        assignment(&mut *session).await;
        let got = poll_until(&mut *session, |rs| !rs.is_empty()).await;
        assert!(got.iter().all(|r| &*r.topic == PAYMENT_EVENTS.name));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_partition_mismatches_and_the_empty_namespace_are_refused() {
    let mut opts = KafkaOptions::new(common::brokers());
    opts.namespace = String::new();
    assert!(matches!(
        delete_namespace(&opts).await,
        Err(KafkaError::EmptyNamespace)
    ));

    common::in_namespace(common::options(), |opts| async move {
        let backend = common::connect(&opts, None).await;
        let mixed = backend
            .subscribe(&unique("g"), &[BOOKING_COMMANDS, IDENTITY_COMMANDS], 0, 1)
            .await;
        assert!(matches!(mixed, Err(LogError::Invalid(_))), "{mixed:?}");
        let none = backend.subscribe(&unique("g"), &[], 0, 1).await;
        assert!(matches!(none, Err(LogError::Invalid(_))), "{none:?}");
        let mut session = backend
            .subscribe(&unique("g"), &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe");
        let views = Transaction {
            views: vec![ViewWrite::MarkVerified { email: "x".into() }],
            ..Transaction::default()
        };
        let err = session.commit(views).await;
        assert!(
            matches!(err, Err(LogError::Invalid(_))),
            "views without a store: {err:?}"
        );
        let empty = session.commit(Transaction::default()).await;
        assert!(empty.is_ok(), "an empty transaction commits: {empty:?}");
        assert!(matches!(
            session.poll(1, Duration::from_secs(5)).await,
            Ok(Poll::Assigned(_)) | Ok(Poll::Idle)
        ));
    })
    .await;

    // A namespace whose replies topic has the wrong partition count.
    let opts = common::options();
    support::create_topic(
        &opts.brokers,
        &format!("{}.slotstream.replies", opts.namespace),
        2,
    )
    .await;
    let err = ensure_topics(&opts).await;
    delete_namespace(&opts).await.expect("cleanup");
    assert!(
        matches!(
            err,
            Err(KafkaError::PartitionMismatch {
                found: 2,
                expected: 4,
                ..
            })
        ),
        "{err:?}"
    );
}
