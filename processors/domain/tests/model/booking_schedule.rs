//! The booking partition with opening hours and rules: random schedules in
//! three zones (around Europe's and America's 2026 spring-forward days),
//! random buffers, notice, horizon and cancellation notice, random requests,
//! cancellations, reschedules, schedule changes, expiries and time.
//!
//! Every decision is checked against a brute-force oracle over the
//! partition's active bookings (a request is held exactly when every rule
//! passes, and a refusal names the first rule it breaks, in the documented
//! order), and after every step no two active bookings of a resource have
//! overlapping buffered intervals. A schedule change keeps each resource's
//! buffers (it varies hours, notice, horizon and cancellation notice), so
//! that invariant holds across changes too. A reschedule is checked the
//! same way, with the moved booking's own interval left out of the busy
//! set, and at the end the partition rebuilt from its events, and the one
//! restored from its stored records, hold exactly the same bookings.

use proptest::prelude::*;
use slotstream_domain::booking::{
    BookingCommand, BookingConfig, BookingEvent, BookingPartition, CancelBooking,
    CancellationRejectionReason, RegisterResource, RejectionReason, RequestBooking,
    RescheduleBooking, StateKey, UpdateResourceSchedule,
};
use slotstream_domain::fixtures;
use slotstream_domain::resource::{Resource, price_for};
use slotstream_domain::schedule::{
    BookingRules, DateException, LocalDate, LocalRange, Schedule, ScheduleSpec, open_intervals,
};
use slotstream_domain::time::{DAY, MINUTE};
use slotstream_domain::{BookingId, Interval, Millis, ResourceId};
use std::collections::BTreeMap;

/// 2026-03-27 00:00Z: two days before Berlin's spring forward, a fortnight
/// after New York's.
const T0: Millis = 20_539 * DAY;
const ZONES: [&str; 3] = ["UTC", "Europe/Berlin", "America/New_York"];
const RESOURCES: u8 = 2;

fn day_ranges() -> impl Strategy<Value = Vec<LocalRange>> {
    // Up to four distinct quarter-hour cut points, paired in order.
    prop::collection::btree_set(0u16..=96, 0..5).prop_map(|cuts| {
        let cuts: Vec<u16> = cuts.into_iter().map(|c| c * 15).collect();
        cuts.chunks_exact(2)
            .map(|p| LocalRange {
                start_minute: p[0],
                end_minute: p[1],
            })
            .collect()
    })
}

fn schedule(zone: &'static str) -> impl Strategy<Value = Option<ScheduleSpec>> {
    let spec = (
        prop::collection::vec(day_ranges(), 7),
        prop::option::of((0u8..5, day_ranges())),
    )
        .prop_map(move |(days, exception)| ScheduleSpec {
            timezone: zone.to_owned(),
            weekly: days.try_into().unwrap_or_default(),
            exceptions: exception
                .into_iter()
                .map(|(d, hours)| DateException {
                    date: LocalDate::new(2026, 3, 27 + d),
                    hours,
                })
                .collect(),
        });
    prop::option::weighted(0.8, spec)
}

/// Notice, horizon and cancellation notice; buffers come from the resource.
fn timing() -> impl Strategy<Value = (u32, Option<u32>, u32)> {
    (
        prop::sample::select(vec![0u32, 30, 120]),
        prop::sample::select(vec![None, Some(24 * 60), Some(3 * 24 * 60)]),
        prop::sample::select(vec![0u32, 60, 600]),
    )
}

#[derive(Clone, Debug)]
struct Setup {
    zone: &'static str,
    schedule: Option<ScheduleSpec>,
    before: u32,
    after: u32,
    timing: (u32, Option<u32>, u32),
}

fn setup() -> impl Strategy<Value = Setup> {
    prop::sample::select(ZONES.to_vec()).prop_flat_map(|zone| {
        (
            schedule(zone),
            prop::sample::select(vec![0u32, 15, 30, 45]),
            prop::sample::select(vec![0u32, 15, 30]),
            timing(),
        )
            .prop_map(move |(schedule, before, after, timing)| Setup {
                zone,
                schedule,
                before,
                after,
                timing,
            })
    })
}

