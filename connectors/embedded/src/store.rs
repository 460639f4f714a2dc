//! What readers and the writer share: the redb database, the committed end
//! offset of every partition, the commit sequence readers wait on, and the
//! live member epochs sessions check for fencing.
//!
//! Everything here is either in the file or recovered from it at open; the
//! in-memory values only ever run *behind* the file (they are published after
//! each commit), never ahead of it.

use crate::EmbeddedError;
use crate::schema::{self, LogKey};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};
use slotstream_runtime::TopicSpec;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Epoch cells by group, then member.
type EpochCells = HashMap<Arc<str>, HashMap<u32, Arc<AtomicU64>>>;

/// State shared by the writer thread, producers, readers and sessions.
pub(crate) struct Store {
    /// The database file.
    pub db: Database,
    /// Which file it is.
    pub kind: FileKind,
    /// Topic names as shared strings, by topic index.
    pub topic_names: Vec<Arc<str>>,
    /// Log table names, by topic index.
    pub log_tables: Vec<String>,
    /// Committed end offset (next offset to assign) per topic index, partition.
    ends: Vec<Box<[AtomicU64]>>,
    /// Bumped after every successful commit; readers wait on it.
    commits: watch::Sender<u64>,
    /// Current epoch of each (group, member) that has joined since open.
    epochs: Mutex<EpochCells>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("file", &self.kind)
            .field("topics", &self.topic_names)
            .finish_non_exhaustive()
    }
}

/// redb's cache for the views file. Half of it may hold pages of commits
/// that were not fsynced; beyond that redb writes them to the file, where
/// the writer's trickle (`Writer::with_trickle`) sends them to the disk a
/// little at a time instead of all at the next durable commit. Reads that
/// miss it are served by the OS page cache.
const VIEWS_CACHE_BYTES: usize = 16 << 20;

/// The two files of a data directory, each with its own writer thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// The log: every topic, and the offsets, state and epochs of every group
    /// but the view groups.
    Log,
    /// The views, and the offsets, state and epochs of the view groups. It
    /// holds no log: its writer refuses appends.
    Views,
}

impl FileKind {
    /// The file's name in the data directory.
    pub fn file_name(self) -> &'static str {
        match self {
            FileKind::Log => schema::LOG_FILE,
            FileKind::Views => schema::VIEWS_FILE,
        }
    }

    /// The layout version this build writes, and the oldest it upgrades.
    fn formats(self) -> (u64, u64) {
        match self {
            FileKind::Log => (schema::FORMAT_VERSION, schema::OLDEST_FORMAT),
            FileKind::Views => (schema::VIEWS_FORMAT_VERSION, schema::VIEWS_FORMAT_VERSION),
        }
    }
}

/// What the writer needs to start from, recovered from the file.
pub(crate) struct Recovered {
    /// End offset per topic index, partition.
    pub ends: Vec<Vec<u64>>,
    /// Every stored epoch.
    pub epochs: HashMap<Arc<str>, HashMap<u32, u64>>,
}

impl Store {
    /// Opens (or creates) one of the two files in `dir`, creates missing
    /// tables and recovers the end offsets (the log file's) and epochs. The
    /// log file is opened first: an older one is split at open, which writes
    /// the views file (`migrate.rs`).
    pub fn open(
        dir: &Path,
        kind: FileKind,
        view_groups: &[String],
    ) -> Result<(Store, Recovered), EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let path = dir.join(kind.file_name());
        let mut builder = Database::builder();
        if kind == FileKind::Views {
            builder.set_cache_size(VIEWS_CACHE_BYTES);
        }
        let db = builder
            .create(&path)
            .map_err(|source| EmbeddedError::Open {
                path: path.clone(),
                source,
            })?;
        let topics = schema::all_topics();
        let log_tables: Vec<String> = match kind {
            FileKind::Log => {
                crate::migrate::split_views(&db, dir, view_groups)?;
                topics
                    .iter()
                    .map(|t| schema::log_table_name(t.name))
                    .collect()
            }
            FileKind::Views => Vec::new(),
        };
        init_tables(&db, kind, &log_tables)?;
        let recovered = recover(&db, kind, topics, &log_tables)?;
        let ends = recovered
            .ends
            .iter()
            .map(|parts| parts.iter().map(|&e| AtomicU64::new(e)).collect())
            .collect();
        let mut cells = EpochCells::new();
        for (group, members) in &recovered.epochs {
            let entry = cells.entry(group.clone()).or_default();
            for (&member, &epoch) in members {
                entry.insert(member, Arc::new(AtomicU64::new(epoch)));
            }
        }
        let store = Store {
            db,
            kind,
            topic_names: topics.iter().map(|t| Arc::from(t.name)).collect(),
            log_tables,
            ends,
            commits: watch::Sender::new(0),
            epochs: Mutex::new(cells),
        };
        Ok((store, recovered))
    }

    /// The committed end offset of a partition (no validation: callers check).
    pub fn end(&self, topic: usize, partition: u32) -> u64 {
        self.ends[topic][partition as usize].load(Ordering::Acquire)
    }

    /// Makes a committed group visible: new end offsets, new epochs, then a
    /// bump of the commit sequence that wakes every waiting reader.
    pub fn publish(&self, ends: &[Vec<u64>], joined: &[(Arc<str>, u32, u64)]) {
        for (cells, values) in self.ends.iter().zip(ends) {
            for (cell, &v) in cells.iter().zip(values) {
                cell.store(v, Ordering::Release);
            }
        }
        for (group, member, epoch) in joined {
            self.epoch_cell(group, *member)
                .store(*epoch, Ordering::Release);
        }
        self.commits.send_modify(|seq| *seq = seq.wrapping_add(1));
    }

    /// A receiver of the commit sequence, for waiting on new data.
    pub fn watch_commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// The live epoch cell of (group, member), created at 0 if unknown.
    pub fn epoch_cell(&self, group: &Arc<str>, member: u32) -> Arc<AtomicU64> {
        let mut cells = self.epochs.lock().unwrap_or_else(PoisonError::into_inner);
        cells
            .entry(group.clone())
            .or_default()
            .entry(member)
            .or_insert_with(|| Arc::new(AtomicU64::new(0)))
            .clone()
    }

    /// A snapshot to read from.
    pub fn begin_read(&self) -> Result<ReadTransaction, redb::Error> {
        Ok(self.db.begin_read()?)
    }
}

