//! Opening hours, buffers, notice, horizon and schedule changes in the
//! booking decision.

use super::*;
use crate::resource::Resource;
use crate::schedule::{BookingRules, DateException, LocalDate, LocalRange, ScheduleSpec};
use crate::testkit::{T0, register, request, room};

/// Weekdays 09:00-17:00 UTC, closed at weekends and on 2024-01-03.
fn office_hours() -> ScheduleSpec {
    ScheduleSpec {
        timezone: "UTC".into(),
        weekly: std::array::from_fn(|d| {
            if d < 5 {
                vec![LocalRange::hm(9, 0, 17, 0)]
            } else {
                Vec::new()
            }
        }),
        exceptions: vec![DateException {
            date: LocalDate::new(2024, 1, 3),
            hours: Vec::new(),
        }],
    }
}

fn rules() -> BookingRules {
    BookingRules {
        buffer_before_minutes: 15,
        buffer_after_minutes: 30,
        min_notice_minutes: 60,
        max_horizon_minutes: Some(14 * 24 * 60),
        modify_notice_minutes: 120,
    }
}

/// `r1` with [`office_hours`] and [`rules`]; T0 is Monday 2024-01-01.
fn scheduled() -> BookingPartition {
    let mut p = BookingPartition::new(no_grace());
    let r = Resource {
        schedule: Some(Box::new(office_hours())),
        rules: rules(),
        ..room("r1")
    };
    assert!(run(&mut p, &register(r), 0).reply.is_some());
    p
}

fn at(day: i64, h: i64, m: i64) -> Millis {
    T0 + day * 24 * HOUR + h * HOUR + m * MINUTE
}

#[test]
fn a_request_inside_the_hours_is_held_and_one_outside_says_where_the_hours_are() {
    let mut p = scheduled();
    let now = at(0, 6, 0);
    let d = book(&mut p, request(1, "r1", "ann", at(0, 9, 0), 60), now);
    assert!(
        matches!(d.reply, Some(BookingEvent::BookingHeld(_))),
        "{d:?}"
    );
    // 16:30-17:30 runs past closing; the nearest long enough opening is
    // the same day's.
    let d = book(&mut p, request(2, "r1", "ann", at(1, 16, 30), 60), now);
    let (reason, detail) = rejection(&d).expect("refused");
    assert_eq!(reason, RejectionReason::OutsideHours);
    assert!(
        detail.contains("2024-01-02T09:00:00Z to 2024-01-02T17:00:00Z"),
        "{detail}"
    );
    // The dated exception closes Wednesday.
    let d = book(&mut p, request(3, "r1", "ann", at(2, 10, 0), 60), now);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::OutsideHours)
    );
    // A refusal is filed like any answer: a retry gets it again.
    let again = p.decide(
        &BookingCommand::RequestBooking(request(3, "r1", "ann", at(3, 10, 0), 60)),
        now,
    );
    assert_eq!(again.reply, d.reply);
}

#[test]
fn notice_and_horizon_refuse_with_the_instant_that_would_pass() {
    let mut p = scheduled();
    let now = at(0, 8, 30);
    let d = book(&mut p, request(1, "r1", "ann", at(0, 9, 0), 60), now);
    let (reason, detail) = rejection(&d).expect("refused");
    assert_eq!(reason, RejectionReason::TooSoon);
    assert!(detail.contains("2024-01-01T09:30:00Z"), "{detail}");
    let d = book(&mut p, request(2, "r1", "ann", at(0, 9, 30), 60), now);
    assert!(matches!(d.reply, Some(BookingEvent::BookingHeld(_))));
    // Fourteen days ahead is the last allowed start; Monday two weeks on at
    // 09:00 is past it.
    let d = book(&mut p, request(3, "r1", "ann", at(14, 9, 0), 60), now);
    let (reason, detail) = rejection(&d).expect("refused");
    assert_eq!(reason, RejectionReason::TooFar);
    assert!(detail.contains("2024-01-15T08:30:00Z"), "{detail}");
}

#[test]
fn buffers_keep_bookings_apart_but_are_not_part_of_them() {
    let mut p = scheduled();
    let now = at(0, 0, 0);
    let d = book(&mut p, request(1, "r1", "ann", at(0, 10, 0), 60), now);
    let Some(BookingEvent::BookingHeld(h)) = d.reply else {
        panic!("held")
    };
    assert_eq!((h.start, h.end), (at(0, 10, 0), at(0, 11, 0)));
    assert_eq!(h.amount.amount, 1000, "buffers are not charged");
    // 11:00 is inside the 30-minute buffer after it plus the new booking's
    // 15 minutes before: the first start clear of it is 11:45.
    let d = book(&mut p, request(2, "r1", "bob", at(0, 11, 30), 30), now);
    let (reason, detail) = rejection(&d).expect("refused");
    assert_eq!(reason, RejectionReason::SlotUnavailable);
    assert!(detail.contains("2024-01-01T11:45:00Z"), "{detail}");
    // Before it: ending at 09:15 leaves 09:15 + 30 + 15 = 10:00. Clear.
    let d = book(&mut p, request(3, "r1", "bob", at(0, 9, 0), 15), now);
    assert!(
        matches!(d.reply, Some(BookingEvent::BookingHeld(_))),
        "{d:?}"
    );
    let d = book(&mut p, request(4, "r1", "bob", at(0, 11, 45), 15), now);
    assert!(
        matches!(d.reply, Some(BookingEvent::BookingHeld(_))),
        "{d:?}"
    );
    // 09:30 would end 09:45: its buffer reaches 10:15 > 09:45 before b1.
    let d = book(&mut p, request(5, "r1", "cy", at(0, 9, 30), 15), now);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::SlotUnavailable)
    );
}

