use super::*;
use crate::money::Money;
use crate::testkit::{T0, room};
use crate::time::{HOUR, Interval, MINUTE};

fn field_of(r: &Resource) -> Option<&'static str> {
    validate_resource(r).err().map(|v| v.field)
}

#[test]
fn a_well_formed_resource_is_valid() {
    assert_eq!(validate_resource(&room("r")), Ok(()));
}

/// Breaks one rule of a valid resource.
type Breaks = fn(&mut Resource);

#[test]
fn each_resource_rule_names_its_field() {
    let cases: Vec<(&str, Breaks)> = vec![
        ("name", |r| r.name = String::new()),
        ("name", |r| r.name = "   ".into()),
        ("name", |r| r.name = "x".repeat(201)),
        ("kind", |r| r.kind = "k".repeat(101)),
        ("price.amount", |r| r.price.amount = -1),
        ("price.currency", |r| r.price.currency = "eur".into()),
        ("price.currency", |r| r.price.currency = "EURO".into()),
        ("price.unit_minutes", |r| r.price.unit_minutes = 0),
        ("slot_minutes", |r| r.slot_minutes = 0),
        ("slot_minutes", |r| r.slot_minutes = 1441),
        ("min_minutes", |r| r.min_minutes = 20),
        ("min_minutes", |r| r.min_minutes = 0),
        ("max_minutes", |r| r.max_minutes = 50),
        ("min_minutes", |r| r.min_minutes = 60 * 9),
        ("max_minutes", |r| r.max_minutes = MAX_BOOKING_MINUTES + 15),
        ("cancellation_policy.partial_refund_hours", |r| {
            r.cancellation_policy.partial_refund_hours = 25
        }),
        ("cancellation_policy.partial_refund_percent", |r| {
            r.cancellation_policy.partial_refund_percent = 101
        }),
    ];
    for (field, breaks) in cases {
        let mut r = room("r");
        breaks(&mut r);
        assert_eq!(field_of(&r), Some(field), "{r:?}");
    }
}

#[test]
fn the_longest_allowed_booking_is_one_year() {
    let mut r = room("r");
    r.max_minutes = MAX_BOOKING_MINUTES;
    assert_eq!(validate_resource(&r), Ok(()));
}

#[test]
fn a_violation_displays_field_and_advice() {
    let v = validate_booking(&room("r"), Interval::new(T0, T0), T0).unwrap_err();
    assert_eq!(v.to_string(), "end: must be after start");
}

#[test]
fn booking_rules_are_checked_in_order() {
    let r = room("r");
    let check = |start, end, now| {
        validate_booking(&r, Interval::new(start, end), now).map_err(|v| v.message)
    };
    assert!(check(T0, T0, T0).unwrap_err().contains("after start"));
    assert!(
        check(T0 + HOUR, T0, T0)
            .unwrap_err()
            .contains("after start")
    );
    assert!(
        check(T0 - 15 * MINUTE, T0 + HOUR, T0)
            .unwrap_err()
            .contains("start in the past")
    );
    assert!(
        check(T0 + MINUTE, T0 + HOUR, T0)
            .unwrap_err()
            .contains("aligned")
    );
    assert!(
        check(T0, T0 + HOUR + MINUTE, T0)
            .unwrap_err()
            .contains("aligned")
    );
    assert!(
        check(T0, T0 + 9 * HOUR, T0)
            .unwrap_err()
            .contains("too long")
    );
    assert_eq!(check(T0, T0 + 15 * MINUTE, T0), Ok(()));
    assert_eq!(check(T0, T0 + 8 * HOUR, T0 - 1), Ok(()));
}

#[test]
fn a_booking_may_start_exactly_now() {
    assert_eq!(
        validate_booking(&room("r"), Interval::new(T0, T0 + HOUR), T0),
        Ok(())
    );
}

#[test]
fn too_short_is_caught_when_min_exceeds_one_slot() {
    let mut r = room("r");
    r.min_minutes = 60;
    let v = validate_booking(&r, Interval::new(T0, T0 + 45 * MINUTE), T0).unwrap_err();
    assert!(v.message.contains("too short"), "{v}");
}

#[test]
fn alignment_counts_from_the_epoch_not_from_the_hour() {
    let mut r = room("r");
    r.slot_minutes = 7;
    r.min_minutes = 7;
    r.max_minutes = 7 * 100;
    let slot = 7 * MINUTE;
    let start = (T0 / slot + 1) * slot;
    assert_eq!(
        validate_booking(&r, Interval::new(start, start + slot), T0),
        Ok(())
    );
    assert!(validate_booking(&r, Interval::new(T0 + HOUR, T0 + HOUR + slot), T0).is_err());
}

