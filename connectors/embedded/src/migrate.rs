//! Format 3: the views move out of the log file into their own.
//!
//! Up to format 2 one file held everything. Format 3 keeps the view tables,
//! and the offsets, state and epochs of the view groups, in `views.redb`,
//! written by a second writer thread (see `lib.rs`). Opening an older log
//! file splits it, in an order that a crash at any point leaves openable:
//!
//! 1. copy the views and the view groups' rows into `views.redb.tmp`, commit
//!    it (fsynced), rename it to `views.redb` and sync the directory;
//! 2. in one log-file transaction, drop the view tables and the view groups'
//!    rows and write format 3.
//!
//! A crash before step 2 commits leaves a format-2 log file, so the next open
//! copies again and replaces the views file. Nothing is ever deleted from the
//! log file before its copy is durable.
//!
//! Two more cases, both about a views file that does not belong to the log
//! file next to it:
//!
//! * a new log file (no format yet) next to an old `views.redb`: the views
//!   file is removed, since its offsets point into a log that is gone;
//! * a format-3 log file without `views.redb` (someone deleted it): an empty
//!   one is created, and the view groups rebuild every view from offset 0
//!   of the log, which the embedded backend keeps whole.

use crate::EmbeddedError;
use crate::schema::{self, FORMAT_VERSION, VIEWS_FILE, VIEWS_FORMAT_VERSION};
use redb::{
    Database, Key, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, TableError,
    Value, WriteTransaction,
};
use std::path::Path;

/// Splits a format-1 or format-2 log file as described above; does nothing
/// to a current one. Removes a views file left next to a new log file.
pub(crate) fn split_views(
    db: &Database,
    dir: &Path,
    view_groups: &[String],
) -> Result<(), EmbeddedError> {
    let views = dir.join(VIEWS_FILE);
    match stored_format(db)? {
        None => {
            if remove_if_present(&views)? {
                tracing::warn!(
                    file = %views.display(),
                    "embedded backend: removed a views file left next to a new log file"
                );
            }
            return Ok(());
        }
        Some(v) if v >= FORMAT_VERSION => return Ok(()),
        Some(_) => {}
    }
    let tmp = dir.join(format!("{VIEWS_FILE}.tmp"));
    remove_if_present(&tmp)?; // a split that crashed before its rename
    let copied = {
        let dst = Database::builder()
            .create(&tmp)
            .map_err(|source| EmbeddedError::Open {
                path: tmp.clone(),
                source,
            })?;
        copy_out(db, &dst, view_groups)?
    };
    std::fs::rename(&tmp, &views).map_err(|source| io_error(dir, source))?;
    sync_dir(dir)?;
    drop_from_log(db, view_groups)?;
    tracing::info!(
        dir = %dir.display(),
        rows = copied,
        "embedded backend: moved the views into their own file (format {FORMAT_VERSION})"
    );
    Ok(())
}

fn stored_format(db: &Database) -> Result<Option<u64>, EmbeddedError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let meta = match txn.open_table(schema::META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(redb::Error::from(e).into()),
    };
    let found = meta.get("format").map_err(redb::Error::from)?;
    Ok(found.map(|v| v.value()))
}

/// Copies every view table and the view groups' rows into `dst`, stamped
/// with the views format, in one fsynced commit. Returns the rows copied.
fn copy_out(src: &Database, dst: &Database, groups: &[String]) -> Result<u64, redb::Error> {
    let is_view = |g: &str| groups.iter().any(|v| v == g);
    let r = src.begin_read()?;
    let w = dst.begin_write()?;
    let mut n = 0;
    {
        w.open_table(schema::META)?
            .insert("format", VIEWS_FORMAT_VERSION)?;
        n += copy_all(&r, &w, schema::BOOKINGS)?;
        n += copy_all(&r, &w, schema::BOOKINGS_BY_USER)?;
        n += copy_all(&r, &w, schema::BOOKINGS_BY_RESOURCE)?;
        n += copy_all(&r, &w, schema::BOOKING_SPAN)?;
        n += copy_all(&r, &w, schema::BOOKINGS_BY_VENDOR)?;
        n += copy_all(&r, &w, schema::VENDOR_SPAN)?;
        n += copy_all(&r, &w, schema::RESOURCES)?;
        n += copy_all(&r, &w, schema::RESOURCES_BY_VENDOR)?;
        n += copy_all(&r, &w, schema::RESOURCES_BY_KIND)?;
        n += copy_all(&r, &w, schema::PAYMENTS)?;
        n += copy_all(&r, &w, schema::USERS)?;
        // The tables keyed by (group, ...): only the view groups' rows.
        macro_rules! copy_view_group_rows {
            ($def:expr) => {
                if let Some(from) = open_or_none(&r, $def)? {
                    let mut to = w.open_table($def)?;
                    for entry in from.iter()? {
                        let (k, v) = entry?;
                        if is_view(k.value().0) {
                            to.insert(k.value(), v.value())?;
                            n += 1;
                        }
                    }
                }
            };
        }
        copy_view_group_rows!(schema::OFFSETS);
        copy_view_group_rows!(schema::STATE);
        copy_view_group_rows!(schema::STATE_LOG);
        copy_view_group_rows!(schema::EPOCHS);
    }
    w.commit()?;
    Ok(n)
}

