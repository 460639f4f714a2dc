//! History bench: does the embedded platform stay bounded by what is live?
//!
//! Runs the whole platform in this process on a fresh data dir with a clock
//! the bench moves, and makes `ROUNDS × PER_ROUND` bookings through the log
//! (no HTTP: commands in, events out). Each round books `PER_ROUND` slots an
//! hour ahead, pays a third (confirmed), cancels a third, lets the rest
//! expire, then moves the clock five days on, so every booking of the round
//! is in the past and settled. After every round it prints the process's
//! RSS, the data dir's size and the log's event count; at the end it stops
//! the platform and, with `HISTORY_KEEP=1`, keeps the data dir and prints
//! its path, for timing restarts of `slotstream up` on it (BENCHMARKS.md).
//!
//!     cargo bench --bench history                      # 100 rounds of 10,000
//!     HISTORY_ROUNDS=10 cargo bench --bench history    # 100,000 bookings
//!
//! It checks as it goes (and exits non-zero otherwise): every request is
//! decided, every booking event expected arrives, and, at the end, every
//! booking ever made is readable in the views with its final status.

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use bytes::Bytes;
use common::*;
use slotstream_domain::booking::{BookingCommand, BookingStatus, CancelBooking, RequestBooking};
use slotstream_domain::payment::{CheckoutOutcome, PaymentCommand, SubmitCheckout};
use slotstream_domain::time::{DAY, HOUR, MINUTE};
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use slotstream_runtime::{OutRecord, TopicPartition, TopicSpec, topics};
use slotstream_schemas::{Contract, Envelope};
use std::time::{Duration, Instant};

