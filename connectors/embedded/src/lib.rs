//! # slotstream-embedded: the log, state and views in one redb file
//!
//! The default backend ("no Kafka, no Docker, one process, nothing lost on a
//! crash"). It implements the runtime's [`Backend`] and [`ViewStore`] ports
//! with Kafka's observable semantics: fixed partitions per topic, records
//! placed by murmur2 of their key, dense offsets from 0 per partition,
//! consumer groups with committed offsets, and one atomic commit of outputs,
//! state changes, view changes and consumed offsets.
//!
//! **The invariant it keeps: nothing is acknowledged or made visible before
//! it is committed to the file, and a commit is all or nothing.** After a
//! crash (even SIGKILL), [`EmbeddedBackend::open`] recovers everything the
//! running process had acknowledged, and nothing else is needed from memory.
//!
//! ## Design
//!
//! * Two redb files. `<dir>/slotstream.redb`, the log file: one log table per
//!   topic, `(partition, offset) -> (timestamp, key, value)`; committed
//!   offsets `(group, topic, partition) -> next`; processor state as a
//!   changelog `(group, partition, sequence) -> (key, value or tombstone)`,
//!   folded by `restore` and compacted by it when it has grown well past the
//!   live entries; member epochs `(group, member) -> epoch`.
//!   `<dir>/views.redb`, the views file: the views (bookings by id, by user
//!   newest first, by resource and start; resources by id, vendor and kind;
//!   payments; users by email), and the offsets, state and epochs of the
//!   **view groups** ([`EmbeddedOptions::view_groups`]), so that a view
//!   group's commit (views + state + offsets) stays one atomic commit.
//! * **Why two files.** Profiling showed one writer thread as the ceiling of
//!   the whole platform, and most of its work was the views: random-key
//!   B-tree inserts (booking id, payment id, user, resource, vendor), each
//!   dirtying its own page, written and fsynced with every group commit
//!   that appended a record. The views file has its own writer thread, so
//!   view work runs beside the log's commits instead of inside them, and a
//!   view group's commits are never fsynced on their own (they append
//!   nothing; see `relaxed_derived`): the views file is made durable about
//!   once a second, and in between its writer writes back, every 50 ms, the
//!   pages redb spills from its small cache, so that durable commit is no
//!   burst on the disk the log's fsyncs share (`Writer::with_trickle`). A
//!   crash rolls the views file back to a consistent earlier commit (views
//!   with their offsets), from which the view groups replay durable records.
//!   A data directory of format 2 (one file) is split at open (`migrate.rs`);
//!   deleting `views.redb` makes the view groups rebuild every view from the
//!   log, and so does opening a views file whose offsets are past the end of
//!   the log beside it (a log restored from an older backup alone).
//! * **One writer thread per file** owns every write transaction on it.
//!   Producers, sessions and view writers send it requests over a channel;
//!   it drains what is
//!   queued (up to [`EmbeddedOptions::max_group`] requests), applies it all in
//!   one transaction and commits once: **group commit**, one fsync for many
//!   requests. Offsets are assigned at apply time, dense per partition. A
//!   request that fails validation (unknown topic, bad partition, fenced
//!   epoch) is refused on its own; a failed commit fails the whole group with
//!   [`LogError::Transient`] and rolls the in-memory end offsets back.
//! * Every group that appends records is fsynced before anything in it is
//!   acknowledged or visible. A group of session commits that append nothing
//!   (state, views, offsets: data derived from the log) may skip its own
//!   fsync ([`EmbeddedOptions::relaxed_derived`]); redb persists it with the
//!   next fsynced commit, and a crash only rolls such a processor back to an
//!   earlier consistent commit, from which it reprocesses durable records.
//! * After each commit the writer publishes the new end offsets and bumps one
//!   commit sequence (a `tokio::sync::watch`); readers and sessions wait on
//!   it, so nobody polls on a timer. Reads use MVCC read snapshots, which never
//!   block the writer. End offsets are recovered at open from the last key of
//!   each partition.
//! * Sessions use a static split (`p % members == member`). Joining bumps the
//!   member's epoch in its group's file (so the same writer checks epochs and
//!   applies commits, in order); a commit carrying an older epoch is refused
//!   with [`LogError::Fenced`] and writes nothing, as Kafka fences a zombie
//!   `transactional.id`. A session reads records from the log file and waits
//!   on its commits, whichever file its group lives in.
//!
//! ## Why redb
//!
//! One-file ACID storage with copy-on-write B-trees and checksummed commit
//! slots: crash-safe without a write-ahead log to replay, so recovery is
//! opening the file. MVCC readers never block the single writer, which is the
//! shape of a log. Pure Rust, a small dependency, a stable file format. An LSM
//! (fjall) writes faster, but we would lean much harder on its atomic
//! cross-keyspace batches and recovery semantics; with group commit redb's
//! write cost is amortized well past the platform's needs (see README.md for
//! the measured numbers).

