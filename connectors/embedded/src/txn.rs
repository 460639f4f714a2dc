//! One group commit's writes: a fjall write batch, plus an overlay of what
//! the batch already holds so later requests of the same group read their
//! predecessors' writes (a view patch after a put of the same row).

use crate::store::Store;
use fjall::{Keyspace, OwnedWriteBatch};
use std::collections::HashMap;

/// The writes of one group commit, not yet applied to the database.
pub(crate) struct Txn<'s> {
    pub(crate) store: &'s Store,
    batch: OwnedWriteBatch,
    /// (keyspace, key) -> the value this batch gives it (`None`: deleted).
    /// A keyspace is named by its address in the store, which outlives the
    /// batch and never moves.
    overlay: HashMap<(usize, Vec<u8>), Option<Vec<u8>>>,
}

impl<'s> Txn<'s> {
    /// An empty batch on `store`'s database.
    pub(crate) fn new(store: &'s Store) -> Self {
        Self {
            store,
            batch: store.db.batch(),
            overlay: HashMap::new(),
        }
    }

    /// Puts `value` under `key` without recording it in the overlay: for
    /// what no later request of the group reads back (log records, state,
    /// offsets, epochs), so the hot commit path copies nothing twice.
    pub(crate) fn write(&mut self, ks: &Keyspace, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(ks, key, value);
    }

    /// Deletes `key` without recording it in the overlay (see [`Txn::write`]).
    pub(crate) fn delete(&mut self, ks: &Keyspace, key: Vec<u8>) {
        self.batch.remove(ks, key);
    }

    /// Puts `value` under `key`, visible to later [`Txn::get`]s of the group.
    pub(crate) fn insert(&mut self, ks: &Keyspace, key: Vec<u8>, value: Vec<u8>) {
        self.batch.insert(ks, key.clone(), value.clone());
        self.overlay.insert((slot(ks), key), Some(value));
    }

    /// Deletes `key`, visible to later [`Txn::get`]s of the group.
    pub(crate) fn remove(&mut self, ks: &Keyspace, key: Vec<u8>) {
        self.batch.remove(ks, key.clone());
        self.overlay.insert((slot(ks), key), None);
    }

    /// The value of `key` as this batch would leave it.
    pub(crate) fn get(&self, ks: &Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, fjall::Error> {
        if let Some(v) = self.overlay.get(&(slot(ks), key.to_vec())) {
            return Ok(v.clone());
        }
        Ok(ks.get(key)?.map(|v| v.to_vec()))
    }

    /// True when nothing was written.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// Applies the batch atomically (journal, then memtables). Durability is
    /// the caller's: `Database::persist` after it.
    pub(crate) fn commit(self) -> Result<(), fjall::Error> {
        self.batch.commit()
    }
}

/// The overlay's name for a keyspace of the store.
fn slot(ks: &Keyspace) -> usize {
    std::ptr::from_ref(ks) as usize
}