fn rules(
    before: u32,
    after: u32,
    (notice, horizon, modify): (u32, Option<u32>, u32),
) -> BookingRules {
    BookingRules {
        buffer_before_minutes: before,
        buffer_after_minutes: after,
        min_notice_minutes: notice,
        max_horizon_minutes: horizon.map(|h| h.max(notice)),
        modify_notice_minutes: modify,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Request {
        r: u8,
        quarter: u16,
        len: u8,
    },
    Cancel {
        pick: usize,
    },
    Reschedule {
        pick: usize,
        quarter: u16,
        len: u8,
    },
    Change {
        r: u8,
        schedule: Option<Box<ScheduleSpec>>,
        timing: (u32, Option<u32>, u32),
    },
    Advance {
        minutes: u16,
    },
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..RESOURCES, 0u16..3 * 96, 1u8..9).prop_map(|(r, quarter, len)| Op::Request { r, quarter, len }),
        2 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
        4 => (any::<usize>(), 0u16..3 * 96, prop_oneof![3 => Just(0u8), 1 => 1u8..9])
            .prop_map(|(pick, quarter, len)| Op::Reschedule { pick, quarter, len }),
        1 => (0..RESOURCES, prop::sample::select(ZONES.to_vec()), timing())
            .prop_flat_map(|(r, zone, timing)| {
                schedule(zone).prop_map(move |schedule| Op::Change {
                    schedule: schedule.map(Box::new), r, timing })
            }),
        2 => prop::sample::select(vec![15u16, 60, 240, 600]).prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Tick),
    ]
}

/// What the oracle expects of moving `b` (the caller's, known) to `iv`:
/// the booking's own state and the modify notice first, then the new
/// interval's rules, price, and every scheduling rule with `b` itself left
/// out of the busy set.
fn expected_move(
    p: &BookingPartition,
    r: &Resource,
    b: &slotstream_domain::booking::Booking,
    iv: Interval,
    now: Millis,
) -> Result<(), RejectionReason> {
    if !b.status.is_active() || now >= b.interval.start {
        return Err(RejectionReason::NotReschedulable);
    }
    if now >= r.rules.modify_deadline(b.interval.start) {
        return Err(RejectionReason::TooLateToModify);
    }
    if iv.start < now {
        return Err(RejectionReason::InvalidRequest);
    }
    if price_for(r, iv).expect("aligned, allowed lengths") != b.amount {
        return Err(RejectionReason::PriceChanged);
    }
    expected(p, r, iv, now, Some(&b.id))
}

/// What the oracle expects of a request (of a move of `except`, whose own
/// interval does not count as busy).
fn expected(
    p: &BookingPartition,
    r: &Resource,
    iv: Interval,
    now: Millis,
    except: Option<&BookingId>,
) -> Result<(), RejectionReason> {
    if iv.start < now {
        return Err(RejectionReason::InvalidRequest);
    }
    let rules = &r.rules;
    if iv.start < now + Millis::from(rules.min_notice_minutes) * MINUTE {
        return Err(RejectionReason::TooSoon);
    }
    if let Some(h) = rules.max_horizon_minutes
        && iv.start > now + Millis::from(h) * MINUTE
    {
        return Err(RejectionReason::TooFar);
    }
    let compiled = r
        .schedule
        .as_deref()
        .map(|s| Schedule::new(s.clone()).expect("generated schedules are valid"));
    if open_intervals(compiled.as_ref(), iv) != [iv] {
        return Err(RejectionReason::OutsideHours);
    }
    let mine = rules.buffered(iv);
    let clash = p
        .busy(&r.id, Millis::MIN / 2, Millis::MAX / 2)
        .iter()
        .filter(|(_, id)| Some(id) != except)
        .any(|(other, _)| rules.buffered(*other).overlaps(&mine));
    if clash {
        return Err(RejectionReason::SlotUnavailable);
    }
    Ok(())
}

fn no_buffered_overlap(p: &BookingPartition, r: &Resource) -> Result<(), TestCaseError> {
    let busy = p.busy(&r.id, Millis::MIN / 2, Millis::MAX / 2);
    for (i, (a, x)) in busy.iter().enumerate() {
        for (b, y) in &busy[i + 1..] {
            prop_assert!(
                !r.rules.buffered(*a).overlaps(&r.rules.buffered(*b)),
                "{x} {a:?} and {y} {b:?} overlap with buffers {:?}",
                r.rules
            );
        }
    }
    Ok(())
}

fn apply(p: &mut BookingPartition, events: &[BookingEvent], log: &mut Vec<BookingEvent>) {
    for e in events {
        p.apply(e);
        log.push(e.clone());
    }
}

