//! Setup errors ([`ScyllaError`]) and how request errors map onto the port's
//! [`ViewError`]: a request the cluster could not serve now is `Transient`
//! (retry), a statement the cluster rejects or a row that does not decode is
//! `Corrupt` (retrying cannot help).

use scylla::errors::{DbError, ExecutionError, PagerExecutionError, RequestAttemptError};
use slotstream_runtime::ViewError;

/// Why connecting, creating the schema or dropping a keyspace failed.
#[derive(Debug, thiserror::Error)]
pub enum ScyllaError {
    /// The options cannot work (no nodes, a keyspace name CQL would refuse).
    #[error("invalid ScyllaDB options: {0}")]
    InvalidOptions(String),
    /// No node answered, or the session could not be set up.
    #[error(
        "cannot connect to ScyllaDB at {nodes}: {reason} (is the cluster up and the address right?)"
    )]
    Connect {
        /// The nodes tried, comma-separated.
        nodes: String,
        /// The driver's explanation.
        reason: String,
    },
    /// The keyspace or some of its tables do not exist.
    #[error(
        "the read-view schema is missing in keyspace `{keyspace}` (missing: {missing}): run `slotstream init` first"
    )]
    MissingSchema {
        /// The keyspace looked in.
        keyspace: String,
        /// The missing tables, comma-separated.
        missing: String,
    },
    /// A schema statement (or the wait for schema agreement) failed.
    #[error(
        "schema change failed at `{statement}`: {reason} (check the cluster's health and retry)"
    )]
    Schema {
        /// The statement, shortened.
        statement: String,
        /// The driver's explanation.
        reason: String,
    },
    /// Preparing a statement failed for another reason than a missing table.
    #[error(
        "preparing `{statement}` failed: {reason} (the tables may be from another version: run `slotstream init`)"
    )]
    Prepare {
        /// The statement.
        statement: String,
        /// The driver's explanation.
        reason: String,
    },
    /// `drop_keyspace` was asked to drop the production keyspace.
    #[error("refusing to drop keyspace `{0}`: drop_keyspace is for test keyspaces only")]
    RefusedDrop(String),
}

/// True when the cluster rejected the statement itself (not the moment).
fn rejected(db: &DbError) -> bool {
    matches!(
        db,
        DbError::SyntaxError
            | DbError::Invalid
            | DbError::ConfigError
            | DbError::Unauthorized
            | DbError::AlreadyExists { .. }
    )
}

/// Maps a failed request onto the port's error.
pub(crate) fn execution(e: ExecutionError) -> ViewError {
    match &e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, msg)) if rejected(db) => {
            ViewError::Corrupt(format!(
                "the view tables do not accept this statement ({msg}); run `slotstream init`"
            ))
        }
        ExecutionError::BadQuery(_) => ViewError::Corrupt(e.to_string()),
        _ => ViewError::Transient(e.to_string()),
    }
}

/// Maps a failed paged request onto the port's error.
pub(crate) fn pager(e: PagerExecutionError) -> ViewError {
    match e {
        PagerExecutionError::SerializationError(_) => ViewError::Corrupt(e.to_string()),
        other => ViewError::Transient(other.to_string()),
    }
}

/// A result that does not have the shape the tables promise.
pub(crate) fn undecodable(e: impl std::fmt::Display) -> ViewError {
    ViewError::Corrupt(format!("undecodable row: {e}"))
}