#[test]
fn a_resource_without_slots_refuses_bookings_instead_of_dividing_by_zero() {
    let mut r = room("r");
    r.slot_minutes = 0;
    assert!(validate_booking(&r, Interval::new(T0, T0 + HOUR), T0).is_err());
}

#[test]
fn the_price_counts_every_started_unit() {
    let r = room("r");
    let price = |minutes| price_for(&r, Interval::new(T0, T0 + minutes * MINUTE)).map(|m| m.amount);
    assert_eq!(price(15), Ok(1000));
    assert_eq!(price(60), Ok(1000));
    assert_eq!(price(75), Ok(2000));
    assert_eq!(price(120), Ok(2000));
    assert_eq!(
        price_for(&r, Interval::new(T0, T0 + HOUR)).map(|m| m.currency),
        Ok("EUR".into())
    );
}

#[test]
fn a_price_that_overflows_is_a_violation() {
    let mut r = room("r");
    r.price.amount = i64::MAX / 2;
    assert!(price_for(&r, Interval::new(T0, T0 + 3 * HOUR)).is_err());
    assert!(price_for(&r, Interval::new(T0, T0 + HOUR)).is_ok());
}

#[test]
fn refunds_follow_the_policy_windows_at_their_exact_boundaries() {
    let policy = CancellationPolicy::default(); // 24 h full, 2 h 50 %
    let paid = Money::new(999, "EUR");
    let start = T0 + 10 * DAY_MS;
    let quote = |before: i64| refund_for(&policy, &paid, start, start - before).amount;
    assert_eq!(quote(48 * HOUR), 999);
    assert_eq!(quote(24 * HOUR), 999);
    assert_eq!(quote(24 * HOUR - 1), 499, "50 % of 999 rounds down");
    assert_eq!(quote(2 * HOUR), 499);
    assert_eq!(quote(2 * HOUR - 1), 0);
    assert_eq!(quote(1), 0);
    assert_eq!(quote(0), 0);
    assert_eq!(quote(-HOUR), 0);
    assert_eq!(
        refund_for(&policy, &paid, start, start - 30 * HOUR).currency,
        "EUR"
    );
}

const DAY_MS: i64 = 24 * HOUR;

#[test]
fn a_policy_without_a_partial_window_is_all_or_nothing() {
    let policy = CancellationPolicy {
        full_refund_hours: 12,
        partial_refund_hours: 12,
        partial_refund_percent: 30,
    };
    let paid = Money::new(1000, "EUR");
    assert_eq!(refund_for(&policy, &paid, T0 + 12 * HOUR, T0).amount, 1000);
    assert_eq!(refund_for(&policy, &paid, T0 + 12 * HOUR - 1, T0).amount, 0);
}

fn berlin_week() -> crate::schedule::ScheduleSpec {
    use crate::schedule::{LocalRange, ScheduleSpec};
    ScheduleSpec {
        timezone: "Europe/Berlin".into(),
        weekly: std::array::from_fn(|d| {
            if d < 5 {
                vec![LocalRange::hm(9, 0, 17, 0)]
            } else {
                Vec::new()
            }
        }),
        exceptions: Vec::new(),
    }
}

#[test]
fn a_schedule_must_be_valid_and_in_the_resource_zone_and_rules_within_limits() {
    use crate::schedule::{BookingRules, LocalRange};
    let mut r = Resource {
        timezone: "Europe/Berlin".into(),
        schedule: Some(Box::new(berlin_week())),
        ..room("r")
    };
    assert_eq!(validate_resource(&r), Ok(()));
    assert!(validate_scheduling(&r).unwrap().is_some());
    r.timezone = "Europe/Paris".into();
    let v = validate_resource(&r).unwrap_err();
    assert_eq!(v.field, "schedule");
    assert!(v.message.contains("Europe/Paris"), "{}", v.message);
    r.timezone = "Europe/Berlin".into();
    if let Some(s) = r.schedule.as_mut() {
        s.weekly[2] = vec![LocalRange::hm(9, 0, 12, 0), LocalRange::hm(11, 0, 13, 0)];
    }
    let v = validate_resource(&r).unwrap_err();
    assert_eq!(v.field, "schedule");
    assert!(v.message.starts_with("weekly[2]"), "{}", v.message);
    r.schedule = None;
    r.rules = BookingRules {
        min_notice_minutes: 120,
        max_horizon_minutes: Some(60),
        ..BookingRules::default()
    };
    let v = validate_resource(&r).unwrap_err();
    assert_eq!(v.field, "rules");
    assert!(
        v.message.starts_with("max_horizon_minutes"),
        "{}",
        v.message
    );
    r.rules.max_horizon_minutes = Some(120);
    assert_eq!(validate_resource(&r), Ok(()));
    assert!(!r.unrestricted());
}
