use super::*;
use crate::time::{HOUR, Interval, MINUTE, Millis};
use jiff::Timestamp;

const STEP: Millis = 15 * MINUTE;

fn utc(s: &str) -> Millis {
    s.parse::<Timestamp>().unwrap().as_millisecond()
}

fn iv(a: &str, b: &str) -> Interval {
    Interval::new(utc(a), utc(b))
}

fn every_day(tz: &str, hours: &[LocalRange]) -> Schedule {
    Schedule::new(ScheduleSpec {
        timezone: tz.into(),
        weekly: std::array::from_fn(|_| hours.to_vec()),
        exceptions: Vec::new(),
    })
    .unwrap()
}

fn open_on(s: &Schedule, a: &str, b: &str) -> Vec<Interval> {
    s.open_intervals(iv(a, b))
}

/// The wall-clock hour and minute of `at` in `tz`.
fn wall(tz: &str, at: Millis) -> (i8, i8) {
    let dt = jiff::tz::TimeZoneDatabase::bundled()
        .get(tz)
        .unwrap()
        .to_datetime(Timestamp::from_millisecond(at).unwrap());
    (dt.hour(), dt.minute())
}

fn slots(s: &Schedule, window: Interval, duration: Millis) -> Vec<Millis> {
    free_slots(
        Some(s),
        &BookingRules::default(),
        &Busy::default(),
        i64::MIN / 4,
        window,
        duration,
        STEP,
    )
}

fn assert_sorted_unique(starts: &[Millis]) {
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "{starts:?}");
}

// ---------- schedules ----------

