//! The driver's internal events, seen through the telemetry it records
//! into: restores, records processed, commits, latencies, lag and
//! readiness, aborts, dead letters, effects and timer lateness.

use async_trait::async_trait;
use bytes::Bytes;
use slotstream_domain::Millis;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::log::{ConsumedRecord, LogReader, Producer, StateEntry};
use slotstream_runtime::{
    Backend, Clock, Effect, EffectError, Email, LogError, Mailer, ManualClock, Output, Poison,
    Poll, Processor, Session, Telemetry, TopicSpec, Transaction, topics,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const GROUP: &str = "events-test";
const INPUTS: [TopicSpec; 2] = [topics::BOOKING_COMMANDS, topics::PAYMENT_EVENTS];

/// A session that answers polls from a script, reports `lag` for every
/// input of its partitions, and fails the commits it is told to.
#[derive(Debug)]
struct Scripted {
    polls: Arc<Mutex<VecDeque<Poll>>>,
    partitions: Vec<u32>,
    lag: Arc<AtomicU64>,
    fail_commits: Arc<AtomicU32>,
}

#[async_trait]
impl Session for Scripted {
    async fn poll(&mut self, _max: usize, wait: Duration) -> Result<Poll, LogError> {
        let next = self.polls.lock().expect("lock").pop_front();
        match next {
            Some(p) => Ok(p),
            None => {
                tokio::time::sleep(wait.min(Duration::from_millis(1))).await;
                Ok(Poll::Idle)
            }
        }
    }

    async fn restore(&mut self, _partition: u32) -> Result<Vec<StateEntry>, LogError> {
        Ok(vec![
            (Bytes::from_static(b"k"), Bytes::from_static(b"v"));
            3
        ])
    }

    async fn commit(&mut self, _txn: Transaction) -> Result<(), LogError> {
        let left = self.fail_commits.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_commits.store(left - 1, Ordering::SeqCst);
            return Err(LogError::Transient("disk hiccup".into()));
        }
        Ok(())
    }

    fn lag(&self, report: &mut dyn FnMut(&str, u32, u64)) -> bool {
        for &p in &self.partitions {
            for t in INPUTS {
                report(t.name, p, self.lag.load(Ordering::SeqCst));
            }
        }
        true
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
        Ok(Box::new(
            self.0
                .lock()
                .expect("lock")
                .take()
                .expect("one subscription"),
        ))
    }
}

/// Reads a record's key as an instruction: `poison` is refused, `mail`
/// asks for an email, `timer:<ms>` sets a timer; anything else writes a
/// state entry.
#[derive(Debug, Default)]
struct Scriptable {
    timer: Option<Millis>,
}

impl Processor for Scriptable {
    fn group(&self) -> &'static str {
        GROUP
    }
    fn inputs(&self) -> Vec<TopicSpec> {
        INPUTS.to_vec()
    }
    fn restore(&mut self, _: u32, _: Vec<StateEntry>) -> Result<(), Poison> {
        Ok(())
    }
    fn revoke(&mut self, _: u32) {}
    fn process(&mut self, r: &ConsumedRecord, _: Millis, out: &mut Output) -> Result<(), Poison> {
        let key = std::str::from_utf8(&r.key).expect("utf-8 key");
        if key == "poison" {
            return Err(Poison::new("unreadable on purpose"));
        }
        if let Some(ms) = key.strip_prefix("timer:") {
            self.timer = Some(ms.parse().expect("a deadline"));
        }
        if let Some(id) = key.strip_prefix("mail:") {
            out.effects.push(Effect::SendEmail(Email {
                id: id.to_owned(),
                to: "a@example.com".into(),
                subject: "s".into(),
                body: "b".into(),
            }));
        }
        out.state.push(slotstream_runtime::StateWrite {
            partition: r.partition,
            key: r.key.clone(),
            value: Some(r.value.clone()),
        });
        Ok(())
    }
    fn next_deadline(&self, _: u32) -> Option<Millis> {
        self.timer
    }
    fn on_timer(&mut self, partition: u32, _now: Millis, out: &mut Output) {
        if let Some(d) = self.timer.take() {
            out.fired.push(d);
            out.state.push(slotstream_runtime::StateWrite {
                partition,
                key: Bytes::from_static(b"fired"),
                value: None,
            });
        }
    }
}

