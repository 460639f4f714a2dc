//! Processor state as a keyspace, the way Kafka Streams backs a store with a
//! compacted changelog.
//!
//! A commit's state writes go into the `state` keyspace under
//! `(group, task partition) ++ key` in the same atomic batch as its outputs
//! and offsets; a delete is a tombstone. The LSM tree compacts superseded
//! values and tombstones away in the background, so what is stored follows
//! the live entries and a restore reads exactly those: one prefix scan,
//! whatever the history of writes before it.
//!
//! **Invariant:** for every (group, partition), the entries under its prefix
//! are exactly the state the committed transactions left.

use crate::schema;
use crate::store::Store;
use bytes::Bytes;
use fjall::Readable;
use slotstream_runtime::StateEntry;

/// The live state of `group`'s task partition `partition`, in key order.
pub(crate) fn restore(
    store: &Store,
    group: &str,
    partition: u32,
) -> Result<Vec<StateEntry>, fjall::Error> {
    let prefix = schema::state_prefix(group, partition);
    let snap = store.snapshot();
    let mut out = Vec::new();
    for guard in snap.prefix(&store.ks.state, &prefix) {
        let (k, v) = guard.into_inner()?;
        out.push((
            Bytes::copy_from_slice(&k[prefix.len()..]),
            Bytes::copy_from_slice(&v),
        ));
    }
    Ok(out)
}