/// Copies one whole table (absent in the source: nothing to copy).
fn copy_all<K: Key + 'static, V: Value + 'static>(
    r: &ReadTransaction,
    w: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, redb::Error> {
    let Some(from) = open_or_none(r, def)? else {
        return Ok(0);
    };
    let mut to = w.open_table(def)?;
    let mut n = 0;
    for entry in from.iter()? {
        let (k, v) = entry?;
        to.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

fn open_or_none<K: Key + 'static, V: Value + 'static>(
    r: &ReadTransaction,
    def: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, redb::Error> {
    match r.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Step 2: what was copied leaves the log file, and the format becomes 3,
/// in one transaction.
fn drop_from_log(db: &Database, groups: &[String]) -> Result<(), redb::Error> {
    let is_view = |g: &str| groups.iter().any(|v| v == g);
    let w = db.begin_write()?;
    {
        w.delete_table(schema::BOOKINGS)?;
        w.delete_table(schema::BOOKINGS_BY_USER)?;
        w.delete_table(schema::BOOKINGS_BY_RESOURCE)?;
        w.delete_table(schema::BOOKING_SPAN)?;
        w.delete_table(schema::BOOKINGS_BY_VENDOR)?;
        w.delete_table(schema::VENDOR_SPAN)?;
        w.delete_table(schema::RESOURCES)?;
        w.delete_table(schema::RESOURCES_BY_VENDOR)?;
        w.delete_table(schema::RESOURCES_BY_KIND)?;
        w.delete_table(schema::PAYMENTS)?;
        w.delete_table(schema::USERS)?;
        w.open_table(schema::OFFSETS)?
            .retain(|k, _| !is_view(k.0))?;
        w.open_table(schema::STATE)?.retain(|k, _| !is_view(k.0))?;
        w.open_table(schema::STATE_LOG)?
            .retain(|k, _| !is_view(k.0))?;
        w.open_table(schema::EPOCHS)?.retain(|k, _| !is_view(k.0))?;
        w.open_table(schema::META)?
            .insert("format", FORMAT_VERSION)?;
    }
    w.commit()?;
    Ok(())
}

/// A view group's committed offset past the end of its partition.
#[derive(Debug)]
pub(crate) struct Ahead {
    pub group: String,
    pub topic: String,
    pub partition: u32,
    pub committed: u64,
    pub end: u64,
}

/// Whether the views file has consumed past the end of the log next to it
/// (a log file restored from an older backup without its views file, say):
/// then its views describe records that are not there. Returns the first
/// such offset.
pub(crate) fn views_ahead_of_log(
    views: &Database,
    ends: &[Vec<u64>],
) -> Result<Option<Ahead>, redb::Error> {
    let r = views.begin_read()?;
    let Some(offsets) = open_or_none(&r, schema::OFFSETS)? else {
        return Ok(None);
    };
    for entry in offsets.iter()? {
        let (k, v) = entry?;
        let (group, topic, partition) = k.value();
        let end = schema::topic_index(topic)
            .and_then(|ti| ends.get(ti))
            .and_then(|parts| parts.get(partition as usize))
            .copied()
            .unwrap_or(0);
        if v.value() > end {
            return Ok(Some(Ahead {
                group: group.to_owned(),
                topic: topic.to_owned(),
                partition,
                committed: v.value(),
                end,
            }));
        }
    }
    Ok(None)
}

/// Removes the views file, so that it is created empty and the view groups
/// rebuild the views from offset 0.
pub(crate) fn discard_views(dir: &Path) -> Result<(), EmbeddedError> {
    remove_if_present(&dir.join(VIEWS_FILE)).map(drop)
}

/// Whether there was a file to remove.
fn remove_if_present(path: &Path) -> Result<bool, EmbeddedError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(io_error(path, source)),
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), EmbeddedError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error(dir, source))
}

fn io_error(path: &Path, source: std::io::Error) -> EmbeddedError {
    EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EmbeddedBackend, EmbeddedOptions, contract};
    use bytes::Bytes;
    use redb::TableHandle;
    use slotstream_runtime::topics::{BOOKING_COMMANDS, groups};
    use slotstream_runtime::{
        Backend, Session, StateWrite, TopicPartition, Transaction, ViewStore, ViewWrite,
    };

    const OTHER: &str = "slotstream.booking";

    fn user(email: &str) -> ViewWrite {
        ViewWrite::PutUser(contract::views::user(email))
    }

    /// A session of `group` on the input topic, past its assignment.
    async fn joined(backend: &EmbeddedBackend, group: &str) -> Box<dyn Session> {
        let mut s = backend
            .subscribe(group, &[BOOKING_COMMANDS], 0, 1)
            .await
            .expect("subscribe");
        contract::log::assignment(&mut *s).await;
        s
    }

    /// Commits `offset` on partition 0 (and, for a view group, a view row
    /// and a state entry) as `group`.
    async fn commit(backend: &EmbeddedBackend, group: &str, offset: u64) {
        let mut s = joined(backend, group).await;
        let mut txn = Transaction::default();
        txn.state.push(StateWrite {
            partition: 0,
            key: Bytes::from_static(b"k"),
            value: Some(Bytes::from(group.to_owned())),
        });
        if group != OTHER {
            txn.views.push(user("in-a-group@x.test"));
        }
        txn.offsets
            .push((TopicPartition::new(BOOKING_COMMANDS.name, 0), offset));
        s.commit(txn).await.expect("commit");
    }

    /// A directory as format 2 left it: made with this build, then the views
    /// file folded back into the log file and the format set to 2.
    async fn format_2_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("open");
        // Records for the committed offsets below to point at.
        let records = (0..7)
            .map(|i| contract::log::record(BOOKING_COMMANDS.name, &format!("k{i}"), "v", Some(0)))
            .collect();
        backend.producer().send(records).await.expect("append");
        backend
            .apply(&[user("direct@x.test")])
            .await
            .expect("views");
        commit(&backend, groups::VIEWS_BOOKING.name, 7).await;
        commit(&backend, OTHER, 5).await;
        backend.close();
        drop(backend);
        let log = Database::open(dir.path().join(schema::LOG_FILE)).expect("log file");
        let views = Database::open(dir.path().join(VIEWS_FILE)).expect("views file");
        let all: Vec<String> = groups::ALL.iter().map(|g| g.name.to_owned()).collect();
        assert!(copy_out(&views, &log, &all).expect("fold back") >= 4);
        drop(views);
        let w = log.begin_write().expect("write");
        w.open_table(schema::META)
            .expect("meta")
            .insert("format", 2)
            .expect("format");
        w.commit().expect("commit");
        // What a split that crashed after its rename would have left.
        std::fs::write(dir.path().join(VIEWS_FILE), b"not the views").expect("stale file");
        dir
    }

    #[tokio::test]
    async fn a_format_2_directory_is_split_at_open_and_keeps_everything() {
        let dir = format_2_dir().await;
        let backend =
            EmbeddedBackend::open(dir.path(), EmbeddedOptions::default()).expect("reopen");
        for email in ["direct@x.test", "in-a-group@x.test"] {
            assert!(
                backend.user_by_email(email).await.expect("read").is_some(),
                "{email} survived the split"
            );
        }
        let tp = TopicPartition::new(BOOKING_COMMANDS.name, 0);
        let view_group = groups::VIEWS_BOOKING.name;
        assert_eq!(backend.committed_offset(view_group, &tp).unwrap(), Some(7));
        assert_eq!(backend.committed_offset(OTHER, &tp).unwrap(), Some(5));
        for group in [view_group, OTHER] {
            let mut s = joined(&backend, group).await;
            let state = s.restore(0).await.expect("restore");
            assert_eq!(
                state,
                vec![(Bytes::from_static(b"k"), Bytes::from(group.to_owned()))],
                "state of {group}"
            );
        }
        backend.close();
        drop(backend);

        // The log file kept no view table and no row of a view group.
        let log = Database::open(dir.path().join(schema::LOG_FILE)).expect("log file");
        let r = log.begin_read().expect("read");
        let format = r.open_table(schema::META).unwrap().get("format").unwrap();
        assert_eq!(format.map(|v| v.value()), Some(FORMAT_VERSION));
        let names: Vec<String> = r
            .list_tables()
            .expect("tables")
            .map(|t| t.name().to_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with("view/")), "{names:?}");
        let offsets = r.open_table(schema::OFFSETS).expect("offsets");
        let groups_left: Vec<String> = offsets
            .iter()
            .unwrap()
            .map(|e| e.unwrap().0.value().0.to_owned())
            .collect();
        assert_eq!(groups_left, vec![OTHER.to_owned()]);
        assert!(!dir.path().join(format!("{VIEWS_FILE}.tmp")).exists());
    }
}
