//! The resource aggregate.

mod model;
pub use model::*;
