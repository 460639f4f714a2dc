//! Raw booking decisions per second through the embedded log and the booking
//! processor (no HTTP): commands are appended to booking-commands, the
//! booking processor's driver decides them and commits events + state +
//! offsets; the clock stops when the last decision is committed.
//!
//! `cargo bench --bench decisions` (env: `DECISIONS=200000`, `RESOURCES=64`).

use bytes::Bytes;
use slotstream_domain::booking::{BookingCommand, BookingConfig, RegisterResource, RequestBooking};
use slotstream_domain::fixtures;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_processors::{BookingProcessor, dead_letter};
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::{Backend, OutRecord, SystemClock, TopicPartition, topics};
use slotstream_schemas::{Codec, Envelope};
use std::sync::Arc;
use std::time::{Duration, Instant};

// The same allocator as the `slotstream` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NOW: i64 = 1_800_000_000_000;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn command(codec: &Codec, resource: &str, cmd: BookingCommand) -> OutRecord {
    let env = Envelope {
        event_id: String::new(),
        occurred_at: NOW,
        reply_to: None,
        payload: cmd,
    };
    OutRecord {
        topic: topics::BOOKING_COMMANDS.name,
        partition: None,
        key: Bytes::copy_from_slice(resource.as_bytes()),
        value: codec.encode(&env).expect("encode"),
        timestamp: NOW,
        headers: slotstream_runtime::Headers::new(),
    }
}

fn resource(i: usize) -> Resource {
    Resource {
        name: format!("Room {i}"),
        created_at: NOW,
        ..fixtures::resource(&format!("res_{i}"), "vendor")
    }
}

async fn events_end(backend: &Arc<EmbeddedBackend>) -> u64 {
    let reader = backend.reader();
    let mut sum = 0;
    for p in 0..topics::BOOKING_EVENTS.partitions {
        sum += reader
            .end_offset(&TopicPartition::new(topics::BOOKING_EVENTS.name, p))
            .await
            .expect("end offset");
    }
    sum
}

async fn run(durable: bool, decisions: usize, resources: usize, concurrent: bool) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = EmbeddedBackend::open(
        dir.path(),
        EmbeddedOptions {
            durable,
            ..Default::default()
        },
    )
    .expect("open");
    let codec = Codec::embedded();
    let producer = backend.producer();

    let mut setup = Vec::new();
    for i in 0..resources {
        let r = resource(i);
        let id = r.id.to_string();
        setup.push(command(
            &codec,
            &id,
            BookingCommand::RegisterResource(RegisterResource {
                command_id: CommandId::new(format!("reg_{i}")),
                resource: r,
            }),
        ));
    }
    producer.send(setup).await.expect("register");

    // Non-conflicting requests: resource i gets consecutive 15-minute slots.
    let start = NOW + 86_400_000;
    let records: Vec<OutRecord> = (0..decisions)
        .map(|n| {
            let r = n % resources;
            let slot = (n / resources) as i64;
            let s = start + slot * 900_000;
            let rid = format!("res_{r}");
            command(
                &codec,
                &rid,
                BookingCommand::RequestBooking(RequestBooking {
                    command_id: CommandId::new(format!("cmd_{n}")),
                    request_hash: "h".into(),
                    booking_id: BookingId::new(format!("bk_{n}")),
                    payment_id: PaymentId::new(format!("pay_{n}")),
                    resource_id: ResourceId::new(rid.clone()),
                    user_id: UserId::new(format!("user_{}", n % 1000)),
                    user_email: "user@example.com".into(),
                    start: s,
                    end: s + 900_000,
                    requested_at: NOW,
                }),
            )
        })
        .collect();

    let produce = |records: Vec<OutRecord>| {
        let producer = producer.clone();
        async move {
            let t = Instant::now();
            let mut batch = Vec::with_capacity(1000);
            for r in records {
                batch.push(r);
                if batch.len() == 1000 {
                    producer
                        .send(std::mem::take(&mut batch))
                        .await
                        .expect("send");
                }
            }
            if !batch.is_empty() {
                producer.send(batch).await.expect("send");
            }
            t.elapsed()
        }
    };

    let produce_rate;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let spawn_processor = || {
        let dyn_backend: Arc<dyn Backend> = backend.clone();
        tokio::spawn(driver::run(
            BookingProcessor::new(
                codec.clone(),
                BookingConfig {
                    hold_ttl: 900_000,
                    ..BookingConfig::default()
                },
            ),
            dyn_backend,
            EffectPorts::default(),
            Arc::new(SystemClock),
            {
                let mut cfg = DriverConfig::new(dead_letter(codec.clone()));
                cfg.max_batch = env_num("MAX_BATCH", cfg.max_batch);
                cfg
            },
            rx.clone(),
        ))
    };
    let target = (resources + decisions) as u64;
    let t0;
    let task;
    if concurrent {
        task = spawn_processor();
        t0 = Instant::now();
        let took = produce(records).await;
        produce_rate = decisions as f64 / took.as_secs_f64();
    } else {
        let took = produce(records).await;
        produce_rate = decisions as f64 / took.as_secs_f64();
        t0 = Instant::now();
        task = spawn_processor();
    }
    while events_end(&backend).await < target {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = t0.elapsed();
    tx.send(true).expect("stop");
    task.await.expect("join").expect("driver");
    (decisions as f64 / elapsed.as_secs_f64(), produce_rate)
}

fn main() {
    let decisions = env_num("DECISIONS", 200_000);
    let resources = env_num("RESOURCES", 64);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "decisions={decisions} resources={resources} (bench binary; each run on a fresh data dir)"
    );
    for durable in [true, false] {
        let (pre, produce) = rt.block_on(run(durable, decisions, resources, false));
        println!(
            "durable={durable:<5} preloaded:  {pre:>10.0} decisions/s (processor alone); producer {produce:>10.0} commands/s"
        );
        let (both, _) = rt.block_on(run(durable, decisions, resources, true));
        println!(
            "durable={durable:<5} concurrent: {both:>10.0} decisions/s (producer and processor together)"
        );
    }
}
