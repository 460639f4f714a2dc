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
//! * One redb file, `<dir>/slotstream.redb`. Tables: one log table per topic,
//!   `(partition, offset) -> (timestamp, key, value)`; committed offsets
//!   `(group, topic, partition) -> next`; processor state as a changelog
//!   `(group, partition, sequence) -> (key, value or tombstone)`, folded by
//!   `restore` and compacted by it when it has grown well past the live
//!   entries; member epochs `(group, member) -> epoch`;
//!   and the views (bookings by id, by user newest first, by resource and
//!   start; resources by id, vendor and kind; payments; users by email).
//! * **One writer thread** owns every write transaction. Producers, sessions
//!   and view writers send it requests over a channel; it drains what is
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
//!   member's epoch in the same file; a commit carrying an older epoch is
//!   refused with [`LogError::Fenced`] and writes nothing, as Kafka fences a
//!   zombie `transactional.id`.
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
use store::Store;
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
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            durable: true,
            max_group: 4096,
            relaxed_derived: true,
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

/// The embedded backend: a durable partitioned log, state store and view
/// store in one redb file. Hand `Arc<EmbeddedBackend>` out as both
/// `Arc<dyn Backend>` and `Arc<dyn ViewStore>`.
#[derive(Debug)]
pub struct EmbeddedBackend {
    handle: Arc<Handle>,
    writer: Mutex<Option<JoinHandle<()>>>,
    dir: PathBuf,
}

impl EmbeddedBackend {
    /// Opens (or creates) the store in `dir` and starts its writer thread.
    /// Fails if another process has the same directory open.
    pub fn open(dir: &Path, opts: EmbeddedOptions) -> Result<Arc<EmbeddedBackend>, EmbeddedError> {
        let (store, recovered) = Store::open(dir)?;
        let store = Arc::new(store);
        let (tx, rx) = mpsc::channel();
        let writer = Writer::new(
            Arc::clone(&store),
            recovered,
            opts.durable,
            opts.relaxed_derived,
            opts.max_group,
        );
        let thread = std::thread::Builder::new()
            .name("slotstream-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(EmbeddedError::Spawn)?;
        tracing::info!(dir = %dir.display(), durable = opts.durable, "embedded backend open");
        Ok(Arc::new(EmbeddedBackend {
            handle: Arc::new(Handle { store, tx }),
            writer: Mutex::new(Some(thread)),
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
        let thread = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // Fails only if the writer is already gone, which is what we want.
            drop(self.handle.send(Request::Shutdown));
            if thread.join().is_err() {
                tracing::error!("embedded log writer panicked");
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
        log::committed(&self.handle, group, tp)
    }
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
            handle: Arc::clone(&self.handle),
        })
    }

    fn reader(&self) -> Arc<dyn LogReader> {
        Arc::new(EmbeddedReader {
            handle: Arc::clone(&self.handle),
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
            EmbeddedSession::join(Arc::clone(&self.handle), group, inputs, member, members).await?;
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
        log::call(&self.handle, |ack| Request::Views { writes, ack })
            .await
            .map_err(|e| ViewError::Transient(e.to_string()))
    }

    async fn booking(&self, id: &BookingId) -> Result<Option<BookingView>, ViewError> {
        views::read::booking(&self.handle.store, id)
    }

    async fn bookings_by_user(
        &self,
        user: &UserId,
        status: Option<BookingStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_user(&self.handle.store, user, status, limit, cursor)
    }

    async fn bookings_by_vendor(
        &self,
        vendor: &UserId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_vendor(&self.handle.store, vendor, from, to, limit, cursor)
    }

    async fn bookings_by_resource(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        views::read::bookings_by_resource(&self.handle.store, resource, from, to, limit, cursor)
    }

    async fn resource(&self, id: &ResourceId) -> Result<Option<Resource>, ViewError> {
        views::read::resource(&self.handle.store, id)
    }

    async fn resources(
        &self,
        vendor: Option<&UserId>,
        kind: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Resource>, ViewError> {
        views::read::resources(&self.handle.store, vendor, kind, limit, cursor)
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
        views::read::payment(&self.handle.store, id)
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserView>, ViewError> {
        views::read::user_by_email(&self.handle.store, email)
    }
}
