//! Schedules, rules, `check` and `free_slots` against a brute-force
//! reference built minute by minute from the schedule's definition: the
//! wall clock of every UTC minute around the window, and for each local
//! range the first minute the clock reads its start and its end. The
//! reference never resolves a local time to an instant; it only reads the
//! clock, so it shares nothing with the code under test but the tz data.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use proptest::prelude::*;
use slotstream_domain::Millis;
use slotstream_domain::schedule::{
    BookingRules, Busy, DateException, LocalDate, LocalRange, NEAREST_LOOKAROUND, Refusal,
    Schedule, ScheduleSpec, check, free_slots, open_intervals,
};
use slotstream_domain::time::{DAY, HOUR, Interval, MINUTE};

const ZONES: [&str; 8] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    // Transitions at midnight: 24:00 jumps to 01:00, and 24:00 falls back
    // to 23:00.
    "America/Santiago",
    "America/St_Johns",
    "Asia/Kolkata",
    "Europe/London",
];

/// Days around which windows are drawn: 2026's transitions in these zones,
/// and two ordinary days.
const ANCHORS: [(i16, i8, i8); 10] = [
    (2026, 3, 8),
    (2026, 3, 29),
    (2026, 4, 5),
    (2026, 9, 6),
    (2026, 10, 4),
    (2026, 10, 25),
    (2026, 11, 1),
    (2026, 1, 14),
    (2026, 7, 2),
    (2026, 4, 4),
];

#[derive(Clone, Debug)]
struct Case {
    spec: Option<ScheduleSpec>,
    rules: BookingRules,
    /// Bookings' own intervals; `busy` is them buffered by `rules`.
    bookings: Vec<Interval>,
    now: Millis,
    window: Interval,
    duration: Millis,
    step: Millis,
    /// Extra intervals to `check`, not on the grid.
    probes: Vec<Interval>,
}

/// Disjoint ranges of one day: `2k` distinct quarter-hours, paired.
fn day_hours() -> impl Strategy<Value = Vec<LocalRange>> {
    prop_oneof![
        3 => prop::collection::btree_set(0u16..=96, 0..=6),
        1 => Just([0u16, 96].into_iter().collect()),
    ]
    .prop_map(|cuts| {
        let cuts: Vec<u16> = cuts.into_iter().map(|q| q * 15).collect();
        cuts.chunks_exact(2)
            .map(|p| LocalRange {
                start_minute: p[0],
                end_minute: p[1],
            })
            .collect()
    })
}

fn case() -> impl Strategy<Value = Case> {
    let spec = (
        prop::sample::select(ZONES.to_vec()),
        prop::collection::vec(day_hours(), 7),
        prop::collection::btree_map(-2i64..=4, day_hours(), 0..=3),
    );
    let rules = (
        prop::sample::select(vec![0u32, 0, 5, 15, 30, 60]),
        prop::sample::select(vec![0u32, 0, 10, 15, 45]),
        prop::sample::select(vec![0u32, 0, 15, 60, 600, 1440]),
        prop::sample::select(vec![None, None, Some(60u32), Some(1440), Some(2880)]),
    );
    let frame = (
        prop::sample::select(ANCHORS.to_vec()),
        -36i64..=24,     // window start, hours from the anchor's midnight UTC
        0i64..4,         // ... plus quarter hours
        1i64..=72,       // window length, hours
        -2880i64..=1440, // now, minutes from the window's start
    );
    let load = (
        // Bookings, in 5-minute steps from the window's start: many near
        // it (the edge of the search), the rest anywhere around the window.
        prop::collection::vec((prop_oneof![-48i64..=48, -288i64..=1152], 1i64..=48), 0..24),
        prop::sample::select(vec![15i64, 15, 30, 45, 60, 90, 120, 240]),
        prop::sample::select(vec![15i64, 15, 15, 5, 30, 60]),
        prop::collection::vec((-96i64..=900, 1i64..=60), 0..24),
        prop::bool::weighted(0.9),
    );
    (spec, rules, frame, load).prop_map(
        |(
            (zone, weekly, exceptions),
            (before, after, notice, horizon),
            ((y, m, d), hours, quarters, len, now_min),
            (bookings, duration, step, probes, scheduled),
        )| {
            let anchor = Date::new(y, m, d).unwrap();
            let midnight = anchor
                .to_zoned(TimeZone::UTC)
                .unwrap()
                .timestamp()
                .as_millisecond();
            let start = midnight + hours * HOUR + quarters * 15 * MINUTE;
            let window = Interval::new(start, start + len * HOUR);
            let exceptions = exceptions
                .into_iter()
                .map(|(offset, hours)| {
                    let date = anchor.checked_add(jiff::Span::new().days(offset)).unwrap();
                    DateException {
                        date: LocalDate::new(date.year(), date.month() as u8, date.day() as u8),
                        hours,
                    }
                })
                .collect();
            let spec = ScheduleSpec {
                timezone: zone.to_string(),
                weekly: weekly.try_into().unwrap(),
                exceptions,
            };
            Case {
                spec: scheduled.then_some(spec),
                rules: BookingRules {
                    buffer_before_minutes: before,
                    buffer_after_minutes: after,
                    min_notice_minutes: notice,
                    max_horizon_minutes: horizon.map(|h| h.max(notice)),
                    modify_notice_minutes: 0,
                },
                bookings: bookings
                    .into_iter()
                    .map(|(at, fives)| {
                        let s = start + at * 5 * MINUTE;
                        Interval::new(s, s + fives * 5 * MINUTE)
                    })
                    .collect(),
                now: start + now_min * MINUTE,
                window,
                duration: duration * MINUTE,
                step: step * MINUTE,
                probes: probes
                    .into_iter()
                    .map(|(at, fives)| {
                        let s = start + at * 5 * MINUTE;
                        Interval::new(s, s + fives * 5 * MINUTE)
                    })
                    .collect(),
            }
        },
    )
}