fn run(setups: Vec<Setup>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut p = BookingPartition::new(BookingConfig::default());
    let mut now = T0;
    let mut n = 0u32;
    let mut booked: Vec<(BookingId, ResourceId)> = Vec::new();
    let mut buffers = BTreeMap::new();
    let mut log = Vec::new();
    for (i, s) in setups.iter().enumerate() {
        let resource = Resource {
            timezone: s.zone.to_owned(),
            schedule: s.schedule.clone().map(Box::new),
            rules: rules(s.before, s.after, s.timing),
            max_minutes: 180,
            ..fixtures::resource(&format!("r{i}"), "vendor")
        };
        buffers.insert(resource.id.clone(), (s.before, s.after));
        let d = p.decide(
            &BookingCommand::RegisterResource(RegisterResource {
                command_id: format!("reg{i}").as_str().into(),
                resource,
            }),
            now,
        );
        prop_assert!(d.reply.is_some(), "a valid resource registers");
        apply(&mut p, &d.events, &mut log);
    }
    for op in ops {
        n += 1;
        match op {
            Op::Request { r, quarter, len } => {
                let id = ResourceId::new(format!("r{r}"));
                let resource = p.resource(&id).cloned().expect("registered");
                let start = T0 + Millis::from(quarter) * 15 * MINUTE;
                let iv = Interval::new(start, start + Millis::from(len) * 15 * MINUTE);
                let want = expected(&p, &resource, iv, now, None);
                let c = RequestBooking {
                    command_id: format!("c{n}").as_str().into(),
                    request_hash: format!("h{n}"),
                    booking_id: format!("b{n}").as_str().into(),
                    payment_id: format!("p{n}").as_str().into(),
                    resource_id: id.clone(),
                    user_id: "ann".into(),
                    user_email: "ann@example.com".into(),
                    start: iv.start,
                    end: iv.end,
                    requested_at: now,
                };
                let d = p.decide(&BookingCommand::RequestBooking(c), now);
                let got = match &d.reply {
                    Some(BookingEvent::BookingHeld(_)) => Ok(()),
                    Some(BookingEvent::BookingRejected(e)) => Err(e.reason),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(got, want, "request {:?} at {} on {:?}", iv, now, resource);
                if got.is_ok() {
                    booked.push((format!("b{n}").as_str().into(), id));
                }
                apply(&mut p, &d.events, &mut log);
            }
            Op::Cancel { pick } => {
                if booked.is_empty() {
                    continue;
                }
                let (b, r) = booked[pick % booked.len()].clone();
                let Some(booking) = p.booking(&b).cloned() else {
                    continue;
                };
                let rules = p.resource(&r).expect("registered").rules;
                let d = p.decide(
                    &BookingCommand::CancelBooking(CancelBooking {
                        command_id: format!("x{n}").as_str().into(),
                        booking_id: b.clone(),
                        resource_id: r,
                        user_id: "ann".into(),
                        requested_at: now,
                    }),
                    now,
                );
                let active = booking.status.is_active();
                let start = booking.interval.start;
                match &d.reply {
                    Some(BookingEvent::BookingCancelled(_)) => prop_assert!(
                        active && now < rules.modify_deadline(start),
                        "cancelled {b} at {now}, deadline {}",
                        rules.modify_deadline(start)
                    ),
                    Some(BookingEvent::CancellationRejected(e)) => match e.reason {
                        CancellationRejectionReason::NotCancellable => {
                            prop_assert!(!active || now >= start)
                        }
                        CancellationRejectionReason::TooLateToCancel => prop_assert!(
                            active && now < start && now >= rules.modify_deadline(start)
                        ),
                        CancellationRejectionReason::NotFound => {
                            prop_assert!(false, "{b} is the caller's and known")
                        }
                    },
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                }
                apply(&mut p, &d.events, &mut log);
            }
            Op::Reschedule { pick, quarter, len } => {
                if booked.is_empty() {
                    continue;
                }
                let (b, r) = booked[pick % booked.len()].clone();
                let Some(booking) = p.booking(&b).cloned() else {
                    continue;
                };
                let resource = p.resource(&r).cloned().expect("registered");
                let start = T0 + Millis::from(quarter) * 15 * MINUTE;
                // Length 0: the booking's own length, so the price matches.
                let length = match len {
                    0 => booking.interval.end - booking.interval.start,
                    l => Millis::from(l) * 15 * MINUTE,
                };
                let iv = Interval::new(start, start + length);
                let want = expected_move(&p, &resource, &booking, iv, now);
                let d = p.decide(
                    &BookingCommand::RescheduleBooking(RescheduleBooking {
                        command_id: format!("m{n}").as_str().into(),
                        request_hash: format!("h{n}"),
                        booking_id: b.clone(),
                        resource_id: r.clone(),
                        requested_by: "ann".into(),
                        start: iv.start,
                        end: iv.end,
                        requested_at: now,
                    }),
                    now,
                );
                let got = match &d.reply {
                    Some(BookingEvent::BookingRescheduled(e)) => {
                        prop_assert_eq!(
                            (e.previous_start, e.previous_end),
                            (booking.interval.start, booking.interval.end)
                        );
                        Ok(())
                    }
                    Some(BookingEvent::BookingRejected(e)) => Err(e.reason),
                    other => return Err(TestCaseError::fail(format!("{other:?}"))),
                };
                prop_assert_eq!(
                    got,
                    want,
                    "move of {} {:?} to {:?} at {}",
                    b,
                    booking,
                    iv,
                    now
                );
                apply(&mut p, &d.events, &mut log);
                let after = p.booking(&b).expect("still known");
                if got.is_ok() {
                    prop_assert_eq!(after.interval, iv);
                    prop_assert_eq!(after.status, booking.status);
                    prop_assert_eq!(after.reschedules.len(), booking.reschedules.len() + 1);
                    prop_assert_eq!(
                        after.reschedules.last().map(|m| m.from),
                        Some(booking.interval)
                    );
                    prop_assert_eq!(after.held_interval(), booking.held_interval());
                    // The old interval is free, the new one taken, at once.
                    let busy = p.busy(&r, Millis::MIN / 2, Millis::MAX / 2);
                    prop_assert!(busy.contains(&(iv, b.clone())));
                    prop_assert!(
                        booking.interval == iv || !busy.contains(&(booking.interval, b.clone()))
                    );
                } else {
                    prop_assert_eq!(after, &booking, "a refusal changes nothing");
                }
            }
            Op::Change {
                r,
                schedule,
                timing,
            } => {
                let id = ResourceId::new(format!("r{r}"));
                let current = p.resource(&id).cloned().expect("registered");
                let (before, after) = buffers[&id];
                // The zone is the resource's; the generated one is replaced.
                let schedule = schedule.map(|s| ScheduleSpec {
                    timezone: current.timezone.clone(),
                    ..*s
                });
                let d = p.decide(
                    &BookingCommand::UpdateResourceSchedule(UpdateResourceSchedule {
                        command_id: format!("s{n}").as_str().into(),
                        resource_id: id.clone(),
                        vendor_id: "vendor".into(),
                        schedule: schedule.clone().map(Box::new),
                        rules: rules(before, after, timing),
                        requested_at: now,
                    }),
                    now,
                );
                let Some(BookingEvent::ResourceScheduleChanged(e)) = &d.reply else {
                    return Err(TestCaseError::fail(format!("{:?}", d.reply)));
                };
                // The listed bookings are exactly the live active ones not
                // inside one opening of the new hours.
                let compiled = schedule.map(|s| Schedule::new(s).expect("valid"));
                let outside: Vec<BookingId> = p
                    .busy(&id, now + 1, Millis::MAX / 2)
                    .into_iter()
                    .filter(|(iv, _)| open_intervals(compiled.as_ref(), *iv) != [*iv])
                    .map(|(_, b)| b)
                    .collect();
                prop_assert_eq!(&e.outside_hours, &outside);
                let before_change: Vec<_> = p.busy(&id, Millis::MIN / 2, Millis::MAX / 2);
                apply(&mut p, &d.events, &mut log);
                prop_assert_eq!(
                    p.busy(&id, Millis::MIN / 2, Millis::MAX / 2),
                    before_change,
                    "a change cancels nothing"
                );
            }
            Op::Advance { minutes } => now += Millis::from(minutes) * MINUTE,
            Op::Tick => {
                let events = p.due_expiries(now);
                apply(&mut p, &events, &mut log);
            }
        }
        for r in 0..RESOURCES {
            let resource = p
                .resource(&ResourceId::new(format!("r{r}")))
                .cloned()
                .expect("registered");
            no_buffered_overlap(&p, &resource)?;
        }
    }
    // Replaying the events rebuilds the same bookings, and so does loading
    // the stored records.
    let mut replayed = BookingPartition::new(BookingConfig::default());
    let mut restored = BookingPartition::new(BookingConfig::default());
    for e in &log {
        replayed.apply(e);
    }
    for r in 0..RESOURCES {
        let id = ResourceId::new(format!("r{r}"));
        if let Some(rec) = p.record(&StateKey::Resource(id)) {
            restored.load(rec);
        }
    }
    for (b, _) in &booked {
        if let Some(rec) = p.record(&StateKey::Booking(b.clone())) {
            restored.load(rec);
        }
    }
    for (b, _) in &booked {
        prop_assert_eq!(replayed.booking(b), p.booking(b));
        prop_assert_eq!(restored.booking(b), p.booking(b));
    }
    for r in 0..RESOURCES {
        let id = ResourceId::new(format!("r{r}"));
        let busy = p.busy(&id, Millis::MIN / 2, Millis::MAX / 2);
        prop_assert_eq!(&replayed.busy(&id, Millis::MIN / 2, Millis::MAX / 2), &busy);
        prop_assert_eq!(&restored.busy(&id, Millis::MIN / 2, Millis::MAX / 2), &busy);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn scheduled_resources_hold_exactly_what_every_rule_allows(
        setups in prop::collection::vec(setup(), RESOURCES as usize),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        run(setups, ops)?;
    }
}
