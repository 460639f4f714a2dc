//! The booking aggregate: one writer per resource partition decides who gets
//! which slot, holds it while payment is pending, and moves bookings through
//! their lifecycle.
//!
//! The invariant it keeps: no two active (pending or confirmed) bookings of a
//! resource overlap. [`BookingPartition::decide`] refuses any request that
//! would overlap an active booking, and [`BookingPartition::apply`] releases a
//! slot the moment its booking reaches a final state.

mod apply;
mod availability;
mod decide;
mod messages;
mod model;
mod partition;
mod transitions;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use messages::*;
pub use model::{Booking, BookingConfig};
pub use partition::BookingPartition;
pub use transitions::{BookingEventKind, TRANSITIONS, next_status};

#[cfg(test)]
mod tests;
