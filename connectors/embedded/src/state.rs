//! Processor state as a changelog, the way Kafka Streams backs a store with
//! a compacted topic.
//!
//! A commit appends each state write to `state_log` under
//! `(group, task partition, sequence)`, so one commit's writes to a partition
//! land on one B-tree leaf instead of one random leaf per key (state keys are
//! ids: hashes). `restore` folds the partition's changelog (after the entries
//! of the format-1 `state` table, if any) into the live entries, last write
//! wins, and rewrites the partition compactly when the changelog has grown
//! well past its live size.
//!
//! **Invariant:** for every (group, partition), folding the legacy entries
//! and then the changelog in sequence order gives exactly the state the
//! committed transactions wrote; compaction replaces both with the live
//! entries in one commit.

use crate::schema::{self, StateLogKey};
use crate::tables::Tables;
use crate::writer::ApplyError;
use bytes::Bytes;
use redb::{ReadTransaction, ReadableTable};
use slotstream_runtime::{StateEntry, StateWrite};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Changelog entries beyond which a restore compacts, on top of twice the
/// live entries.
const COMPACT_SLACK: usize = 1024;

/// Tag byte of a put entry.
const PUT: u8 = 1;
/// Tag byte of a delete entry (a tombstone).
const DELETE: u8 = 0;

/// One changelog value: tag, key length (u32 LE), key, then the value.
fn encode(key: &[u8], value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + key.len() + value.map_or(0, <[u8]>::len));
    out.push(if value.is_some() { PUT } else { DELETE });
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
    out
}

/// The key and (for a put) value of a changelog entry; `None` if corrupt.
fn decode(raw: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (&tag, rest) = raw.split_first()?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let key = rest.get(4..4 + len)?;
    let value = &rest[4 + len..];
    match tag {
        PUT => Some((key, Some(value))),
        DELETE if value.is_empty() => Some((key, None)),
        _ => None,
    }
}

/// What a restore read: the live entries and whether to compact.
pub(crate) struct Restored {
    /// Live entries in key order.
    pub entries: Vec<StateEntry>,
    /// The stored form is much bigger than the live entries (or still in
    /// the legacy table): worth rewriting.
    pub compact: bool,
}

/// Reads the state of `group`'s task partition `partition`.
pub(crate) fn restore(
    txn: &ReadTransaction,
    group: &str,
    partition: u32,
) -> Result<Restored, RestoreError> {
    let mut live: BTreeMap<Bytes, Bytes> = BTreeMap::new();
    let legacy = txn.open_table(schema::STATE)?;
    let lo = (group, partition, &[][..]);
    let range = match partition.checked_add(1) {
        Some(next) => legacy.range(lo..(group, next, &[][..]))?,
        None => legacy.range(lo..)?,
    };
    let mut legacy_entries = 0usize;
    for entry in range {
        let (k, v) = entry?;
        let (_, _, key) = k.value();
        live.insert(
            Bytes::copy_from_slice(key),
            Bytes::copy_from_slice(v.value()),
        );
        legacy_entries += 1;
    }
    let log = txn.open_table(schema::STATE_LOG)?;
    let mut logged = 0usize;
    for entry in log.range((group, partition, 0)..=(group, partition, u64::MAX))? {
        let (_, v) = entry?;
        let (key, value) = decode(v.value()).ok_or(RestoreError::Corrupt)?;
        match value {
            Some(value) => live.insert(Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)),
            None => live.remove(key),
        };
        logged += 1;
    }
    let compact = legacy_entries > 0 || logged > 2 * live.len() + COMPACT_SLACK;
    Ok(Restored {
        entries: live.into_iter().collect(),
        compact,
    })
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    /// redb failed.
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    /// A changelog entry does not decode.
    #[error("a state changelog entry is corrupt; restore the data directory from a backup")]
    Corrupt,
}

impl From<redb::StorageError> for RestoreError {
    fn from(e: redb::StorageError) -> Self {
        Self::Storage(e.into())
    }
}

impl From<redb::TableError> for RestoreError {
    fn from(e: redb::TableError) -> Self {
        Self::Storage(e.into())
    }
}

/// The writer's next changelog sequence per (group, partition), learned from
/// the file on first use.
#[derive(Clone, Default)]
pub(crate) struct Sequences(HashMap<(Arc<str>, u32), u64>);

impl Sequences {
    /// The next sequence of (group, partition), read from the file if unknown.
    fn next(&mut self, t: &mut Tables<'_>, group: &Arc<str>, p: u32) -> Result<u64, ApplyError> {
        if let Some(&n) = self.0.get(&(Arc::clone(group), p)) {
            return Ok(n);
        }
        let lo: StateLogKey = (group, p, 0);
        let hi: StateLogKey = (group, p, u64::MAX);
        let last = t.state_log()?.range(lo..=hi)?.next_back().transpose()?;
        Ok(last.map_or(0, |(k, _)| k.value().2 + 1))
    }

    /// Appends `writes` to `group`'s changelog.
    pub(crate) fn append(
        &mut self,
        t: &mut Tables<'_>,
        group: &Arc<str>,
        writes: &[StateWrite],
    ) -> Result<(), ApplyError> {
        for w in writes {
            let seq = self.next(t, group, w.partition)?;
            let entry = encode(&w.key, w.value.as_deref());
            t.state_log()?
                .insert((&**group, w.partition, seq), &entry[..])?;
            self.0.insert((Arc::clone(group), w.partition), seq + 1);
        }
        Ok(())
    }

    /// Replaces everything stored for (group, partition) by `live`.
    pub(crate) fn rewrite(
        &mut self,
        t: &mut Tables<'_>,
        group: &Arc<str>,
        p: u32,
        live: &[StateEntry],
    ) -> Result<(), ApplyError> {
        let g = &**group;
        let legacy = t.state()?;
        match p.checked_add(1) {
            Some(next) => legacy.retain_in((g, p, &[][..])..(g, next, &[][..]), |_, _| false)?,
            None => legacy.retain_in((g, p, &[][..]).., |_, _| false)?,
        }
        let log = t.state_log()?;
        log.retain_in((g, p, 0)..=(g, p, u64::MAX), |_, _| false)?;
        for (seq, (key, value)) in live.iter().enumerate() {
            let entry = encode(key, Some(value));
            log.insert((g, p, seq as u64), &entry[..])?;
        }
        self.0.insert((Arc::clone(group), p), live.len() as u64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_entry_decodes_to_what_was_encoded() {
        let put = encode(b"b/42", Some(b"value"));
        assert_eq!(decode(&put), Some((&b"b/42"[..], Some(&b"value"[..]))));
        let empty = encode(b"k", Some(b""));
        assert_eq!(decode(&empty), Some((&b"k"[..], Some(&b""[..]))));
        let tombstone = encode(b"c/1", None);
        assert_eq!(decode(&tombstone), Some((&b"c/1"[..], None)));
    }

    #[test]
    fn a_truncated_or_mistagged_entry_is_refused() {
        let put = encode(b"key", Some(b"v"));
        assert_eq!(decode(&put[..6]), None);
        let mut bad = put.clone();
        bad[0] = 7;
        assert_eq!(decode(&bad), None);
        assert_eq!(decode(&[]), None);
    }
}
