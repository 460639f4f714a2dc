//! # slotstream-audit: the overlap auditor
//!
//! An independent consumer of the booking and payment events that checks,
//! for every event, what the platform promises: no two active bookings of
//! a resource overlap; every hold ends within its deadline plus a stated
//! slack; every payment outcome reaches its booking exactly once. It
//! shares no code with the booking processor (its own interval index, its
//! own reading of the events), so a bug there is not repeated here.
//!
//! - [`ledger`]: the checks over one partition's events (pure).
//! - [`processor`]: the continuous role (`slotstream processor audit`, and
//!   inside `slotstream up`), a processor of group `slotstream.audit`.
//! - [`scan`]: once over the whole log (`slotstream audit --from-beginning`).
//!
//! A violation names the records involved by position
//! (`topic[partition]@offset`) and is counted in
//! `slotstream_audit_violations_total{kind}`.

pub mod ledger;
pub mod processor;
pub mod scan;

pub use ledger::{Kind, Ledger, Position, Violation};
pub use processor::AuditProcessor;
pub use scan::{Report, scan};

/// Default slack: a hold may end this long after its deadline, and a
/// payment outcome may take this long to reach its booking (2 minutes:
/// a Kafka failover, session timeout plus transaction timeout plus a
/// restore, stays within it).
pub const DEFAULT_SLACK: slotstream_domain::Millis = 2 * 60 * 1000;
