//! What readers and the writers share: the LSM database and its keyspaces,
//! the committed end offset of every partition, the commit sequence readers
//! wait on, and the live member epochs sessions check for fencing.
//!
//! Everything here is either in the database or recovered from it at open;
//! the in-memory values only ever run *behind* the durable journal (they are
//! published after each commit), never ahead of it.

use crate::schema;
use crate::{EmbeddedError, EmbeddedOptions};
use fjall::config::{FilterPolicy, PinningPolicy};
use fjall::{Database, Keyspace, KeyspaceCreateOptions, Readable, Snapshot};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Epoch cells by group, then member.
type EpochCells = HashMap<Arc<str>, HashMap<u32, Arc<AtomicU64>>>;

/// Every keyspace of the database.
pub(crate) struct Keyspaces {
    /// One keyspace per topic partition, `[topic index][partition]`: offset
    /// (big-endian) -> timestamp, key, headers, value (see `schema::encode_record`).
    pub log: Vec<Vec<Keyspace>>,
    /// `"format"` -> the layout version.
    pub meta: Keyspace,
    /// (group, topic, partition) -> next offset to read.
    pub offsets: Keyspace,
    /// (group, task partition) ++ state key -> value; a delete is a tombstone.
    pub state: Keyspace,
    /// (group, member) -> epoch.
    pub epochs: Keyspace,
    /// Bookings by id.
    pub bookings: Keyspace,
    /// (user, `!created_at`, booking id) -> status code.
    pub bookings_by_user: Keyspace,
    /// (resource, start, booking id) -> end.
    pub bookings_by_resource: Keyspace,
    /// resource -> longest booking.
    pub booking_span: Keyspace,
    /// (vendor, start, booking id) -> end.
    pub bookings_by_vendor: Keyspace,
    /// vendor -> longest booking.
    pub vendor_span: Keyspace,
    /// Resources by id.
    pub resources: Keyspace,
    /// (vendor, resource id) -> ().
    pub resources_by_vendor: Keyspace,
    /// (kind, resource id) -> ().
    pub resources_by_kind: Keyspace,
    /// Payments by id.
    pub payments: Keyspace,
    /// Users by normalized email.
    pub users: Keyspace,
    /// Login locks by normalized email.
    pub login_locks: Keyspace,
    /// API keys by key id.
    pub api_keys: Keyspace,
    /// (owner, key id) -> ().
    pub api_keys_by_owner: Keyspace,
    /// (owner, webhook id) -> the subscription's row.
    pub webhooks: Keyspace,
    /// (topic, partition) -> the next offset the views apply.
    pub positions: Keyspace,
    /// (audience, topic, partition, offset) -> the event's row.
    pub events: Keyspace,
}

impl Keyspaces {
    /// The view keyspaces (cleared when the views are rebuilt).
    pub fn views(&self) -> [&Keyspace; 17] {
        [
            &self.bookings,
            &self.bookings_by_user,
            &self.bookings_by_resource,
            &self.booking_span,
            &self.bookings_by_vendor,
            &self.vendor_span,
            &self.resources,
            &self.resources_by_vendor,
            &self.resources_by_kind,
            &self.payments,
            &self.users,
            &self.login_locks,
            &self.api_keys,
            &self.api_keys_by_owner,
            &self.webhooks,
            &self.positions,
            &self.events,
        ]
    }
}

/// State shared by the writer threads, producers, readers and sessions.
pub(crate) struct Store {
    /// The database: one journal, one LSM tree per keyspace.
    pub db: Database,
    /// Its keyspaces.
    pub ks: Keyspaces,
    /// Topic names as shared strings, by topic index.
    pub topic_names: Vec<Arc<str>>,
    /// Durable end offset (next offset to assign once the group in flight
    /// is fsynced) per topic index, partition: what readers may see.
    ends: Vec<Box<[AtomicU64]>>,
    /// End offset of what is written to the journal, durable or not: what
    /// eager groups' sessions may read (see `EmbeddedOptions::eager_groups`).
    written: Vec<Box<[AtomicU64]>>,
    /// Bumped after every successful commit that appended; readers wait on it.
    commits: watch::Sender<u64>,
    /// Current epoch of each (group, member) that has joined since open.
    epochs: Mutex<EpochCells>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("topics", &self.topic_names)
            .finish_non_exhaustive()
    }
}

