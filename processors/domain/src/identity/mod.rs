//! The identity aggregate: accounts by normalized email, registration and
//! one-time codes (OTP).
//!
//! The invariants it keeps: a verified email belongs to exactly one account;
//! a code is single use, dies after `otp_ttl`, and is burned after
//! `max_attempts` wrong tries. Codes exist here only as keyed hashes.

mod email;
mod messages;
mod model;
mod partition;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use email::normalize_email;
pub use messages::*;
pub use model::{Account, IdentityConfig, Otp};
pub use partition::IdentityPartition;

#[cfg(test)]
mod tests;