#[test]
fn a_cancellation_inside_the_modify_notice_is_refused_with_its_own_reason() {
    let mut p = scheduled();
    book(
        &mut p,
        request(1, "r1", "ann", at(0, 12, 0), 60),
        at(0, 0, 0),
    );
    // Two hours' notice: from 10:00 on it is too late.
    let d = run(&mut p, &cancel(1, "b1", "r1", "ann"), at(0, 10, 0));
    assert!(matches!(
        d.reply,
        Some(BookingEvent::CancellationRejected(ref r))
            if r.reason == CancellationRejectionReason::TooLateToCancel
    ));
    let d = run(&mut p, &cancel(2, "b1", "r1", "ann"), at(0, 9, 59));
    assert!(matches!(d.reply, Some(BookingEvent::BookingCancelled(_))));
}

fn update(
    n: u32,
    vendor: &str,
    schedule: Option<ScheduleSpec>,
    rules: BookingRules,
) -> BookingCommand {
    BookingCommand::UpdateResourceSchedule(UpdateResourceSchedule {
        command_id: format!("s{n}").as_str().into(),
        resource_id: "r1".into(),
        vendor_id: vendor.into(),
        schedule: schedule.map(Box::new),
        rules,
        requested_at: 0,
    })
}

#[test]
fn a_schedule_change_lists_the_bookings_it_leaves_outside_and_keeps_them() {
    // Unrestricted first: bookings at 08:00 Monday, 10:00 Monday, Saturday.
    let mut p = partition();
    let now = T0 - DAY_LATER;
    for (n, start) in [(1, at(0, 8, 0)), (2, at(0, 10, 0)), (3, at(5, 10, 0))] {
        let d = book(&mut p, request(n, "r1", "ann", start, 60), now);
        assert!(matches!(d.reply, Some(BookingEvent::BookingHeld(_))));
    }
    assert!(
        p.decide(&update(1, "mallory", Some(office_hours()), rules()), now)
            .is_none()
    );
    let mut broken = office_hours();
    broken.timezone = "Europe/Berlin".into();
    assert!(
        p.decide(&update(1, "vendor", Some(broken), rules()), now)
            .is_none(),
        "the schedule must be in the resource's zone"
    );
    let d = run(
        &mut p,
        &update(1, "vendor", Some(office_hours()), rules()),
        now,
    );
    let Some(BookingEvent::ResourceScheduleChanged(e)) = d.reply.clone() else {
        panic!("changed: {d:?}")
    };
    let ids: Vec<&str> = e.outside_hours.iter().map(BookingId::as_str).collect();
    assert_eq!(ids, ["b1", "b3"]);
    assert_eq!(e.updated.schedule.as_deref(), Some(&office_hours()));
    for id in ["b1", "b2", "b3"] {
        assert_eq!(status(&p, id), Some(BookingStatus::Pending), "{id} stays");
    }
    // The new hours decide from now on, and a retry replays the answer.
    let d = book(&mut p, request(4, "r1", "bob", at(0, 8, 0), 60), now);
    assert_eq!(
        rejection(&d).map(|r| r.0),
        Some(RejectionReason::OutsideHours)
    );
    assert_eq!(
        p.decide(&update(1, "vendor", None, BookingRules::default()), now)
            .reply,
        d_reply(&e)
    );
    // Back to always open.
    let d = run(
        &mut p,
        &update(2, "vendor", None, BookingRules::default()),
        now,
    );
    assert!(
        matches!(d.reply, Some(BookingEvent::ResourceScheduleChanged(ref e)) if e.outside_hours.is_empty())
    );
    let d = book(&mut p, request(5, "r1", "bob", at(0, 6, 0), 60), now);
    assert!(
        matches!(d.reply, Some(BookingEvent::BookingHeld(_))),
        "{d:?}"
    );
}

fn d_reply(e: &ResourceScheduleChanged) -> Option<BookingEvent> {
    Some(BookingEvent::ResourceScheduleChanged(e.clone()))
}

#[test]
fn a_restored_partition_decides_with_the_stored_schedule() {
    let mut p = scheduled();
    book(
        &mut p,
        request(1, "r1", "ann", at(0, 10, 0), 60),
        at(0, 0, 0),
    );
    let mut restored = BookingPartition::new(no_grace());
    for key in [
        StateKey::Resource("r1".into()),
        StateKey::Booking("b1".into()),
    ] {
        restored.load(p.record(&key).expect("stored"));
    }
    assert!(restored.schedule(&"r1".into()).is_some());
    for (n, start) in [(2, at(0, 11, 30)), (3, at(0, 17, 0)), (4, at(0, 13, 0))] {
        let c = BookingCommand::RequestBooking(request(n, "r1", "bob", start, 60));
        assert_eq!(
            restored.decide(&c, at(0, 0, 0)),
            p.decide(&c, at(0, 0, 0)),
            "request {n}"
        );
    }
}