/// Fails the first attempt of each email whose id starts with `flaky`,
/// and every attempt of those starting with `bad`.
#[derive(Debug, Default)]
struct FlakyMailer {
    tried: Mutex<Vec<String>>,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: &Email) -> Result<(), EffectError> {
        let mut tried = self.tried.lock().expect("lock");
        let again = tried.contains(&email.id);
        tried.push(email.id.clone());
        if email.id.starts_with("bad") {
            return Err(EffectError::Permanent("no such mailbox".into()));
        }
        if email.id.starts_with("flaky") && !again {
            return Err(EffectError::Transient("server busy".into()));
        }
        Ok(())
    }
}

fn record(topic: TopicSpec, partition: u32, offset: u64, key: &str, ts: Millis) -> ConsumedRecord {
    ConsumedRecord {
        topic: Arc::from(topic.name),
        partition,
        offset,
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::from_static(b"v"),
        timestamp: ts,
        headers: slotstream_runtime::Headers::new(),
    }
}

struct Running {
    telemetry: Telemetry,
    polls: Arc<Mutex<VecDeque<Poll>>>,
    lag: Arc<AtomicU64>,
    fail_commits: Arc<AtomicU32>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), LogError>>,
}

fn start(clock: ManualClock, first: Vec<Poll>, lag: u64) -> Running {
    let telemetry = Telemetry::new();
    let polls = Arc::new(Mutex::new(VecDeque::from(first)));
    let lag = Arc::new(AtomicU64::new(lag));
    let fail_commits = Arc::new(AtomicU32::new(0));
    let backend = Arc::new(OneSession(Mutex::new(Some(Scripted {
        polls: polls.clone(),
        partitions: vec![0, 1],
        lag: lag.clone(),
        fail_commits: fail_commits.clone(),
    }))));
    let mut cfg = DriverConfig::new(Arc::new(|r, _, now| slotstream_runtime::OutRecord {
        topic: topics::DEAD_LETTERS.name,
        partition: Some(0),
        key: r.key.clone(),
        value: r.value.clone(),
        timestamp: now,
        headers: slotstream_runtime::Headers::new(),
    }));
    cfg.max_wait = Duration::from_millis(2);
    cfg.telemetry = telemetry.clone();
    telemetry.readiness().member(GROUP, 0);
    let ports = EffectPorts {
        mailer: Some(Arc::new(FlakyMailer::default())),
        payments: None,
    };
    let clock: Arc<dyn Clock> = Arc::new(clock);
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(driver::run(
        Scriptable::default(),
        backend,
        ports,
        clock,
        cfg,
        stopped,
    ));
    Running {
        telemetry,
        polls,
        lag,
        fail_commits,
        stop,
        task,
    }
}

