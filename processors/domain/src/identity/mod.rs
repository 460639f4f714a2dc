//! The identity aggregate.

mod messages;
pub use messages::*;
