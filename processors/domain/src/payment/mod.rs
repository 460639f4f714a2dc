//! The payment aggregate.

mod messages;
pub use messages::*;
