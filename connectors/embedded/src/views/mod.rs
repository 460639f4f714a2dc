//! The read views in the LSM database: writes applied to a writer's batch
//! ([`write`]), queries on consistent snapshots ([`read`]).
//!
//! Rows are postcard encodings of the runtime's view structs, keyed by id;
//! indexes are keyed by order-preserving tuples (`crate::keys`). Every index
//! entry is written and removed in the same batch as its row, so an index
//! never points at a missing or stale row.

pub(crate) mod read;
pub(crate) mod write;
