//! Upgrading a data directory written by an older release, and rebuilding
//! the views.
//!
//! Formats 1–3 kept everything in redb files: `slotstream.redb` (the log,
//! offsets, state, epochs; up to format 2 also the views) and, from format 3
//! on, `views.redb` (the views and the view groups' rows). Format 4 is one
//! LSM database in `store/`. Opening an older directory copies everything
//! into `store.migrating/`, makes it durable, renames it to `store/` (the
//! commit point: a directory rename is atomic) and syncs the data
//! directory; only then are the redb files removed. A crash before the
//! rename leaves the redb files untouched and the next open copies again;
//! a crash after it leaves a complete `store/`, and the next open only
//! removes the leftovers. Nothing is deleted before its copy is durable.
//!
//! What is copied: every record of every topic at its offset, every
//! committed offset and epoch, each group's state folded to its live
//! entries (format-1 `state` rows first, then the `state_log` changelog in
//! sequence order), and every view row and index entry.

use crate::keys::Key;
use crate::schema::{self, DB_DIR, DB_DIR_TMP};
use crate::store::Store;
use crate::{EmbeddedError, EmbeddedOptions};
use fjall::{Keyspace, PersistMode, Readable};
use redb::{
    Database, Key as RedbKey, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition,
    TableError, Value,
};
use std::collections::BTreeMap;
use std::path::Path;

/// The redb log file of formats 1–3.
const LEGACY_LOG: &str = "slotstream.redb";
/// The redb views file of format 3.
const LEGACY_VIEWS: &str = "views.redb";

// The redb tables of formats 1–3, as those releases defined them.
const OFFSETS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("offsets");
const STATE_LOG: TableDefinition<(&str, u32, u64), &[u8]> = TableDefinition::new("state_log");
const STATE: TableDefinition<(&str, u32, &[u8]), &[u8]> = TableDefinition::new("state");
const EPOCHS: TableDefinition<(&str, u32), u64> = TableDefinition::new("epochs");
const BOOKINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/bookings");
const BOOKINGS_BY_USER: TableDefinition<(&str, i64, &str), u8> =
    TableDefinition::new("view/bookings_by_user");
const BOOKINGS_BY_RESOURCE: TableDefinition<(&str, i64, &str), i64> =
    TableDefinition::new("view/bookings_by_resource");
const BOOKINGS_BY_VENDOR: TableDefinition<(&str, i64, &str), i64> =
    TableDefinition::new("view/bookings_by_vendor");
const BOOKING_SPAN: TableDefinition<&str, i64> = TableDefinition::new("view/booking_span");
const VENDOR_SPAN: TableDefinition<&str, i64> = TableDefinition::new("view/vendor_span");
const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("view/resources");
const RESOURCES_BY_VENDOR: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("view/resources_by_vendor");
const RESOURCES_BY_KIND: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("view/resources_by_kind");
const PAYMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/payments");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/users");

/// The log tables of formats 1–3: (partition, offset) -> (timestamp, key, value).
type LegacyLog<'a> = TableDefinition<'a, (u32, u64), (i64, &'static [u8], &'static [u8])>;

/// Entries per batch while copying: bounds the memory a copy holds.
const COPY_BATCH: usize = 20_000;

fn io(path: &Path, source: std::io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}

fn legacy(e: impl std::fmt::Display) -> EmbeddedError {
    EmbeddedError::Storage(format!("reading the older data files: {e}"))
}

fn storage(e: fjall::Error) -> EmbeddedError {
    EmbeddedError::Storage(e.to_string())
}

fn remove_file(path: &Path) -> Result<bool, EmbeddedError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(path, e)),
    }
}

fn remove_dir(path: &Path) -> Result<(), EmbeddedError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path, e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), EmbeddedError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