#[test]
fn no_schedule_is_always_open() {
    let w = iv("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    assert_eq!(open_intervals(None, w), vec![w]);
    let rules = BookingRules::default();
    let now = w.start;
    let got = free_slots(None, &rules, &Busy::default(), now, w, HOUR, STEP);
    assert_eq!(got.len(), 96);
    assert_eq!(
        check(
            None,
            &rules,
            &Busy::default(),
            now,
            Interval::new(now, now + HOUR)
        ),
        Ok(())
    );
}

#[test]
fn weekly_hours_with_several_ranges_and_closed_days() {
    // Monday 2026-01-05. UTC zone: local = UTC.
    let mut weekly: [Vec<LocalRange>; 7] = Default::default();
    weekly[0] = vec![LocalRange::hm(13, 0, 17, 0), LocalRange::hm(9, 0, 12, 0)];
    weekly[2] = vec![LocalRange::hm(10, 0, 11, 0)];
    let s = Schedule::new(ScheduleSpec {
        timezone: "UTC".into(),
        weekly,
        exceptions: Vec::new(),
    })
    .unwrap();
    assert_eq!(
        open_on(&s, "2026-01-05T00:00:00Z", "2026-01-08T00:00:00Z"),
        vec![
            iv("2026-01-05T09:00:00Z", "2026-01-05T12:00:00Z"),
            iv("2026-01-05T13:00:00Z", "2026-01-05T17:00:00Z"),
            iv("2026-01-07T10:00:00Z", "2026-01-07T11:00:00Z"),
        ]
    );
    // Clipped to the window.
    assert_eq!(
        open_on(&s, "2026-01-05T10:00:00Z", "2026-01-05T14:00:00Z"),
        vec![
            iv("2026-01-05T10:00:00Z", "2026-01-05T12:00:00Z"),
            iv("2026-01-05T13:00:00Z", "2026-01-05T14:00:00Z"),
        ]
    );
}

#[test]
fn exceptions_close_a_date_or_replace_its_hours() {
    let mut spec = ScheduleSpec {
        timezone: "Europe/Berlin".into(),
        weekly: std::array::from_fn(|_| vec![LocalRange::hm(9, 0, 17, 0)]),
        exceptions: vec![
            DateException {
                date: LocalDate::new(2026, 12, 25),
                hours: vec![],
            },
            DateException {
                date: LocalDate::new(2026, 12, 24),
                hours: vec![LocalRange::hm(8, 0, 12, 0)],
            },
        ],
    };
    let s = Schedule::new(spec.clone()).unwrap();
    assert_eq!(
        open_on(&s, "2026-12-24T00:00:00Z", "2026-12-27T00:00:00Z"),
        vec![
            iv("2026-12-24T07:00:00Z", "2026-12-24T11:00:00Z"),
            iv("2026-12-26T08:00:00Z", "2026-12-26T16:00:00Z"),
        ]
    );
    spec.exceptions.push(DateException {
        date: LocalDate::new(2026, 12, 25),
        hours: vec![LocalRange::hm(9, 0, 10, 0)],
    });
    assert_eq!(Schedule::new(spec).unwrap_err().field, "exceptions[2].date");
}

#[test]
fn overnight_ranges_on_consecutive_days_merge() {
    let s = every_day(
        "UTC",
        &[LocalRange::hm(0, 0, 2, 0), LocalRange::hm(22, 0, 24, 0)],
    );
    assert_eq!(
        open_on(&s, "2026-01-05T12:00:00Z", "2026-01-06T12:00:00Z"),
        vec![iv("2026-01-05T22:00:00Z", "2026-01-06T02:00:00Z")]
    );
    // A booking across midnight is inside one opening.
    let rules = BookingRules::default();
    let b = iv("2026-01-05T23:00:00Z", "2026-01-06T01:00:00Z");
    assert_eq!(check(Some(&s), &rules, &Busy::default(), 0, b), Ok(()));
}

#[test]
fn invalid_schedules_are_refused() {
    let good = || ScheduleSpec {
        timezone: "Europe/Berlin".into(),
        weekly: Default::default(),
        exceptions: Vec::new(),
    };
    assert!(Schedule::new(good()).is_ok());
    let mut s = good();
    s.timezone = "Mars/Olympus_Mons".into();
    assert_eq!(Schedule::new(s).unwrap_err().field, "timezone");
    let mut s = good();
    s.weekly[1] = vec![LocalRange::hm(9, 0, 12, 0), LocalRange::hm(11, 0, 13, 0)];
    assert_eq!(Schedule::new(s).unwrap_err().field, "weekly[1]");
    let mut s = good();
    s.weekly[3] = vec![LocalRange::hm(12, 0, 12, 0)];
    assert_eq!(Schedule::new(s).unwrap_err().field, "weekly[3][0]");
    let mut s = good();
    s.weekly[3] = vec![LocalRange::hm(12, 0, 24, 1)];
    assert_eq!(Schedule::new(s).unwrap_err().field, "weekly[3][0]");
    for date in [
        LocalDate::new(2026, 2, 29),
        LocalDate::new(2026, 13, 1),
        LocalDate::new(1800, 1, 1),
        LocalDate::new(2026, 0, 1),
    ] {
        let mut s = good();
        s.exceptions.push(DateException {
            date,
            hours: vec![],
        });
        assert_eq!(
            Schedule::new(s).unwrap_err().field,
            "exceptions[0].date",
            "{date:?}"
        );
    }
    // Touching ranges are fine.
    let mut s = good();
    s.weekly[1] = vec![LocalRange::hm(9, 0, 12, 0), LocalRange::hm(12, 0, 13, 0)];
    assert!(Schedule::new(s).is_ok());
}

#[test]
fn outside_the_supported_years_a_schedule_is_closed() {
    let s = every_day("UTC", &[LocalRange::hm(0, 0, 24, 0)]);
    assert_eq!(
        s.open_intervals(Interval::new(SUPPORTED.end, SUPPORTED.end + HOUR)),
        vec![]
    );
    assert_eq!(
        s.open_intervals(Interval::new(SUPPORTED.end - HOUR, SUPPORTED.end + HOUR)),
        vec![Interval::new(SUPPORTED.end - HOUR, SUPPORTED.end)]
    );
}

// ---------- daylight saving, on real zones ----------

#[test]
fn berlin_spring_forward_never_offers_a_skipped_time() {
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00Z.
    let s = every_day("Europe/Berlin", &[LocalRange::hm(1, 0, 4, 0)]);
    let day = ("2026-03-28T22:00:00Z", "2026-03-29T22:00:00Z");
    assert_eq!(
        open_on(&s, day.0, day.1),
        vec![iv("2026-03-29T00:00:00Z", "2026-03-29T02:00:00Z")]
    );
    let got = slots(&s, iv(day.0, day.1), STEP);
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|at| wall("Europe/Berlin", *at).0 != 2));
    // Starting in the gap: opens at the jump. Ending in it: closes at the
    // jump. Wholly inside it: nothing that day.
    let starts_in_gap = every_day("Europe/Berlin", &[LocalRange::hm(2, 30, 5, 0)]);
    assert_eq!(
        open_on(&starts_in_gap, day.0, day.1),
        vec![iv("2026-03-29T01:00:00Z", "2026-03-29T03:00:00Z")]
    );
    let ends_in_gap = every_day("Europe/Berlin", &[LocalRange::hm(0, 0, 2, 30)]);
    assert_eq!(
        open_on(&ends_in_gap, day.0, day.1),
        vec![iv("2026-03-28T23:00:00Z", "2026-03-29T01:00:00Z")]
    );
    let in_gap = every_day("Europe/Berlin", &[LocalRange::hm(2, 0, 2, 45)]);
    assert_eq!(open_on(&in_gap, day.0, day.1), vec![]);
    assert_eq!(
        open_on(&in_gap, "2026-03-29T22:00:00Z", "2026-03-30T22:00:00Z"),
        vec![iv("2026-03-30T00:00:00Z", "2026-03-30T00:45:00Z")]
    );
}

