//! # slotstream-testkit: what the tests of every crate share
//!
//! * [`contract`] (feature `contract`): the port contract suites. Each
//!   function takes a backend as a port trait object and panics, saying what
//!   broke, when it does not behave as the port promises. The embedded,
//!   Kafka and Scylla adapters run the same functions from their own tests.
//!   This crate depends on the ports (`slotstream-runtime`) and the domain
//!   only, never on an adapter, so no adapter's tests depend on another
//!   adapter.
//! * [`eml`]: reading the emails the outbox mailer writes (`.eml` files),
//!   for the end-to-end tests and the load generator (which reads
//!   verification codes from the outbox).

#[cfg(feature = "contract")]
pub mod contract;
pub mod eml;