/// Migrates a directory of formats 1–3 as described above; does nothing to
/// a current or a new one.
pub(crate) fn from_redb_if_needed(
    dir: &Path,
    _opts: &EmbeddedOptions,
) -> Result<(), EmbeddedError> {
    let log = dir.join(LEGACY_LOG);
    let views = dir.join(LEGACY_VIEWS);
    let tmp = dir.join(DB_DIR_TMP);
    if dir.join(DB_DIR).exists() {
        // Migrated already (or never needed): only leftovers of a crash
        // between the rename and the clean-up can be here.
        let removed = remove_file(&log)? | remove_file(&views)?;
        remove_dir(&tmp)?;
        if removed {
            tracing::info!("embedded backend: removed the migrated redb files");
        }
        return Ok(());
    }
    remove_dir(&tmp)?; // a migration that crashed before its rename
    if !log.exists() {
        // A new directory. A views file without its log belongs to a log
        // that is gone (format 3 removed it at open too).
        if remove_file(&views)? {
            tracing::warn!("embedded backend: removed a views file left without its log file");
        }
        return Ok(());
    }
    tracing::info!(dir = %dir.display(), "embedded backend: migrating the redb files to the log-structured store");
    let started = std::time::Instant::now();
    let copied = {
        let target = Store::open_db(&tmp)?;
        let mut copier = Copier::new(&target);
        copy_file(&log, &mut copier)?;
        if views.exists() {
            copy_file(&views, &mut copier)?;
        }
        copier.flush()?;
        target
            .ks
            .meta
            .insert(schema::FORMAT_KEY, schema::FORMAT_VERSION.to_be_bytes())
            .map_err(storage)?;
        target.db.persist(PersistMode::SyncAll).map_err(storage)?;
        copier.copied
    };
    std::fs::rename(&tmp, dir.join(DB_DIR)).map_err(|e| io(&tmp, e))?;
    sync_dir(dir)?;
    remove_file(&log)?;
    remove_file(&views)?;
    sync_dir(dir)?;
    tracing::info!(
        entries = copied,
        took_ms = started.elapsed().as_millis() as u64,
        "embedded backend: migration to format {} done",
        schema::FORMAT_VERSION
    );
    Ok(())
}

/// Batches writes into the target database.
struct Copier<'s> {
    store: &'s Store,
    batch: fjall::OwnedWriteBatch,
    copied: u64,
}

impl<'s> Copier<'s> {
    fn new(store: &'s Store) -> Self {
        Self {
            store,
            batch: store.db.batch(),
            copied: 0,
        }
    }

    fn put(&mut self, ks: &Keyspace, key: Vec<u8>, value: Vec<u8>) -> Result<(), EmbeddedError> {
        self.batch.insert(ks, key, value);
        self.copied += 1;
        if self.batch.len() >= COPY_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), EmbeddedError> {
        let batch = std::mem::replace(&mut self.batch, self.store.db.batch());
        batch.commit().map_err(storage)
    }
}

/// Opens a redb table of an older file; `None` when that file never had it.
fn table<K: RedbKey + 'static, V: Value + 'static>(
    txn: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, EmbeddedError> {
    match txn.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(legacy(e)),
    }
}

/// Copies everything one redb file holds.
fn copy_file(path: &Path, c: &mut Copier<'_>) -> Result<(), EmbeddedError> {
    let db = Database::open(path).map_err(|source| EmbeddedError::Open {
        path: path.to_owned(),
        source,
    })?;
    let txn = db.begin_read().map_err(legacy)?;
    let store = c.store;
    let ks = &store.ks;
    for (ti, spec) in schema::all_topics().iter().enumerate() {
        let name = format!("log/{}", spec.name);
        let def: LegacyLog<'_> = TableDefinition::new(&name);
        let Some(t) = table(&txn, def)? else { continue };
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (p, offset) = k.value();
            let (ts, key, value) = v.value();
            let Some(part) = ks.log[ti].get(p as usize) else {
                return Err(legacy(format!("{} has no partition {p}", spec.name)));
            };
            c.put(
                part,
                crate::keys::offset_key(offset).to_vec(),
                schema::encode_record(ts, key, &slotstream_runtime::Headers::new(), value),
            )?;
        }
    }
    if let Some(t) = table(&txn, OFFSETS)? {
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (group, topic, p) = k.value();
            c.put(
                &ks.offsets,
                schema::offset_key(group, topic, p),
                v.value().to_be_bytes().to_vec(),
            )?;
        }
    }
    if let Some(t) = table(&txn, EPOCHS)? {
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (group, member) = k.value();
            c.put(
                &ks.epochs,
                schema::member_key(group, member),
                v.value().to_be_bytes().to_vec(),
            )?;
        }
    }
    copy_state(&txn, c)?;
    copy_views(&txn, c)
}

/// Folds each (group, partition)'s format-1 rows and changelog to its live
/// entries and writes those.
fn copy_state(txn: &ReadTransaction, c: &mut Copier<'_>) -> Result<(), EmbeddedError> {
    let mut live: BTreeMap<(String, u32), BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    if let Some(t) = table(txn, STATE)? {
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (group, p, key) = k.value();
            live.entry((group.to_owned(), p))
                .or_default()
                .insert(key.to_vec(), v.value().to_vec());
        }
    }
    if let Some(t) = table(txn, STATE_LOG)? {
        // Keys sort by (group, partition, sequence): changelog order.
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (group, p, _) = k.value();
            let (key, value) = decode_changelog(v.value())
                .ok_or_else(|| legacy("a state changelog entry is corrupt"))?;
            let part = live.entry((group.to_owned(), p)).or_default();
            match value {
                Some(value) => part.insert(key.to_vec(), value.to_vec()),
                None => part.remove(key),
            };
        }
    }
    let store = c.store;
    for ((group, p), entries) in live {
        for (key, value) in entries {
            let mut k = schema::state_prefix(&group, p);
            k.extend_from_slice(&key);
            c.put(&store.ks.state, k, value)?;
        }
    }
    Ok(())
}

