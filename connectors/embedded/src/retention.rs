//! Retention: old log records are deleted a whole table at a time, as Kafka
//! deletes whole segments.
//!
//! Each topic partition is its own LSM tree keyed by offset, so its tables
//! hold contiguous offset ranges, oldest first. Every
//! [`Retention::check_every`] a background thread finds, in each partition
//! of a topic with a retention time, the first record, oldest first, that
//! is not older than `now - retention`, and drops every table that lies
//! wholly below it. Tables straddling the cut,
//! and the memtable, stay until a later pass, so a record lives at least its
//! retention time and at most about one table's worth longer. The newest
//! record of a partition is never deleted, so the end offset (and with it
//! the next offset to assign) survives a restart even when everything else
//! expired. A consumer that falls behind the first kept offset continues
//! from it, as a Kafka consumer reset to the earliest offset would.

use crate::keys;
use crate::schema;
use crate::store::Store;
use fjall::Readable;
// `drop_range` lives on lsm-tree's tree trait; fjall exposes each
// keyspace's tree but does not re-export the trait.
use lsm_tree::AbstractTree;
use slotstream_runtime::topics;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long each topic keeps its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Per topic name: `Some(time)` deletes records older than it, `None`
    /// keeps them forever. Topics not listed are kept forever.
    pub topics: Vec<(String, Option<Duration>)>,
    /// How often the retention thread looks for expired tables.
    pub check_every: Duration,
}

impl Retention {
    /// The platform's policy, the one `slotstream init` gives the Kafka
    /// topics (`topics::retention`): commands 7 days, replies 1 hour, dead
    /// letters 30 days, events forever. Checked every minute.
    pub fn platform() -> Self {
        Self {
            topics: topics::ALL
                .iter()
                .map(|t| (t.name.to_owned(), topics::retention(t)))
                .collect(),
            check_every: Duration::from_secs(60),
        }
    }

    /// The same policy with `topic`'s retention set to `keep`.
    pub fn with(mut self, topic: &str, keep: Option<Duration>) -> Self {
        self.topics.retain(|(t, _)| t != topic);
        self.topics.push((topic.to_owned(), keep));
        self
    }

    fn of(&self, topic: &str) -> Option<Duration> {
        self.topics
            .iter()
            .find(|(t, _)| t == topic)
            .and_then(|(_, keep)| *keep)
    }
}

/// The running retention thread.
#[derive(Debug)]
pub(crate) struct Handle {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl Handle {
    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        // Fails only if the thread is gone already.
        self.stop.send(()).ok();
        if self.thread.join().is_err() {
            tracing::error!("embedded retention thread panicked");
        }
    }
}

/// Starts the retention thread.
pub(crate) fn start(store: Arc<Store>, policy: Retention) -> std::io::Result<Handle> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("slotstream-retention".into())
        .spawn(move || {
            loop {
                match stopped.recv_timeout(policy.check_every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                if let Err(e) = run_once(&store, &policy, now) {
                    tracing::warn!(error = %e, "embedded retention pass failed; retrying later");
                }
            }
        })?;
    Ok(Handle { stop, thread })
}

/// One pass over every partition of every topic with a retention time, at
/// wall-clock `now` (epoch ms). Returns how many partitions had tables
/// dropped.
pub(crate) fn run_once(store: &Store, policy: &Retention, now: i64) -> Result<usize, fjall::Error> {
    let mut trimmed = 0;
    for (ti, spec) in schema::all_topics().iter().enumerate() {
        let Some(keep) = policy.of(spec.name) else {
            continue;
        };
        let cutoff = now.saturating_sub(keep.as_millis() as i64);
        for p in 0..spec.partitions {
            if trim(store, ti, p, cutoff)? {
                trimmed += 1;
            }
        }
    }
    Ok(trimmed)
}

/// Drops the tables of partition `p` of topic `ti` that hold only records
/// older than `cutoff`; true if it dropped anything.
fn trim(store: &Store, ti: usize, p: u32, cutoff: i64) -> Result<bool, fjall::Error> {
    let end = store.end(ti, p);
    let ks = &store.ks.log[ti][p as usize];
    let snap = store.snapshot();
    let Some(first) = snap.first_key_value(ks) else {
        return Ok(false);
    };
    let Some(first) = keys::offset_of(&first.key()?) else {
        return Ok(false);
    };
    if end <= first + 1 {
        return Ok(false);
    }
    // The cut is the first record, from the oldest on, that has not expired
    // (as Kafka stops at the first segment that has not): a record stamped
    // far in the past by a skewed producer never takes newer records with
    // it. Capped at the newest record, which is always kept. What is read
    // is what is about to be dropped, plus at most the table and memtable
    // that straddle the cut, which are left for a later pass.
    let mut lo = end - 1;
    for guard in snap.range(ks, keys::offset_key(first)..keys::offset_key(end - 1)) {
        let (k, v) = guard.into_inner()?;
        let expired = schema::decode_record(&v).is_none_or(|r| r.timestamp < cutoff);
        if !expired {
            lo = keys::offset_of(&k).unwrap_or(first);
            break;
        }
    }
    if lo <= first {
        return Ok(false);
    }
    let before = ks.tree.table_count();
    ks.tree
        .drop_range(keys::offset_key(first)..keys::offset_key(lo))
        .map_err(fjall::Error::Storage)?;
    let dropped = before.saturating_sub(ks.tree.table_count());
    if dropped > 0 {
        tracing::debug!(
            topic = schema::all_topics()[ti].name,
            partition = p,
            below = lo,
            tables = dropped,
            "embedded retention: dropped expired tables"
        );
    }
    Ok(dropped > 0)
}
