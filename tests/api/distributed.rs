//! What only the distributed mode promises, on the real engines
//! (`scripts/engines.sh`: Kafka, the schema registry, Cassandra for ScyllaDB,
//! Mailpit), whatever `SLOTSTREAM_TEST_BACKEND` says:
//! - a consumer that is not ours (Confluent's Python client) reads every
//!   topic through the registry and decodes every record;
//! - processors in separate processes share partitions, and one killed with
//!   SIGKILL mid-run loses nothing: no overlap, every 201 in the views, no
//!   email twice, every hold expired exactly once;
//! - the SMTP sent-ledger is shared: a notification processor on another
//!   machine (another data dir) that takes a partition over does not send
//!   again what its predecessor sent.

use crate::helpers::time::system_now_ms;
use crate::helpers::{MINUTE, Role, TestApp, User, spawn_app_custom, unique};
use futures_util::StreamExt;
use serde_json::Value;
use slotstream::Role as Proc;
use slotstream_domain::booking::BookingEvent;
use slotstream_runtime::{ConsumedRecord, TopicPartition, topics};
use slotstream_runtime::{Email, Mailer};
use slotstream_schemas::Envelope;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wire names of every platform topic of `app`'s namespace.
fn wire_topics(app: &TestApp) -> Vec<String> {
    topics::ALL
        .iter()
        .map(|t| format!("{}.{}", app.settings.kafka.namespace, t.name))
        .collect()
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is unset: start the engines with `eval \"$(scripts/engines.sh start)\"`")
    })
}

