//! The availability decision on one resource holding 100k active bookings:
//! one `decide` of a request that conflicts and of one that fits.
//!
//! `cargo bench --bench availability`

use criterion::{Criterion, criterion_group, criterion_main};
use slotstream_domain::booking::{
    BookingCommand, BookingConfig, BookingEvent, BookingPartition, RegisterResource, RequestBooking,
};
use slotstream_domain::fixtures;
use slotstream_domain::resource::{Price, Resource};
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};
use std::hint::black_box;

const NOW: i64 = 1_800_000_000_000;
const SLOT: i64 = 900_000;
const BOOKINGS: i64 = 100_000;

fn request(n: i64, start: i64) -> BookingCommand {
    BookingCommand::RequestBooking(RequestBooking {
        command_id: CommandId::new(format!("c{n}")),
        request_hash: "h".into(),
        booking_id: BookingId::new(format!("b{n}")),
        payment_id: PaymentId::new(format!("p{n}")),
        resource_id: ResourceId::new("r"),
        user_id: UserId::new("u"),
        user_email: "u@example.com".into(),
        start,
        end: start + SLOT,
        requested_at: NOW,
    })
}

fn loaded() -> BookingPartition {
    let mut part = BookingPartition::new(BookingConfig {
        hold_ttl: 900_000,
        ..BookingConfig::default()
    });
    let reg = BookingCommand::RegisterResource(RegisterResource {
        command_id: CommandId::new("reg"),
        resource: Resource {
            name: "Court".into(),
            kind: "court".into(),
            price: Price {
                unit_minutes: 15,
                ..fixtures::hourly(500)
            },
            created_at: NOW,
            ..fixtures::resource("r", "v")
        },
    });
    for ev in part.decide(&reg, NOW).events {
        part.apply(&ev);
    }
    // Every other slot taken: 100k bookings, gaps between them.
    for n in 0..BOOKINGS {
        let d = part.decide(&request(n, NOW + SLOT * (2 * n + 4)), NOW);
        for ev in d.events {
            assert!(
                matches!(ev, BookingEvent::BookingHeld(_)),
                "setup booking {n} rejected: {ev:?}"
            );
            part.apply(&ev);
        }
    }
    part
}

fn bench(c: &mut Criterion) {
    let part = loaded();
    let mid = BOOKINGS;
    let taken = request(BOOKINGS + 1, NOW + SLOT * (2 * (mid / 2) + 4));
    let free = request(BOOKINGS + 2, NOW + SLOT * (2 * (mid / 2) + 5));
    c.bench_function("decide: conflicting request at 100k bookings", |b| {
        b.iter(|| black_box(part.decide(black_box(&taken), NOW)))
    });
    c.bench_function("decide: free slot at 100k bookings", |b| {
        b.iter(|| black_box(part.decide(black_box(&free), NOW)))
    });
    let resource = ResourceId::new("r");
    c.bench_function("busy(): one day of a 100k-booking resource", |b| {
        let from = NOW + SLOT * mid;
        b.iter(|| black_box(part.busy(&resource, from, from + 86_400_000)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