/// What the writers need to start from, recovered from the database.
pub(crate) struct Recovered {
    /// End offset per topic index, partition.
    pub ends: Vec<Vec<u64>>,
    /// Every stored epoch.
    pub epochs: HashMap<Arc<str>, HashMap<u32, u64>>,
}

/// The block cache shared by every keyspace: hot index and data blocks of
/// the views and the log tails consumers read. It fills to its cap as
/// history grows; at 32 MiB the history bench's RSS at a million bookings
/// was 353 MB against 411 MB at 64 MiB (BENCHMARKS.md).
const CACHE_BYTES: u64 = 32 << 20;

/// Journals kept before the oldest memtables are flushed: bounds what a
/// restart replays (fjall's minimum; its default is 512 MiB).
const MAX_JOURNALING_BYTES: u64 = 64 << 20;

/// A log partition's memtable is flushed at this size: small tables, so
/// retention can drop whole tables of old records soon after they expire.
const LOG_MEMTABLE_BYTES: u64 = 8 << 20;

/// The memtable size of the other keyspaces (state, offsets, views), down
/// from fjall's 64 MiB: with a dozen of them, memtables were most of the
/// memory the platform grew to (BENCHMARKS.md, the history bench).
const MEMTABLE_BYTES: u64 = 8 << 20;

/// Target table size of the log keyspaces (leveled compaction).
const LOG_TABLE_BYTES: u64 = 16 << 20;

/// Threads for flushes and compactions: one fewer than the cores (at least
/// one, at most four). The writers, processors and gateway need the cores
/// more: on 2 cores, fjall's default of 2 workers gave 8,900–10,600
/// bookings/s at 256 connections with p99 157–287 ms, one worker
/// 12,000–14,000/s with p99 58–78 ms (BENCHMARKS.md).
fn background_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get().saturating_sub(1))
        .clamp(1, 4)
}

fn storage(e: fjall::Error) -> EmbeddedError {
    EmbeddedError::Storage(e.to_string())
}

