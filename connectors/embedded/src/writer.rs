//! A writer thread and its group commit.
//!
//! Every change to the database goes through one of two writers: the log
//! writer (producers' appends, the commits and joins of every group except
//! the view groups) and the views writer (the view groups' commits and
//! joins, and direct view writes). Both write to the same database, whose
//! one journal orders their commits. A writer drains whatever is queued (up
//! to `max_group` requests), applies it all to one write batch and commits
//! it once, so one fsync covers many requests. A request that fails
//! validation is answered on its own and never touches the batch; a failure
//! while applying or committing fails the whole group, and the in-memory
//! end offsets and epochs are rolled back to what the database holds.
//!
//! Nothing is acknowledged before the commit (and, where it must be
//! durable, the journal's fsync) returns, and no appended record is visible
//! to readers before it either: readers read below the published end
//! offsets only. The one exception is the **eager groups**
//! (`EmbeddedOptions::eager_groups`: processors without effects whose every
//! commit appends and so is fsynced): they read what is written as soon as
//! it is in the journal, so the booking processor decides while the
//! command's fsync runs. The journal is one sequential file, so the fsync
//! of the decision's group makes the command durable too, and a crash keeps
//! a prefix: never a decision without its command. (A writer that lingered
//! for the decision to share the command's fsync was measured and dropped:
//! at 3,500 bookings/s it raised p50 from 0.7 ms to 4.3 ms.)
//!
//! **Which commits are fsynced.** Every group that appends a record, joins a
//! member or writes views directly is fsynced (`fdatasync` of the journal)
//! before its acks. A group made only of session commits that append no
//! record (state, views and offsets: data derived from the log, as the views
//! and notification processors commit) is only written to the journal when
//! `relaxed_derived` is on: the next fsync of either writer, or the periodic
//! flush, makes it durable, and each commit stays atomic. A crash can then
//! roll such a processor back to an earlier consistent commit, from which it
//! reprocesses records that are all durable (only fsynced groups append),
//! so nothing a client was promised is ever carried by an unsynced commit.
//! The journal is one sequential file, so what survives a crash is a prefix
//! of the commits: a derived commit never survives without the records it
//! was derived from.

use crate::EmbeddedOptions;
use crate::keys;
use crate::schema;
use crate::store::{Recovered, Store};
use crate::txn::Txn;
use crate::views;
use fjall::PersistMode;
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::positions::{self, Position};
use slotstream_runtime::{LogError, OutRecord, RecordPosition, Transaction, ViewWrite};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Which of the two writers this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Appends records; commits and joins every group but the view groups.
    Log,
    /// Commits and joins the view groups, and applies direct view writes;
    /// it appends nothing.
    Views,
}

/// A request to the writer.
pub(crate) enum Request {
    /// Append records outside any session.
    Produce {
        records: Vec<OutRecord>,
        ack: oneshot::Sender<Result<Vec<RecordPosition>, LogError>>,
    },
    /// A session's atomic commit.
    Commit {
        group: Arc<str>,
        member: u32,
        epoch: u64,
        txn: Transaction,
        ack: oneshot::Sender<Result<(), LogError>>,
    },
    /// View writes outside any session.
    Views {
        writes: Vec<ViewWrite>,
        ack: oneshot::Sender<Result<(), LogError>>,
    },
    /// A session joining: bumps the member's epoch, fencing older sessions.
    Join {
        group: Arc<str>,
        member: u32,
        ack: oneshot::Sender<Result<u64, LogError>>,
    },
    /// Finish what came before, then stop.
    Shutdown,
}

impl Request {
    /// Whether the group carrying this request must be fsynced before acks:
    /// everything except a session commit that appends no record.
    fn needs_sync(&self) -> bool {
        match self {
            Request::Commit { txn, .. } => !txn.outputs.is_empty(),
            Request::Produce { .. } | Request::Views { .. } | Request::Join { .. } => true,
            Request::Shutdown => false,
        }
    }
}

/// An applied request waiting for the commit.
enum Ack {
    Produce(
        oneshot::Sender<Result<Vec<RecordPosition>, LogError>>,
        Vec<RecordPosition>,
    ),
    Unit(oneshot::Sender<Result<(), LogError>>),
    Join(oneshot::Sender<Result<u64, LogError>>, u64),
}

