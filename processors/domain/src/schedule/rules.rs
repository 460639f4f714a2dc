//! Booking rules beyond opening hours: buffers, notice and horizon.

use super::check::Refusal;
use super::model::InvalidSchedule;
use crate::time::{Interval, MINUTE, Millis};
use serde::{Deserialize, Serialize};

/// Longest buffer on either side: one week, in minutes.
pub const MAX_BUFFER_MINUTES: u32 = 7 * 24 * 60;
/// Longest notice or horizon: five years (of 365 days), in minutes.
pub const MAX_NOTICE_MINUTES: u32 = 5 * 365 * 24 * 60;

/// A resource's booking rules, in minutes; the default (all zero, no
/// horizon) is today's behaviour: no buffers, bookable from now on, forever.
///
/// - **Buffers**: a booking `[start, end)` keeps the resource busy over
///   `[start - buffer_before, end + buffer_after)` for conflicts, its own
///   interval unchanged. Two active bookings conflict when their buffered
///   intervals overlap, so consecutive bookings are at least
///   `buffer_after + buffer_before` apart. Only the booking itself must lie
///   in opening hours; its buffers may not.
/// - **Minimum notice**: a start earlier than `now + min_notice` is refused.
/// - **Maximum horizon**: a start later than `now + max_horizon` is refused.
/// - **Modify notice**: cancelling or rescheduling is refused from
///   `start - modify_notice` on (the existing "not at or after its start"
///   rule is the case of zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BookingRules {
    /// Busy time before each booking (preparation), minutes.
    pub buffer_before_minutes: u32,
    /// Busy time after each booking (clean-up), minutes.
    pub buffer_after_minutes: u32,
    /// A start must be at least this far from now, minutes.
    pub min_notice_minutes: u32,
    /// A start must be at most this far from now, minutes; `None`: no limit.
    pub max_horizon_minutes: Option<u32>,
    /// Cancel or reschedule at least this long before the start, minutes.
    pub modify_notice_minutes: u32,
}

fn minutes(m: u32) -> Millis {
    Millis::from(m) * MINUTE
}

impl BookingRules {
    /// Checks the limits: buffers at most a week, notices and the horizon
    /// at most five years, and the horizon not shorter than the notice.
    pub fn validate(&self) -> Result<(), InvalidSchedule> {
        for (field, value) in [
            ("buffer_before_minutes", self.buffer_before_minutes),
            ("buffer_after_minutes", self.buffer_after_minutes),
        ] {
            if value > MAX_BUFFER_MINUTES {
                return Err(InvalidSchedule::new(
                    field,
                    format!("must be at most {MAX_BUFFER_MINUTES} (one week)"),
                ));
            }
        }
        for (field, value) in [
            ("min_notice_minutes", self.min_notice_minutes),
            ("max_horizon_minutes", self.max_horizon_minutes.unwrap_or(0)),
            ("modify_notice_minutes", self.modify_notice_minutes),
        ] {
            if value > MAX_NOTICE_MINUTES {
                return Err(InvalidSchedule::new(
                    field,
                    format!("must be at most {MAX_NOTICE_MINUTES} (five years)"),
                ));
            }
        }
        match self.max_horizon_minutes {
            Some(h) if h < self.min_notice_minutes => Err(InvalidSchedule::new(
                "max_horizon_minutes",
                "must not be shorter than min_notice_minutes",
            )),
            _ => Ok(()),
        }
    }

    /// Buffer before a booking, in milliseconds.
    pub fn buffer_before(&self) -> Millis {
        minutes(self.buffer_before_minutes)
    }

    /// Buffer after a booking, in milliseconds.
    pub fn buffer_after(&self) -> Millis {
        minutes(self.buffer_after_minutes)
    }

    /// The interval a booking `iv` keeps busy for conflicts:
    /// `[start - buffer_before, end + buffer_after)`.
    pub fn buffered(&self, iv: Interval) -> Interval {
        Interval::new(
            iv.start.saturating_sub(self.buffer_before()),
            iv.end.saturating_add(self.buffer_after()),
        )
    }

    /// The earliest start allowed at `now`.
    pub fn earliest_start(&self, now: Millis) -> Millis {
        now.saturating_add(minutes(self.min_notice_minutes))
    }

    /// The latest start allowed at `now` (inclusive), if there is a horizon.
    pub fn latest_start(&self, now: Millis) -> Option<Millis> {
        self.max_horizon_minutes
            .map(|h| now.saturating_add(minutes(h)))
    }

    /// The first instant a booking starting at `start` can no longer be
    /// cancelled or rescheduled: `start - modify_notice`.
    pub fn modify_deadline(&self, start: Millis) -> Millis {
        start.saturating_sub(minutes(self.modify_notice_minutes))
    }

    /// May a booking starting at `start` be cancelled or rescheduled at
    /// `now`? Only strictly before [`BookingRules::modify_deadline`].
    pub fn check_modify(&self, start: Millis, now: Millis) -> Result<(), Refusal> {
        let deadline = self.modify_deadline(start);
        if now < deadline {
            Ok(())
        } else {
            Err(Refusal::TooLateToModify { deadline })
        }
    }
}
