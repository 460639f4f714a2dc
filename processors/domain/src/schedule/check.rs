//! The decision for one requested interval, and the search for free starts.

use super::hours::{open_intervals, push_merged};
use super::model::Schedule;
use super::rules::BookingRules;
use crate::time::{DAY, Interval, Millis};

/// How far around a refused request [`Refusal::OutsideHours`] looks for the
/// nearest opening: two weeks either side.
pub const NEAREST_LOOKAROUND: Millis = 14 * DAY;

/// Why a requested interval is refused, with what would pass. One variant
/// per rule; [`check`] reports the first broken one in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The interval ends at or before its start.
    #[error("end must be after start")]
    EmptyInterval,
    /// The start is sooner than the minimum notice allows.
    #[error("too soon: the earliest allowed start is {earliest_start}")]
    TooSoon {
        /// `now + min_notice`.
        earliest_start: Millis,
    },
    /// The start is later than the booking horizon allows.
    #[error("too far ahead: the latest allowed start is {latest_start}")]
    TooFar {
        /// `now + max_horizon`.
        latest_start: Millis,
    },
    /// The interval is not wholly inside one opening of the schedule.
    #[error("outside opening hours")]
    OutsideHours {
        /// The opening nearest to the requested start that is long enough
        /// for the request, within two weeks either side, if any.
        nearest: Option<Interval>,
    },
    /// The buffered interval overlaps another active booking's buffered
    /// interval (the booking itself or its buffers).
    #[error("the interval or its buffers overlap another booking")]
    Unavailable {
        /// The busy span it hits (touching busy spans are merged).
        busy: Interval,
        /// The earliest start that clears this span: `busy.end + buffer_before`.
        clear_from: Millis,
    },
    /// Too close to the start to cancel or reschedule.
    #[error("too late to change: the deadline was {deadline}")]
    TooLateToModify {
        /// `start - modify_notice`: changes are refused from this instant.
        deadline: Millis,
    },
}

/// The busy time of the other active bookings, buffered: sorted, disjoint,
/// touching spans merged, so a conflict test is one binary search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Busy {
    spans: Vec<Interval>,
}

impl Busy {
    /// From already buffered intervals, in any order (they may overlap).
    pub fn new(intervals: impl IntoIterator<Item = Interval>) -> Self {
        let mut all: Vec<Interval> = intervals.into_iter().filter(|i| !i.is_empty()).collect();
        all.sort_unstable();
        let mut spans = Vec::with_capacity(all.len());
        for iv in all {
            push_merged(&mut spans, iv);
        }
        Self { spans }
    }

    /// From bookings' own intervals, buffered by `rules`.
    pub fn buffered(rules: &BookingRules, bookings: impl IntoIterator<Item = Interval>) -> Self {
        Self::new(bookings.into_iter().map(|iv| rules.buffered(iv)))
    }

    /// The sorted, disjoint spans.
    pub fn spans(&self) -> &[Interval] {
        &self.spans
    }

    /// The span `iv` overlaps, if any. `O(log n)`.
    pub fn conflict(&self, iv: Interval) -> Option<Interval> {
        // Spans are disjoint and sorted, so ends are sorted too: the first
        // span ending after iv's start is the only candidate.
        let i = self.spans.partition_point(|s| s.end <= iv.start);
        self.spans.get(i).copied().filter(|s| s.overlaps(&iv))
    }
}

/// Decides whether `iv` may be booked at `now`: the first broken rule, in
/// the order empty, minimum notice, horizon, opening hours, conflicts with
/// `busy` (the other active bookings, buffered; buffers apply to `iv`
/// too). `schedule: None` is always open. Alignment and length limits stay
/// with the resource's own validation.
pub fn check(
    schedule: Option<&Schedule>,
    rules: &BookingRules,
    busy: &Busy,
    now: Millis,
    iv: Interval,
) -> Result<(), Refusal> {
    if iv.is_empty() {
        return Err(Refusal::EmptyInterval);
    }
    let earliest_start = rules.earliest_start(now);
    if iv.start < earliest_start {
        return Err(Refusal::TooSoon { earliest_start });
    }
    if let Some(latest_start) = rules.latest_start(now).filter(|l| iv.start > *l) {
        return Err(Refusal::TooFar { latest_start });
    }
    if open_intervals(schedule, iv).as_slice() != [iv] {
        return Err(Refusal::OutsideHours {
            nearest: nearest_opening(schedule, iv),
        });
    }
    if let Some(span) = busy.conflict(rules.buffered(iv)) {
        return Err(Refusal::Unavailable {
            busy: span,
            clear_from: span.end.saturating_add(rules.buffer_before()),
        });
    }
    Ok(())
}

