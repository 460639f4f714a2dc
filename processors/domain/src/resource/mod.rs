//! The resource aggregate: what a vendor registers, and the rules every
//! booking of it must follow (validation, price, refund quote). The gateway
//! calls these before writing a command; the booking processor calls them
//! again, because it never trusts its input.

mod model;
mod rules;
pub use model::*;
pub use rules::*;

#[cfg(test)]
mod tests;