mod log;
mod migrate;
mod schema;
mod session;
mod state;
mod store;
mod tables;
mod views;
mod writer;

#[cfg(feature = "contract-tests")]
pub mod contract;

pub use log::{EmbeddedProducer, EmbeddedReader};
pub use session::EmbeddedSession;

use async_trait::async_trait;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    Backend, BookingView, LogError, LogReader, Page, PaymentView, Producer, Session,
    TopicPartition, TopicSpec, UserView, ViewError, ViewStore, ViewWrite,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use store::{FileKind, Recovered, Store};
use writer::{Request, Writer};

/// How the embedded backend runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Fsync every commit before acknowledging it (default). `false` skips
    /// the fsync (a durable commit still happens about once a second): for
    /// benchmarks and throwaway data only, since a crash may lose acked writes.
    pub durable: bool,
    /// Most requests merged into one write transaction (default 4096).
    pub max_group: usize,
    /// With `durable`, let a group made only of session commits that append
    /// no record (state, views, offsets: derived data, such as the views and
    /// notification processors commit) skip its own fsync (default `true`).
    /// The next fsynced commit persists it, at most a second later; a crash
    /// can roll those processors back to an earlier commit, and they then
    /// reprocess durable records. Appends (commands, decisions, replies) are
    /// always fsynced before they are acknowledged or visible.
    pub relaxed_derived: bool,
    /// The groups whose offsets, state and epochs live in the views file
    /// (default: the platform's view groups, `topics::groups::VIEWS`). Their
    /// sessions may commit views, state and offsets but no records. Keep
    /// the list the same across opens of one data directory: a group that
    /// moves files starts again from offset 0.
    pub view_groups: Vec<String>,
    /// How often commits that were not fsynced (the view groups', and every
    /// commit without `durable`) are made durable anyway (default 1 s): the
    /// most a crash can roll the views back.
    pub flush_every: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durable: true,
            max_group: 4096,
            relaxed_derived: true,
            view_groups: slotstream_runtime::topics::groups::VIEWS
                .iter()
                .map(|g| g.name.to_owned())
                .collect(),
            flush_every: Duration::from_secs(1),
        }
    }
}

/// Why the embedded backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The data directory could not be created.
    #[error("cannot create data directory {dir}: {source}; check the path and its permissions")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database file could not be opened or created.
    #[error(
        "cannot open {path}: {source}; is another slotstream process using this data directory?"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// redb's reason.
        source: redb::DatabaseError,
    },
    /// Preparing or recovering the database failed.
    #[error("cannot prepare the database: {0}; check the disk, or restore the data directory")]
    Storage(#[from] redb::Error),
    /// The file was written by an incompatible version.
    #[error("data file format {found}, this build reads {expected}: run a matching slotstream")]
    Format {
        /// Version in the file.
        found: u64,
        /// Version this build writes.
        expected: u64,
    },
    /// A file of the data directory could not be moved or removed while
    /// upgrading it.
    #[error("cannot update {path}: {source}; check the disk and the directory's permissions")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}; the system may be out of threads or memory")]
    Spawn(std::io::Error),
}

