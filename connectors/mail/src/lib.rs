//! # slotstream-mail: the mailer adapters
//!
//! Owns the two implementations of [`slotstream_runtime::Mailer`] and the
//! choice between them:
//!
//! - [`OutboxMailer`] (the default, no `SLOTSTREAM_SMTP_URL`): each email is a
//!   complete RFC 5322 `.eml` file in `$SLOTSTREAM_DATA_DIR/outbox/`.
//! - [`SmtpMailer`]: lettre's pooled async SMTP transport, with a sent-ledger
//!   in `$SLOTSTREAM_DATA_DIR/smtp-sent/`.
//!
//! **Invariant kept: one email per id.** The driver repeats an effect whose
//! commit did not happen (crash, rebalance, retry); both mailers make a repeat
//! of an email id a no-op by recording it durably (fsynced file and directory)
//! and checking that record before delivering. The outbox has no gap; SMTP
//! has one unavoidable window, documented in [`smtp`]. Every message carries
//! the stable `Message-ID: <{escape_id(id)}@slotstream.local>` so receivers
//! can drop duplicates too.

mod durable;
mod error;
pub mod ledger;
pub mod message;
pub mod outbox;
pub mod smtp;

use std::path::Path;
use std::sync::Arc;

use slotstream_runtime::{Mailer, SentLedger};

pub use error::MailError;
pub use ledger::FileLedger;
pub use message::{DEFAULT_FROM, MESSAGE_ID_DOMAIN, escape_id, message_id};
pub use outbox::OutboxMailer;
pub use smtp::{DEFAULT_SMTP_TIMEOUT, SmtpMailer};

/// The outbox folder under the data directory.
pub const OUTBOX_DIR: &str = "outbox";
/// The SMTP sent-ledger folder under the data directory.
pub const SMTP_LEDGER_DIR: &str = "smtp-sent";

/// Picks the mailer from configuration: SMTP when `smtp_url` is set (its
/// sent-ledger is `ledger` when given, a shared one, else `data_dir/smtp-sent/`),
/// the `.eml` outbox in `data_dir/outbox/` otherwise.
/// A blank `smtp_url` counts as unset (an empty `SLOTSTREAM_SMTP_URL=`).
/// `from` is the sender of every email, e.g. [`DEFAULT_FROM`].
pub fn mailer_from_config(
    smtp_url: Option<&str>,
    data_dir: &Path,
    from: &str,
    ledger: Option<Arc<dyn SentLedger>>,
) -> Result<Arc<dyn Mailer>, MailError> {
    Ok(match smtp_url.map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => {
            let smtp = SmtpMailer::from_url(url, from, data_dir.join(SMTP_LEDGER_DIR))?;
            Arc::new(match ledger {
                Some(shared) => smtp.with_ledger(shared),
                None => smtp,
            })
        }
        None => Arc::new(OutboxMailer::new(data_dir.join(OUTBOX_DIR))?.with_from(from)?),
    })
}
