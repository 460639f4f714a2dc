//! The booking lifecycle as one table. `apply` moves a booking only along a
//! row of [`TRANSITIONS`]; anything else is a bug in whoever decided it.

use super::messages::BookingStatus;

/// The events that move an existing booking from one status to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookingEventKind {
    /// `BookingConfirmed`: payment succeeded.
    Confirmed,
    /// `BookingFailed`: payment failed.
    Failed,
    /// `BookingExpired`: the hold passed unpaid.
    Expired,
    /// `BookingCancelled`: the owner cancelled.
    Cancelled,
}

impl BookingEventKind {
    /// Every kind, for exhaustive checks.
    pub const ALL: [BookingEventKind; 4] = [
        BookingEventKind::Confirmed,
        BookingEventKind::Failed,
        BookingEventKind::Expired,
        BookingEventKind::Cancelled,
    ];
}

/// Every legal `(from, event) -> to`. A pair missing here is illegal.
pub const TRANSITIONS: [(BookingStatus, BookingEventKind, BookingStatus); 5] = [
    (
        BookingStatus::Pending,
        BookingEventKind::Confirmed,
        BookingStatus::Confirmed,
    ),
    (
        BookingStatus::Pending,
        BookingEventKind::Failed,
        BookingStatus::Failed,
    ),
    (
        BookingStatus::Pending,
        BookingEventKind::Expired,
        BookingStatus::Expired,
    ),
    (
        BookingStatus::Pending,
        BookingEventKind::Cancelled,
        BookingStatus::Cancelled,
    ),
    (
        BookingStatus::Confirmed,
        BookingEventKind::Cancelled,
        BookingStatus::Cancelled,
    ),
];

/// Where `event` takes a booking in status `from`; `None` when illegal.
pub fn next_status(from: BookingStatus, event: BookingEventKind) -> Option<BookingStatus> {
    TRANSITIONS
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}
