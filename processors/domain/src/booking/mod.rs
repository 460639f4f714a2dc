//! The booking aggregate: one writer per resource partition decides who gets
//! which slot, holds it while payment is pending, and moves bookings through
//! their lifecycle.
//!
//! The invariant it keeps: no two active (pending or confirmed) bookings of a
//! resource overlap. [`BookingPartition::decide`] refuses any request that
//! would overlap an active booking, and [`BookingPartition::apply`] releases a
//! slot the moment its booking reaches a final state.
//!
//! State is bounded by what is live: a booking leaves the partition (and its
//! store, by tombstone) once [`settles_at`] says nothing can touch it any
//! more; see [`BookingPartition::evict_settled`].

mod apply;
mod availability;
mod decide;
mod messages;
mod model;
mod partition;
mod settle;
mod transitions;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use messages::*;
pub use model::{Booking, BookingConfig, BookingV1, BookingV2, Reschedule};
pub use partition::BookingPartition;
pub use settle::{END_SLACK, LATE_PAYMENT_WINDOW, settles_at};
pub use transitions::{BookingEventKind, TRANSITIONS, next_status};

#[cfg(test)]
mod tests;
