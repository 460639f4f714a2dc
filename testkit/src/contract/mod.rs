//! Port contract suites, reusable by every backend (feature `contract`).
//!
//! Each function takes a backend as a port trait object and panics (with a
//! message saying what broke) when the backend does not behave as the port
//! promises. They create their own groups, keys and ids with [`unique`] and
//! measure offsets relative to the end offsets they find, so they also run
//! against a shared Kafka or Scylla that already holds data.
//!
//! The embedded backend runs them in `connectors/embedded/tests/log_contract.rs`
//! and `views_contract.rs`, the Kafka adapter the log suite in
//! `connectors/kafka/tests/contract.rs`, the Scylla adapter the views suite in
//! `connectors/scylla/tests/views_contract.rs`.

pub mod log;
pub mod views;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A name no earlier run used: `prefix`, the time and a counter.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{nanos:x}-{n}")
}
