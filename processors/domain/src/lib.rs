//! # slotstream-domain: the pure core
//!
//! Everything Slotstream decides lives here, with no I/O at all: no async
//! runtime, no Kafka, no database, no HTTP, no mail, no Avro. Time, ids and
//! randomness arrive as arguments, so every decision is a deterministic function
//! of `(state, command, now)`.
//!
//! The invariant this crate keeps: **no two active (pending or confirmed)
//! bookings of one resource ever overlap**. Alongside it: a released slot is
//! bookable at once, a payment never refunds more than was paid, a command id
//! gets one answer however often it is retried, and a one-time code is single
//! use, expires and burns after five wrong tries.
//!
//! ## Shape
//!
//! Each aggregate ([`booking`], [`payment`], [`identity`]) has a *partition*
//! type holding all state of one task partition, and follows decide/apply,
//! written down as the [`Aggregate`] trait (and [`Reacts`] for reactions to
//! another aggregate's events) that the one processor shell drives:
//! `decide(&self, command, now) -> Decision` and the `react_to_*` /
//! `due_expiries` reactions never change state; `apply(&mut self, &event)` is
//! the only way state changes on the live path and returns the [`StateKey`]s
//! whose [`StateRecord`] changed. `record(key)` gives what to store (or `None`
//! to delete) and `load(record)` restores a partition from the store.
//!
//! State is bounded by what is live: the booking and payment partitions'
//! `evict_settled(now)`, run every so often with the ledger prune, drops what
//! their `settles_at` rule says nothing can touch any more and returns the
//! keys to delete. It is a pure function of the records and `now`, so a
//! partition rebuilt from the log and evicted at the same instants holds the
//! same records.
//!
//! A processor drives a partition like this, for every input:
//!
//! ```
//! # use slotstream_domain::booking::*;
//! # use slotstream_domain::StateKey;
//! # fn store(_: &StateKey, _: Option<slotstream_domain::StateRecord>) {}
//! # fn append(_: &BookingEvent) {}
//! # fn step(part: &mut BookingPartition, cmd: &BookingCommand, now: i64) {
//! let decision = part.decide(cmd, now);
//! for event in &decision.events {
//!     for key in part.apply(event) {
//!         store(&key, part.record(&key));
//!     }
//!     append(event);
//! }
//! // answer the caller with `decision.reply`
//! # }
//! ```
//!
//! [`schedule`] is not an aggregate: opening hours in a resource's time
//! zone, booking rules (buffers, notice, horizon) and the free-slot search,
//! as pure values and functions for the booking decision to call (not yet
//! wired; see "Scheduling" in ARCHITECTURE.md).
//!
//! ## Events are complete
//!
//! Every fact `apply` writes into a stored record travels on the event
//! (request-body hashes for idempotency, a one-time code's keyed hash, the
//! provider event id behind a payment outcome), so a partition rebuilt by
//! applying the events topic from offset 0 (and evicting at the same
//! instants) holds exactly the records the live one holds. The model tests
//! check it after every step.

#![warn(missing_docs)]

pub mod aggregate;
pub mod booking;
mod decision;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod identity;
pub mod ids;
mod ledger;
pub mod money;
pub mod payment;
pub mod resource;
pub mod schedule;
mod state;
#[cfg(test)]
mod testkit;
pub mod time;

pub use aggregate::{Aggregate, Command, Event, Reacts};
pub use decision::Decision;
pub use ids::{BookingId, CommandId, PaymentId, ResourceId, UserId};
pub use money::Money;
pub use state::{Answer, COMMAND_RETENTION, CommandRecord, StateKey, StateRecord};
pub use time::{Interval, Millis};