#[test]
fn berlin_fall_back_offers_each_instant_once_and_loses_nothing() {
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:00 to
    // 03:00 happens twice.
    let s = every_day("Europe/Berlin", &[LocalRange::hm(1, 0, 4, 0)]);
    let day = ("2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z");
    // Opens at 01:00 CEST, closes at 04:00 CET: four real hours.
    assert_eq!(
        open_on(&s, day.0, day.1),
        vec![iv("2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z")]
    );
    let got = slots(&s, iv(day.0, day.1), STEP);
    assert_eq!(got.len(), 16);
    assert_sorted_unique(&got);
    // Every wall time of the range is offered; those of the repeated hour
    // at both of their instants (different instants, each once).
    let two_fifteen: Vec<Millis> = got
        .iter()
        .copied()
        .filter(|at| wall("Europe/Berlin", *at) == (2, 15))
        .collect();
    assert_eq!(
        two_fifteen,
        vec![utc("2026-10-25T00:15:00Z"), utc("2026-10-25T01:15:00Z")]
    );
    // Ending inside the repetition: closes at the first occurrence.
    let ends_in_fold = every_day("Europe/Berlin", &[LocalRange::hm(0, 0, 2, 30)]);
    assert_eq!(
        open_on(&ends_in_fold, day.0, day.1),
        vec![iv("2026-10-24T22:00:00Z", "2026-10-25T00:30:00Z")]
    );
    // Starting inside it: opens at the first occurrence, stays open.
    let starts_in_fold = every_day("Europe/Berlin", &[LocalRange::hm(2, 30, 5, 0)]);
    assert_eq!(
        open_on(&starts_in_fold, day.0, day.1),
        vec![iv("2026-10-25T00:30:00Z", "2026-10-25T04:00:00Z")]
    );
}

