//! # slotstream-embedded: the log, state and views in one log-structured store
//!
//! The default backend ("no Kafka, no Docker, one process, nothing lost on a
//! crash"). It implements the runtime's [`Backend`] and [`ViewStore`] ports
//! with Kafka's observable semantics: fixed partitions per topic, records
//! placed by murmur2 of their key, dense offsets from 0 per partition,
//! consumer groups with committed offsets, and one atomic commit of outputs,
//! state changes, view changes and consumed offsets.
//!
//! **The invariant it keeps: nothing is acknowledged or made visible before
//! it is durable, and a commit is all or nothing.** After a crash (even
//! SIGKILL), [`EmbeddedBackend::open`] recovers everything the running
//! process had acknowledged, and nothing else is needed from memory.
//!
//! ## Design
//!
//! * **One LSM database** (fjall) in `<dir>/store/`: one write-ahead journal
//!   shared by every keyspace, and a keyspace (an LSM tree) per topic
//!   partition (`offset -> timestamp, key, headers, value`), for committed offsets,
//!   member epochs, processor state (`(group, partition) ++ key -> value`,
//!   deletes are tombstones) and each view table and index. A commit is one
//!   atomic write batch: one checksummed entry appended to the journal, so
//!   a commit's outputs, state, views and offsets survive a crash together
//!   or not at all, and a torn tail is cut at open. Memtables are flushed to
//!   sorted tables and compacted in the background: every write the disk
//!   sees is sequential.
//! * **Why an LSM.** The redb B-tree this replaced copied ~48 pages per
//!   commit (one random leaf per touched key), so the platform ran at the
//!   disk's random-write latency, and nothing ever shrank. Here a group
//!   commit is one sequential journal append and one `fdatasync`; state and
//!   views keep only their live values after compaction; old log records
//!   are deleted a table at a time (`retention.rs`). See README.md for the
//!   measurements.
//! * **Two writer threads** own every write: the log writer (appends, and
//!   the commits and joins of every group but the view groups) and the
//!   views writer (the view groups' commits and joins, direct view writes),
//!   so view work runs beside the log's commits. Each drains what is queued
//!   (up to [`EmbeddedOptions::max_group`] requests) into one batch and
//!   commits it once: **group commit**, one fsync for many requests.
//!   Offsets are assigned at apply time, dense per partition. A request
//!   that fails validation (unknown topic, bad partition, fenced epoch) is
//!   refused on its own; a failed commit fails the whole group with
//!   [`LogError::Transient`] and rolls the in-memory end offsets back.
//! * Every group that appends records is fsynced before anything in it is
//!   acknowledged or visible. A group of session commits that append nothing
//!   (state, views, offsets: data derived from the log) skips its own fsync
//!   ([`EmbeddedOptions::relaxed_derived`]); the next fsync of the shared
//!   journal persists it, and since the journal is one sequential file a
//!   crash keeps a prefix of the commits: derived data never survives
//!   without the records it came from.
//! * After each commit the writer publishes the new end offsets and bumps
//!   one commit sequence (a `tokio::sync::watch`); readers and sessions wait
//!   on it, so nobody polls on a timer, and they read below the published
//!   end offsets only (the database already holds records of a group that
//!   is still being fsynced). Reads use consistent snapshots, which never
//!   block the writers. End offsets are recovered at open from the last key
//!   of each partition.
//! * Sessions use a static split (`p % members == member`). Joining bumps the
//!   member's epoch (so the writer that checks epochs also applies commits,
//!   in order); a commit carrying an older epoch is refused with
//!   [`LogError::Fenced`] and writes nothing, as Kafka fences a zombie
//!   `transactional.id`.
//! * **Retention** ([`EmbeddedOptions::retention`]): by default the policy
//!   `slotstream init` gives Kafka (commands 7 days, replies 1 hour, dead
//!   letters 30 days, events forever); a background thread drops whole
//!   tables of expired records, never a partition's newest record.
//! * Older data directories (redb files, formats 1–3) are migrated at open
//!   (`migrate.rs`); an empty `REBUILD_VIEWS` file in the data directory
//!   makes the next open clear the views and rebuild them from the log.

mod keys;
mod log;
mod migrate;
mod retention;
mod schema;
mod session;
mod state;
mod store;
mod txn;
mod views;
mod writer;

