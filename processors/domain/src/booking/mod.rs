//! The booking aggregate.

mod messages;
pub use messages::*;