#[test]
fn new_york_both_transitions() {
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00Z.
    let s = every_day("America/New_York", &[LocalRange::hm(1, 0, 3, 30)]);
    assert_eq!(
        open_on(&s, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
        vec![iv("2026-03-08T06:00:00Z", "2026-03-08T07:30:00Z")]
    );
    let in_gap = every_day("America/New_York", &[LocalRange::hm(2, 0, 2, 30)]);
    assert_eq!(
        open_on(&in_gap, "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"),
        vec![]
    );
    // 2026-11-01: 02:00 EDT falls back to 01:00 EST at 06:00Z.
    let day = ("2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z");
    let spans = every_day("America/New_York", &[LocalRange::hm(1, 0, 2, 0)]);
    assert_eq!(
        open_on(&spans, day.0, day.1),
        vec![iv("2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z")]
    );
    let ends_in_fold = every_day("America/New_York", &[LocalRange::hm(0, 0, 1, 30)]);
    assert_eq!(
        open_on(&ends_in_fold, day.0, day.1),
        vec![iv("2026-11-01T04:00:00Z", "2026-11-01T05:30:00Z")]
    );
    let starts_in_fold = every_day("America/New_York", &[LocalRange::hm(1, 30, 3, 0)]);
    assert_eq!(
        open_on(&starts_in_fold, day.0, day.1),
        vec![iv("2026-11-01T05:30:00Z", "2026-11-01T08:00:00Z")]
    );
    let got = slots(&spans, iv(day.0, day.1), 30 * MINUTE);
    assert_eq!(
        got,
        vec![
            utc("2026-11-01T05:00:00Z"),
            utc("2026-11-01T05:15:00Z"),
            utc("2026-11-01T05:30:00Z"),
            utc("2026-11-01T05:45:00Z"),
            utc("2026-11-01T06:00:00Z"),
            utc("2026-11-01T06:15:00Z"),
            utc("2026-11-01T06:30:00Z"),
        ]
    );
}

#[test]
fn lord_howe_half_hour_shifts() {
    let tz = "Australia/Lord_Howe";
    // 2026-04-05: 02:00 (+11) falls back to 01:30 (+10:30) at 15:00Z on the
    // 4th; 01:30 to 02:00 happens twice.
    let s = every_day(tz, &[LocalRange::hm(1, 0, 3, 0)]);
    let day = ("2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z");
    assert_eq!(
        open_on(&s, day.0, day.1),
        vec![iv("2026-04-04T14:00:00Z", "2026-04-04T16:30:00Z")]
    );
    let got = slots(&s, iv(day.0, day.1), STEP);
    assert_eq!(got.len(), 10);
    assert_sorted_unique(&got);
    let ends_in_fold = every_day(tz, &[LocalRange::hm(0, 0, 1, 45)]);
    assert_eq!(
        open_on(&ends_in_fold, day.0, day.1),
        vec![iv("2026-04-04T13:00:00Z", "2026-04-04T14:45:00Z")]
    );
    // 2026-10-04: 02:00 (+10:30) jumps to 02:30 (+11) at 15:30Z on the 3rd.
    let day = ("2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z");
    assert_eq!(
        open_on(&s, day.0, day.1),
        vec![iv("2026-10-03T14:30:00Z", "2026-10-03T16:00:00Z")]
    );
    let got = slots(&s, iv(day.0, day.1), STEP);
    assert_eq!(got.len(), 6);
    assert!(got.iter().all(|at| {
        let (h, m) = wall(tz, *at);
        !(h == 2 && m < 30)
    }));
    let in_gap = every_day(tz, &[LocalRange::hm(2, 0, 2, 30)]);
    assert_eq!(open_on(&in_gap, day.0, day.1), vec![]);
    let starts_in_gap = every_day(tz, &[LocalRange::hm(2, 15, 4, 0)]);
    assert_eq!(
        open_on(&starts_in_gap, day.0, day.1),
        vec![iv("2026-10-03T15:30:00Z", "2026-10-03T17:00:00Z")]
    );
}

// ---------- rules ----------

const NOW: &str = "2026-06-01T08:00:00Z";

fn at(h: u32, m: u32) -> Millis {
    utc(NOW) + Millis::from(h) * HOUR + Millis::from(m) * MINUTE - 8 * HOUR
}

fn nine_to_five() -> Schedule {
    every_day("UTC", &[LocalRange::hm(9, 0, 17, 0)])
}

#[test]
fn rules_default_to_nothing_and_validate_their_limits() {
    let r = BookingRules::default();
    assert_eq!(r.validate(), Ok(()));
    assert_eq!(r.buffered(Interval::new(5, 9)), Interval::new(5, 9));
    assert_eq!(r.earliest_start(7), 7);
    assert_eq!(r.latest_start(7), None);
    let bad = BookingRules {
        buffer_after_minutes: MAX_BUFFER_MINUTES + 1,
        ..r
    };
    assert_eq!(bad.validate().unwrap_err().field, "buffer_after_minutes");
    let bad = BookingRules {
        min_notice_minutes: 120,
        max_horizon_minutes: Some(60),
        ..r
    };
    assert_eq!(bad.validate().unwrap_err().field, "max_horizon_minutes");
}

#[test]
fn buffers_keep_bookings_apart_without_changing_them() {
    let rules = BookingRules {
        buffer_before_minutes: 15,
        buffer_after_minutes: 30,
        ..Default::default()
    };
    let s = nine_to_five();
    let existing = Interval::new(at(11, 0), at(12, 0));
    let busy = Busy::buffered(&rules, [existing]);
    assert_eq!(busy.spans(), &[Interval::new(at(10, 45), at(12, 30))]);
    let now = utc(NOW);
    // The booking's own interval is unchanged: a booking may end at closing
    // time even though its after-buffer runs past it.
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(16, 0), at(17, 0))
        ),
        Ok(())
    );
    // Right after the existing booking: inside its after-buffer.
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(12, 0), at(12, 30))
        ),
        Err(Refusal::Unavailable {
            busy: Interval::new(at(10, 45), at(12, 30)),
            clear_from: at(12, 45),
        })
    );
    // Its own before-buffer reaches into the existing after-buffer too.
    assert!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(12, 30), at(13, 0))
        )
        .is_err()
    );
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(12, 45), at(13, 0))
        ),
        Ok(())
    );
    // Before it: the new booking's after-buffer must end by 10:45.
    assert!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(10, 0), at(10, 30))
        )
        .is_err()
    );
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(9, 45), at(10, 15))
        ),
        Ok(())
    );
    let got = free_slots(
        Some(&s),
        &rules,
        &busy,
        now,
        Interval::new(at(9, 0), at(17, 0)),
        30 * MINUTE,
        STEP,
    );
    let expect: Vec<Millis> = (0..32)
        .map(|i| at(9, 0) + i * STEP)
        .filter(|s| *s <= at(9, 45) || *s >= at(12, 45))
        .filter(|s| *s + 30 * MINUTE <= at(17, 0))
        .collect();
    assert_eq!(got, expect);
}

