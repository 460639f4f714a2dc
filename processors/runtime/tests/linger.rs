//! The driver's linger: small polls are merged into one batch and one commit
//! when the processor lingers, and kept apart when it does not.

use async_trait::async_trait;
use bytes::Bytes;
use slotstream_domain::Millis;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::log::{ConsumedRecord, LogReader, Producer, StateEntry};
use slotstream_runtime::{
    Backend, Clock, LogError, ManualClock, Output, Poison, Poll, Processor, Session, TopicSpec,
    Transaction, topics,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the fake session saw, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// A commit with these consumed offsets (partition, next).
    Commit(Vec<(u32, u64)>),
    /// A restore of this partition.
    Restore(u32),
}

/// A session that answers polls from a script, then idles.
#[derive(Debug)]
struct Scripted {
    polls: VecDeque<Poll>,
    seen: mpsc::UnboundedSender<Seen>,
}

#[async_trait]
impl Session for Scripted {
    async fn poll(&mut self, _max: usize, wait: Duration) -> Result<Poll, LogError> {
        match self.polls.pop_front() {
            Some(p) => Ok(p),
            None => {
                // A real session waits for data up to `wait`; a short wait
                // keeps the driver from spinning once the script is done.
                tokio::time::sleep(wait.min(Duration::from_millis(1))).await;
                Ok(Poll::Idle)
            }
        }
    }

    async fn restore(&mut self, partition: u32) -> Result<Vec<StateEntry>, LogError> {
        drop(self.seen.send(Seen::Restore(partition)));
        Ok(Vec::new())
    }

    async fn commit(&mut self, txn: Transaction) -> Result<(), LogError> {
        let offsets = txn
            .offsets
            .iter()
            .map(|(tp, o)| (tp.partition, *o))
            .collect();
        drop(self.seen.send(Seen::Commit(offsets)));
        Ok(())
    }
}

#[derive(Debug)]
struct OneSession(Mutex<Option<Scripted>>);

#[async_trait]
impl Backend for OneSession {
    fn producer(&self) -> Arc<dyn Producer> {
        panic!("the driver never asks for a producer")
    }

    fn reader(&self) -> Arc<dyn LogReader> {
        panic!("the driver never asks for a reader")
    }

    async fn subscribe(
        &self,
        _group: &str,
        _inputs: &[TopicSpec],
        _member: u32,
        _members: u32,
    ) -> Result<Box<dyn Session>, LogError> {
        let s = self
            .0
            .lock()
            .expect("lock")
            .take()
            .expect("one subscription");
        Ok(Box::new(s))
    }
}

/// Writes one state entry per record, so every batch has something to commit.
#[derive(Debug)]
struct Counter;

impl Processor for Counter {
    fn group(&self) -> &'static str {
        "linger-test"
    }

    fn inputs(&self) -> Vec<TopicSpec> {
        vec![topics::BOOKING_EVENTS]
    }

    fn restore(&mut self, _partition: u32, _state: Vec<StateEntry>) -> Result<(), Poison> {
        Ok(())
    }

    fn revoke(&mut self, _partition: u32) {}

    fn process(
        &mut self,
        r: &ConsumedRecord,
        _now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        out.state.push(slotstream_runtime::StateWrite {
            partition: r.partition,
            key: r.key.clone(),
            value: Some(r.value.clone()),
        });
        Ok(())
    }
}

fn records(partition: u32, offsets: std::ops::Range<u64>) -> Poll {
    Poll::Records(
        offsets
            .map(|offset| ConsumedRecord {
                topic: Arc::from(topics::BOOKING_EVENTS.name),
                partition,
                offset,
                key: Bytes::from_static(b"k"),
                value: Bytes::from_static(b"v"),
                timestamp: 0,
                headers: slotstream_runtime::Headers::new(),
            })
            .collect(),
    )
}

/// Runs the driver over `polls` until `expected` things were seen.
async fn drive(polls: Vec<Poll>, linger: Duration, expected: usize) -> Vec<Seen> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let backend = Arc::new(OneSession(Mutex::new(Some(Scripted {
        polls: polls.into(),
        seen: tx,
    }))));
    let mut cfg = DriverConfig::new(Arc::new(|_, _, _| panic!("nothing is poison")));
    cfg.linger = linger;
    cfg.max_wait = Duration::from_millis(1);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(0));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(driver::run(
        Counter,
        backend,
        EffectPorts::default(),
        clock,
        cfg,
        stopped,
    ));
    let mut seen = Vec::new();
    while seen.len() < expected {
        seen.push(rx.recv().await.expect("driver alive"));
    }
    stop.send(true).expect("driver listening");
    task.await.expect("no panic").expect("clean stop");
    seen
}

#[tokio::test]
async fn a_lingering_driver_commits_small_polls_as_one_batch() {
    let polls = vec![
        Poll::Assigned(vec![0, 1]),
        records(0, 0..2),
        records(1, 0..3),
        records(0, 2..4),
    ];
    let seen = drive(polls, Duration::from_secs(60), 3).await;
    assert_eq!(
        seen,
        vec![
            Seen::Restore(0),
            Seen::Restore(1),
            Seen::Commit(vec![(0, 4), (1, 3)]),
        ]
    );
}

#[tokio::test]
async fn without_linger_each_poll_is_its_own_commit() {
    let polls = vec![Poll::Assigned(vec![0]), records(0, 0..2), records(0, 2..5)];
    let seen = drive(polls, Duration::ZERO, 3).await;
    assert_eq!(
        seen,
        vec![
            Seen::Restore(0),
            Seen::Commit(vec![(0, 2)]),
            Seen::Commit(vec![(0, 5)]),
        ]
    );
}

#[tokio::test]
async fn an_assignment_met_while_lingering_is_handled_after_the_batch() {
    let polls = vec![
        Poll::Assigned(vec![0]),
        records(0, 0..2),
        Poll::Assigned(vec![1]),
        records(1, 0..1),
    ];
    let seen = drive(polls, Duration::from_secs(60), 4).await;
    assert_eq!(
        seen,
        vec![
            Seen::Restore(0),
            Seen::Commit(vec![(0, 2)]),
            Seen::Restore(1),
            Seen::Commit(vec![(1, 1)]),
        ]
    );
}
