//! The writer thread of one file and its group commit.
//!
//! Every change to the file goes through here: producers' appends, sessions'
//! commits and joins, view writes. The thread drains whatever is queued (up to
//! `max_group` requests), applies it all in one redb write transaction and
//! commits once, so one fsync covers many requests. A request that fails
//! validation is answered on its own and never touches the transaction; only
//! a storage failure fails the whole group, and then the in-memory end
//! offsets and epochs are rolled back to what the file holds.
//!
//! Nothing is acknowledged before the commit returns, and nothing is made
//! visible to readers before it either.
//!
//! **Which commits are fsynced.** Every group that appends a record, joins a
//! member or writes views directly is committed with `Durability::Immediate`.
//! A group made only of session commits that append no record (state, views
//! and offsets: data derived from the log, as the views and notification
//! processors commit) may be committed with `Durability::None` when
//! `relaxed_derived` is on: redb persists it with the next immediate commit,
//! and each commit stays atomic. A crash can then roll such a processor back
//! to an earlier consistent commit, from which it reprocesses records that
//! are all durable (only fsynced commits append), so nothing a client was
//! promised is ever carried by an unsynced commit.

use crate::EmbeddedOptions;
use crate::schema;
use crate::state::Sequences;
use crate::store::{FileKind, Recovered, Store};
use crate::tables::Tables;
use crate::views;
use redb::{Durability, WriteTransaction};
use slotstream_runtime::partitioner::partition_for;
use slotstream_runtime::{LogError, OutRecord, RecordPosition, StateEntry, Transaction, ViewWrite};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How often the views writer writes back what redb spilled to the views
/// file (see `Writer::with_trickle`).
const TRICKLE_EVERY: Duration = Duration::from_millis(50);

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
    /// A session's compaction of one task partition's state (after a
    /// restore): replaces what is stored by the live entries.
    CompactState {
        group: Arc<str>,
        member: u32,
        epoch: u64,
        partition: u32,
        live: Vec<StateEntry>,
        ack: oneshot::Sender<Result<(), LogError>>,
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
            Request::Produce { .. }
            | Request::Views { .. }
            | Request::Join { .. }
            | Request::CompactState { .. } => true,
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

/// Why applying a request to the transaction failed (fails the whole group).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// redb failed.
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    /// A stored view row did not decode, or a new one did not encode.
    #[error("view row: {0}")]
    Codec(#[from] postcard::Error),
}

impl From<redb::StorageError> for ApplyError {
    fn from(e: redb::StorageError) -> Self {
        Self::Storage(e.into())
    }
}

/// The outcome of applying one request.
enum Step {
    Applied(Ack),
    /// Answered already (validation failed); the transaction is untouched.
    Rejected,
    /// Storage failed part way: the transaction must be thrown away.
    Failed(Ack, ApplyError),
}

/// The writer thread's state: the authoritative end offsets and epochs.
pub(crate) struct Writer {
    store: Arc<Store>,
    ends: Vec<Vec<u64>>,
    epochs: HashMap<Arc<str>, HashMap<u32, u64>>,
    seqs: Sequences,
    durable: bool,
    relaxed_derived: bool,
    max_group: usize,
    /// How often a commit is made durable anyway when commits are not
    /// fsynced (non-durable mode, or a run of derived-only groups); it also
    /// lets redb reclaim the pages freed by the non-durable commits before it.
    flush_every: Duration,
    last_durable: Instant,
    /// The views file, opened a second time to start its writeback early.
    trickle: Option<(std::fs::File, Instant)>,
    /// A commit since the last durable one was not fsynced.
    unsynced: bool,
}

impl Writer {
    /// A writer starting from what `Store::open` recovered.
    pub(crate) fn new(store: Arc<Store>, recovered: Recovered, opts: &EmbeddedOptions) -> Self {
        Self {
            store,
            ends: recovered.ends,
            epochs: recovered.epochs,
            seqs: Sequences::default(),
            durable: opts.durable,
            relaxed_derived: opts.relaxed_derived,
            max_group: opts.max_group.max(1),
            flush_every: opts.flush_every,
            last_durable: Instant::now(),
            trickle: None,
            unsynced: false,
        }
    }

    /// Writes back the pages redb spilled to `file` (this writer's own file,
    /// opened a second time) every [`TRICKLE_EVERY`], after a commit.
    ///
    /// Why: the views file's commits are not fsynced, so redb keeps their
    /// pages in its write buffer (up to half its cache) and writes them all
    /// at the next durable commit: at 5,000 bookings/s that was a 17 MB
    /// burst once a second, queued on the disk ahead of the log file's small
    /// fsyncs, and it made the p99 of a booking 30 ms instead of 19. With a
    /// small cache redb spills those pages to the file as they come, and this
    /// sends them to the disk a little at a time (BENCHMARKS.md).
    pub(crate) fn with_trickle(mut self, file: std::fs::File) -> Self {
        self.trickle = Some((file, Instant::now()));
        self
    }

    fn trickle(&mut self) {
        let Some((file, last)) = &mut self.trickle else {
            return;
        };
        if last.elapsed() < TRICKLE_EVERY {
            return;
        }
        *last = Instant::now();
        // Writes back what redb spilled to the file since the last time. It
        // persists no commit (redb's header moves only with a durable
        // commit), so it changes nothing a crash could see.
        if let Err(e) = file.sync_data() {
            tracing::debug!(error = %e, "embedded views: trickle sync failed");
        }
    }

    /// Serves requests until `Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Request>) {
        let mut batch = Vec::with_capacity(self.max_group);
        'serve: while let Some(first) = self.next_request(&rx) {
            let mut stop = matches!(first, Request::Shutdown);
            if !stop {
                batch.push(first);
            }
            while !stop && batch.len() < self.max_group {
                match rx.try_recv() {
                    Ok(Request::Shutdown) => stop = true,
                    Ok(req) => batch.push(req),
                    Err(_) => break,
                }
            }
            if !batch.is_empty() {
                self.commit_group(std::mem::take(&mut batch));
                self.trickle();
            }
            if stop {
                break 'serve;
            }
        }
        // Requests still queued are dropped with their ack senders: callers see `Closed`.
        self.flush();
        tracing::debug!("embedded log writer stopped");
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

    /// Makes every earlier non-durable commit durable.
    fn flush(&mut self) {
        if !self.unsynced {
            return;
        }
        let result = self
            .store
            .db
            .begin_write()
            .map_err(redb::Error::from)
            .and_then(|txn| txn.commit().map_err(redb::Error::from));
        match result {
            Ok(()) => {
                self.last_durable = Instant::now();
                self.unsynced = false;
            }
            Err(e) => tracing::error!(error = %e, "embedded log: durable flush failed"),
        }
    }

    fn commit_group(&mut self, batch: Vec<Request>) {
        let needs_sync = batch.iter().any(Request::needs_sync);
        let (txn, synced) = match self.begin(needs_sync) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "embedded log: cannot begin a write transaction");
                let msg = format!("cannot begin a write transaction: {e}");
                for req in batch {
                    reject(req, LogError::Transient(msg.clone()));
                }
                return;
            }
        };
        let saved_ends = self.ends.clone();
        let saved_seqs = self.seqs.clone();
        let mut joined: Vec<(Arc<str>, u32, u64)> = Vec::new();
        let mut acks = Vec::with_capacity(batch.len());
        let mut failure = None;
        {
            let store = Arc::clone(&self.store);
            let mut tables = Tables::new(&txn, &store);
            let mut requests = batch.into_iter();
            for req in requests.by_ref() {
                match self.apply(&mut tables, req, &mut joined) {
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
        }
        let failure = match failure {
            Some(msg) => {
                drop(txn.abort());
                Some(msg)
            }
            None => txn.commit().err().map(|e| e.to_string()),
        };
        match failure {
            None => {
                self.unsynced = !synced;
                self.store.publish(&self.ends, &joined);
                for ack in acks {
                    ack.succeed();
                }
            }
            Some(msg) => {
                tracing::error!(error = %msg, "embedded log: group commit failed; rolled back");
                self.ends = saved_ends;
                self.seqs = saved_seqs;
                for (group, member, epoch) in joined.iter().rev() {
                    if let Some(m) = self.epochs.get_mut(group) {
                        m.insert(*member, epoch - 1);
                    }
                }
                for ack in acks {
                    ack.fail(LogError::Transient(format!("commit failed: {msg}")));
                }
            }
        }
    }

    /// A write transaction, fsynced at commit unless neither the options nor
    /// the group (`needs_sync`) ask for it; even then one commit a second is
    /// fsynced, which also lets redb reuse the pages unsynced commits freed.
    fn begin(&mut self, needs_sync: bool) -> Result<(WriteTransaction, bool), redb::Error> {
        let mut txn = self.store.db.begin_write()?;
        let sync = if self.durable {
            needs_sync || !self.relaxed_derived
        } else {
            false
        };
        if sync || self.last_durable.elapsed() >= self.flush_every {
            // A failed commit leaves this a little early: harmless, it
            // only paces the periodic sync.
            self.last_durable = Instant::now();
            Ok((txn, true))
        } else {
            txn.set_durability(Durability::None)?;
            Ok((txn, false))
        }
    }

    fn apply(
        &mut self,
        t: &mut Tables<'_>,
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
                    match self.append(t, ti, p, r) {
                        Ok(offset) => positions.push(RecordPosition {
                            partition: p,
                            offset,
                        }),
                        Err(e) => return Step::Failed(Ack::Produce(ack, Vec::new()), e),
                    }
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
            Request::CompactState {
                group,
                member,
                epoch,
                partition,
                live,
                ack,
            } => {
                if let Err(e) = self.check_epoch(&group, member, epoch) {
                    drop(ack.send(Err(e)));
                    return Step::Rejected;
                }
                match self.seqs.rewrite(t, &group, partition, &live) {
                    Ok(()) => Step::Applied(Ack::Unit(ack)),
                    Err(e) => Step::Failed(Ack::Unit(ack), e),
                }
            }
            Request::Join { group, member, ack } => {
                let next = self.epoch_of(&group, member) + 1;
                let stored = t
                    .epochs()
                    .and_then(|tbl| tbl.insert((&*group, member), next).map_err(Into::into));
                if let Err(e) = stored {
                    return Step::Failed(Ack::Join(ack, next), e.into());
                }
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
        t: &mut Tables<'_>,
        group: &Arc<str>,
        txn: &Transaction,
        targets: Vec<(usize, u32)>,
    ) -> Result<(), ApplyError> {
        for (r, (ti, p)) in txn.outputs.iter().zip(targets) {
            self.append(t, ti, p, r)?;
        }
        self.seqs.append(t, group, &txn.state)?;
        let group: &str = group;
        for w in &txn.views {
            views::write::apply(t, w)?;
        }
        if !txn.offsets.is_empty() {
            let offsets = t.offsets()?;
            for (tp, next) in &txn.offsets {
                offsets.insert((group, tp.topic.as_str(), tp.partition), *next)?;
            }
        }
        Ok(())
    }

    fn append(
        &mut self,
        t: &mut Tables<'_>,
        ti: usize,
        p: u32,
        r: &OutRecord,
    ) -> Result<u64, ApplyError> {
        let offset = self.ends[ti][p as usize];
        t.log(ti)?
            .insert((p, offset), (r.timestamp, &r.key[..], &r.value[..]))?;
        self.ends[ti][p as usize] = offset + 1;
        Ok(offset)
    }

    fn resolve_all(&self, records: &[OutRecord]) -> Result<Vec<(usize, u32)>, LogError> {
        if self.ends.is_empty() && !records.is_empty() {
            return Err(LogError::Invalid(
                "a view group's session commits views, state and offsets only: \
                 the views file holds no log to append records to"
                    .into(),
            ));
        }
        records
            .iter()
            .map(|r| resolve(r.topic, r.partition, &r.key))
            .collect()
    }

    /// Views live in the views file only: a group that commits them must be
    /// one of the view groups.
    fn check_views(&self, group: &str, views: &[ViewWrite]) -> Result<(), LogError> {
        if views.is_empty() || self.store.kind == FileKind::Views {
            Ok(())
        } else {
            Err(LogError::Invalid(format!(
                "group {group:?} committed view writes, but views are kept in the views \
                 file: only the view groups (EmbeddedOptions::view_groups) may write them"
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
        Request::Commit { ack, .. }
        | Request::Views { ack, .. }
        | Request::CompactState { ack, .. } => drop(ack.send(Err(err))),
        Request::Join { ack, .. } => drop(ack.send(Err(err))),
        Request::Shutdown => {}
    }
}
