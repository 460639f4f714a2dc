//! Instants as the contract writes them: RFC 3339, UTC, in epoch milliseconds here.

use slotstream_runtime::{Clock, ManualClock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A clock that runs with real time from where a [`ManualClock`] stands:
/// `now = manual + elapsed since creation`. Moving the manual clock moves
/// it by as much.
#[derive(Debug)]
pub struct RunningClock {
    manual: ManualClock,
    since: Instant,
}

impl RunningClock {
    /// Runs from `manual`'s reading.
    pub fn new(manual: ManualClock) -> Self {
        Self {
            manual,
            since: Instant::now(),
        }
    }
}

impl Clock for RunningClock {
    fn now(&self) -> i64 {
        self.manual.now() + self.since.elapsed().as_millis() as i64
    }
}

/// One minute in milliseconds.
pub const MINUTE: i64 = 60_000;
/// One hour in milliseconds.
pub const HOUR: i64 = 60 * MINUTE;

/// The operating system's time, to start the manual clock from.
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ms` rounded up to a multiple of `step`.
pub fn align_up(ms: i64, step: i64) -> i64 {
    ms.div_euclid(step) * step + if ms.rem_euclid(step) == 0 { 0 } else { step }
}

/// `2027-01-15T08:00:00Z`.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).expect("an instant after 1970"));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses an RFC 3339 UTC instant (`Z` or `+00:00`, fractional seconds
/// allowed) the gateway wrote; panics with the text otherwise.
#[track_caller]
pub fn parse_time(s: &str) -> i64 {
    let z = s
        .strip_suffix("+00:00")
        .map_or_else(|| s.to_owned(), |head| format!("{head}Z"));
    let t = humantime::parse_rfc3339(&z)
        .unwrap_or_else(|e| panic!("{s:?} is not an RFC 3339 UTC instant: {e}"));
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses a JSON field that must be an RFC 3339 instant.
#[track_caller]
pub fn time_of(v: &serde_json::Value) -> i64 {
    parse_time(
        v.as_str()
            .unwrap_or_else(|| panic!("{v} is not a timestamp string")),
    )
}
