//! The read views on redb: writes applied inside the writer's transaction
//! ([`write`]), queries on read snapshots ([`read`]), and the opaque
//! pagination cursors they hand out ([`cursor`]).
//!
//! Rows are postcard encodings of the runtime's view structs; every index
//! entry is written and removed in the same transaction as its row, so an
//! index never points at a missing or stale row.

pub(crate) mod read;
pub(crate) mod write;
