//! The outbox mailer: every email becomes one `.eml` file, the default when no
//! SMTP server is configured.
//!
//! Invariant: for each email id there is at most one file,
//! `<dir>/<escape_id(id)>.eml`, and once it exists it is complete and never
//! rewritten. The file's existence *is* the record that the email was sent, so
//! a redelivered event (after a crash before the processor's commit) finds it
//! and does nothing: exactly once, with no window.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use lettre::message::Mailbox;
use slotstream_runtime::{EffectError, Email, Mailer};

use crate::MailError;
use crate::durable::{self, Created};
use crate::message::{self, DEFAULT_FROM, compose, escape_id};

/// Writes each email as an RFC 5322 `.eml` file into one directory.
#[derive(Clone, Debug)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// An outbox in `dir` (created if missing), sending as
    /// `Slotstream <no-reply@slotstream.local>`.
    pub fn new(dir: PathBuf) -> Result<Self, MailError> {
        durable::ensure_dir(&dir).map_err(|source| MailError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(Self {
            dir,
            from: message::parse_from(DEFAULT_FROM)?,
        })
    }

    /// The same outbox with another sender (`Name <user@domain>` or `user@domain`).
    pub fn with_from(mut self, from: &str) -> Result<Self, MailError> {
        self.from = message::parse_from(from)?;
        Ok(self)
    }

    /// The directory the `.eml` files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the email with this id is (or will be) written.
    pub fn path_for(&self, id: &str) -> PathBuf {
        self.dir.join(file_name(id))
    }
}

fn file_name(id: &str) -> String {
    format!("{}.eml", escape_id(id))
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<(), EffectError> {
        let dir = self.dir.clone();
        let from = self.from.clone();
        let email = email.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let name = file_name(&email.id);
            if dir.join(&name).try_exists().unwrap_or(false) {
                return Ok(Created::AlreadyThere);
            }
            let bytes = compose(&email, &from)?.formatted();
            durable::create_once(&dir, &name, &bytes).map_err(|e| {
                EffectError::Transient(format!(
                    "cannot write email {:?} to outbox {}: {e}",
                    email.id,
                    dir.display()
                ))
            })
        })
        .await
        .map_err(|e| EffectError::Transient(format!("outbox writer task failed: {e}")))??;
        if outcome == Created::AlreadyThere {
            tracing::debug!(dir = %self.dir.display(), "email already in the outbox; not written again");
        }
        Ok(())
    }
}
