//! Crash chaos: the whole platform as a child process (`slotstream up`),
//! killed with SIGKILL at random moments under conflicting booking load and
//! checkouts, and started again on the same data dir (on Kafka: the same
//! namespace) each time. Every request whose answer was lost to a kill is
//! sent again with its Idempotency-Key until it gets a decision.
//!
//! The sandbox payment provider misbehaves throughout ([`PROVIDER_FAULTS`]:
//! outages, slow answers, lost webhooks), so checkouts also go through the
//! reconciler.
//!
//! Afterwards: every 201 is readable and a replay of its request answers the
//! same booking; every booking whose checkout was submitted is confirmed,
//! its payment succeeded and nothing refunded (the slot was never lost);
//! no two active bookings of a resource overlap; and the auditor, once over
//! the whole log, finds nothing. One summary line, `chaos(<backend>): …`, goes
//! to stderr and is appended to `target/tmp/chaos-summary.txt`, which
//! scripts/test.sh prints at its end (so CI's output has it).

use crate::helpers::time::{system_now_ms, time_of};
use crate::helpers::{
    MINUTE, Role, TestApp, User, kafka_under_test, spawn_app_running_clock, unique,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use slotstream::Settings;
use std::collections::{BTreeMap, VecDeque};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills per run: each costs a restart (a restore on the embedded log; a
/// group rebalance and a fenced transaction on Kafka, ~10 s).
fn kills(kafka: bool) -> usize {
    if kafka { 3 } else { 20 }
}
const CUSTOMERS: usize = 6;
const RESOURCES: usize = 3;
const ATTEMPTS: usize = 180;
const IN_FLIGHT: usize = 8;
/// The provider's random faults per call (`SLOTSTREAM_SANDBOX_FAULTS`): a
/// failed checkout call or a lost webhook is found by the reconciler, its
/// first ask `ANSWER_WAIT` (10 s) after the checkout.
const PROVIDER_FAULTS: &str = "unavailable=0.1,slow=0.05,lost_webhook=0.1";

/// A small xorshift, seeded from the clock and printed, so a failing run
/// can be told apart from the next (kill points are its only randomness).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One request that must get a decision, sent again with the same
/// Idempotency-Key until it does.
#[derive(Clone, Debug)]
enum Work {
    Book {
        customer: usize,
        room: usize,
        start: i64,
        key: String,
    },
    Pay {
        customer: usize,
        booking: String,
        payment: String,
        key: String,
    },
}

/// What a request came to.
enum Outcome {
    Won {
        booking: String,
        payment: String,
    },
    Refused,
    Paid,
    /// No decision yet (transport error from a kill, 202 still deciding,
    /// 503): send it again.
    Again,
}

/// `slotstream up` as a child process on `settings`' data dir (and
/// namespace), listening on `port`.
fn platform(settings: &Settings, port: u16) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slotstream"));
    cmd.arg("up")
        .env("SLOTSTREAM_DATA_DIR", &settings.data_dir)
        .env("SLOTSTREAM_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "SLOTSTREAM_HOLD_TTL",
            humantime::format_duration(settings.hold_ttl).to_string(),
        )
        .env("SLOTSTREAM_LOG", "error")
        .env("SLOTSTREAM_SANDBOX_FAULTS", PROVIDER_FAULTS)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if settings.backend == slotstream::settings::BackendKind::Kafka {
        let k = &settings.kafka;
        cmd.env("SLOTSTREAM_BACKEND", "kafka")
            .env(
                "SLOTSTREAM_KAFKA_BROKERS",
                k.brokers.as_deref().unwrap_or_default(),
            )
            .env(
                "SLOTSTREAM_SCHEMA_REGISTRY_URL",
                k.schema_registry_url.as_deref().unwrap_or_default(),
            )
            .env("SLOTSTREAM_NAMESPACE", &k.namespace)
            .env(
                "SLOTSTREAM_KAFKA_COMMIT_INTERVAL",
                humantime::format_duration(k.commit_interval).to_string(),
            )
            .env("SLOTSTREAM_SCYLLA_NODES", settings.scylla.nodes.join(","))
            .env("SLOTSTREAM_SCYLLA_KEYSPACE", &settings.scylla.keyspace)
            .env(
                "SLOTSTREAM_SMTP_URL",
                settings.smtp_url.as_deref().unwrap_or_default(),
            );
    }
    cmd.spawn().expect("the slotstream binary starts")
}

/// Kills the child for good on drop, so a failing test leaves nothing
/// running.
struct Reaper(Option<Child>);

impl Reaper {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free port for every incarnation of the platform to listen on.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("its address")
        .port()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    /// Bounded wait for `/healthz` 200 from a freshly started incarnation;
    /// fails the test if the child exits instead.
    async fn await_up(&self, child: &mut Child, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = self.http.get(format!("{}/healthz", self.base)).send().await
                && r.status().as_u16() == 200
            {
                return;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the platform exited on start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "/healthz not 200 within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends one piece of work once.
    async fn run(&self, w: &Work, users: &[User], rooms: &[String]) -> Outcome {
        let (req, key) = match w {
            Work::Book {
                customer,
                room,
                start,
                key,
            } => (
                self.http
                    .post(format!("{}/v1/bookings", self.base))
                    .bearer_auth(&users[*customer].token)
                    .json(&json!({
                        "resource_id": rooms[*room],
                        "start": crate::helpers::time::rfc3339(*start),
                        "end": crate::helpers::time::rfc3339(*start + 30 * MINUTE),
                    })),
                key,
            ),
            Work::Pay {
                customer,
                payment,
                key,
                ..
            } => (
                self.http
                    .post(format!("{}/v1/payments/{payment}/complete", self.base))
                    .bearer_auth(&users[*customer].token)
                    .json(&json!({"outcome": "succeeded"})),
                key,
            ),
        };
        let Ok(r) = req.header("Idempotency-Key", key).send().await else {
            return Outcome::Again;
        };
        let status = r.status().as_u16();
        let Ok(text) = r.text().await else {
            return Outcome::Again;
        };
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match (w, status) {
            (Work::Book { .. }, 201) => Outcome::Won {
                booking: body["id"].as_str().expect("id").to_owned(),
                payment: body["payment"]["id"]
                    .as_str()
                    .expect("payment id")
                    .to_owned(),
            },
            (Work::Book { .. }, 409) => Outcome::Refused,
            (Work::Pay { .. }, 202) if body["status"] == "processing" => Outcome::Paid,
            (_, 202 | 503) => Outcome::Again,
            // A new incarnation's gateway has no memory of the payment its
            // predecessor's 201 named: it is visible once the views have
            // projected the intent.
            (Work::Pay { .. }, 404) => Outcome::Again,
            (_, s) => panic!("unexpected answer to {w:?}: {s} {text}"),
        }
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("the platform answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// A booking that was answered 201.
#[derive(Debug)]
struct Won {
    customer: usize,
    room: usize,
    key: String,
    start: i64,
    booking: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_killed_again_and_again_under_load_loses_nothing_and_never_overlaps() {
    let kafka = kafka_under_test();
    let seed = u64::try_from(system_now_ms()).unwrap_or(1) | 1;
    let mut rng = XorShift(seed);

    // Accounts and resources, made through the in-process app, which then
    // stops (commit and drain) and hands its data dir (or namespace) over.
    let app = spawn_app_running_clock().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let mut rooms = Vec::new();
    for _ in 0..RESOURCES {
        rooms.push(app.create_room(&vendor.token).await);
    }
    let mut users: Vec<User> = Vec::new();
    for _ in 0..CUSTOMERS {
        users.push(app.register_and_login(Role::Customer).await);
    }
    let TestApp {
        app: running,
        settings,
        data_dir,
        client: http,
        ..
    } = app;
    running.stop().await.expect("the setup app stops cleanly");

    // A small grid, so many requests collide.
    let base = (system_now_ms() / (15 * MINUTE) + 8) * 15 * MINUTE;
    let mut queue: VecDeque<Work> = (0..ATTEMPTS)
        .map(|i| Work::Book {
            customer: i % CUSTOMERS,
            room: i % RESOURCES,
            start: base + ((i * 7) % 24) as i64 * 15 * MINUTE,
            key: unique("chaos"),
        })
        .collect();

    let port = free_port();
    let client = Client {
        http,
        base: format!("http://127.0.0.1:{port}"),
    };
    let up_within = if kafka {
        Duration::from_secs(90)
    } else {
        Duration::from_secs(30)
    };
    let kills = kills(kafka);
    let mut won: Vec<Won> = Vec::new();
    let mut refused = 0usize;
    let mut paid: Vec<String> = Vec::new();
    let mut resent = 0usize;
    let mut restarts = Vec::new();
    let mut child = Reaper(None);
    let drain_by = Instant::now() + Duration::from_secs(if kafka { 300 } else { 120 });
    for round in 0..=kills {
        let started = Instant::now();
        let mut c = platform(&settings, port);
        client.await_up(&mut c, up_within).await;
        restarts.push(started.elapsed());
        child.0 = Some(c);
        // Kill after a random number of answers; the last round kills
        // nothing and runs until everything is decided.
        let kill_after = (round < kills).then(|| 5 + rng.below(30) as usize);
        let mut answered = 0usize;
        while !queue.is_empty() && child.0.is_some() {
            assert!(
                Instant::now() < drain_by,
                "requests still undecided: {queue:?}"
            );
            let batch: Vec<Work> = queue.drain(..).collect();
            let mut progress = false;
            let mut stream = futures_util::stream::iter(batch.into_iter().map(|w| {
                let client = &client;
                let users = &users;
                let rooms = &rooms;
                async move {
                    let outcome = client.run(&w, users, rooms).await;
                    (w, outcome)
                }
            }))
            .buffer_unordered(IN_FLIGHT);
            while let Some((w, outcome)) = stream.next().await {
                answered += 1;
                match outcome {
                    Outcome::Won { booking, payment } => {
                        progress = true;
                        let Work::Book {
                            customer,
                            room,
                            start,
                            key,
                        } = w
                        else {
                            unreachable!("only bookings are won")
                        };
                        // Every other winner pays, through the same kills.
                        if won.len().is_multiple_of(2) {
                            queue.push_back(Work::Pay {
                                customer,
                                booking: booking.clone(),
                                payment,
                                key: unique("pay"),
                            });
                        }
                        won.push(Won {
                            customer,
                            room,
                            key,
                            start,
                            booking,
                        });
                    }
                    Outcome::Refused => {
                        progress = true;
                        refused += 1;
                    }
                    Outcome::Paid => {
                        progress = true;
                        let Work::Pay { booking, .. } = w else {
                            unreachable!("only checkouts are paid")
                        };
                        paid.push(booking);
                    }
                    Outcome::Again => {
                        resent += 1;
                        queue.push_back(w);
                    }
                }
                if Some(answered) == kill_after {
                    child.kill();
                }
            }
            if !progress && child.0.is_some() {
                // Still deciding (202) or not ready (503): ask again shortly.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // A short round may end before its kill point: kill it now.
        if round < kills {
            child.kill();
        }
    }
    assert!(queue.is_empty(), "everything decided: {queue:?}");
    assert!(won.len() >= RESOURCES, "some bookings won");

    // Every 201 is there (the views catch up within the bound), a replay of
    // its request answers the same booking, and every paid one is confirmed
    // (a checkout whose call failed or whose webhook was lost waits for the
    // reconciler: its first ask comes 10 s after the checkout, the next
    // ones 10, 20 and 40 s apart).
    let deadline = Instant::now() + Duration::from_secs(if kafka { 180 } else { 120 });
    let mut active: BTreeMap<usize, Vec<(i64, i64, String)>> = BTreeMap::new();
    for w in &won {
        let token = &users[w.customer].token;
        let want = if paid.contains(&w.booking) {
            "confirmed"
        } else {
            "pending"
        };
        let body = loop {
            let (status, body) = client
                .get(&format!("/v1/bookings/{}", w.booking), token)
                .await;
            if status == 200 && body["status"] == want {
                break body;
            }
            assert!(
                Instant::now() < deadline,
                "booking {} not {want}: {status} {body}",
                w.booking
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(time_of(&body["start"]), w.start);
        if want == "confirmed" {
            // Paid once, never refunded: the slot was kept for the customer.
            let payment = body["payment"]["id"].as_str().expect("payment id");
            loop {
                let (status, p) = client.get(&format!("/v1/payments/{payment}"), token).await;
                if status == 200 && p["status"] == "succeeded" {
                    assert_eq!(p["refunded_amount"]["amount"], 0, "payment {payment}: {p}");
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "payment {payment} not succeeded: {status} {p}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let replay = client
            .run(
                &Work::Book {
                    customer: w.customer,
                    room: w.room,
                    start: w.start,
                    key: w.key.clone(),
                },
                &users,
                &rooms,
            )
            .await;
        assert!(
            matches!(&replay, Outcome::Won { booking, .. } if *booking == w.booking),
            "a replay of {}'s request answers it",
            w.booking
        );
        active.entry(w.room).or_default().push((
            time_of(&body["start"]),
            time_of(&body["end"]),
            w.booking.clone(),
        ));
    }
    for list in active.values_mut() {
        list.sort();
        for pair in list.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "overlap: {pair:?}");
        }
    }

    // A clean stop, then the auditor once over the whole log.
    let mut last = child.0.take().expect("the last incarnation runs");
    let term = Command::new("kill")
        .args(["-TERM", &last.id().to_string()])
        .status()
        .expect("kill -TERM runs");
    assert!(term.success());
    let stopped = last.wait().expect("the platform stops");
    assert!(stopped.success(), "a clean stop after the chaos: {stopped}");
    let report = slotstream::ops::audit_once(&settings, system_now_ms(), |v| eprintln!("{v}"))
        .await
        .expect("the log is readable");
    assert!(report.records > 0, "{report:?}");
    assert!(report.is_clean(), "{:#?}", report.violations);

    let slowest = restarts.iter().max().copied().unwrap_or_default();
    let summary = format!(
        "chaos({}): seed {seed}, {kills} SIGKILLs, provider faults {PROVIDER_FAULTS}, {ATTEMPTS} \
         booking requests: {} won, {refused} refused, {} paid and confirmed, {resent} sent again \
         after a kill; none lost, no overlap, no refund; audit of {} records clean; slowest start \
         {slowest:?}",
        if kafka { "kafka" } else { "embedded" },
        won.len(),
        paid.len(),
        report.records,
    );
    eprintln!("{summary}");
    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("chaos-summary.txt");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .expect("the summary file opens");
    std::io::Write::write_all(&mut f, format!("{summary}\n").as_bytes())
        .expect("the summary is written");
    if kafka {
        slotstream::storage::destroy(&settings)
            .await
            .expect("namespace removed");
    }
    drop(data_dir);
}
