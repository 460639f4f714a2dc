//! Scheduling: when a resource may be booked, beyond "any aligned instant".
//!
//! Pure values and functions, no I/O. Four parts:
//!
//! - [`Schedule`]: weekly opening hours in the resource's own IANA time
//!   zone, with dated exceptions (closed dates, special hours), compiled from
//!   a serialisable [`ScheduleSpec`]. [`open_intervals`] turns it into UTC
//!   intervals within a window; no schedule means always open.
//! - [`BookingRules`]: buffers around bookings, minimum notice, maximum
//!   horizon and the notice needed to cancel or reschedule.
//! - [`check`]: the decision for one requested interval, refusing it with
//!   one [`Refusal`] per broken rule, which says what would pass.
//! - [`free_slots`]: every start on a step grid in a window that [`check`]
//!   accepts, in one pass over the sorted open and busy intervals.
//!
//! ## Time zones and daylight saving
//!
//! The tz database is compiled into the binary, so a decision never depends
//! on the machine's zoneinfo files. A local range `[a, b)` on local date `D`
//! is **one span of real time**: it opens the first time the wall clock
//! reads `D a` and closes the first time the wall clock reads `D b` (`b` may
//! be 24:00, the next date's midnight). Concretely:
//!
//! - **Spring forward (a gap).** A wall time the clock skips is read as the
//!   instant the clock jumps: a range starting inside the gap opens at the
//!   jump, one ending inside it closes at the jump, and one wholly inside it
//!   is empty. A skipped wall time is therefore never offered.
//! - **Fall back (a fold).** A wall time the clock shows twice is read at
//!   its first occurrence. A range that spans the whole repetition lasts
//!   longer in real time (both occurrences are open: different instants,
//!   each once); a range that starts inside it opens at the first
//!   occurrence and stays open through the repetition; a range that ends
//!   inside it closes at the first occurrence of its end. Nothing is lost
//!   (every wall time of the range is open at least once) and no instant is
//!   offered twice (the output is a sorted set of disjoint intervals).
//!
//! Intervals that touch are merged, so Monday 22:00–24:00 followed by
//! Tuesday 00:00–02:00 is one overnight opening.

mod check;
mod hours;
mod model;
mod rules;

pub use check::{Busy, NEAREST_LOOKAROUND, Refusal, check, free_slots};
pub use hours::{SUPPORTED, WallClock, local_rfc3339, open_intervals};
pub use model::{
    DateException, InvalidSchedule, LocalDate, LocalRange, MAX_EXCEPTIONS, MAX_RANGES_PER_DAY,
    Schedule, ScheduleSpec,
};
pub use rules::{BookingRules, MAX_BUFFER_MINUTES, MAX_NOTICE_MINUTES};

#[cfg(test)]
mod tests;
