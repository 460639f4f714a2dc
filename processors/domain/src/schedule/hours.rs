//! Opening hours as UTC intervals: a schedule's local ranges mapped to
//! instants through its time zone (see the module docs for the DST rule).

use super::model::Schedule;
use crate::time::{DAY, Interval, Millis};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::AmbiguousOffset;

/// The instants a schedule can answer for: 1900-01-01 to 9000-01-01 UTC.
/// Outside them a resource with a schedule is closed.
pub const SUPPORTED: Interval = Interval::new(-2_208_988_800_000, 221_845_392_000_000);

/// The open intervals of `schedule` within `window`: sorted, disjoint,
/// clipped to the window, touching ones merged. `None` (no schedule) is
/// always open: the whole window.
pub fn open_intervals(schedule: Option<&Schedule>, window: Interval) -> Vec<Interval> {
    match schedule {
        None if window.is_empty() => Vec::new(),
        None => vec![window],
        Some(s) => s.open_intervals(window),
    }
}

fn timestamp(at: Millis) -> Timestamp {
    // Callers clamp to `SUPPORTED`, well inside jiff's range.
    Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Appends `iv` to sorted, disjoint `out`, merging it with the last one
/// when they touch or overlap. `iv` must not start before the last start.
pub(crate) fn push_merged(out: &mut Vec<Interval>, iv: Interval) {
    match out.last_mut() {
        Some(last) if iv.start <= last.end => last.end = last.end.max(iv.end),
        _ => out.push(iv),
    }
}

impl Schedule {
    /// See [`open_intervals`].
    pub fn open_intervals(&self, window: Interval) -> Vec<Interval> {
        let lo = window.start.max(SUPPORTED.start);
        let hi = window.end.min(SUPPORTED.end);
        if lo >= hi {
            return Vec::new();
        }
        // A range of date D lies between the first instants the clock
        // reads D 00:00 and D+1 00:00, so two dates of margin either side
        // cover every range that can reach the window, whatever the offset.
        let first = self.local_date(lo.saturating_sub(2 * DAY));
        let last = self.local_date(hi.saturating_add(2 * DAY));
        let mut spans = Vec::new();
        let mut date = first;
        while date <= last {
            for &(a, b) in self.hours_on(date) {
                let start = self.first_reading(date, a).max(lo);
                let end = self.first_reading(date, b).min(hi);
                if start < end {
                    spans.push(Interval::new(start, end));
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        spans.sort_unstable();
        let mut out = Vec::with_capacity(spans.len());
        for iv in spans {
            push_merged(&mut out, iv);
        }
        out
    }

    fn local_date(&self, at: Millis) -> Date {
        let at = at.clamp(SUPPORTED.start - 3 * DAY, SUPPORTED.end + 3 * DAY);
        self.tz.to_datetime(timestamp(at)).date()
    }

    /// The first instant the wall clock reads `minute` minutes after local
    /// midnight of `date` (1440: the next date's midnight): the earlier
    /// occurrence in a fold, the instant of the jump in a gap.
    pub(crate) fn first_reading(&self, date: Date, minute: u16) -> Millis {
        let (date, minute) = if minute >= 1440 {
            (date.tomorrow().unwrap_or(date), minute - 1440)
        } else {
            (date, minute)
        };
        let wall: DateTime = date.at((minute / 60) as i8, (minute % 60) as i8, 0, 0);
        let ambiguous = self.tz.to_ambiguous_timestamp(wall);
        let instant = match ambiguous.offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(wall).ok(),
            AmbiguousOffset::Gap { after, .. } => {
                // Read with the later offset, the wall time falls before the
                // jump; the next transition after that is the jump itself.
                after.to_timestamp(wall).ok().and_then(|t| {
                    self.tz
                        .following(t)
                        .next()
                        .map(|transition| transition.timestamp())
                })
            }
        };
        instant.map_or(SUPPORTED.end, Timestamp::as_millisecond)
    }
}

/// `at` as the wall clock of IANA zone `timezone` reads it, in RFC 3339
/// with the zone's offset at that instant (`2026-03-30T09:00:00+02:00`);
/// `None` for a zone the bundled database does not know or an instant
/// outside [`SUPPORTED`]. For many instants of one zone, [`WallClock`]
/// looks the zone up once.
pub fn local_rfc3339(timezone: &str, at: Millis) -> Option<String> {
    WallClock::new(timezone)?.rfc3339(at)
}

/// The wall clock of one IANA zone from the bundled database, looked up
/// once. A slot search renders thousands of instants of one resource's
/// zone: looking the zone up by name and formatting through `strftime` for
/// each was most of a search's time (BENCHMARKS.md, "Free-slot search").
#[derive(Clone, Debug)]
pub struct WallClock {
    tz: jiff::tz::TimeZone,
}

impl WallClock {
    /// The clock of `timezone`; `None` for a zone the bundled database does
    /// not know.
    pub fn new(timezone: &str) -> Option<Self> {
        let tz = jiff::tz::TimeZoneDatabase::bundled().get(timezone).ok()?;
        Some(Self { tz })
    }

    /// `at` on this clock in RFC 3339 with the offset of that instant,
    /// milliseconds only when there are some; `None` outside [`SUPPORTED`].
    pub fn rfc3339(&self, at: Millis) -> Option<String> {
        use std::fmt::Write;
        if !(SUPPORTED.start..SUPPORTED.end).contains(&at) {
            return None;
        }
        let ts = Timestamp::from_millisecond(at).ok()?;
        let offset = self.tz.to_offset(ts);
        let secs = offset.seconds();
        if secs % 60 != 0 {
            // Local mean times of the early 1900s: the offset is printed
            // to the minute, as `strftime`'s `%:z` does.
            let format = if at.rem_euclid(1000) == 0 {
                "%Y-%m-%dT%H:%M:%S%:z"
            } else {
                "%Y-%m-%dT%H:%M:%S%.3f%:z"
            };
            return Some(ts.to_zoned(self.tz.clone()).strftime(format).to_string());
        }
        let dt = offset.to_datetime(ts);
        let mut out = String::with_capacity(29);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let frac = at.rem_euclid(1000);
        if frac != 0 {
            let _ = write!(out, ".{frac:03}");
        }
        let (sign, minutes) = if secs < 0 {
            ('-', -secs / 60)
        } else {
            ('+', secs / 60)
        };
        let _ = write!(out, "{sign}{:02}:{:02}", minutes / 60, minutes % 60);
        Some(out)
    }
}