/// The store plus the way to its writer: what producers, readers and
/// sessions hold.
pub(crate) struct Handle {
    pub(crate) store: Arc<Store>,
    tx: Sender<Request>,
}

impl Handle {
    /// Queues a request; `Closed` once the writer has stopped.
    pub(crate) fn send(&self, req: Request) -> Result<(), LogError> {
        self.tx.send(req).map_err(|_| LogError::Closed)
    }
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("store", &self.store)
            .finish()
    }
}

/// The handles of both files, and which groups live in the views file.
#[derive(Clone, Debug)]
pub(crate) struct Files {
    /// The log file.
    pub(crate) log: Arc<Handle>,
    /// The views file.
    pub(crate) views: Arc<Handle>,
    view_groups: Arc<[String]>,
}

impl Files {
    /// The file that keeps `group`'s offsets, state and epochs, and takes
    /// its joins and commits.
    pub(crate) fn home(&self, group: &str) -> &Arc<Handle> {
        if self.view_groups.iter().any(|g| g == group) {
            &self.views
        } else {
            &self.log
        }
    }
}

/// The embedded backend: a durable partitioned log and state store in one
/// redb file, and the views in another. Hand `Arc<EmbeddedBackend>` out as
/// both `Arc<dyn Backend>` and `Arc<dyn ViewStore>`.
#[derive(Debug)]
pub struct EmbeddedBackend {
    files: Files,
    writers: Mutex<Vec<JoinHandle<()>>>,
    dir: PathBuf,
}

impl EmbeddedBackend {
    /// Opens (or creates) the files in `dir`, splitting a format-2 directory
    /// first, and starts a writer thread per file. Fails if another process
    /// has the same directory open.
    pub fn open(dir: &Path, opts: EmbeddedOptions) -> Result<Arc<EmbeddedBackend>, EmbeddedError> {
        // The log file first: opening an older one writes the views file.
        let (log_store, log_recovered) = Store::open(dir, FileKind::Log, &opts.view_groups)?;
        let (mut view_store, mut view_recovered) =
            Store::open(dir, FileKind::Views, &opts.view_groups)?;
        if let Some(ahead) = migrate::views_ahead_of_log(&view_store.db, &log_recovered.ends)? {
            // Views of records the log does not have: rebuild them from it.
            tracing::warn!(
                group = %ahead.group,
                topic = %ahead.topic,
                partition = ahead.partition,
                committed = ahead.committed,
                end = ahead.end,
                "embedded backend: the views file is ahead of the log; rebuilding the views from the log"
            );
            drop(view_store);
            migrate::discard_views(dir)?;
            (view_store, view_recovered) = Store::open(dir, FileKind::Views, &opts.view_groups)?;
        }
        let (log, log_thread) = start_writer(log_store, log_recovered, &opts, dir)?;
        let (views, view_thread) = start_writer(view_store, view_recovered, &opts, dir)?;
        tracing::info!(dir = %dir.display(), durable = opts.durable, "embedded backend open");
        Ok(Arc::new(EmbeddedBackend {
            files: Files {
                log,
                views,
                view_groups: opts.view_groups.into(),
            },
            writers: Mutex::new(vec![log_thread, view_thread]),
            dir: dir.to_owned(),
        }))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the writer after the requests queued before this call, and waits
    /// for it. Later writes fail with [`LogError::Closed`]; reads keep
    /// working. The file itself closes when the last producer, reader and
    /// session are dropped. Also done on drop.
    pub fn close(&self) {
        let threads =
            std::mem::take(&mut *self.writers.lock().unwrap_or_else(PoisonError::into_inner));
        if threads.is_empty() {
            return;
        }
        // Each fails only if its writer is already gone, which is what we want.
        drop(self.files.log.send(Request::Shutdown));
        drop(self.files.views.send(Request::Shutdown));
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("embedded writer panicked");
            }
        }
    }

    /// The committed offset (next offset to read) of `group` on `tp`, if it
    /// ever committed one: for lag monitoring and tools.
    pub fn committed_offset(
        &self,
        group: &str,
        tp: &TopicPartition,
    ) -> Result<Option<u64>, LogError> {
        log::committed(self.files.home(group), group, tp)
    }
}