impl Store {
    /// Opens (or creates) the database in `dir`, migrating an older data
    /// directory (redb files) first, and recovers end offsets and epochs.
    pub fn open(dir: &Path, opts: &EmbeddedOptions) -> Result<(Store, Recovered), EmbeddedError> {
        std::fs::create_dir_all(dir).map_err(|source| EmbeddedError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        crate::migrate::from_redb_if_needed(dir, opts)?;
        let store = Self::open_db(&dir.join(schema::DB_DIR))?;
        store.check_format()?;
        if dir.join(schema::REBUILD_VIEWS).exists() {
            crate::migrate::clear_views(&store, &opts.view_groups)?;
            std::fs::remove_file(dir.join(schema::REBUILD_VIEWS)).map_err(|source| {
                EmbeddedError::Io {
                    path: dir.join(schema::REBUILD_VIEWS),
                    source,
                }
            })?;
            tracing::warn!("embedded backend: views cleared; rebuilding them from the log");
        }
        let recovered = store.recover()?;
        store.publish(&recovered.ends, &[]);
        {
            let mut cells = store.epochs.lock().unwrap_or_else(PoisonError::into_inner);
            for (group, members) in &recovered.epochs {
                let entry = cells.entry(group.clone()).or_default();
                for (&member, &epoch) in members {
                    entry.insert(member, Arc::new(AtomicU64::new(epoch)));
                }
            }
        }
        Ok((store, recovered))
    }

    /// Opens the database at `path` with every keyspace (no migration, no
    /// recovery of offsets): also what the migration writes into.
    pub(crate) fn open_db(path: &Path) -> Result<Store, EmbeddedError> {
        let db = Database::builder(path)
            .cache_size(CACHE_BYTES)
            .max_journaling_size(MAX_JOURNALING_BYTES)
            .worker_threads(background_workers())
            .open()
            .map_err(|e| match e {
                fjall::Error::Locked => EmbeddedError::Locked {
                    path: path.to_owned(),
                },
                other => storage(other),
            })?;
        let topics = schema::all_topics();
        let plain = |name: &str| {
            db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
            })
        };
        let mut log = Vec::with_capacity(topics.len());
        for spec in topics {
            let mut parts = Vec::with_capacity(spec.partitions as usize);
            for p in 0..spec.partitions {
                let ks = db
                    .keyspace(&schema::log_keyspace(spec.name, p), || {
                        // The log is only ever range-scanned (a consumer reads
                        // on from an offset; recovery seeks the last key), so
                        // bloom filters answer no read of it, and its index
                        // blocks are read in order: neither is built or pinned
                        // in memory, where both grew with every record ever
                        // kept (BENCHMARKS.md, the history bench).
                        KeyspaceCreateOptions::default()
                            .max_memtable_size(LOG_MEMTABLE_BYTES)
                            .filter_policy(FilterPolicy::disabled())
                            .filter_block_pinning_policy(PinningPolicy::all(false))
                            .index_block_pinning_policy(PinningPolicy::all(false))
                            .compaction_strategy(Arc::new(
                                fjall::compaction::Leveled::default()
                                    .with_table_target_size(LOG_TABLE_BYTES),
                            ))
                    })
                    .map_err(storage)?;
                parts.push(ks);
            }
            log.push(parts);
        }
        let ks = Keyspaces {
            log,
            meta: plain("meta").map_err(storage)?,
            offsets: plain("offsets").map_err(storage)?,
            state: plain("state").map_err(storage)?,
            epochs: plain("epochs").map_err(storage)?,
            bookings: plain("view.bookings").map_err(storage)?,
            bookings_by_user: plain("view.bookings_by_user").map_err(storage)?,
            bookings_by_resource: plain("view.bookings_by_resource").map_err(storage)?,
            booking_span: plain("view.booking_span").map_err(storage)?,
            bookings_by_vendor: plain("view.bookings_by_vendor").map_err(storage)?,
            vendor_span: plain("view.vendor_span").map_err(storage)?,
            resources: plain("view.resources").map_err(storage)?,
            resources_by_vendor: plain("view.resources_by_vendor").map_err(storage)?,
            resources_by_kind: plain("view.resources_by_kind").map_err(storage)?,
            payments: plain("view.payments").map_err(storage)?,
            users: plain("view.users").map_err(storage)?,
            // Added after the first fjall release: an older store gets it
            // empty at open, and no lock existed before it.
            login_locks: plain("view.login_locks").map_err(storage)?,
            // Added with API keys: an older store gets them empty at open,
            // and no key existed before them.
            api_keys: plain("view.api_keys").map_err(storage)?,
            api_keys_by_owner: plain("view.api_keys_by_owner").map_err(storage)?,
            // Added with consistency tokens and the events API: an older
            // store gets them empty at open; its views then record
            // positions from their next commit and list the events
            // projected from then on (rebuild the views for the history).
            // Added with webhook subscriptions: an older store gets it
            // empty at open, and no subscription existed before it.
            webhooks: plain("view.webhooks").map_err(storage)?,
            positions: plain("view.positions").map_err(storage)?,
            events: plain("view.events").map_err(storage)?,
        };
        Ok(Store {
            db,
            ks,
            topic_names: topics.iter().map(|t| Arc::from(t.name)).collect(),
            ends: topics
                .iter()
                .map(|t| (0..t.partitions).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            written: topics
                .iter()
                .map(|t| (0..t.partitions).map(|_| AtomicU64::new(0)).collect())
                .collect(),
            commits: watch::Sender::new(0),
            epochs: Mutex::new(EpochCells::new()),
        })
    }

