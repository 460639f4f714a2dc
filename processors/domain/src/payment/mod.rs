//! The payment aggregate: one intent per booking, the customer's checkout,
//! the provider's outcome, cancellation and refunds.
//!
//! The invariant it keeps: a payment never refunds more than was paid, and
//! completes at most once (a redelivered webhook changes nothing).
//!
//! State is bounded by what is live: a payment leaves the partition (and its
//! store, by tombstone) once [`settles_at`] says nothing can touch it any
//! more; see [`PaymentPartition::evict_settled`].

mod apply;
mod check;
mod decide;
mod messages;
mod partition;
mod settle;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use check::{ANSWER_WAIT, MAX_CHECK_INTERVAL, check_interval};
pub use messages::*;
pub use partition::{Payment, PaymentPartition, PaymentV1, PaymentV2, PaymentV3, PendingRefund};
pub use settle::{PROVIDER_LATE_WINDOW, QUIET_PERIOD, settles_at};

#[cfg(test)]
mod tests;
