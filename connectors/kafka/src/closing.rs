//! Consumers that leave their group within a bound when dropped.
//!
//! rdkafka's `BaseConsumer` drop closes the consumer (when it has a
//! `group.id`, which all of ours need) and then polls until librdkafka
//! reports it closed, with no bound (rust-rdkafka #509, librdkafka #4041).
//! One consumer whose leave never completes would then hang whatever drops
//! it: a processor's shutdown, SIGTERM's drain, a test, or a tokio runtime
//! waiting for its blocking threads. [`Closing`] runs that drop on a thread
//! of its own and waits for it at most [`CLOSE_DEADLINE`].
//!
//! Past the deadline the thread is left to finish the close in the
//! background (polling every 100 ms, until the process exits if it must),
//! and the broker expires the member after its session timeout, handing its
//! partitions on exactly as it would for a crashed member. Nothing is lost
//! that way: processors commit offsets only inside transactions, and readers
//! never commit. (Closing the consumer here and letting rdkafka's drop find
//! it closed would also work, but its drop then logs a spurious error for
//! closing a second time.)

use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use std::ops::Deref;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a closing consumer may take to leave its group before it is
/// abandoned. Leaving takes one round trip to the coordinator when the
/// broker is well; the bound only matters when something is stuck.
pub(crate) const CLOSE_DEADLINE: Duration = Duration::from_secs(30);

/// A consumer whose drop closes it within [`CLOSE_DEADLINE`]; it derefs to
/// the `BaseConsumer`.
pub(crate) struct Closing<C: ConsumerContext + 'static>(Option<BaseConsumer<C>>);

impl<C: ConsumerContext + 'static> Closing<C> {
    pub(crate) fn new(consumer: BaseConsumer<C>) -> Self {
        Self(Some(consumer))
    }
}

impl<C: ConsumerContext + 'static> Deref for Closing<C> {
    type Target = BaseConsumer<C>;

    fn deref(&self) -> &BaseConsumer<C> {
        // Only `drop` takes the consumer out.
        self.0
            .as_ref()
            .expect("a Closing consumer is present until dropped")
    }
}

impl<C: ConsumerContext + 'static> Drop for Closing<C> {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            drop_within(consumer, CLOSE_DEADLINE);
        }
    }
}

/// Drops (and so closes) `consumer` on a thread of its own, waiting at most
/// `deadline` for it. Returns whether the drop finished in time.
pub(crate) fn drop_within<C: ConsumerContext + 'static>(
    consumer: BaseConsumer<C>,
    deadline: Duration,
) -> bool {
    let started = Instant::now();
    let (done, finished) = mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            drop(consumer);
            // The waiter may have given up; nobody to tell then.
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        // The closure, and the consumer in it, was dropped right here.
        tracing::warn!(error = %e, "no thread to close a consumer on; closed it in place");
        return true;
    }
    match finished.recv_timeout(deadline) {
        Ok(()) => {
            let took = started.elapsed();
            if took > Duration::from_secs(5) {
                tracing::warn!(
                    took_ms = took.as_millis() as u64,
                    "a consumer was slow to close"
                );
            }
            true
        }
        Err(_) => {
            tracing::error!(
                waited_ms = started.elapsed().as_millis() as u64,
                "a consumer did not finish closing in time; leaving it to close in the \
                 background (the broker expires its membership after the session timeout)"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KafkaOptions;
    use crate::admin::{delete_namespace, ensure_changelog};
    use crate::session::GroupContext;
    use rdkafka::client::ClientContext;
    use rdkafka::consumer::{Consumer, Rebalance};
    use rdkafka::topic_partition_list::TopicPartitionList;
    use rdkafka::types::RDKafkaRespErr;
    use slotstream_testkit::contract::unique;

    /// A context that takes partitions but never gives them back: librdkafka
    /// then waits forever for the revocation it asked for, so the close
    /// never finishes (the shape of librdkafka #4041).
    struct NeverUnassigns;

    impl ClientContext for NeverUnassigns {}

    impl ConsumerContext for NeverUnassigns {
        fn rebalance(
            &self,
            consumer: &BaseConsumer<Self>,
            err: RDKafkaRespErr,
            tpl: &mut TopicPartitionList,
        ) {
            if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
                consumer
                    .incremental_assign(tpl)
                    .expect("incremental assign");
            }
        }

        fn post_rebalance(&self, _: &BaseConsumer<Self>, _: &Rebalance<'_>) {}
    }

    /// Subscribes a member with `context` (and the session's consumer
    /// configuration) to a one-partition topic of a fresh namespace, polls
    /// until it holds the partition, then drops it with `deadline` on the
    /// blocking pool; returns whether it closed in time and how long the
    /// drop took.
    async fn subscribe_then_close<C: ConsumerContext + 'static>(
        context: C,
        deadline: Duration,
    ) -> (bool, Duration) {
        let brokers = std::env::var("SLOTSTREAM_TEST_KAFKA_BROKERS")
            .expect("start Kafka: eval \"$(scripts/engines/kafka.sh start)\"");
        let mut opts = KafkaOptions::new(brokers);
        opts.namespace = unique("closing");
        let topic = KafkaOptions::changelog("closing");
        ensure_changelog(&opts, &topic, 1)
            .await
            .expect("the test topic is created");
        let consumer: BaseConsumer<C> = opts
            .group_consumer("closing")
            .create_with_context(context)
            .expect("a consumer");
        consumer
            .subscribe(&[&opts.wire(&topic)])
            .expect("subscribe");
        let outcome = tokio::task::spawn_blocking(move || {
            let waiting = Instant::now();
            while consumer.assignment().expect("the assignment").count() == 0 {
                assert!(
                    waiting.elapsed() < Duration::from_secs(60),
                    "the member was never assigned the partition"
                );
                drop(consumer.poll(Duration::from_millis(100)));
            }
            let started = Instant::now();
            let closed = drop_within(consumer, deadline);
            (closed, started.elapsed())
        })
        .await
        .expect("the close does not panic");
        delete_namespace(&opts)
            .await
            .expect("the test topic is deleted");
        outcome
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_close_that_never_finishes_is_abandoned_at_the_deadline() {
        let deadline = Duration::from_secs(3);
        let (closed, took) = subscribe_then_close(NeverUnassigns, deadline).await;
        assert!(!closed, "librdkafka finished a close it cannot finish");
        assert!(
            took >= deadline,
            "gave up after {took:?}, before the deadline"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_session_consumer_leaves_its_group_within_the_deadline() {
        let (closed, took) = subscribe_then_close(GroupContext::default(), CLOSE_DEADLINE).await;
        assert!(
            closed,
            "our rebalance context did not let the close finish ({took:?})"
        );
    }
}