impl Ack {
    // A receiver that went away (its caller was cancelled) needs no answer.
    fn succeed(self) {
        match self {
            Ack::Produce(tx, positions) => drop(tx.send(Ok(positions))),
            Ack::Unit(tx) => drop(tx.send(Ok(()))),
            Ack::Join(tx, epoch) => drop(tx.send(Ok(epoch))),
        }
    }

    fn fail(self, err: LogError) {
        match self {
            Ack::Produce(tx, _) => drop(tx.send(Err(err))),
            Ack::Unit(tx) => drop(tx.send(Err(err))),
            Ack::Join(tx, _) => drop(tx.send(Err(err))),
        }
    }
}

/// Why applying a request to the batch failed (fails the whole group).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// The database failed to read.
    #[error("storage: {0}")]
    Storage(#[from] fjall::Error),
    /// A stored view row did not decode, or a new one did not encode.
    #[error("view row: {0}")]
    Codec(#[from] postcard::Error),
}

/// The outcome of applying one request.
enum Step {
    Applied(Ack),
    /// Answered already (validation failed); the batch is untouched.
    Rejected,
    /// Applying failed part way: the batch must be thrown away.
    Failed(Ack, ApplyError),
}

/// A group written to the journal, not yet made durable and acknowledged.
#[derive(Default)]
struct Window {
    /// Whether it must be fsynced before its acks.
    sync: bool,
    acks: Vec<Ack>,
    joined: Vec<(Arc<str>, u32, u64)>,
    /// The end offsets before it.
    saved_ends: Vec<Vec<u64>>,
}

/// The writer thread's state: the authoritative end offsets and epochs.
pub(crate) struct Writer {
    store: Arc<Store>,
    role: Role,
    /// End offsets per topic index and partition (empty for the views
    /// writer, which appends nothing).
    ends: Vec<Vec<u64>>,
    epochs: HashMap<Arc<str>, HashMap<u32, u64>>,
    durable: bool,
    relaxed_derived: bool,
    max_group: usize,
    /// How often a commit is made durable anyway when commits are not
    /// fsynced (non-durable mode, or a run of derived-only groups).
    flush_every: Duration,
    last_durable: Instant,
    /// A commit since the last durable one was not fsynced.
    unsynced: bool,
}

impl Writer {
    /// A writer starting from what `Store::open` recovered.
    pub(crate) fn new(
        store: Arc<Store>,
        role: Role,
        recovered: &Recovered,
        opts: &EmbeddedOptions,
    ) -> Self {
        Self {
            store,
            role,
            ends: match role {
                Role::Log => recovered.ends.clone(),
                Role::Views => Vec::new(),
            },
            epochs: recovered.epochs.clone(),
            durable: opts.durable,
            relaxed_derived: opts.relaxed_derived,
            max_group: opts.max_group.max(1),
            flush_every: opts.flush_every,
            last_durable: Instant::now(),
            unsynced: false,
        }
    }

    /// Serves requests until `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        'serve: while let Some(first) = self.next_request(&rx) {
            let mut stop = matches!(first, Request::Shutdown);
            let mut window = Window::default();
            let mut batch = Vec::with_capacity(self.max_group);
            if !stop {
                batch.push(first);
            }
            stop |= self.drain(&rx, &mut batch);
            if !batch.is_empty() {
                self.write_group(batch, &mut window);
            }
            self.finish(window);
            if stop {
                break 'serve;
            }
        }
        // Requests still queued are dropped with their ack senders: callers see `Closed`.
        self.unsynced = true;
        self.flush();
        tracing::debug!(role = ?self.role, "embedded writer stopped");
    }

    /// Moves what is queued into `batch`, up to `max_group`; true on `Shutdown`.
    fn drain(&self, rx: &Receiver<Request>, batch: &mut Vec<Request>) -> bool {
        while batch.len() < self.max_group {
            match rx.try_recv() {
                Ok(Request::Shutdown) => return true,
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        false
    }

    /// The next request; while a commit is unsynced, waits at most
    /// `flush_every` before making it durable and waiting again. `None`
    /// once every sender is gone.
    fn next_request(&mut self, rx: &Receiver<Request>) -> Option<Request> {
        loop {
            if !self.unsynced {
                return rx.recv().ok();
            }
            match rx.recv_timeout(self.flush_every) {
                Ok(req) => return Some(req),
                Err(RecvTimeoutError::Timeout) => self.flush(),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Makes every earlier commit durable (one fsync of the journal).
    fn flush(&mut self) {
        if !self.unsynced {
            return;
        }
        match self.store.db.persist(PersistMode::SyncData) {
            Ok(()) => {
                self.last_durable = Instant::now();
                self.unsynced = false;
            }
            Err(e) => tracing::error!(error = %e, "embedded store: durable flush failed"),
        }
    }

    /// Whether this group's commit is fsynced before its acks: always when
    /// it must be (`needs_sync` and `durable`), and at least every
    /// `flush_every` otherwise.
    fn sync_this(&mut self, needs_sync: bool) -> bool {
        let sync = self.durable && (needs_sync || !self.relaxed_derived);
        if sync || self.last_durable.elapsed() >= self.flush_every {
            // A failed commit leaves this a little early: harmless, it
            // only paces the periodic sync.
            self.last_durable = Instant::now();
            true
        } else {
            false
        }
    }

    /// Applies `batch` to one write batch and writes it to the journal
    /// (no fsync yet): its records become visible to eager readers at once,
    /// to everyone else once [`Writer::finish`] made them durable.
    fn write_group(&mut self, batch: Vec<Request>, window: &mut Window) {
        let needs_sync = batch.iter().any(Request::needs_sync);
        let saved_ends = self.ends.clone();
        let mut joined: Vec<(Arc<str>, u32, u64)> = Vec::new();
        let mut acks = Vec::with_capacity(batch.len());
        let mut failure = None;
        let store = Arc::clone(&self.store);
        let mut txn = Txn::new(&store);
        let mut requests = batch.into_iter();
        for req in requests.by_ref() {
            match self.apply(&mut txn, req, &mut joined) {
                Step::Applied(ack) => acks.push(ack),
                Step::Rejected => {}
                Step::Failed(ack, e) => {
                    acks.push(ack);
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        for req in requests {
            reject(
                req,
                LogError::Transient("an earlier request of its group failed".into()),
            );
        }
        let failure = match failure {
            Some(msg) => Some(msg),
            None if txn.is_empty() => None,
            None => txn.commit().err().map(|e| e.to_string()),
        };
        match failure {
            None => {
                window.saved_ends = saved_ends;
                window.sync = needs_sync;
                window.acks.extend(acks);
                window.joined.extend(joined);
                self.store.publish_written(&self.ends);
            }
            Some(msg) => {
                tracing::error!(error = %msg, "embedded store: group commit failed; rolled back");
                self.ends = saved_ends;
                self.roll_back_epochs(&joined);
                for ack in acks {
                    ack.fail(LogError::Transient(format!("commit failed: {msg}")));
                }
            }
        }
    }

    /// Makes a window durable (one fsync when it must be), then publishes it
    /// to every reader and acknowledges it.
    fn finish(&mut self, window: Window) {
        if window.acks.is_empty() && window.joined.is_empty() {
            return;
        }
        let synced = self.sync_this(window.sync);
        let result = if synced {
            self.store.db.persist(PersistMode::SyncData)
        } else {
            Ok(())
        };
        match result {
            Ok(()) => {
                self.unsynced = !synced;
                self.store.publish(&self.ends, &window.joined);
                for ack in window.acks {
                    ack.succeed();
                }
            }
            Err(e) => {
                // fjall refuses every later write after a failed fsync; the
                // process has to restart and recover from the journal.
                tracing::error!(error = %e, "embedded store: fsync failed; nothing in the window is acknowledged");
                self.ends = window.saved_ends;
                self.store.publish_written(&self.ends);
                self.roll_back_epochs(&window.joined);
                for ack in window.acks {
                    ack.fail(LogError::Transient(format!("fsync failed: {e}")));
                }
            }
        }
    }

    fn roll_back_epochs(&mut self, joined: &[(Arc<str>, u32, u64)]) {
        for (group, member, epoch) in joined.iter().rev() {
            if let Some(m) = self.epochs.get_mut(group) {
                m.insert(*member, epoch - 1);
            }
        }
    }

    fn apply(
        &mut self,
        t: &mut Txn<'_>,
        req: Request,
        joined: &mut Vec<(Arc<str>, u32, u64)>,
    ) -> Step {
        match req {
            Request::Produce { records, ack } => {
                let targets = match self.resolve_all(&records) {
                    Ok(t) => t,
                    Err(e) => {
                        drop(ack.send(Err(e)));
                        return Step::Rejected;
                    }
                };
                let mut positions = Vec::with_capacity(records.len());
                for (r, (ti, p)) in records.iter().zip(targets) {
                    let offset = self.append(t, ti, p, r);
                    positions.push(RecordPosition {
                        partition: p,
                        offset,
                    });
                }
                Step::Applied(Ack::Produce(ack, positions))
            }
            Request::Commit {
                group,
                member,
                epoch,
                txn,
                ack,
            } => {
                let checked = self
                    .check_epoch(&group, member, epoch)
                    .and_then(|()| self.check_views(&group, &txn.views))
                    .and_then(|()| self.resolve_all(&txn.outputs))
                    .and_then(|targets| self.check_offsets(&txn).map(|()| targets));
                let targets = match checked {
                    Ok(t) => t,
                    Err(e) => {
                        drop(ack.send(Err(e)));
                        return Step::Rejected;
                    }
                };
                match self.apply_commit(t, &group, &txn, targets) {
                    Ok(()) => Step::Applied(Ack::Unit(ack)),
                    Err(e) => Step::Failed(Ack::Unit(ack), e),
                }
            }
            Request::Views { writes, ack } => {
                if let Err(e) = self.check_views("", &writes) {
                    drop(ack.send(Err(e)));
                    return Step::Rejected;
                }
                for w in &writes {
                    if let Err(e) = views::write::apply(t, w) {
                        return Step::Failed(Ack::Unit(ack), e);
                    }
                }
                Step::Applied(Ack::Unit(ack))
            }
            Request::Join { group, member, ack } => {
                let next = self.epoch_of(&group, member) + 1;
                t.write(
                    &self.store.ks.epochs,
                    schema::member_key(&group, member),
                    next.to_be_bytes().to_vec(),
                );
                self.epochs
                    .entry(group.clone())
                    .or_default()
                    .insert(member, next);
                joined.push((group, member, next));
                Step::Applied(Ack::Join(ack, next))
            }
            Request::Shutdown => Step::Rejected,
        }
    }

    fn apply_commit(
        &mut self,
        t: &mut Txn<'_>,
        group: &Arc<str>,
        txn: &Transaction,
        targets: Vec<(usize, u32)>,
    ) -> Result<(), ApplyError> {
        // Where each output landed, for the replies that cite them
        // (`slotstream_runtime::positions`).
        let mut placed: Vec<Position> = Vec::new();
        for (r, (ti, p)) in txn.outputs.iter().zip(targets) {
            let offset = match positions::cite_of(&r.headers) {
                None => self.append(t, ti, p, r),
                Some(cite) => {
                    let from = placed.len().saturating_sub(usize::from(cite.previous));
                    let floor_last = resolve(cite.floor.0, Some(cite.floor.1), &[])
                        .ok()
                        .and_then(|(fi, fp)| self.ends[fi][fp as usize].checked_sub(1));
                    let headers =
                        positions::resolve(&r.headers, &cite, &placed[from..], floor_last);
                    self.append_with(t, ti, p, r, &headers)
                }
            };
            placed.push(Position {
                topic: r.topic,
                partition: p,
                offset,
            });
        }
        let ks = &self.store.ks;
        for w in &txn.state {
            let mut key = schema::state_prefix(group, w.partition);
            key.extend_from_slice(&w.key);
            match &w.value {
                Some(v) => t.write(&ks.state, key, v.to_vec()),
                None => t.delete(&ks.state, key),
            }
        }
        for w in &txn.views {
            views::write::apply(t, w)?;
        }
        for (tp, next) in &txn.offsets {
            t.write(
                &ks.offsets,
                schema::offset_key(group, &tp.topic, tp.partition),
                next.to_be_bytes().to_vec(),
            );
        }
        Ok(())
    }

    fn append(&mut self, t: &mut Txn<'_>, ti: usize, p: u32, r: &OutRecord) -> u64 {
        self.append_with(t, ti, p, r, &r.headers)
    }

    fn append_with(
        &mut self,
        t: &mut Txn<'_>,
        ti: usize,
        p: u32,
        r: &OutRecord,
        headers: &slotstream_runtime::Headers,
    ) -> u64 {
        let offset = self.ends[ti][p as usize];
        t.write(
            &self.store.ks.log[ti][p as usize],
            keys::offset_key(offset).to_vec(),
            schema::encode_record(r.timestamp, &r.key, headers, &r.value),
        );
        self.ends[ti][p as usize] = offset + 1;
        offset
    }

    fn resolve_all(&self, records: &[OutRecord]) -> Result<Vec<(usize, u32)>, LogError> {
        if self.role == Role::Views && !records.is_empty() {
            return Err(LogError::Invalid(
                "a view group's session commits views, state and offsets only: \
                 its writer appends no records"
                    .into(),
            ));
        }
        records
            .iter()
            .map(|r| {
                if !schema::headers_fit(&r.headers) {
                    return Err(LogError::Invalid(format!(
                        "a record for {} has more than 65535 headers or a header name \
                         longer than 65535 bytes",
                        r.topic
                    )));
                }
                resolve(r.topic, r.partition, &r.key)
            })
            .collect()
    }

    /// Only the views writer applies views: a group that commits them must
    /// be one of the view groups.
    fn check_views(&self, group: &str, views: &[ViewWrite]) -> Result<(), LogError> {
        if views.is_empty() || self.role == Role::Views {
            Ok(())
        } else {
            Err(LogError::Invalid(format!(
                "group {group:?} committed view writes, but only the view groups \
                 (EmbeddedOptions::view_groups) may write them"
            )))
        }
    }

    fn check_offsets(&self, txn: &Transaction) -> Result<(), LogError> {
        for (tp, _) in &txn.offsets {
            resolve(&tp.topic, Some(tp.partition), &[])?;
        }
        Ok(())
    }

    fn epoch_of(&self, group: &str, member: u32) -> u64 {
        self.epochs
            .get(group)
            .and_then(|m| m.get(&member))
            .copied()
            .unwrap_or(0)
    }

    fn check_epoch(&self, group: &str, member: u32, epoch: u64) -> Result<(), LogError> {
        let current = self.epoch_of(group, member);
        if current == epoch {
            Ok(())
        } else {
            Err(LogError::Fenced(format!(
                "group {group} member {member} at epoch {epoch} was replaced by epoch {current}"
            )))
        }
    }
}

/// The (topic index, partition) a record goes to, as Kafka's default partitioner picks it.
pub(crate) fn resolve(
    topic: &str,
    partition: Option<u32>,
    key: &[u8],
) -> Result<(usize, u32), LogError> {
    let ti = schema::topic_index(topic).ok_or_else(|| {
        LogError::Invalid(format!(
            "unknown topic {topic:?}: the embedded log holds only the platform topics"
        ))
    })?;
    let partitions = schema::all_topics()[ti].partitions;
    let p = partition.unwrap_or_else(|| partition_for(key, partitions));
    if p >= partitions {
        return Err(LogError::Invalid(format!(
            "partition {p} of {topic:?} does not exist (it has {partitions})"
        )));
    }
    Ok((ti, p))
}

fn reject(req: Request, err: LogError) {
    match req {
        Request::Produce { ack, .. } => drop(ack.send(Err(err))),
        Request::Commit { ack, .. } | Request::Views { ack, .. } => drop(ack.send(Err(err))),
        Request::Join { ack, .. } => drop(ack.send(Err(err))),
        Request::Shutdown => {}
    }
}