#[test]
fn minimum_notice_names_the_earliest_start() {
    let rules = BookingRules {
        min_notice_minutes: 120,
        ..Default::default()
    };
    let now = utc(NOW);
    let busy = Busy::default();
    assert_eq!(
        check(
            None,
            &rules,
            &busy,
            now,
            Interval::new(at(9, 45), at(10, 45))
        ),
        Err(Refusal::TooSoon {
            earliest_start: at(10, 0)
        })
    );
    assert_eq!(
        check(
            None,
            &rules,
            &busy,
            now,
            Interval::new(at(10, 0), at(11, 0))
        ),
        Ok(())
    );
    // A start in the past is too soon, even with no notice.
    assert_eq!(
        check(
            None,
            &BookingRules::default(),
            &busy,
            now,
            Interval::new(now - STEP, now + HOUR)
        ),
        Err(Refusal::TooSoon {
            earliest_start: now
        })
    );
}

#[test]
fn maximum_horizon_names_the_latest_start() {
    let rules = BookingRules {
        max_horizon_minutes: Some(24 * 60),
        ..Default::default()
    };
    let now = utc(NOW);
    let latest = now + 24 * HOUR;
    let busy = Busy::default();
    assert_eq!(
        check(
            None,
            &rules,
            &busy,
            now,
            Interval::new(latest, latest + HOUR)
        ),
        Ok(())
    );
    assert_eq!(
        check(
            None,
            &rules,
            &busy,
            now,
            Interval::new(latest + STEP, latest + HOUR)
        ),
        Err(Refusal::TooFar {
            latest_start: latest
        })
    );
    let got = free_slots(
        None,
        &rules,
        &busy,
        now,
        Interval::new(now, now + 48 * HOUR),
        HOUR,
        STEP,
    );
    assert_eq!(got.first(), Some(&now));
    assert_eq!(got.last(), Some(&latest));
    assert_eq!(got.len(), 97);
}

