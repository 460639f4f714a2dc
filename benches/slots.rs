//! Free-slot search as the gateway answers it, minus HTTP: the views read
//! from the embedded store (fjall, in a temporary directory) and the slots
//! computed and rendered (`slotstream_gateway::slot_search`).
//!
//! - a month on one resource holding 10,000 bookings, spread over 208 days
//!   (the month holds 1,440 of them) and all inside the month;
//! - across 1,000 resources of one kind: every page of the answer, and one
//!   page that looks at all 1,000.
//!
//! `cargo bench --bench slots`

use criterion::{Criterion, criterion_group, criterion_main};
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::fixtures;
use slotstream_domain::resource::Resource;
use slotstream_domain::schedule::{BookingRules, LocalRange, ScheduleSpec};
use slotstream_domain::time::{DAY, HOUR, MINUTE};
use slotstream_domain::{BookingId, Interval, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_gateway::slot_search::{Search, resource_slots, search};
use slotstream_runtime::{BookingView, ViewStore, ViewWrite};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

/// 2027-01-04T00:00:00Z, a Monday.
const NOW: Millis = 1_799_020_800_000;
const MONTH: Millis = 30 * DAY;

fn booking(r: &Resource, n: usize, start: Millis, end: Millis) -> ViewWrite {
    ViewWrite::PutBooking(BookingView {
        id: BookingId::new(format!("{}-b{n}", r.id)),
        resource_id: r.id.clone(),
        vendor_id: r.vendor_id.clone(),
        user_id: UserId::new("u"),
        start,
        end,
        status: BookingStatus::Confirmed,
        amount: Money::new(1000, "EUR"),
        hold_expires_at: NOW,
        payment_id: PaymentId::new(format!("{}-p{n}", r.id)),
        refund: None,
        created_at: NOW,
        updated_at: NOW,
        reschedules: Vec::new(),
    })
}

/// Weekdays 08:00-20:00 in Berlin, with 10-minute buffers.
fn scheduled(id: &str, kind: &str) -> Resource {
    let day = vec![LocalRange {
        start_minute: 8 * 60,
        end_minute: 20 * 60,
    }];
    Resource {
        kind: kind.into(),
        timezone: "Europe/Berlin".into(),
        schedule: Some(Box::new(ScheduleSpec {
            timezone: "Europe/Berlin".into(),
            weekly: [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
            exceptions: Vec::new(),
        })),
        rules: BookingRules {
            buffer_before_minutes: 10,
            buffer_after_minutes: 10,
            ..BookingRules::default()
        },
        ..fixtures::resource(id, "vendor")
    }
}

async fn write(views: &EmbeddedBackend, writes: Vec<ViewWrite>) {
    for chunk in writes.chunks(1_000) {
        views.apply(chunk).await.expect("view write");
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let backend: Arc<EmbeddedBackend> = EmbeddedBackend::open(
        dir.path(),
        EmbeddedOptions {
            durable: false,
            ..Default::default()
        },
    )
    .expect("open");

    // One always-open resource, every other 15-minute slot taken: 10,000
    // bookings over 208 days, and 1,440 free 15-minute starts a month.
    let spread = fixtures::resource("spread", "vendor");
    // One with 1-minute slots and 10,000 two-minute bookings four minutes
    // apart, all in the month searched: the answer is cut at 10,000 slots.
    let dense = Resource {
        slot_minutes: 1,
        min_minutes: 1,
        ..fixtures::resource("dense", "vendor")
    };
    // 1,000 scheduled resources of one kind, 40 hour-long bookings each in
    // the month.
    let many: Vec<Resource> = (0..1_000)
        .map(|i| scheduled(&format!("court-{i:04}"), "court"))
        .collect();
    rt.block_on(async {
        let mut writes = vec![
            ViewWrite::PutResource(spread.clone()),
            ViewWrite::PutResource(dense.clone()),
        ];
        for n in 0..10_000 {
            let s = NOW + (2 * n as i64) * 15 * MINUTE;
            writes.push(booking(&spread, n, s, s + 15 * MINUTE));
            let s = NOW + (4 * n as i64) * MINUTE;
            writes.push(booking(&dense, n, s, s + 2 * MINUTE));
        }
        for r in &many {
            writes.push(ViewWrite::PutResource(r.clone()));
            for n in 0..40 {
                // Weekday mornings, 09:00 UTC (10:00 in Berlin).
                let day = (n / 2) as i64 + (n / 10) as i64 * 2;
                let s = NOW + day * DAY + 9 * HOUR + (n % 2) as i64 * 2 * HOUR;
                writes.push(booking(r, n, s, s + HOUR));
            }
        }
        write(&backend, writes).await;
    });

    let views: &dyn ViewStore = &*backend;
    let month = Interval::new(NOW, NOW + MONTH);
    let mut group = c.benchmark_group("slot search");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(
        "a month on one resource, 10k bookings over 208 days, 15 min",
        |b| {
            b.iter(|| {
                let a = rt
                    .block_on(resource_slots(views, &spread, month, 15, NOW))
                    .expect("slots");
                assert!(!a.slots.is_empty());
                black_box(a)
            })
        },
    );
    group.bench_function(
        "a month on one resource, 10k bookings in the month, 2 min",
        |b| {
            b.iter(|| {
                let a = rt
                    .block_on(resource_slots(views, &dense, month, 2, NOW))
                    .expect("slots");
                assert!(a.truncated);
                black_box(a)
            })
        },
    );
    let court_search = |window: Interval, cursor: Option<String>| Search {
        vendor: None,
        kind: Some("court".into()),
        window,
        minutes: 60,
        limit: 100,
        cursor,
    };
    let none = |_: &ResourceId| None;
    // The size of that answer, once.
    let (mut cursor, mut pages, mut slots) = (None, 0, 0);
    loop {
        let page = rt
            .block_on(search(views, &court_search(month, cursor), &none, NOW))
            .expect("search");
        pages += 1;
        slots += page.items.iter().map(|i| i.slots.len()).sum::<usize>();
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    eprintln!("a month across 1,000 resources: {pages} pages, {slots} slots");
    group.bench_function("a month across 1,000 resources, every page", |b| {
        b.iter(|| {
            let (mut cursor, mut listed, mut pages) = (None, 0, 0);
            loop {
                let page = rt
                    .block_on(search(views, &court_search(month, cursor), &none, NOW))
                    .expect("search");
                listed += page.items.len();
                pages += 1;
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            assert_eq!(listed, 1_000);
            black_box(pages)
        })
    });
    // A Saturday: every resource is closed, so one page looks at all 1,000
    // and lists none.
    let saturday = Interval::new(NOW + 5 * DAY, NOW + 6 * DAY);
    group.bench_function("a closed day across 1,000 resources, one page", |b| {
        b.iter(|| {
            let page = rt
                .block_on(search(views, &court_search(saturday, None), &none, NOW))
                .expect("search");
            assert!(page.items.is_empty() && page.next_cursor.is_none());
            black_box(page)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