/// Runs the whole seed flow once so every topic has records.
async fn one_of_everything(app: &TestApp) {
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    let start = app.slot_after(60);
    let paid = app
        .book_and_pay(&customer.token, &room, start, start + 60 * MINUTE)
        .await;
    app.cancel(&customer.token, paid["id"].as_str().expect("id"))
        .await
        .expect(200, "cancel");
    // A second booking of the freed slot, refused or not.
    app.book(
        &customer.token,
        &unique("k"),
        &room,
        start,
        start + 30 * MINUTE,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_teams_consumer_decodes_every_record_through_the_registry() {
    let app = spawn_app_custom(true, "15m", &Proc::ALL).await;
    one_of_everything(&app).await;

    let python = Command::new("tests/datateam/setup.sh")
        .stderr(Stdio::inherit())
        .output()
        .expect("tests/datateam/setup.sh runs");
    assert!(python.status.success(), "the data team's venv builds");
    let python = String::from_utf8_lossy(&python.stdout).trim().to_owned();
    let topics = wire_topics(&app);
    let out = Command::new(&python)
        .arg("tests/datateam/consume.py")
        .args(["--brokers", &env("SLOTSTREAM_TEST_KAFKA_BROKERS")])
        .args(["--registry", &env("SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL")])
        .args(["--topics", &topics.join(",")])
        .output()
        .expect("the consumer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the consumer failed: {stderr}");
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line per record"))
        .collect();

    // Every record the platform wrote, counted with our own reader.
    let mut ours = 0u64;
    for t in topics::ALL {
        for p in 0..t.partitions {
            ours += read_all(&app, t.name, p).await.len() as u64;
        }
    }
    assert!(ours > 20, "the flow wrote records ({ours})");
    assert_eq!(
        records.len() as u64,
        ours,
        "the data team decoded every record we wrote; {stderr}"
    );
    let by_topic: BTreeSet<String> = records
        .iter()
        .filter_map(|r| r["topic"].as_str())
        .map(str::to_owned)
        .collect();
    for t in [
        "booking-events",
        "payment-events",
        "identity-events",
        "replies",
    ] {
        assert!(
            by_topic.iter().any(|x| x.ends_with(t)),
            "{t} decoded: {by_topic:?}"
        );
    }
    // The decoded values carry our fields, not just bytes.
    assert!(
        records.iter().any(|r| r["value"]["event_id"].is_string()),
        "envelopes decode to records with their fields"
    );
    app.stop().await;
}

/// One `slotstream processor booking` child process on the test's namespace.
fn booking_processor(app: &TestApp) -> Child {
    let s = &app.settings;
    Command::new(env!("CARGO_BIN_EXE_slotstream"))
        .args(["processor", "booking"])
        .env("SLOTSTREAM_BACKEND", "kafka")
        .env("SLOTSTREAM_DATA_DIR", &s.data_dir)
        .env(
            "SLOTSTREAM_HOLD_TTL",
            humantime::format_duration(s.hold_ttl).to_string(),
        )
        .env("SLOTSTREAM_NAMESPACE", &s.kafka.namespace)
        .env("SLOTSTREAM_SCYLLA_KEYSPACE", &s.scylla.keyspace)
        .env(
            "SLOTSTREAM_KAFKA_BROKERS",
            s.kafka.brokers.as_deref().unwrap_or_default(),
        )
        .env(
            "SLOTSTREAM_SCHEMA_REGISTRY_URL",
            s.kafka.schema_registry_url.as_deref().unwrap_or_default(),
        )
        .env("SLOTSTREAM_SCYLLA_NODES", s.scylla.nodes.join(","))
        .env(
            "SLOTSTREAM_KAFKA_COMMIT_INTERVAL",
            humantime::format_duration(s.kafka.commit_interval).to_string(),
        )
        .env("SLOTSTREAM_LISTEN", "127.0.0.1:0")
        .env("SLOTSTREAM_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the slotstream binary starts")
}

/// Kills a child for good on drop (a failing test leaves nothing running).
struct Reaper(Vec<Child>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug, Clone)]
struct Won {
    id: String,
    customer: usize,
    resource: String,
    payment: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_processor_killed_mid_run_loses_nothing_and_doubles_nothing() {
    const CUSTOMERS: usize = 8;
    const RESOURCES: usize = 3;
    const ATTEMPTS: usize = 160;
    const IN_FLIGHT: usize = 8;
    // Everything but the booking processor runs in this process; the booking
    // processor runs as two child processes sharing its partitions.
    let app = spawn_app_custom(
        true,
        "6s",
        &[
            Proc::Payment,
            Proc::Identity,
            Proc::Notification,
            Proc::Views,
        ],
    )
    .await;
    let mut children = Reaper(vec![booking_processor(&app), booking_processor(&app)]);

    let vendor = app.register_and_login(Role::Vendor).await;
    let mut rooms = Vec::new();
    for _ in 0..RESOURCES {
        rooms.push(app.create_room(&vendor.token).await);
    }
    let mut customers: Vec<User> = Vec::new();
    for _ in 0..CUSTOMERS {
        customers.push(app.register_and_login(Role::Customer).await);
    }

    // Attempts on a small grid so many collide; the kill lands halfway.
    let base = (system_now_ms() / (15 * MINUTE) + 8) * 15 * MINUTE;
    let attempts: Vec<(usize, String, i64)> = (0..ATTEMPTS)
        .map(|i| {
            let slot = ((i * 7) % 24) as i64;
            (
                i % CUSTOMERS,
                rooms[i % RESOURCES].clone(),
                base + slot * 15 * MINUTE,
            )
        })
        .collect();
    let mut done = 0usize;
    let mut killed = false;
    let mut decided_after_kill = 0usize;
    let mut won: Vec<Won> = Vec::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut stream = futures_util::stream::iter(attempts.into_iter().map(|(c, room, start)| {
        let app = &app;
        let token = customers[c].token.clone();
        async move {
            let r = app
                .book(&token, &unique("k"), &room, start, start + 30 * MINUTE)
                .await;
            (c, room, r)
        }
    }))
    .buffer_unordered(IN_FLIGHT);
    while let Some((c, room, r)) = stream.next().await {
        done += 1;
        *statuses.entry(r.status).or_default() += 1;
        if killed && [201, 409].contains(&r.status) {
            decided_after_kill += 1;
        }
        if r.status == 201 {
            won.push(Won {
                id: r.body["id"].as_str().expect("id").to_owned(),
                customer: c,
                resource: room,
                payment: r.body["payment"]["id"]
                    .as_str()
                    .expect("payment")
                    .to_owned(),
            });
        } else {
            assert!(
                [409, 202, 503].contains(&r.status),
                "only refusals or 'still processing' besides 201: {} {}",
                r.status,
                r.text
            );
        }
        if done == ATTEMPTS / 2 && !killed {
            children.0[0]
                .kill()
                .expect("SIGKILL the first booking processor");
            children.0[0].wait().expect("reaped");
            killed = true;
        }
    }
    drop(stream);
    assert!(killed);
    // The survivor took the dead one's partitions over: the second half was decided.
    assert!(
        decided_after_kill >= ATTEMPTS / 4,
        "only {decided_after_kill} decisions after the kill: {statuses:?}"
    );
    assert!(won.len() >= RESOURCES, "some bookings won: {statuses:?}");

    // Pay for every other winner; the rest must expire.
    let mut paid = BTreeSet::new();
    for w in won.iter().step_by(2) {
        let r = app
            .complete(
                &customers[w.customer].token,
                &w.payment,
                "succeeded",
                &unique("pay"),
            )
            .await;
        if r.status == 202 {
            paid.insert(w.id.clone());
        }
    }

    // Every winner reaches a final state in the views.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut finals: HashMap<String, String> = HashMap::new();
    while finals.len() < won.len() {
        assert!(
            Instant::now() < deadline,
            "bookings still not final: {} of {}",
            won.len() - finals.len(),
            won.len()
        );
        for w in &won {
            if finals.contains_key(&w.id) {
                continue;
            }
            let r = app
                .get(
                    &format!("/v1/bookings/{}", w.id),
                    Some(&customers[w.customer].token),
                )
                .await;
            // Every 201 exists in the views (404 only while they catch up).
            if r.status == 200 {
                let s = r.body["status"].as_str().unwrap_or_default().to_owned();
                if ["confirmed", "expired", "failed", "cancelled"].contains(&s.as_str()) {
                    finals.insert(w.id.clone(), s);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    eprintln!(
        "answers {statuses:?}; {} won, {} paid; final states {:?}",
        won.len(),
        paid.len(),
        finals
            .values()
            .fold(BTreeMap::<&str, usize>::new(), |mut m, s| {
                *m.entry(s.as_str()).or_default() += 1;
                m
            })
    );

    // No two confirmed bookings of a resource overlap.
    let mut active: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    for w in &won {
        if finals[&w.id] == "confirmed" {
            let r = app
                .get(
                    &format!("/v1/bookings/{}", w.id),
                    Some(&customers[w.customer].token),
                )
                .await;
            let start = crate::helpers::time::time_of(&r.body["start"]);
            let end = crate::helpers::time::time_of(&r.body["end"]);
            active
                .entry(w.resource.clone())
                .or_default()
                .push((start, end, w.id.clone()));
        }
    }
    for list in active.values_mut() {
        list.sort();
        for pair in list.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "overlap: {pair:?}");
        }
    }

    // Every unpaid hold expired exactly once, and nothing else expired twice.
    let expired = expirations(&app).await;
    for w in &won {
        let n = expired.get(&w.id).copied().unwrap_or(0);
        assert!(n <= 1, "{} expired {n} times", w.id);
        if !paid.contains(&w.id) {
            assert_eq!(n, 1, "unpaid hold {} expired once", w.id);
            assert_eq!(finals[&w.id], "expired");
        } else if finals[&w.id] == "expired" {
            assert_eq!(n, 1);
        }
    }

    // No email went out twice: one message per Message-ID at the SMTP server.
    let mut ids: HashMap<String, usize> = HashMap::new();
    for c in &customers {
        for m in app.message_ids_to(&c.email).await {
            *ids.entry(m).or_default() += 1;
        }
    }
    let twice: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "emails sent twice: {twice:?}");
    assert!(ids.len() > CUSTOMERS, "emails arrived: {}", ids.len());

    // The auditor, once over the whole log after the kill, finds nothing:
    // no overlap, every hold ended within the slack (the failover
    // included), every payment outcome answered once.
    let now = slotstream_runtime::Clock::now(&*app.platform_clock);
    let report = slotstream::ops::audit_once(&app.settings, now, |v| eprintln!("{v}"))
        .await
        .expect("the log is readable");
    assert!(report.records > 0, "{report:?}");
    assert!(report.is_clean(), "{:#?}", report.violations);

    drop(children);
    app.stop().await;
}

/// How many `BookingExpired` events each booking has on the events topic.
async fn expirations(app: &TestApp) -> HashMap<String, usize> {
    let codec = &app.app.platform.codec;
    let mut out = HashMap::new();
    for p in 0..topics::BOOKING_EVENTS.partitions {
        for r in read_all(app, topics::BOOKING_EVENTS.name, p).await {
            let e: Envelope<BookingEvent> = codec.decode(&r.value).expect("decodes");
            if let BookingEvent::BookingExpired(x) = e.payload {
                *out.entry(x.booking_id.to_string()).or_default() += 1;
            }
        }
    }
    out
}

/// Every committed record of one partition of `app`'s namespace, read with
/// the platform's own reader until a read finds nothing more.
async fn read_all(app: &TestApp, topic: &str, partition: u32) -> Vec<ConsumedRecord> {
    let reader = app.app.platform.backend().reader();
    let tp = TopicPartition::new(topic, partition);
    let mut out = Vec::new();
    loop {
        let from = out.last().map_or(0, |r: &ConsumedRecord| r.offset + 1);
        let batch = reader
            .read(&tp, from, 1000, Duration::from_millis(10))
            .await
            .unwrap_or_else(|e| panic!("reading {topic}[{partition}]: {e}"));
        if batch.is_empty() {
            return out;
        }
        out.extend(batch);
    }
}

/// The notification processor's mailer as the platform builds it in
/// distributed mode, on a data dir of its own (another machine); `shared:
/// false` keeps the ledger in that data dir only (the control).
fn notification_mailer(app: &TestApp, shared: bool) -> (tempfile::TempDir, Arc<dyn Mailer>) {
    let dir = tempfile::tempdir().expect("a data dir");
    let ledger = shared.then(|| {
        app.app
            .platform
            .storage()
            .sent_ledger
            .clone()
            .expect("distributed mode has a shared sent-ledger")
    });
    let mailer = slotstream_mail::mailer_from_config(
        Some(&env("SLOTSTREAM_TEST_SMTP_URL")),
        dir.path(),
        slotstream_mail::DEFAULT_FROM,
        ledger,
    )
    .expect("an SMTP mailer");
    (dir, mailer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_processor_taking_over_does_not_resend_what_its_predecessor_sent() {
    let app = spawn_app_custom(true, "15m", &[Proc::Booking]).await;
    let api = env("SLOTSTREAM_TEST_MAILPIT_API");
    let to = format!("{}@example.com", unique("takeover"));
    let email = |id: &str| Email {
        id: id.to_owned(),
        to: to.clone(),
        subject: "Booking confirmed".into(),
        body: "See you then.".into(),
    };
    let (_a_dir, first_owner) = notification_mailer(&app, true);
    let (_b_dir, next_owner) = notification_mailer(&app, true);
    let shared_id = unique("confirmed");
    first_owner.send(&email(&shared_id)).await.expect("sent");
    // The partition moves (the first owner died before committing its
    // offsets), and the new owner is handed the same event again.
    next_owner.send(&email(&shared_id)).await.expect("skipped");

    // Control: with only a local ledger, the new owner cannot know.
    let local_id = unique("confirmed");
    let (_c_dir, local_first) = notification_mailer(&app, false);
    let (_d_dir, local_next) = notification_mailer(&app, false);
    local_first.send(&email(&local_id)).await.expect("sent");
    local_next
        .send(&email(&local_id))
        .await
        .expect("sent again");

    // Mailpit stores a message before its `250`, and the sends ran one after
    // another: once both control copies are listed, everything sent before
    // them is too.
    let want = |id: &str| {
        let left = slotstream_mail::escape_id(id);
        format!("{left}@{}", slotstream_mail::MESSAGE_ID_DOMAIN)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let ids = loop {
        let ids = crate::helpers::outbox::mailpit_message_ids(&app.client, &api, &to).await;
        let controls = ids.iter().filter(|m| **m == want(&local_id)).count();
        if controls >= 2 || Instant::now() > deadline {
            break ids;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let count = |id: &str| ids.iter().filter(|m| **m == want(id)).count();
    assert_eq!(count(&local_id), 2, "the control duplicates: {ids:?}");
    assert_eq!(
        count(&shared_id),
        1,
        "sent once between both owners: {ids:?}"
    );
    app.stop().await;
}