/// Starts the writer thread of one file (the views file's trickles its
/// writeback: see `Writer::with_trickle`).
fn start_writer(
    store: Store,
    recovered: Recovered,
    opts: &EmbeddedOptions,
    dir: &Path,
) -> Result<(Arc<Handle>, JoinHandle<()>), EmbeddedError> {
    let store = Arc::new(store);
    let (tx, rx) = mpsc::channel();
    let mut writer = Writer::new(Arc::clone(&store), recovered, opts);
    let name = match store.kind {
        FileKind::Log => "slotstream-writer",
        FileKind::Views => {
            let path = dir.join(store.kind.file_name());
            let file =
                std::fs::File::open(&path).map_err(|source| EmbeddedError::Io { path, source })?;
            writer = writer.with_trickle(file);
            "slotstream-views"
        }
    };
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || writer.run(rx))
        .map_err(EmbeddedError::Spawn)?;
    Ok((Arc::new(Handle { store, tx }), thread))
}

impl Drop for EmbeddedBackend {
    fn drop(&mut self) {
        self.close();
    }
}

#[async_trait]
impl Backend for EmbeddedBackend {
    fn producer(&self) -> Arc<dyn Producer> {
        Arc::new(EmbeddedProducer {
            handle: Arc::clone(&self.files.log),
        })
    }

    fn reader(&self) -> Arc<dyn LogReader> {
        Arc::new(EmbeddedReader {
            files: self.files.clone(),
        })
    }

    async fn subscribe(
        &self,
        group: &str,
        inputs: &[TopicSpec],
        member: u32,
        members: u32,
    ) -> Result<Box<dyn Session>, LogError> {
        let session =
            EmbeddedSession::join(self.files.clone(), group, inputs, member, members).await?;
        Ok(Box::new(session))
    }
}

#[async_trait]
impl ViewStore for EmbeddedBackend {
    async fn apply(&self, writes: &[ViewWrite]) -> Result<(), ViewError> {
        if writes.is_empty() {
            return Ok(());
        }
        let writes = writes.to_vec();
        log::call(&self.files.views, |ack| Request::Views { writes, ack })
            .await
            .map_err(|e| ViewError::Transient(e.to_string()))
    }

    async fn booking(&self, id: &BookingId) -> Result<Option<BookingView>, ViewError> {
        views::read::booking(&self.files.views.store, id)
    }

    async fn bookings_by_user(
        &self,
        user: &UserId,
        status: Option<BookingStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_user(&self.files.views.store, user, status, limit, cursor)
    }

    async fn bookings_by_vendor(
        &self,
        vendor: &UserId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_vendor(&self.files.views.store, vendor, from, to, limit, cursor)
    }

    async fn bookings_by_resource(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_resource(
            &self.files.views.store,
            resource,
            from,
            to,
            limit,
            cursor,
        )
    }

    async fn resource(&self, id: &ResourceId) -> Result<Option<Resource>, ViewError> {
        views::read::resource(&self.files.views.store, id)
    }

    async fn resources(
        &self,
        vendor: Option<&UserId>,
        kind: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Resource>, ViewError> {
        views::read::resources(&self.files.views.store, vendor, kind, limit, cursor)
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
        views::read::payment(&self.files.views.store, id)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserView>, ViewError> {
        views::read::user_by_email(&self.files.views.store, email)
    }
}
