//! Request-reply over the log.
//!
//! Every command this gateway writes carries `reply_to = gateway_id`; the
//! processor that decides it writes a `Reply {command_id, payload}` to
//! `slotstream.replies`, keyed by that gateway id, so all replies for one
//! gateway land on one partition (`murmur2(gateway_id) % 4`). One task per
//! gateway reads that partition from its end offset at start-up, through
//! `LogReader::read` with a wait (no sleep-polling), and completes the waiters
//! registered for the reply's command id. A waiter is registered *before* its
//! command is sent, so a reply can never arrive unobserved; several waiters for
//! one command id (concurrent retries of one idempotent request) are all
//! answered. Replies addressed to other gateways sharing the partition are
//! skipped by their key.

use crate::consistency::ConsistencyToken;
use dashmap::DashMap;
use slotstream_runtime::{LogError, LogReader, TopicPartition, positions};
use slotstream_schemas::{Codec, Reply, ReplyPayload};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// Records read per call.
const BATCH: usize = 1024;
/// How long one read waits for new replies before looping.
const READ_WAIT: Duration = Duration::from_secs(5);
/// Longest pause after a failed read.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A reply's answer and the token naming its decision's log positions.
pub type Decided = (Arc<ReplyPayload>, Option<ConsistencyToken>);

type Slot = (u64, oneshot::Sender<Decided>);

/// The waiters of this gateway, by command id.
#[derive(Debug, Default)]
pub struct Replies {
    waiting: DashMap<String, Vec<Slot>>,
    next_id: AtomicU64,
    alive: AtomicBool,
}

impl Replies {
    /// Registers interest in `command_id`'s reply; do it before sending.
    pub fn register(self: &Arc<Self>, command_id: &str) -> Waiter {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.waiting
            .entry(command_id.to_owned())
            .or_default()
            .push((id, tx));
        Waiter {
            replies: self.clone(),
            command_id: command_id.to_owned(),
            id,
            rx,
        }
    }

    /// Completes every waiter of `reply.command_id`, with the token of its
    /// decision's positions; false if there was none.
    pub fn deliver(&self, reply: Reply, token: Option<ConsistencyToken>) -> bool {
        let Some((_, slots)) = self.waiting.remove(reply.command_id.as_str()) else {
            return false;
        };
        let payload = Arc::new(reply.payload);
        for (_, tx) in slots {
            // A waiter that gave up already dropped its receiver: fine.
            let _ = tx.send((payload.clone(), token.clone()));
        }
        true
    }

    /// Number of command ids being waited for.
    pub fn pending(&self) -> usize {
        self.waiting.len()
    }

    /// True while the reply router runs.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Marks the router as running (done by the gateway before spawning it,
    /// so health is right from the first request).
    pub fn mark_alive(&self) {
        self.alive.store(true, Ordering::Release);
    }

    fn forget(&self, command_id: &str, id: u64) {
        self.waiting.remove_if_mut(command_id, |_, slots| {
            slots.retain(|(i, _)| *i != id);
            slots.is_empty()
        });
    }
}

/// One registered interest; dropping it unregisters.
#[derive(Debug)]
pub struct Waiter {
    replies: Arc<Replies>,
    command_id: String,
    id: u64,
    rx: oneshot::Receiver<Decided>,
}

impl Waiter {
    /// The reply, or `None` when `budget` passes first.
    pub async fn wait(mut self, budget: Duration) -> Option<Decided> {
        tokio::time::timeout(budget, &mut self.rx).await.ok()?.ok()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.replies.forget(&self.command_id, self.id);
    }
}

/// Reads this gateway's replies partition from `from` on, forever (until the
/// log closes or the task is aborted).
pub async fn route(
    replies: Arc<Replies>,
    reader: Arc<dyn LogReader>,
    codec: Codec,
    tp: TopicPartition,
    from: u64,
    gateway_id: String,
) {
    let mut next = from;
    let mut backoff = Duration::from_millis(10);
    loop {
        match reader.read(&tp, next, BATCH, READ_WAIT).await {
            Ok(records) => {
                backoff = Duration::from_millis(10);
                for r in records {
                    next = r.offset + 1;
                    if r.key.as_ref() != gateway_id.as_bytes() {
                        continue;
                    }
                    match codec.decode::<Reply>(&r.value) {
                        Ok(reply) => {
                            let token = r
                                .headers
                                .get(positions::POSITIONS)
                                .and_then(|b| ConsistencyToken::from_header(b));
                            replies.deliver(reply, token);
                        }
                        Err(e) => {
                            tracing::warn!(offset = r.offset, error = %e, "undecodable reply skipped")
                        }
                    }
                }
            }
            Err(LogError::Closed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "reading replies failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    replies.alive.store(false, Ordering::Release);
    tracing::info!("reply router stopped: the log closed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::CommandId;
    use slotstream_domain::identity::{IdentityEvent, ResendRejected, ResendRejectionReason};

    fn reply(cmd: &str) -> Reply {
        Reply {
            event_id: "e1".into(),
            occurred_at: 1,
            command_id: CommandId::from(cmd),
            payload: ReplyPayload::Identity(IdentityEvent::ResendRejected(ResendRejected {
                command_id: CommandId::from(cmd),
                email: "a@b.io".into(),
                reason: ResendRejectionReason::Throttled,
                retry_at: 2,
                rejected_at: 1,
            })),
        }
    }

    #[tokio::test]
    async fn every_waiter_of_a_command_gets_its_reply() {
        let r = Arc::new(Replies::default());
        let a = r.register("c1");
        let b = r.register("c1");
        let other = r.register("c2");
        assert!(r.deliver(reply("c1"), None));
        assert!(a.wait(Duration::from_secs(1)).await.is_some());
        assert!(b.wait(Duration::from_secs(1)).await.is_some());
        assert_eq!(r.pending(), 1);
        drop(other);
        assert_eq!(r.pending(), 0);
    }

    #[tokio::test]
    async fn a_reply_nobody_waits_for_is_dropped_and_a_timed_out_waiter_unregisters() {
        let r = Arc::new(Replies::default());
        assert!(!r.deliver(reply("nobody"), None));
        let w = r.register("c1");
        assert!(w.wait(Duration::from_millis(1)).await.is_none());
        assert_eq!(r.pending(), 0);
        assert!(!r.deliver(reply("c1"), None));
    }
}
