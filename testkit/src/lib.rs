//! # slotstream-testkit: what the tests of every crate share
//!
//! * [`contract`] (feature `contract`): the port contract suites. Each
//!   function takes a backend as a port trait object and panics, saying what
//!   broke, when it does not behave as the port promises. The embedded,
//!   Kafka and Scylla adapters run the same functions from their own tests.
//!   This crate depends on the ports (`slotstream-runtime`) and the domain
//!   only, never on an adapter, so no adapter's tests depend on another
//!   adapter.

#[cfg(feature = "contract")]
pub mod contract;
