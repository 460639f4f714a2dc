//! Reading verification codes from the embedded mode's outbox: with no
//! `SLOTSTREAM_SMTP_URL`, `slotstream up` writes every email as an `.eml` file
//! into `<data-dir>/outbox/`.
//!
//! Invariant: files present when the [`Outbox`] is opened are never read
//! (they belong to earlier runs), each later file is parsed once, and for each
//! recipient the code of the newest file (by modification time) wins.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use std::{fs, io};

use crate::api::SetupError;
use slotstream_testkit::eml::six_digits;

/// How often the outbox folder is listed while a code is awaited.
const POLL: Duration = Duration::from_millis(50);

/// A watcher over one outbox folder, shared by all setup tasks.
#[derive(Debug)]
pub struct Outbox {
    dir: PathBuf,
    state: Mutex<Scan>,
}

#[derive(Debug, Default)]
struct Scan {
    seen: HashSet<std::ffi::OsString>,
    codes: HashMap<String, (SystemTime, String)>,
}

impl Outbox {
    /// Opens `<data_dir>/outbox/`, remembering the files already there so that
    /// only emails sent from now on are considered. A missing folder is empty.
    pub fn open(data_dir: &Path) -> Result<Arc<Self>, SetupError> {
        let dir = data_dir.join("outbox");
        let mut scan = Scan::default();
        for entry in list(&dir)? {
            scan.seen.insert(entry.file_name());
        }
        Ok(Arc::new(Self {
            dir,
            state: Mutex::new(scan),
        }))
    }

    /// Waits (at most `timeout`, listing the folder every 50 ms) for a
    /// verification email to `email` and returns its 6-digit code.
    pub async fn wait_code(
        self: &Arc<Self>,
        email: &str,
        timeout: Duration,
    ) -> Result<String, SetupError> {
        let started = Instant::now();
        let email = email.to_ascii_lowercase();
        loop {
            let me = Arc::clone(self);
            let who = email.clone();
            let found = tokio::task::spawn_blocking(move || me.lookup(&who))
                .await
                .map_err(|e| SetupError::Outbox {
                    dir: self.dir.clone(),
                    source: io::Error::other(e.to_string()),
                })??;
            if let Some(code) = found {
                return Ok(code);
            }
            if started.elapsed() >= timeout {
                return Err(SetupError::NoCode {
                    email,
                    dir: self.dir.clone(),
                    waited: timeout,
                });
            }
            // Polling an external folder: bounded by `timeout` above.
            tokio::time::sleep(POLL).await;
        }
    }

    fn lookup(&self, email: &str) -> Result<Option<String>, SetupError> {
        let mut scan = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in list(&self.dir)? {
            let name = entry.file_name();
            if scan.seen.contains(&name) || Path::new(&name).extension().is_none_or(|e| e != "eml")
            {
                continue;
            }
            scan.seen.insert(name);
            // The mailer renames complete files into place, so an `.eml` is whole.
            let Ok(bytes) = fs::read(entry.path()) else {
                continue;
            };
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let text = String::from_utf8_lossy(&bytes);
            if let Some((to, code)) = parse_verification(&text) {
                for addr in to {
                    let newer = scan.codes.get(&addr).is_none_or(|(at, _)| *at <= modified);
                    if newer {
                        scan.codes.insert(addr, (modified, code.clone()));
                    }
                }
            }
        }
        Ok(scan.codes.get(email).map(|(_, code)| code.clone()))
    }
}