pub use log::{EmbeddedProducer, EmbeddedReader};
pub use session::EmbeddedSession;

use async_trait::async_trait;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    ApiKeyView, Backend, BookingView, LogError, LogReader, LoginLockView, Page, PaymentView,
    Producer, Session, TopicPartition, TopicSpec, UserView, ViewError, ViewStore, ViewWrite,
    WebhookView,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;
use store::{Recovered, Store};
use writer::{Request, Role, Writer};

pub use retention::Retention;

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
    /// The groups the views writer serves (default: the platform's view
    /// groups, `topics::groups::VIEWS`): the only ones that may commit view
    /// writes, and they may not append records. Their views are cleared and
    /// rebuilt by [`EmbeddedBackend::rebuild_views_at_next_open`].
    pub view_groups: Vec<String>,
    /// How often commits that were not fsynced (the view groups', and every
    /// commit without `durable`) are made durable anyway (default 1 s): the
    /// most a crash can roll the views back.
    pub flush_every: Duration,
    /// How long each topic keeps its records (default: the platform policy,
    /// [`Retention::platform`]).
    pub retention: Retention,
    /// Groups whose sessions read records as soon as they are written to
    /// the journal, before their fsync (default: the booking and identity
    /// processors). Safe only for a group that performs no effect (email,
    /// provider call) and whose every commit appends records, so it is
    /// fsynced: the journal is one sequential file, so that fsync makes the
    /// inputs durable too, and a crash before it loses inputs and decisions
    /// together. The booking processor then decides while the command's
    /// fsync is still running.
    pub eager_groups: Vec<String>,
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
            retention: Retention::platform(),
            eager_groups: vec![
                slotstream_runtime::topics::groups::BOOKING.name.to_owned(),
                slotstream_runtime::topics::groups::IDENTITY.name.to_owned(),
            ],
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
    /// Another process has the database open.
    #[error(
        "{path} is locked: another slotstream process is using this data directory; stop it first"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// A data file of an older release could not be opened for migration.
    #[error(
        "cannot open {path}: {source}; is another slotstream process using this data directory?"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// redb's reason.
        source: redb::DatabaseError,
    },
    /// Preparing, recovering or migrating the database failed.
    #[error("cannot prepare the database: {0}; check the disk, or restore the data directory")]
    Storage(String),
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
    /// A writer or the retention thread could not be started.
    #[error("cannot start a storage thread: {0}; the system may be out of threads or memory")]
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

/// The handles of both writers (over the one database), and which groups
/// the views writer serves.
#[derive(Clone, Debug)]
pub(crate) struct Files {
    /// The log writer.
    pub(crate) log: Arc<Handle>,
    /// The views writer.
    pub(crate) views: Arc<Handle>,
    view_groups: Arc<[String]>,
    eager_groups: Arc<[String]>,
}

impl Files {
    /// Whether `group`'s sessions read records before they are durable.
    pub(crate) fn is_eager(&self, group: &str) -> bool {
        self.eager_groups.iter().any(|g| g == group)
    }

    /// The writer that takes `group`'s joins and commits (and so checks its
    /// epochs).
    pub(crate) fn home(&self, group: &str) -> &Arc<Handle> {
        if self.view_groups.iter().any(|g| g == group) {
            &self.views
        } else {
            &self.log
        }
    }
}

/// The embedded backend: a durable partitioned log, state store and views
/// in one log-structured database. Hand `Arc<EmbeddedBackend>` out as both
/// `Arc<dyn Backend>` and `Arc<dyn ViewStore>`.
#[derive(Debug)]
pub struct EmbeddedBackend {
    files: Files,
    writers: Mutex<Vec<JoinHandle<()>>>,
    retention: Mutex<Option<retention::Handle>>,
    dir: PathBuf,
}

