//! Time as plain numbers: milliseconds since the Unix epoch, UTC. The core never
//! reads a clock; `now` is always an argument.

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// One minute in milliseconds.
pub const MINUTE: Millis = 60_000;
/// One hour in milliseconds.
pub const HOUR: Millis = 60 * MINUTE;
/// One day in milliseconds.
pub const DAY: Millis = 24 * HOUR;

/// A half-open interval `[start, end)` in milliseconds. Two intervals that only
/// touch (one ends where the other starts) do not overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Interval {
    /// Inclusive start.
    pub start: Millis,
    /// Exclusive end.
    pub end: Millis,
}

impl Interval {
    /// Builds `[start, end)`; callers validate `start < end` through resource rules.
    pub const fn new(start: Millis, end: Millis) -> Self {
        Self { start, end }
    }

    /// True when the two half-open intervals share at least one instant.
    pub const fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Length in milliseconds.
    pub const fn len(&self) -> Millis {
        self.end - self.start
    }

    /// True when the interval contains no instant.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}
