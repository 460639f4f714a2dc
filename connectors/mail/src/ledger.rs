//! The sent-ledger of one process: an empty `<escape_id(id)>.sent` file per
//! email a server accepted, created and fsynced (file and directory) right
//! after the server's `250`. Distributed deployments use a shared ledger
//! instead (the ScyllaDB one), so whichever instance takes over a partition
//! sees what the previous owner sent.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use slotstream_runtime::{EffectError, SentLedger};

use crate::MailError;
use crate::durable::{self, Created};
use crate::message::escape_id;

/// A directory of `<escape_id(id)>.sent` files.
#[derive(Clone, Debug)]
pub struct FileLedger {
    dir: PathBuf,
}

impl FileLedger {
    /// A ledger in `dir` (created if missing).
    pub fn new(dir: PathBuf) -> Result<Self, MailError> {
        durable::ensure_dir(&dir).map_err(|source| MailError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The directory holding the entries.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn entry_name(id: &str) -> String {
    format!("{}.sent", escape_id(id))
}

#[async_trait]
impl SentLedger for FileLedger {
    async fn is_sent(&self, email_id: &str) -> Result<bool, EffectError> {
        let path = self.dir.join(entry_name(email_id));
        tokio::fs::try_exists(&path).await.map_err(|e| {
            EffectError::Transient(format!(
                "cannot read sent-ledger entry {}: {e}",
                path.display()
            ))
        })
    }

    async fn record_sent(&self, email_id: &str) -> Result<(), EffectError> {
        let dir = self.dir.clone();
        let name = entry_name(email_id);
        match tokio::task::spawn_blocking(move || durable::create_once(&dir, &name, b"")).await {
            Ok(Ok(Created::New | Created::AlreadyThere)) => Ok(()),
            Ok(Err(e)) => Err(EffectError::Transient(format!(
                "writing the sent-ledger entry: {e}"
            ))),
            Err(e) => Err(EffectError::Transient(format!(
                "the sent-ledger writer task failed: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_entry_is_absent_until_recorded_and_recording_twice_is_fine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = FileLedger::new(dir.path().join("sent")).expect("ledger");
        assert!(!ledger.is_sent("otp/1").await.expect("read"));
        ledger.record_sent("otp/1").await.expect("record");
        ledger.record_sent("otp/1").await.expect("record again");
        assert!(ledger.is_sent("otp/1").await.expect("read"));
        assert!(!ledger.is_sent("otp/2").await.expect("read"));
    }
}