#[test]
fn outside_hours_names_the_nearest_opening() {
    let s = nine_to_five();
    let rules = BookingRules::default();
    let busy = Busy::default();
    let now = utc(NOW) - 24 * HOUR;
    let today = Interval::new(at(9, 0), at(17, 0));
    // Runs past closing: the day's own opening is nearest.
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(16, 30), at(17, 30))
        ),
        Err(Refusal::OutsideHours {
            nearest: Some(today)
        })
    );
    // Early morning: today's opening is nearer than yesterday's...
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(5, 0), at(6, 0))
        ),
        Err(Refusal::OutsideHours {
            nearest: Some(today)
        })
    );
    // ... and after midnight, tomorrow's is nearer than today's.
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(25, 0), at(26, 0))
        ),
        Err(Refusal::OutsideHours {
            nearest: Some(Interval::new(today.start + DAY_MS, today.end + DAY_MS))
        })
    );
    // Longer than any opening: none.
    assert_eq!(
        check(
            Some(&s),
            &rules,
            &busy,
            now,
            Interval::new(at(9, 0), at(18, 0))
        ),
        Err(Refusal::OutsideHours { nearest: None })
    );
}

const DAY_MS: Millis = 24 * HOUR;

#[test]
fn modify_notice_refuses_changes_close_to_the_start() {
    let rules = BookingRules {
        modify_notice_minutes: 60,
        ..Default::default()
    };
    let start = at(12, 0);
    assert_eq!(rules.check_modify(start, at(10, 59)), Ok(()));
    assert_eq!(
        rules.check_modify(start, at(11, 0)),
        Err(Refusal::TooLateToModify {
            deadline: at(11, 0)
        })
    );
    // Zero notice is the existing rule: not at or after the start.
    let none = BookingRules::default();
    assert_eq!(none.check_modify(start, start - 1), Ok(()));
    assert!(none.check_modify(start, start).is_err());
}

#[test]
fn rules_are_checked_in_order() {
    let s = nine_to_five();
    let rules = BookingRules {
        min_notice_minutes: 60,
        max_horizon_minutes: Some(60 * 24),
        ..Default::default()
    };
    let now = utc(NOW);
    let busy = Busy::new([Interval::new(at(8, 0), at(23, 0))]);
    let check = |a, b| check(Some(&s), &rules, &busy, now, Interval::new(a, b));
    assert_eq!(check(at(10, 0), at(10, 0)), Err(Refusal::EmptyInterval));
    assert!(matches!(
        check(at(8, 30), at(20, 0)),
        Err(Refusal::TooSoon { .. })
    ));
    assert!(matches!(
        check(at(8, 0) + 2 * DAY_MS, at(20, 0) + 2 * DAY_MS),
        Err(Refusal::TooFar { .. })
    ));
    assert!(matches!(
        check(at(9, 0), at(20, 0)),
        Err(Refusal::OutsideHours { .. })
    ));
    assert!(matches!(
        check(at(9, 0), at(10, 0)),
        Err(Refusal::Unavailable { .. })
    ));
}

#[test]
fn busy_merges_and_finds_conflicts() {
    let busy = Busy::new([
        Interval::new(30, 40),
        Interval::new(0, 10),
        Interval::new(10, 20),
        Interval::new(35, 50),
        Interval::new(60, 60),
    ]);
    assert_eq!(busy.spans(), &[Interval::new(0, 20), Interval::new(30, 50)]);
    assert_eq!(busy.conflict(Interval::new(20, 30)), None);
    assert_eq!(
        busy.conflict(Interval::new(19, 30)),
        Some(Interval::new(0, 20))
    );
    assert_eq!(
        busy.conflict(Interval::new(49, 70)),
        Some(Interval::new(30, 50))
    );
    assert_eq!(busy.conflict(Interval::new(50, 70)), None);
}