impl EmbeddedBackend {
    /// Opens (or creates) the database in `dir`, migrating an older data
    /// directory first, and starts the writer threads and the retention
    /// thread. Fails if another process has the same directory open.
    pub fn open(dir: &Path, opts: EmbeddedOptions) -> Result<Arc<EmbeddedBackend>, EmbeddedError> {
        let (store, recovered) = Store::open(dir, &opts)?;
        let store = Arc::new(store);
        let (log, log_thread) = start_writer(&store, Role::Log, &recovered, &opts)?;
        let (views, view_thread) = start_writer(&store, Role::Views, &recovered, &opts)?;
        let retention = retention::start(Arc::clone(&store), opts.retention.clone())
            .map_err(EmbeddedError::Spawn)?;
        tracing::info!(dir = %dir.display(), durable = opts.durable, "embedded backend open");
        Ok(Arc::new(EmbeddedBackend {
            files: Files {
                log,
                views,
                view_groups: opts.view_groups.into(),
                eager_groups: opts.eager_groups.into(),
            },
            writers: Mutex::new(vec![log_thread, view_thread]),
            retention: Mutex::new(Some(retention)),
            dir: dir.to_owned(),
        }))
    }

    /// Marks the views of the data directory `dir` for a rebuild: the next
    /// open clears them and the view groups project the whole log again.
    /// Call it while no process has `dir` open.
    pub fn rebuild_views_at_next_open(dir: &Path) -> Result<(), EmbeddedError> {
        let path = dir.join(schema::REBUILD_VIEWS);
        std::fs::write(&path, b"").map_err(|source| EmbeddedError::Io { path, source })
    }

    /// Bytes the database takes on disk (journal and tables).
    pub fn disk_space(&self) -> u64 {
        self.files.log.store.db.disk_space().unwrap_or(0)
    }

    /// Runs one retention pass now, as if the wall clock read `now` (epoch
    /// ms), instead of waiting for the retention thread: for tools and
    /// tests. Returns how many partitions had tables dropped.
    pub fn enforce_retention(&self, policy: &Retention, now: Millis) -> Result<usize, LogError> {
        retention::run_once(&self.files.log.store, policy, now).map_err(log::transient)
    }

    /// Flushes every log partition's memtable to a table and waits, so the
    /// records written so far can be dropped by retention: for tests (the
    /// journal's size limit does this on its own in a running platform).
    #[doc(hidden)]
    pub fn flush_log_tables(&self) -> Result<(), LogError> {
        for ks in self.files.log.store.ks.log.iter().flatten() {
            ks.rotate_memtable_and_wait().map_err(log::transient)?;
        }
        Ok(())
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
        if let Some(r) = self
            .retention
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            r.stop();
        }
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

/// Starts one writer thread.
fn start_writer(
    store: &Arc<Store>,
    role: Role,
    recovered: &Recovered,
    opts: &EmbeddedOptions,
) -> Result<(Arc<Handle>, JoinHandle<()>), EmbeddedError> {
    let (tx, rx) = mpsc::channel();
    let writer = Writer::new(Arc::clone(store), role, recovered, opts);
    let name = match role {
        Role::Log => "slotstream-writer",
        Role::Views => "slotstream-views",
    };
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || writer.run(rx))
        .map_err(EmbeddedError::Spawn)?;
    Ok((
        Arc::new(Handle {
            store: Arc::clone(store),
            tx,
        }),
        thread,
    ))
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

    async fn login_lock(&self, email: &str) -> Result<Option<LoginLockView>, ViewError> {
        views::read::login_lock(&self.files.views.store, email)
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyView>, ViewError> {
        views::read::api_key(&self.files.views.store, key_id)
    }

    async fn api_keys_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<ApiKeyView>, ViewError> {
        views::read::api_keys_by_owner(&self.files.views.store, owner, limit)
    }

    async fn webhook(
        &self,
        owner: &UserId,
        webhook_id: &str,
    ) -> Result<Option<WebhookView>, ViewError> {
        views::read::webhook(&self.files.views.store, owner, webhook_id)
    }

    async fn webhooks_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<WebhookView>, ViewError> {
        views::read::webhooks_by_owner(&self.files.views.store, owner, limit)
    }

    async fn applied(&self, topic: &str, partition: u32) -> Result<u64, ViewError> {
        views::read::applied(&self.files.views.store, topic, partition)
    }

    async fn events(
        &self,
        audience: &UserId,
        topic: &str,
        partition: u32,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<slotstream_runtime::EventView>, ViewError> {
        views::read::events(
            &self.files.views.store,
            audience,
            topic,
            partition,
            after,
            limit,
        )
    }
}
