//! Encode + decode cost per record on the hot path: a booking decision decodes
//! one command and encodes two records (the event and the reply).
//!
//! `cargo bench -p slotstream-schemas --bench codec`
//!
//! On a busy machine wall-clock times swing by more than the differences
//! worth measuring; with `CODEC_LOOP=<op>:<n>` the bench binary instead runs
//! one operation `n` times and exits, for an instruction count that load does
//! not change (ops: `encode-command`, `decode-command`, `encode-event`,
//! `decode-event`, `encode-reply`, `decode-reply`):
//!
//! ```sh
//! CODEC_LOOP=decode-event:10000 valgrind --tool=cachegrind --cache-sim=no target/release/deps/codec-<hash>
//! ```
//!
//! The count at `n + 10000` minus the count at `n`, divided by 10,000, is the
//! cost of one operation without the set-up.

use criterion::Criterion;
use slotstream_domain::booking::{BookingCommand, BookingEvent, BookingHeld, RequestBooking};
use slotstream_domain::{BookingId, CommandId, Money, PaymentId, ResourceId, UserId};
use slotstream_schemas::{Codec, Envelope, Reply, ReplyPayload};
use std::hint::black_box;

fn request() -> Envelope<BookingCommand> {
    Envelope {
        event_id: "0190a5d2-7c3e-7b1a-9f00-2a4c1e0d5b61".into(),
        occurred_at: 1_767_225_600_000,
        reply_to: Some("gateway-7f3a".into()),
        payload: BookingCommand::RequestBooking(RequestBooking {
            command_id: CommandId::new("cmd-6a1f0c5e2b7d4e98"),
            request_hash: "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab".into(),
            booking_id: BookingId::new("bk_01HZX3Q8R6T2V9W4Y7A0C5E1G3"),
            payment_id: PaymentId::new("pay_01HZX3Q8R6T2V9W4Y7A0C5E1G4"),
            resource_id: ResourceId::new("res_01HZX3Q8R6T2V9W4Y7A0C5E1G5"),
            user_id: UserId::new("usr_01HZX3Q8R6T2V9W4Y7A0C5E1G6"),
            user_email: "ada@example.com".into(),
            start: 1_767_258_000_000,
            end: 1_767_261_600_000,
            requested_at: 1_767_225_600_000,
        }),
    }
}

fn held() -> BookingEvent {
    BookingEvent::BookingHeld(BookingHeld {
        command_id: CommandId::new("cmd-6a1f0c5e2b7d4e98"),
        request_hash: "9c56cc51b374c3ba189210d5b6d4bf57790d351c96c47c02190ecf1e430635ab".into(),
        booking_id: BookingId::new("bk_01HZX3Q8R6T2V9W4Y7A0C5E1G3"),
        resource_id: ResourceId::new("res_01HZX3Q8R6T2V9W4Y7A0C5E1G5"),
        vendor_id: UserId::new("usr_01HZX3Q8R6T2V9W4Y7A0C5E1G7"),
        user_id: UserId::new("usr_01HZX3Q8R6T2V9W4Y7A0C5E1G6"),
        user_email: "ada@example.com".into(),
        start: 1_767_258_000_000,
        end: 1_767_261_600_000,
        amount: Money::new(4_500, "EUR"),
        payment_id: PaymentId::new("pay_01HZX3Q8R6T2V9W4Y7A0C5E1G4"),
        hold_expires_at: 1_767_226_500_000,
        held_at: 1_767_225_600_000,
    })
}

/// The records a booking decision decodes and encodes, and their frames.
struct Samples {
    codec: Codec,
    command: Envelope<BookingCommand>,
    event: Envelope<BookingEvent>,
    reply: Reply,
    command_bytes: bytes::Bytes,
    event_bytes: bytes::Bytes,
    reply_bytes: bytes::Bytes,
}

fn samples() -> Samples {
    let codec = Codec::embedded();
    let command = request();
    let event = Envelope {
        event_id: "0190a5d2-7c3e-7b1a-9f00-2a4c1e0d5b62".into(),
        occurred_at: 1_767_225_600_000,
        reply_to: Some("gateway-7f3a".into()),
        payload: held(),
    };
    let reply = Reply {
        event_id: "0190a5d2-7c3e-7b1a-9f00-2a4c1e0d5b63".into(),
        occurred_at: 1_767_225_600_000,
        command_id: CommandId::new("cmd-6a1f0c5e2b7d4e98"),
        payload: ReplyPayload::Booking(held()),
    };
    Samples {
        command_bytes: codec.encode(&command).expect("encodes"),
        event_bytes: codec.encode(&event).expect("encodes"),
        reply_bytes: codec.encode(&reply).expect("encodes"),
        codec,
        command,
        event,
        reply,
    }
}

/// Runs one operation `n` times (see the module doc).
fn run_loop(spec: &str) {
    let (op, n) = spec.split_once(':').expect("CODEC_LOOP=<op>:<n>");
    let n: usize = n.parse().expect("a count");
    let s = samples();
    let codec = &s.codec;
    for _ in 0..n {
        match op {
            "encode-command" => drop(black_box(codec.encode(black_box(&s.command)))),
            "decode-command" => drop(black_box(
                codec.decode::<Envelope<BookingCommand>>(black_box(&s.command_bytes)),
            )),
            "encode-event" => drop(black_box(codec.encode(black_box(&s.event)))),
            "decode-event" => drop(black_box(
                codec.decode::<Envelope<BookingEvent>>(black_box(&s.event_bytes)),
            )),
            "encode-reply" => drop(black_box(codec.encode(black_box(&s.reply)))),
            "decode-reply" => drop(black_box(codec.decode::<Reply>(black_box(&s.reply_bytes)))),
            other => panic!("unknown op {other}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let Samples {
        codec,
        command,
        event,
        reply,
        command_bytes,
        event_bytes,
        reply_bytes,
    } = samples();

    c.bench_function("encode RequestBooking envelope", |b| {
        b.iter(|| codec.encode(black_box(&command)))
    });
    c.bench_function("decode RequestBooking envelope", |b| {
        b.iter(|| codec.decode::<Envelope<BookingCommand>>(black_box(&command_bytes)))
    });
    c.bench_function("encode BookingHeld envelope", |b| {
        b.iter(|| codec.encode(black_box(&event)))
    });
    c.bench_function("decode BookingHeld envelope", |b| {
        b.iter(|| codec.decode::<Envelope<BookingEvent>>(black_box(&event_bytes)))
    });
    c.bench_function("encode BookingHeld reply", |b| {
        b.iter(|| codec.encode(black_box(&reply)))
    });
    c.bench_function("decode BookingHeld reply", |b| {
        b.iter(|| codec.decode::<Reply>(black_box(&reply_bytes)))
    });
    c.bench_function(
        "booking decision: decode command, encode event and reply",
        |b| {
            b.iter(|| {
                let cmd = codec.decode::<Envelope<BookingCommand>>(black_box(&command_bytes));
                let e = codec.encode(black_box(&event));
                let r = codec.encode(black_box(&reply));
                (cmd, e, r)
            })
        },
    );
}

fn main() {
    if let Ok(spec) = std::env::var("CODEC_LOOP") {
        run_loop(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
