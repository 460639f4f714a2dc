//! The crate's own error type and how Kafka errors map onto the log port's.

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode as Code};
use slotstream_runtime::LogError;

/// Why connecting or administering Kafka failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The brokers did not answer in time.
    #[error(
        "Kafka brokers {brokers} did not answer: {reason}; check the address, that the brokers run, and the security settings"
    )]
    Unreachable {
        /// The bootstrap servers tried.
        brokers: String,
        /// What librdkafka said.
        reason: String,
    },
    /// librdkafka refused the client configuration.
    #[error("cannot create a Kafka client: {0}; check the librdkafka overrides")]
    Client(String),
    /// An existing topic has a different partition count than the platform needs.
    #[error(
        "topic {topic} has {found} partitions but the platform needs {expected}; delete it (or use another namespace) and run ensure_topics again"
    )]
    PartitionMismatch {
        /// On-wire topic name.
        topic: String,
        /// Partitions it has.
        found: u32,
        /// Partitions it needs.
        expected: u32,
    },
    /// A topic admin call failed.
    #[error(
        "Kafka admin call on {topic} failed: {reason}; check the broker logs and ACLs, then retry"
    )]
    Admin {
        /// On-wire topic name (or `*` for the whole call).
        topic: String,
        /// What the broker or librdkafka said.
        reason: String,
    },
    /// A destructive call was asked for the empty namespace.
    #[error("refusing to delete every topic of the empty namespace; pass a namespace")]
    EmptyNamespace,
}

/// True for the errors that say another producer with our
/// `transactional.id` took over: this session is a zombie.
pub(crate) fn is_producer_fenced(e: &RdError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::Fenced
                | Code::ProducerFenced
                | Code::InvalidProducerEpoch
                | Code::TransactionCoordinatorFenced
        )
    )
}

/// True for the errors that say the consumer's group membership moved on
/// (the partitions may now be someone else's).
pub(crate) fn is_group_fenced(e: &RdError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::IllegalGeneration
                | Code::UnknownMemberId
                | Code::FencedMemberEpoch
                | Code::StaleMemberEpoch
                | Code::RebalanceInProgress
                | Code::FencedInstanceId
        )
    )
}

/// Maps a client error to the log port: unknown topics and oversized
/// records can never succeed; fencing is `Fenced`; the rest may pass.
pub(crate) fn to_log(context: &str, e: &RdError) -> LogError {
    let msg = format!("{context}: {e}");
    if is_producer_fenced(e) || is_group_fenced(e) {
        return LogError::Fenced(msg);
    }
    match e.rdkafka_error_code() {
        Some(
            Code::UnknownTopicOrPartition
            | Code::UnknownTopic
            | Code::UnknownPartition
            | Code::UnknownTopicId
            | Code::MessageSizeTooLarge
            | Code::InvalidPartitions,
        ) => LogError::Invalid(format!("{msg} (did ensure_topics run for this namespace?)")),
        _ => LogError::Transient(msg),
    }
}

/// A blocking task that panicked or was cancelled.
pub(crate) fn joined(e: tokio::task::JoinError) -> LogError {
    LogError::Transient(format!("kafka worker task failed: {e}"))
}