fn list(dir: &Path) -> Result<Vec<fs::DirEntry>, SetupError> {
    match fs::read_dir(dir) {
        Ok(entries) => {
            entries
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| SetupError::Outbox {
                    dir: dir.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(SetupError::Outbox {
            dir: dir.to_path_buf(),
            source,
        }),
    }
}

/// If `eml` is a verification email, its recipients (lower-cased) and code.
///
/// The contract says the subject contains "verification code" and the body
/// the code as six consecutive digits; the subject is searched first, then
/// the body. Parsing (folded headers, encoded words, transfer encodings) is
/// the testkit's `.eml` reader, the one the end-to-end tests use.
pub fn parse_verification(eml: &str) -> Option<(Vec<String>, String)> {
    let email = slotstream_testkit::eml::parse(eml.as_bytes())?;
    if !email
        .subject
        .to_ascii_lowercase()
        .contains("verification code")
    {
        return None;
    }
    let code = six_digits(&email.subject).or_else(|| six_digits(&email.body))?;
    let to = email.to.iter().map(|a| a.to_ascii_lowercase()).collect();
    Some((to, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EML: &str = "From: Slotstream <no-reply@slotstream.local>\r\n\
        To: lg-1-c7@loadgen.slotstream.test\r\n\
        Subject: Your Slotstream verification code:\r\n 042917\r\n\
        Message-ID: <evt-1234567890@slotstream.local>\r\n\
        Date: Mon, 24 Nov 2025 10:00:00 +0000\r\n\
        Content-Type: text/plain; charset=utf-8\r\n\r\n\
        Hello Loadgen,\r\n\r\nYour verification code is 042917\r\n";

    #[test]
    fn the_code_and_recipient_are_read_from_a_folded_subject() {
        let (to, code) = parse_verification(EML).expect("a verification email");
        assert_eq!(to, vec!["lg-1-c7@loadgen.slotstream.test".to_owned()]);
        assert_eq!(code, "042917");
    }

    #[test]
    fn the_body_is_searched_when_the_subject_has_no_plain_digits() {
        let eml = "To: \"Ann\" <Ann@Example.org>\nSubject: =?utf-8?b?eA==?= verification code\n\n\
                   Sent 2025-11-24. Your verification code is 123456.\n";
        let (to, code) = parse_verification(eml).unwrap();
        assert_eq!(
            (to, code.as_str()),
            (vec!["ann@example.org".to_owned()], "123456")
        );
    }

    #[test]
    fn other_emails_and_longer_digit_runs_are_not_codes() {
        assert_eq!(
            parse_verification("To: a@b.c\nSubject: Booking confirmed\n\ncode 123456\n"),
            None
        );
        assert_eq!(six_digits("order 1234567 at 12:00"), None);
        assert_eq!(
            six_digits("order 1234567 code 654321"),
            Some("654321".into())
        );
    }

    #[tokio::test]
    async fn files_already_in_the_outbox_are_ignored_and_the_newest_new_one_wins() {
        let data = tempfile::tempdir().unwrap();
        let outbox = data.path().join("outbox");
        fs::create_dir(&outbox).unwrap();
        let email =
            |code: &str| format!("To: ann@example.org\nSubject: verification code {code}\n\nx\n");
        fs::write(outbox.join("old.eml"), email("111111")).unwrap();
        let watcher = Outbox::open(data.path()).unwrap();
        let err = watcher
            .wait_code("ann@example.org", Duration::ZERO)
            .await
            .unwrap_err();
        assert!(matches!(err, SetupError::NoCode { .. }), "{err}");

        let first = outbox.join("a.eml");
        fs::write(&first, email("222222")).unwrap();
        let past = SystemTime::now() - Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&first)
            .unwrap()
            .set_modified(past)
            .unwrap();
        fs::write(outbox.join("b.eml"), email("333333")).unwrap();
        fs::write(outbox.join("c.tmp"), email("444444")).unwrap();
        let code = watcher
            .wait_code("Ann@Example.org", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(code, "333333");
    }

    #[tokio::test]
    async fn a_missing_outbox_is_waited_on_not_an_error() {
        let data = tempfile::tempdir().unwrap();
        let watcher = Outbox::open(data.path()).unwrap();
        let err = watcher
            .wait_code("x@y.z", Duration::from_millis(60))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("outbox"), "{err}");
    }
}