// The same allocator as the `slotstream` binary: RSS here is what users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RESOURCES: usize = 500;
const CHUNK: usize = 2_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_bytes(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn envelope<C>(t: &TestPlatform, payload: C) -> Bytes
where
    Envelope<C>: Contract,
{
    let env = Envelope {
        event_id: format!("h-{}", uuid_like()),
        occurred_at: t.clock.now_ms(),
        reply_to: None,
        payload,
    };
    t.codec.encode(&env).expect("encode")
}

async fn send_all(t: &TestPlatform, topic: &'static str, records: Vec<(String, Bytes)>) {
    for chunk in records.chunks(CHUNK) {
        let batch = chunk
            .iter()
            .map(|(key, value)| OutRecord {
                topic,
                partition: None,
                key: Bytes::copy_from_slice(key.as_bytes()),
                value: value.clone(),
                timestamp: t.clock.now_ms(),
                headers: slotstream_runtime::Headers::new(),
            })
            .collect();
        t.p().producer().send(batch).await.expect("produce");
    }
}

async fn ends(t: &TestPlatform, spec: TopicSpec) -> u64 {
    let reader = t.p().backend().reader();
    let mut sum = 0;
    for p in 0..spec.partitions {
        sum += reader
            .end_offset(&TopicPartition::new(spec.name, p))
            .await
            .expect("end");
    }
    sum
}

/// Waits until `group` has committed everything of `inputs`.
async fn caught_up(t: &TestPlatform, group: &str, inputs: &[TopicSpec]) {
    let deadline = Instant::now() + Duration::from_secs(300);
    let reader = t.p().backend().reader();
    loop {
        let mut behind = 0;
        for spec in inputs {
            for p in 0..spec.partitions {
                let tp = TopicPartition::new(spec.name, p);
                let end = reader.end_offset(&tp).await.expect("end");
                let done = reader
                    .committed_offset(group, &tp)
                    .await
                    .expect("committed")
                    .unwrap_or(0);
                behind += end.saturating_sub(done);
            }
        }
        if behind == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{group} is stuck {behind} behind"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the booking-events topic holds `want` records.
async fn events_reach(t: &TestPlatform, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let have = ends(t, topics::BOOKING_EVENTS).await;
        if have >= want {
            assert_eq!(have, want, "more booking events than the workload makes");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "booking events stuck at {have} of {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn aligned(ms: i64) -> i64 {
    ms - ms.rem_euclid(15 * MINUTE) + 15 * MINUTE
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env_usize("HISTORY_ROUNDS", 100);
    let per_round = env_usize("HISTORY_PER_ROUND", 10_000);
    let t = TestPlatform::start().await;
    for r in 0..RESOURCES {
        let id = format!("res-{r}");
        t.send_raw(
            topics::BOOKING_COMMANDS.name,
            &id,
            envelope(
                &t,
                BookingCommand::RegisterResource(slotstream_domain::booking::RegisterResource {
                    command_id: CommandId::new(format!("reg-{r}")),
                    resource: resource(&id, "vendor-1"),
                }),
            ),
        )
        .await;
    }
    let mut expected_events = RESOURCES as u64;
    events_reach(&t, expected_events).await;
    println!("round,bookings,rss_mb,data_dir_mb,booking_events,secs");
    let started = Instant::now();
    let mut made = Vec::with_capacity(rounds * per_round);
    for round in 0..rounds {
        let now = t.clock.now_ms();
        let first = aligned(now + HOUR);
        let mut requests = Vec::with_capacity(per_round);
        for i in 0..per_round {
            let n = round * per_round + i;
            let r = i % RESOURCES;
            let start = first + (i / RESOURCES) as i64 * HOUR;
            let id = format!("res-{r}");
            let user = format!("u{}", n % 5_000);
            let req = RequestBooking {
                command_id: CommandId::new(format!("cmd-{n}")),
                request_hash: format!("hash-{n}"),
                booking_id: BookingId::new(format!("bk-{n}")),
                payment_id: PaymentId::new(format!("pay-{n}")),
                resource_id: ResourceId::new(&id),
                user_id: UserId::new(&user),
                user_email: format!("{user}@example.com"),
                start,
                end: start + HOUR,
                requested_at: now,
            };
            made.push((n, i % 3));
            requests.push((id, envelope(&t, BookingCommand::RequestBooking(req))));
        }
        send_all(&t, topics::BOOKING_COMMANDS.name, requests).await;
        expected_events += per_round as u64;
        events_reach(&t, expected_events).await;
        caught_up(
            &t,
            "slotstream.payment",
            &[topics::BOOKING_EVENTS, topics::PAYMENT_COMMANDS],
        )
        .await;

        // A third paid, a third cancelled while pending, the rest expire.
        let mut checkouts = Vec::new();
        let mut cancels = Vec::new();
        for i in 0..per_round {
            let n = round * per_round + i;
            let id = format!("res-{}", i % RESOURCES);
            let user = UserId::new(format!("u{}", n % 5_000));
            match i % 3 {
                0 => checkouts.push((
                    id.clone(),
                    envelope(
                        &t,
                        PaymentCommand::SubmitCheckout(SubmitCheckout {
                            command_id: CommandId::new(format!("pay-cmd-{n}")),
                            request_hash: "succeeded".into(),
                            payment_id: PaymentId::new(format!("pay-{n}")),
                            resource_id: ResourceId::new(&id),
                            user_id: user,
                            outcome: CheckoutOutcome::Succeeded,
                            appended_at: Some(t.clock.now_ms()),
                            requested_at: t.clock.now_ms(),
                        }),
                    ),
                )),
                1 => cancels.push((
                    id.clone(),
                    envelope(
                        &t,
                        BookingCommand::CancelBooking(CancelBooking {
                            command_id: CommandId::new(format!("cancel-{n}")),
                            booking_id: BookingId::new(format!("bk-{n}")),
                            resource_id: ResourceId::new(&id),
                            user_id: user,
                            requested_at: t.clock.now_ms(),
                        }),
                    ),
                )),
                _ => {}
            }
        }
        let paid = checkouts.len() as u64;
        let cancelled = cancels.len() as u64;
        send_all(&t, topics::PAYMENT_COMMANDS.name, checkouts).await;
        send_all(&t, topics::BOOKING_COMMANDS.name, cancels).await;
        // A paid booking: `BookingPaymentStarted` (its checkout came in
        // time) and `BookingConfirmed`; a cancelled one: `BookingCancelled`.
        expected_events += 2 * paid + cancelled;
        events_reach(&t, expected_events).await;

        // The holds left expire; then the world moves five days on, past
        // every settle window of this round.
        t.clock.advance(16 * MINUTE);
        expected_events += per_round as u64 - paid - cancelled;
        events_reach(&t, expected_events).await;
        caught_up(
            &t,
            "slotstream.payment",
            &[topics::BOOKING_EVENTS, topics::PAYMENT_COMMANDS],
        )
        .await;
        caught_up(
            &t,
            "slotstream.views.booking",
            &[topics::BOOKING_EVENTS, topics::PAYMENT_EVENTS],
        )
        .await;
        t.clock.advance(5 * DAY);
        println!(
            "{},{},{:.0},{:.0},{},{:.0}",
            round + 1,
            (round + 1) * per_round,
            rss_mb(),
            dir_bytes(t.data_dir()) as f64 / 1e6,
            expected_events,
            started.elapsed().as_secs_f64()
        );
    }

    // Every booking ever made is in the views with its final status.
    let views = t.p().views();
    for &(n, kind) in &made {
        let b = views
            .booking(&BookingId::new(format!("bk-{n}")))
            .await
            .expect("view")
            .unwrap_or_else(|| panic!("booking bk-{n} is missing from the views"));
        let want = match kind {
            0 => BookingStatus::Confirmed,
            1 => BookingStatus::Cancelled,
            _ => BookingStatus::Expired,
        };
        assert_eq!(b.status, want, "bk-{n}");
    }
    println!(
        "views: all {} bookings readable with their final status",
        made.len()
    );

    let stop = Instant::now();
    let mut t = t;
    t.platform
        .take()
        .expect("running")
        .stop()
        .await
        .expect("clean stop");
    println!("clean stop: {:.2}s", stop.elapsed().as_secs_f64());
    if std::env::var_os("HISTORY_KEEP").is_some() {
        // For timing restarts of `slotstream up` on it, in another process
        // (this one may still hold the database's lock until it exits).
        let TestPlatform { dir, .. } = t;
        println!("data dir kept: {}", dir.keep().display());
    }
}
