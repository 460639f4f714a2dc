//! # slotstream-domain: the pure core
//!
//! Everything Slotstream decides lives here, with no I/O at all: no async
//! runtime, no Kafka, no database, no HTTP, no mail, no Avro. Time, ids and
//! randomness arrive as arguments, so every decision is a deterministic function
//! of `(state, command, now)` and replaying a log rebuilds the same state.
//!
//! The invariant this crate keeps: **no two active (pending or confirmed)
//! bookings of one resource ever overlap**.
//!
//! Each aggregate follows decide/apply: `decide(&state, command, now) -> events`
//! never mutates; `apply(&mut state, &event)` is the only way state changes.

pub mod booking;
pub mod identity;
pub mod ids;
pub mod money;
pub mod payment;
pub mod resource;
pub mod time;

pub use ids::{BookingId, CommandId, PaymentId, ResourceId, UserId};
pub use money::Money;
pub use time::{Interval, Millis};