impl Running {
    /// Bounded wait until the exposition contains every line of `want`.
    async fn until(&self, want: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.telemetry.render();
            if want.iter().all(|w| text.lines().any(|l| l == *w)) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "missing {:?} in\n{text}",
                want.iter()
                    .filter(|w| !text.lines().any(|l| l == **w))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn push(&self, poll: Poll) {
        self.polls.lock().expect("lock").push_back(poll);
    }

    async fn stop(self) -> Telemetry {
        self.stop.send(true).expect("driver listening");
        self.task.await.expect("no panic").expect("clean stop");
        self.telemetry
    }
}

#[tokio::test]
async fn restores_records_latencies_lag_and_readiness_are_reported() {
    let clock = ManualClock::new(1_250);
    let run = start(
        clock,
        vec![
            Poll::Assigned(vec![0, 1]),
            Poll::Records(vec![
                record(topics::BOOKING_COMMANDS, 0, 0, "a", 1_000),
                record(topics::BOOKING_COMMANDS, 0, 1, "b", 1_000),
                record(topics::BOOKING_COMMANDS, 0, 2, "c", 1_100),
                record(topics::PAYMENT_EVENTS, 1, 7, "d", 900),
                record(topics::PAYMENT_EVENTS, 1, 8, "e", 1_200),
            ]),
        ],
        500,
    );
    let g = r#"group="events-test""#;
    let text = run
        .until(&[
            &format!(r#"slotstream_restores_total{{{g},partition="0"}} 1"#),
            &format!(r#"slotstream_restores_total{{{g},partition="1"}} 1"#),
            &format!(r#"slotstream_restored_records{{{g},partition="1"}} 3"#),
            &format!(
                r#"slotstream_records_processed_total{{{g},topic="slotstream.booking-commands",partition="0"}} 3"#
            ),
            &format!(
                r#"slotstream_records_processed_total{{{g},topic="slotstream.payment-events",partition="1"}} 2"#
            ),
            &format!(r#"slotstream_commit_batch_records_count{{{g}}} 1"#),
            &format!(r#"slotstream_commit_batch_records_sum{{{g}}} 5"#),
            // Two commands 250 ms old at the commit, one 150 ms.
            &format!(
                r#"slotstream_decision_latency_seconds_count{{{g},topic="slotstream.booking-commands"}} 3"#
            ),
            &format!(
                r#"slotstream_decision_latency_seconds_sum{{{g},topic="slotstream.booking-commands"}} 0.65"#
            ),
            // Events: one sample per commit, the oldest (350 ms).
            &format!(
                r#"slotstream_event_lag_seconds_count{{{g},topic="slotstream.payment-events"}} 1"#
            ),
            &format!(
                r#"slotstream_event_lag_seconds_sum{{{g},topic="slotstream.payment-events"}} 0.35"#
            ),
            &format!(
                r#"slotstream_consumer_lag{{{g},topic="slotstream.payment-events",partition="1"}} 500"#
            ),
        ])
        .await;
    assert!(
        text.contains(&format!(
            r#"slotstream_processor_ready{{{g},member="0"}} 0"#
        )),
        "500 records behind is more than the default bound: not ready\n{text}"
    );
    assert!(!run.telemetry.readiness().is_ready());

    run.lag.store(0, Ordering::SeqCst);
    run.until(&[
        &format!(r#"slotstream_processor_ready{{{g},member="0"}} 1"#),
        &format!(
            r#"slotstream_consumer_lag{{{g},topic="slotstream.booking-commands",partition="0"}} 0"#
        ),
    ])
    .await;
    assert!(run.telemetry.readiness().is_ready());

    // A failed commit: counted by reason, the state restored again, and
    // the member is not ready until it has caught up again.
    run.fail_commits.store(1, Ordering::SeqCst);
    run.push(Poll::Records(vec![record(
        topics::BOOKING_COMMANDS,
        0,
        3,
        "f",
        1_250,
    )]));
    run.until(&[
        &format!(r#"slotstream_transactions_aborted_total{{{g},reason="transient"}} 1"#),
        &format!(r#"slotstream_restores_total{{{g},partition="0"}} 2"#),
        &format!(r#"slotstream_restores_total{{{g},partition="1"}} 2"#),
        &format!(r#"slotstream_processor_ready{{{g},member="0"}} 1"#),
    ])
    .await;
    let telemetry = run.stop().await;
    assert!(
        !telemetry.readiness().is_ready(),
        "a stopped processor is not ready"
    );
}

#[tokio::test]
async fn dead_letters_effects_and_timer_lateness_are_counted() {
    let clock = ManualClock::new(5_000);
    let run = start(
        clock.clone(),
        vec![
            Poll::Assigned(vec![0]),
            Poll::Records(vec![
                record(topics::BOOKING_COMMANDS, 0, 0, "poison", 5_000),
                record(topics::PAYMENT_EVENTS, 0, 0, "mail:flaky-1", 5_000),
                record(topics::PAYMENT_EVENTS, 0, 1, "mail:ok-2", 5_000),
                record(topics::PAYMENT_EVENTS, 0, 2, "mail:bad-3", 5_000),
                record(topics::BOOKING_COMMANDS, 0, 1, "timer:4800", 5_000),
            ]),
        ],
        0,
    );
    let g = r#"group="events-test""#;
    run.until(&[
        &format!(r#"slotstream_dead_letters_total{{{g},topic="slotstream.booking-commands"}} 1"#),
        &format!(r#"slotstream_dead_letters_total{{{g},topic="slotstream.payment-events"}} 0"#),
        &format!(r#"slotstream_effects_total{{{g},kind="email",outcome="performed"}} 2"#),
        &format!(r#"slotstream_effects_total{{{g},kind="email",outcome="retried"}} 1"#),
        &format!(r#"slotstream_effects_total{{{g},kind="email",outcome="failed"}} 1"#),
        // The timer was due at 4,800 and committed at 5,000: 200 ms late.
        &format!(r#"slotstream_timer_lateness_seconds_count{{{g}}} 1"#),
        &format!(r#"slotstream_timer_lateness_seconds_sum{{{g}}} 0.2"#),
    ])
    .await;
    run.stop().await;
}