#[test]
fn free_slots_over_a_month_with_ten_thousand_bookings() {
    // Open 07:00 to 22:00 in Berlin (closed on Sundays), 10k bookings of 15
    // minutes at the top of two hours in three from July on (past the end
    // of October), with buffers.
    let mut weekly: [Vec<LocalRange>; 7] =
        std::array::from_fn(|_| vec![LocalRange::hm(7, 0, 22, 0)]);
    weekly[6].clear();
    let s = Schedule::new(ScheduleSpec {
        timezone: "Europe/Berlin".into(),
        weekly,
        exceptions: vec![],
    })
    .unwrap();
    let rules = BookingRules {
        buffer_before_minutes: 10,
        buffer_after_minutes: 5,
        ..Default::default()
    };
    let month = iv("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
    let from = utc("2026-07-01T00:00:00Z");
    let bookings: Vec<Interval> = (0..15_000)
        .filter(|i| i % 3 != 0)
        .map(|i| from + i * HOUR)
        .map(|start| Interval::new(start, start + STEP))
        .collect();
    assert_eq!(bookings.len(), 10_000);
    assert!(bookings.last().unwrap().start > month.end);
    let busy = Busy::buffered(&rules, bookings);
    let now = month.start - DAY_MS;
    let got = free_slots(Some(&s), &rules, &busy, now, month, 30 * MINUTE, STEP);
    assert_sorted_unique(&got);
    // Against the per-candidate check, on every grid start of the month.
    let expect: Vec<Millis> = (month.start..month.end)
        .step_by(STEP as usize)
        .filter(|at| {
            check(
                Some(&s),
                &rules,
                &busy,
                now,
                Interval::new(*at, at + 30 * MINUTE),
            )
            .is_ok()
        })
        .collect();
    assert_eq!(got, expect);
    assert!(!got.is_empty());
}

#[test]
fn extreme_instants_neither_panic_nor_open() {
    let s = nine_to_five();
    let rules = BookingRules {
        buffer_before_minutes: 60,
        buffer_after_minutes: 60,
        min_notice_minutes: 60,
        max_horizon_minutes: Some(120),
        modify_notice_minutes: 60,
    };
    let busy = Busy::buffered(&rules, [Interval::new(Millis::MIN, Millis::MAX)]);
    for now in [Millis::MIN, -1, 0, Millis::MAX] {
        for iv in [
            Interval::new(Millis::MIN, Millis::MAX),
            Interval::new(Millis::MIN, Millis::MIN + HOUR),
            Interval::new(Millis::MAX - HOUR, Millis::MAX),
        ] {
            for schedule in [None, Some(&s)] {
                let _ = check(schedule, &rules, &busy, now, iv);
                let _ = check(schedule, &rules, &Busy::default(), now, iv);
            }
            let w = Interval::new(iv.start, iv.start.saturating_add(DAY_MS));
            assert_eq!(
                free_slots(Some(&s), &rules, &busy, now, w, HOUR, STEP),
                Vec::<Millis>::new()
            );
            let _ = free_slots(Some(&s), &rules, &Busy::default(), now, w, HOUR, STEP);
            let _ = rules.check_modify(iv.start, now);
        }
    }
    // Degenerate searches find nothing.
    let w = iv("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
    let none = Busy::default();
    let r = BookingRules::default();
    assert!(free_slots(None, &r, &none, 0, w, 0, STEP).is_empty());
    assert!(free_slots(None, &r, &none, 0, w, HOUR, 0).is_empty());
    assert!(
        free_slots(
            None,
            &r,
            &none,
            0,
            Interval::new(w.end, w.start),
            HOUR,
            STEP
        )
        .is_empty()
    );
}

#[test]
fn the_declared_forms_round_trip_through_the_store_encoding() {
    let spec = ScheduleSpec {
        timezone: "Australia/Lord_Howe".into(),
        weekly: std::array::from_fn(|d| vec![LocalRange::hm(8, d as u16, 12, 0)]),
        exceptions: vec![DateException {
            date: LocalDate::new(2026, 4, 5),
            hours: vec![],
        }],
    };
    let bytes = postcard::to_allocvec(&spec).unwrap();
    assert_eq!(postcard::from_bytes::<ScheduleSpec>(&bytes).unwrap(), spec);
    let rules = BookingRules {
        buffer_before_minutes: 5,
        buffer_after_minutes: 10,
        min_notice_minutes: 60,
        max_horizon_minutes: Some(43_200),
        modify_notice_minutes: 1440,
    };
    let bytes = postcard::to_allocvec(&rules).unwrap();
    assert_eq!(postcard::from_bytes::<BookingRules>(&bytes).unwrap(), rules);
    assert_eq!(Schedule::new(spec.clone()).unwrap().spec(), &spec);
}

#[test]
fn instants_read_as_local_wall_clock_with_the_offset_of_that_instant() {
    // 2026-03-29: Berlin goes from +01:00 to +02:00 at 01:00Z.
    let before = 1_774_746_000_000 - 3_600_000; // 00:00Z
    assert_eq!(
        local_rfc3339("Europe/Berlin", before).as_deref(),
        Some("2026-03-29T01:00:00+01:00")
    );
    assert_eq!(
        local_rfc3339("Europe/Berlin", before + 2 * 3_600_000).as_deref(),
        Some("2026-03-29T04:00:00+02:00")
    );
    assert_eq!(
        local_rfc3339("UTC", 1).as_deref(),
        Some("1970-01-01T00:00:00.001+00:00")
    );
    assert_eq!(local_rfc3339("Mars/Olympus", 0), None);
}

/// What `local_rfc3339` answered before [`WallClock`]: a zone lookup and
/// `strftime` per instant.
fn local_by_strftime(timezone: &str, at: Millis) -> Option<String> {
    if !(SUPPORTED.start..SUPPORTED.end).contains(&at) {
        return None;
    }
    let tz = jiff::tz::TimeZoneDatabase::bundled().get(timezone).ok()?;
    let zoned = jiff::Timestamp::from_millisecond(at).ok()?.to_zoned(tz);
    let format = if at.rem_euclid(1000) == 0 {
        "%Y-%m-%dT%H:%M:%S%:z"
    } else {
        "%Y-%m-%dT%H:%M:%S%.3f%:z"
    };
    Some(zoned.strftime(format).to_string())
}

#[test]
fn a_wall_clock_reads_every_instant_as_strftime_does() {
    let zones = [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "America/St_Johns",
        "Pacific/Chatham",
        "Europe/Amsterdam",
        "America/Santiago",
        "Africa/Monrovia",
    ];
    // A deterministic walk over the supported range, its ends, and each
    // zone's transitions of 2026 (minutes either side).
    let mut instants = vec![SUPPORTED.start, SUPPORTED.end - 1, 0, 1, -1, 999, 1_001];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let span = (SUPPORTED.end - SUPPORTED.start) as u64;
    for _ in 0..3_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        instants.push(SUPPORTED.start + (x % span) as i64);
    }
    for zone in zones {
        let clock = WallClock::new(zone).expect(zone);
        let mut probes = instants.clone();
        let tz = jiff::tz::TimeZoneDatabase::bundled().get(zone).unwrap();
        let from = jiff::Timestamp::from_millisecond(1_767_225_600_000).unwrap();
        for t in tz.following(from).take(4) {
            let at = t.timestamp().as_millisecond();
            probes.extend([at - 60_000, at - 1, at, at + 1, at + 60_000]);
        }
        for at in probes {
            assert_eq!(
                clock.rfc3339(at),
                local_by_strftime(zone, at),
                "{zone} {at}"
            );
        }
        assert_eq!(clock.rfc3339(SUPPORTED.end), None);
    }
    assert!(WallClock::new("Mars/Olympus").is_none());
}