/// A format-2/3 changelog entry: tag (1 put, 0 delete), key length (u32
/// LE), key, then the value.
fn decode_changelog(raw: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (&tag, rest) = raw.split_first()?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let key = rest.get(4..4 + len)?;
    let value = &rest[4 + len..];
    match tag {
        1 => Some((key, Some(value))),
        0 if value.is_empty() => Some((key, None)),
        _ => None,
    }
}

/// Copies every view row and index entry, re-keyed for the new layout.
fn copy_views(txn: &ReadTransaction, c: &mut Copier<'_>) -> Result<(), EmbeddedError> {
    let store = c.store;
    let ks = &store.ks;
    for (def, target) in [
        (BOOKINGS, &ks.bookings),
        (RESOURCES, &ks.resources),
        (PAYMENTS, &ks.payments),
        (USERS, &ks.users),
    ] {
        let Some(t) = table(txn, def)? else { continue };
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            c.put(target, k.value().as_bytes().to_vec(), v.value().to_vec())?;
        }
    }
    if let Some(t) = table(txn, BOOKINGS_BY_USER)? {
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (user, inv, id) = k.value();
            let key = Key::new().str(user).i64(inv).str(id).done();
            c.put(&ks.bookings_by_user, key, vec![v.value()])?;
        }
    }
    for (def, target) in [
        (BOOKINGS_BY_RESOURCE, &ks.bookings_by_resource),
        (BOOKINGS_BY_VENDOR, &ks.bookings_by_vendor),
    ] {
        let Some(t) = table(txn, def)? else { continue };
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            let (owner, start, id) = k.value();
            let key = Key::new().str(owner).i64(start).str(id).done();
            c.put(target, key, v.value().to_be_bytes().to_vec())?;
        }
    }
    for (def, target) in [
        (BOOKING_SPAN, &ks.booking_span),
        (VENDOR_SPAN, &ks.vendor_span),
    ] {
        let Some(t) = table(txn, def)? else { continue };
        for entry in t.iter().map_err(legacy)? {
            let (k, v) = entry.map_err(legacy)?;
            c.put(
                target,
                k.value().as_bytes().to_vec(),
                v.value().to_be_bytes().to_vec(),
            )?;
        }
    }
    for (def, target) in [
        (RESOURCES_BY_VENDOR, &ks.resources_by_vendor),
        (RESOURCES_BY_KIND, &ks.resources_by_kind),
    ] {
        let Some(t) = table(txn, def)? else { continue };
        for entry in t.iter().map_err(legacy)? {
            let (k, _) = entry.map_err(legacy)?;
            let (owner, id) = k.value();
            c.put(target, Key::new().str(owner).str(id).done(), Vec::new())?;
        }
    }
    Ok(())
}

/// Empties every view, and removes the view groups' offsets, state and
/// epochs, so the view groups start again at offset 0 and rebuild every
/// view from the log. Durable before it returns; safe to repeat.
pub(crate) fn clear_views(store: &Store, view_groups: &[String]) -> Result<(), EmbeddedError> {
    for ks in store.ks.views() {
        ks.clear().map_err(storage)?;
    }
    let snap = store.snapshot();
    let mut batch = store.db.batch();
    for group in view_groups {
        let prefix = schema::group_prefix(group);
        for ks in [&store.ks.offsets, &store.ks.state, &store.ks.epochs] {
            for guard in snap.prefix(ks, &prefix) {
                batch.remove(ks, guard.key().map_err(storage)?);
            }
        }
    }
    batch.commit().map_err(storage)?;
    store.db.persist(PersistMode::SyncAll).map_err(storage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changelog_entry_of_the_old_format_decodes() {
        let mut put = vec![1u8];
        put.extend_from_slice(&3u32.to_le_bytes());
        put.extend_from_slice(b"keyvalue");
        assert_eq!(
            decode_changelog(&put),
            Some((&b"key"[..], Some(&b"value"[..])))
        );
        let mut del = vec![0u8];
        del.extend_from_slice(&1u32.to_le_bytes());
        del.push(b'k');
        assert_eq!(decode_changelog(&del), Some((&b"k"[..], None)));
        assert_eq!(decode_changelog(&put[..3]), None);
    }
}
