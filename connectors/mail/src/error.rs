//! Errors raised while *configuring* a mailer. Failures of a single send are
//! [`slotstream_runtime::EffectError`]s instead, because the driver decides on
//! retries from those.

use std::path::PathBuf;

/// Why a mailer could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL could not be understood; the message says which part.
    #[error(
        "invalid SMTP URL: {reason}; expected smtp://host:port, smtp+starttls://host:port or \
         smtps://host:port, optionally with user:password@ before the host"
    )]
    InvalidUrl {
        /// What is wrong with it (never contains the password).
        reason: String,
    },
    /// The sender address is not a valid mailbox.
    #[error("invalid sender address {from:?}: {reason}; use `Name <user@domain>` or `user@domain`")]
    InvalidFrom {
        /// The address as given.
        from: String,
        /// The parser's complaint.
        reason: String,
    },
    /// TLS could not be prepared for the SMTP host.
    #[error("cannot set up TLS for SMTP host {host:?}: {reason}; check the host name in the URL")]
    Tls {
        /// The host the TLS parameters were built for.
        host: String,
        /// lettre's complaint.
        reason: String,
    },
    /// A directory the mailer writes to could not be created or opened.
    #[error("cannot create mail directory {path}: {source}; check that it is writable")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
}