    /// Checks the layout version, writing it into a new database.
    fn check_format(&self) -> Result<(), EmbeddedError> {
        let stored = self.ks.meta.get(schema::FORMAT_KEY).map_err(storage)?;
        match stored {
            None => {
                self.ks
                    .meta
                    .insert(schema::FORMAT_KEY, schema::FORMAT_VERSION.to_be_bytes())
                    .map_err(storage)?;
                self.db
                    .persist(fjall::PersistMode::SyncAll)
                    .map_err(storage)?;
                Ok(())
            }
            Some(v) => {
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .unwrap_or(u64::MAX);
                if found == schema::FORMAT_VERSION {
                    Ok(())
                } else {
                    Err(EmbeddedError::Format {
                        found,
                        expected: schema::FORMAT_VERSION,
                    })
                }
            }
        }
    }

    /// Reads each partition's last offset and every member epoch.
    fn recover(&self) -> Result<Recovered, EmbeddedError> {
        let snap = self.db.snapshot();
        let mut ends = Vec::with_capacity(self.ks.log.len());
        for parts in &self.ks.log {
            let mut row = Vec::with_capacity(parts.len());
            for ks in parts {
                let end = match snap.last_key_value(ks) {
                    Some(guard) => {
                        let key = guard.key().map_err(storage)?;
                        crate::keys::offset_of(&key).ok_or_else(|| {
                            EmbeddedError::Storage("a log key is not an offset".into())
                        })? + 1
                    }
                    None => 0,
                };
                row.push(end);
            }
            ends.push(row);
        }
        let mut epochs: HashMap<Arc<str>, HashMap<u32, u64>> = HashMap::new();
        for guard in snap.iter(&self.ks.epochs) {
            let (k, v) = guard.into_inner().map_err(storage)?;
            let (group, member) = schema::decode_member(&k)
                .ok_or_else(|| EmbeddedError::Storage("an epoch key does not decode".into()))?;
            let epoch = schema::decode_u64(&v)
                .ok_or_else(|| EmbeddedError::Storage("an epoch does not decode".into()))?;
            epochs
                .entry(Arc::from(group.as_str()))
                .or_default()
                .insert(member, epoch);
        }
        Ok(Recovered { ends, epochs })
    }

    /// The committed end offset of a partition (no validation: callers check).
    pub fn end(&self, topic: usize, partition: u32) -> u64 {
        self.ends[topic][partition as usize].load(Ordering::Acquire)
    }

    /// The end offset of what is written, durable or not (eager readers).
    pub fn written_end(&self, topic: usize, partition: u32) -> u64 {
        self.written[topic][partition as usize].load(Ordering::Acquire)
    }

    /// Makes records written to the journal but not yet durable visible to
    /// eager readers, and wakes the waiting ones.
    pub fn publish_written(&self, ends: &[Vec<u64>]) {
        for (cells, values) in self.written.iter().zip(ends) {
            for (cell, &v) in cells.iter().zip(values) {
                cell.store(v, Ordering::Release);
            }
        }
        if !ends.is_empty() {
            self.commits.send_modify(|seq| *seq = seq.wrapping_add(1));
        }
    }

    /// Makes a durable window visible: new end offsets, new epochs, then a
    /// bump of the commit sequence that wakes every waiting reader.
    pub fn publish(&self, ends: &[Vec<u64>], joined: &[(Arc<str>, u32, u64)]) {
        for (cells, values) in self.ends.iter().zip(ends) {
            for (cell, &v) in cells.iter().zip(values) {
                cell.store(v, Ordering::Release);
            }
        }
        for (cells, values) in self.written.iter().zip(ends) {
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

    /// A consistent snapshot of every keyspace to read from.
    pub fn snapshot(&self) -> Snapshot {
        self.db.snapshot()
    }
}