// ---------- the reference ----------

/// Which minutes of `[from, from + len minutes)` are open, read off the
/// wall clock.
struct OpenMinutes {
    from: Millis,
    open: Vec<bool>,
}

impl OpenMinutes {
    fn build(spec: Option<&ScheduleSpec>, from: Millis, to: Millis) -> Self {
        let n = usize::try_from((to - from) / MINUTE).unwrap();
        let Some(spec) = spec else {
            return Self {
                from,
                open: vec![true; n],
            };
        };
        let tz = TimeZoneDatabase::bundled().get(&spec.timezone).unwrap();
        let walls: Vec<DateTime> = (0..n)
            .map(|i| {
                let at = Timestamp::from_millisecond(from + i as i64 * MINUTE).unwrap();
                tz.to_datetime(at)
            })
            .collect();
        // The clock's highest reading so far: the first minute it reads
        // `x` or later is the first minute this running maximum does.
        let mut high = walls.clone();
        for i in 1..n {
            high[i] = high[i].max(high[i - 1]);
        }
        let first_reading = |x: DateTime| high.partition_point(|w| *w < x);
        let mut open = vec![false; n];
        let mut date = walls[0].date().yesterday().unwrap();
        let last = walls[n - 1].date().tomorrow().unwrap();
        while date <= last {
            let hours = spec
                .exceptions
                .iter()
                .find(|e| {
                    (e.date.year, e.date.month, e.date.day)
                        == (date.year(), date.month() as u8, date.day() as u8)
                })
                .map(|e| &e.hours)
                .unwrap_or(&spec.weekly[date.weekday().to_monday_zero_offset() as usize]);
            for r in hours {
                let wall = |m: u16| {
                    let midnight = date.to_datetime(jiff::civil::Time::midnight());
                    midnight
                        .checked_add(jiff::Span::new().minutes(i64::from(m)))
                        .unwrap()
                };
                let (i, j) = (
                    first_reading(wall(r.start_minute)),
                    first_reading(wall(r.end_minute)),
                );
                for slot in open.iter_mut().take(j).skip(i) {
                    *slot = true;
                }
            }
            date = date.tomorrow().unwrap();
        }
        Self { from, open }
    }

    /// The maximal runs of open minutes.
    fn runs(&self) -> Vec<Interval> {
        let mut out: Vec<Interval> = Vec::new();
        for (i, open) in self.open.iter().enumerate() {
            let at = self.from + i as i64 * MINUTE;
            if !open {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.end == at => last.end = at + MINUTE,
                _ => out.push(Interval::new(at, at + MINUTE)),
            }
        }
        out
    }

    /// The run long enough for `iv` whose starts come nearest to
    /// `iv.start`, the earlier on a tie, within two weeks either side.
    fn nearest(runs: &[Interval], iv: Interval) -> Option<Interval> {
        let around = Interval::new(iv.start - NEAREST_LOOKAROUND, iv.end + NEAREST_LOOKAROUND);
        let len = iv.end - iv.start;
        let mut best: Option<(Millis, Interval)> = None;
        let within = runs
            .iter()
            .map(|r| Interval::new(r.start.max(around.start), r.end.min(around.end)))
            .filter(|r| r.end - r.start >= len);
        for run in within {
            let starts = (run.start, run.end - len);
            let distance = if iv.start < starts.0 {
                starts.0 - iv.start
            } else {
                (iv.start - starts.1).max(0)
            };
            if best.is_none_or(|(d, _)| distance < d) {
                best = Some((distance, run));
            }
        }
        best.map(|(_, run)| run)
    }

    fn all_open(&self, iv: Interval) -> bool {
        (iv.start..iv.end).step_by(MINUTE as usize).all(|at| {
            let i = usize::try_from((at - self.from) / MINUTE).unwrap();
            self.open[i]
        })
    }
}

/// What the reference decides: `Ok`, or the refused rule.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Ok,
    Empty,
    TooSoon(Millis),
    TooFar(Millis),
    OutsideHours,
    Unavailable,
}