/// The opening long enough for `iv` whose feasible starts come nearest to
/// `iv.start` (ties: the earlier), within [`NEAREST_LOOKAROUND`].
fn nearest_opening(schedule: Option<&Schedule>, iv: Interval) -> Option<Interval> {
    let around = Interval::new(
        iv.start.saturating_sub(NEAREST_LOOKAROUND),
        iv.end.saturating_add(NEAREST_LOOKAROUND),
    );
    let len = iv.end.saturating_sub(iv.start);
    open_intervals(schedule, around)
        .into_iter()
        .filter(|o| o.len() >= len)
        .min_by_key(|o| {
            let last_start = o.end - len;
            if iv.start < o.start {
                o.start - iv.start
            } else if iv.start > last_start {
                iv.start - last_start
            } else {
                0
            }
        })
}

/// The smallest multiple of `step` at or after `at`.
fn ceil_to(at: Millis, step: Millis) -> Option<Millis> {
    let rem = at.rem_euclid(step);
    if rem == 0 {
        Some(at)
    } else {
        at.checked_add(step - rem)
    }
}

/// Every start `s` on the grid of multiples of `step` since the epoch, with
/// `window.start <= s < window.end`, such that `check` accepts
/// `[s, s + duration)` (which may end after the window). Sorted, each once.
///
/// One pass: the feasible starts of each opening (`[o.start, o.end -
/// duration]`, cut to notice and horizon) minus the starts each busy span
/// forbids (`(b.start - duration - buffer_after, b.end + buffer_before)`),
/// both sorted, so the cost is the openings plus the busy spans in the
/// window plus the answer, never a check per candidate. Nothing for a
/// non-positive `duration` or `step`.
pub fn free_slots(
    schedule: Option<&Schedule>,
    rules: &BookingRules,
    busy: &Busy,
    now: Millis,
    window: Interval,
    duration: Millis,
    step: Millis,
) -> Vec<Millis> {
    let mut out = Vec::new();
    if duration <= 0 || step <= 0 {
        return out;
    }
    // Starts in [lo, hi).
    let lo = window.start.max(rules.earliest_start(now));
    let hi = match rules.latest_start(now) {
        Some(latest) => window.end.min(latest.saturating_add(1)),
        None => window.end,
    };
    if lo >= hi {
        return out;
    }
    let reach = Interval::new(lo, hi.saturating_add(duration - 1));
    let allowed = open_intervals(schedule, reach)
        .into_iter()
        .filter(|o| o.len() >= duration)
        .map(|o| Interval::new(o.start, (o.end - duration + 1).min(hi)))
        .filter(|a| !a.is_empty());
    let (before, after) = (rules.buffer_before(), rules.buffer_after());
    let forbid = |b: &Interval| {
        Interval::new(
            b.start
                .saturating_sub(duration)
                .saturating_sub(after)
                .saturating_add(1),
            b.end.saturating_add(before),
        )
    };
    let spans = busy.spans();
    // Forbidden ranges are sorted by start and by end, like the spans.
    let mut first = spans.partition_point(|b| forbid(b).end <= lo);
    for a in allowed {
        while first < spans.len() && forbid(&spans[first]).end <= a.start {
            first += 1;
        }
        let mut from = a.start;
        for b in &spans[first..] {
            let f = forbid(b);
            if f.start >= a.end {
                break;
            }
            emit(&mut out, Interval::new(from, f.start.min(a.end)), step);
            from = from.max(f.end);
            if from >= a.end {
                break;
            }
        }
        emit(&mut out, Interval::new(from, a.end), step);
    }
    out
}

/// Appends the grid points of `[from, to)`.
fn emit(out: &mut Vec<Millis>, iv: Interval, step: Millis) {
    let Some(mut at) = ceil_to(iv.start, step) else {
        return;
    };
    while at < iv.end {
        out.push(at);
        match at.checked_add(step) {
            Some(next) => at = next,
            None => break,
        }
    }
}