/// Creates every table once, and checks or writes the format version.
fn init_tables(db: &Database, kind: FileKind, log_tables: &[String]) -> Result<(), EmbeddedError> {
    let (current, oldest) = kind.formats();
    let txn = db.begin_write().map_err(redb::Error::from)?;
    {
        let mut meta = txn.open_table(schema::META).map_err(redb::Error::from)?;
        let stored = meta
            .get("format")
            .map_err(redb::Error::from)?
            .map(|v| v.value());
        match stored {
            None => {
                meta.insert("format", current).map_err(redb::Error::from)?;
            }
            Some(v) if v == current => {}
            Some(v) if (oldest..current).contains(&v) => {
                meta.insert("format", current).map_err(redb::Error::from)?;
            }
            Some(found) => {
                return Err(EmbeddedError::Format {
                    found,
                    expected: current,
                });
            }
        }
        create_tables(&txn, kind, log_tables)?;
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(())
}

fn create_tables(
    txn: &redb::WriteTransaction,
    kind: FileKind,
    log_tables: &[String],
) -> Result<(), redb::Error> {
    for name in log_tables {
        txn.open_table(schema::log_table(name))?;
    }
    txn.open_table(schema::OFFSETS)?;
    txn.open_table(schema::STATE)?;
    txn.open_table(schema::STATE_LOG)?;
    txn.open_table(schema::EPOCHS)?;
    if kind == FileKind::Views {
        txn.open_table(schema::BOOKINGS)?;
        txn.open_table(schema::BOOKINGS_BY_USER)?;
        txn.open_table(schema::BOOKINGS_BY_RESOURCE)?;
        txn.open_table(schema::BOOKING_SPAN)?;
        txn.open_table(schema::BOOKINGS_BY_VENDOR)?;
        txn.open_table(schema::VENDOR_SPAN)?;
        txn.open_table(schema::RESOURCES)?;
        txn.open_table(schema::RESOURCES_BY_VENDOR)?;
        txn.open_table(schema::RESOURCES_BY_KIND)?;
        txn.open_table(schema::PAYMENTS)?;
        txn.open_table(schema::USERS)?;
    }
    Ok(())
}

/// Reads each partition's last offset and every member epoch.
fn recover(
    db: &Database,
    kind: FileKind,
    topics: &[TopicSpec],
    log_tables: &[String],
) -> Result<Recovered, redb::Error> {
    let txn = db.begin_read()?;
    let mut ends = Vec::with_capacity(topics.len());
    // The views file holds no log: `log_tables` is empty and so are the ends.
    debug_assert!(kind == FileKind::Log || log_tables.is_empty());
    for (spec, name) in topics.iter().zip(log_tables) {
        let table = txn.open_table(schema::log_table(name))?;
        let mut parts = Vec::with_capacity(spec.partitions as usize);
        for p in 0..spec.partitions {
            let lo: LogKey = (p, 0);
            let hi: LogKey = (p, u64::MAX);
            let last = table.range(lo..=hi)?.next_back().transpose()?;
            parts.push(last.map_or(0, |(k, _)| k.value().1 + 1));
        }
        ends.push(parts);
    }
    let mut epochs: HashMap<Arc<str>, HashMap<u32, u64>> = HashMap::new();
    let table = txn.open_table(schema::EPOCHS)?;
    for entry in table.iter()? {
        let (k, v) = entry?;
        let (group, member) = k.value();
        epochs
            .entry(Arc::from(group))
            .or_default()
            .insert(member, v.value());
    }
    Ok(Recovered { ends, epochs })
}
