//! The identity aggregate: accounts by normalized email, registration and
//! one-time codes (OTP).
//!
//! The invariants it keeps: a verified email belongs to exactly one account;
//! a code is single use, dies after `otp_ttl`, and is burned after
//! `max_attempts` wrong tries. Codes exist here only as keyed hashes.
//!
//! It also owns login locks: a gateway that counted too many failed logins
//! for an address asks for a lock; the lock is a fact of the address (every
//! gateway reads it from the views), announced once per lock (the notice to
//! a verified owner carries an unlock code, which dies with the lock or after
//! `max_attempts` wrong tries), and it lifts by itself at its end.
//!
//! And API keys of vendors (server-to-server partners): decided in the
//! partition of the owner's email, so the owner's account is at hand and
//! one owner's keys have one writer. A key is created for a verified vendor
//! only; only its owner revokes it; a revocation is final.

mod apply;
mod decide;
mod email;
mod messages;
mod model;
mod partition;

pub use crate::decision::Decision;
pub use crate::state::{StateKey, StateRecord};
pub use email::normalize_email;
pub use messages::*;
pub use model::{Account, ApiKey, IdentityConfig, LoginLock, Otp, Webhook};
pub use partition::IdentityPartition;

impl Role {
    /// Its name in the API, tokens and every store (`"customer"`, `"vendor"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Vendor => "vendor",
        }
    }

    /// The role named `name` ([`Role::as_str`]; exact, lower case).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Customer, Self::Vendor]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

#[cfg(test)]
mod tests;