fn reference(c: &Case, open: &OpenMinutes, iv: Interval) -> Verdict {
    let r = &c.rules;
    if iv.end <= iv.start {
        return Verdict::Empty;
    }
    let earliest = c.now + i64::from(r.min_notice_minutes) * MINUTE;
    if iv.start < earliest {
        return Verdict::TooSoon(earliest);
    }
    if let Some(h) = r.max_horizon_minutes {
        let latest = c.now + i64::from(h) * MINUTE;
        if iv.start > latest {
            return Verdict::TooFar(latest);
        }
    }
    if !open.all_open(iv) {
        return Verdict::OutsideHours;
    }
    let (before, after) = (
        i64::from(r.buffer_before_minutes) * MINUTE,
        i64::from(r.buffer_after_minutes) * MINUTE,
    );
    let mine = (iv.start - before, iv.end + after);
    let hit = c.bookings.iter().any(|b| {
        let theirs = (b.start - before, b.end + after);
        mine.0 < theirs.1 && theirs.0 < mine.1
    });
    if hit {
        Verdict::Unavailable
    } else {
        Verdict::Ok
    }
}

fn verdict(r: Result<(), Refusal>) -> Verdict {
    match r {
        Ok(()) => Verdict::Ok,
        Err(Refusal::EmptyInterval) => Verdict::Empty,
        Err(Refusal::TooSoon { earliest_start }) => Verdict::TooSoon(earliest_start),
        Err(Refusal::TooFar { latest_start }) => Verdict::TooFar(latest_start),
        Err(Refusal::OutsideHours { .. }) => Verdict::OutsideHours,
        Err(Refusal::Unavailable { .. }) => Verdict::Unavailable,
        Err(other) => panic!("check never refuses with {other:?}"),
    }
}

fn run(c: Case) -> Result<(), TestCaseError> {
    let schedule = c.spec.clone().map(|s| Schedule::new(s).unwrap());
    let busy = Busy::buffered(&c.rules, c.bookings.iter().copied());
    // Every interval asked about, and two weeks around it for the nearest
    // opening of a refusal.
    let asked = c.probes.iter().fold(
        Interval::new(c.window.start, c.window.end + c.duration),
        |all, p| Interval::new(all.start.min(p.start), all.end.max(p.end)),
    );
    let from = asked.start - 15 * DAY;
    let to = asked.end + 15 * DAY;
    let open = OpenMinutes::build(c.spec.as_ref(), from, to);
    let runs = open.runs();
    // The openings themselves, clipped to the window.
    let clipped: Vec<Interval> = runs
        .iter()
        .map(|r| Interval::new(r.start.max(c.window.start), r.end.min(c.window.end)))
        .filter(|r| r.start < r.end)
        .collect();
    prop_assert_eq!(open_intervals(schedule.as_ref(), c.window), clipped);
    let decide = |iv: Interval| check(schedule.as_ref(), &c.rules, &busy, c.now, iv);

    // `check` agrees with the reference on every grid start and the probes.
    let first = c.window.start + (c.step - c.window.start.rem_euclid(c.step)) % c.step;
    let grid: Vec<Millis> = (first..c.window.end).step_by(c.step as usize).collect();
    let mut expected = Vec::new();
    for &s in &grid {
        let iv = Interval::new(s, s + c.duration);
        let want = reference(&c, &open, iv);
        let got = decide(iv);
        if let Err(Refusal::Unavailable {
            busy: span,
            clear_from,
        }) = got
        {
            prop_assert!(busy.spans().contains(&span));
            prop_assert!(span.overlaps(&c.rules.buffered(iv)));
            prop_assert_eq!(
                clear_from,
                span.end + i64::from(c.rules.buffer_before_minutes) * MINUTE
            );
        }
        if let Err(Refusal::OutsideHours { nearest }) = got {
            prop_assert_eq!(
                nearest,
                OpenMinutes::nearest(&runs, iv),
                "nearest to {:?}",
                iv
            );
        }
        prop_assert_eq!(verdict(got), want.clone(), "start {}", s);
        if want == Verdict::Ok {
            expected.push(s);
        }
    }
    for &iv in &c.probes {
        let got = decide(iv);
        if let Err(Refusal::OutsideHours { nearest }) = got {
            prop_assert_eq!(
                nearest,
                OpenMinutes::nearest(&runs, iv),
                "nearest to {:?}",
                iv
            );
        }
        prop_assert_eq!(verdict(got), reference(&c, &open, iv), "probe {:?}", iv);
    }

    // `free_slots` is exactly the grid starts the reference accepts.
    let got = free_slots(
        schedule.as_ref(),
        &c.rules,
        &busy,
        c.now,
        c.window,
        c.duration,
        c.step,
    );
    prop_assert_eq!(got, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn check_and_free_slots_agree_with_a_minute_by_minute_reference(c in case()) {
        run(c)?;
    }
}
