//! The payment aggregate: one intent per booking, the customer's checkout,
//! the provider's outcome, cancellation and refunds.
//!
//! The invariant it keeps: a payment never refunds more than was paid, and
//! completes at most once (a redelivered webhook changes nothing).

mod apply;
mod decide;
mod messages;
mod partition;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use messages::*;
pub use partition::{Payment, PaymentPartition};

#[cfg(test)]
mod tests;
