//! The SMTP mailer: lettre's pooled async transport plus a sent-ledger that
//! makes redelivered events a no-op.
//!
//! # Exactly once, as far as SMTP allows
//!
//! Before sending, the mailer asks its [`SentLedger`] whether the email id is
//! recorded; if it is, the email counts as sent and nothing goes on the wire.
//! Right after the server accepts the message (its `250` to the end of
//! `DATA`) the mailer records the id durably: by default an empty
//! `<ledger_dir>/<escape_id(id)>.sent` file, fsynced with its directory
//! ([`FileLedger`]); in distributed mode a row in a shared table, so the
//! instance that takes a partition over knows what the previous owner sent.
//! So a send repeated after a processor restart, a rebalance or a retry does
//! not deliver again.
//!
//! **The remaining window**: if the process dies (or the disk or ledger store
//! fails) *after* the server's `250` and *before* the ledger entry is durable, the next attempt
//! finds no ledger entry and sends a second copy. SMTP has no way to ask a
//! server "did you already take this?", so this window cannot be closed from
//! the client side; it is a few milliseconds per email. The duplicate carries
//! the same `Message-ID` (`<escape_id(id)@slotstream.local>`), so a receiver
//! or mail store that de-duplicates by `Message-ID` hides it. The reverse case
//! (the connection drops before the `250` arrives although the server kept the
//! message) is the same window seen from the network side and also ends as a
//! duplicate, never as a lost email.
//!
//! # Errors
//!
//! Each send (connecting, the SMTP dialogue and the `DATA` transfer) is bounded
//! by one timeout, because lettre's own only covers connecting. A send that
//! times out also discards the connection pool: a connection cut in the middle
//! of a dialogue cannot be trusted for the next email.
//!
//! Refused connections, timeouts, TLS failures and `4xx` replies are
//! [`EffectError::Transient`]: the driver retries them and the processor stalls
//! rather than drop email. `5xx` replies are [`EffectError::Permanent`]
//! (mailbox unavailable, message refused), except the authentication replies
//! `530`, `534`, `535` and `538`: those say our credentials or TLS settings are
//! wrong, which an operator can fix without losing the email, so they are
//! transient.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use slotstream_runtime::{EffectError, Email, Mailer, SentLedger};
use url::{Host, Url};

use crate::MailError;
use crate::ledger::FileLedger;
use crate::message::{self, compose};

/// How long one whole send (connect, dialogue, `DATA`) may take by default.
pub const DEFAULT_SMTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Most idle connections kept for reuse (a burst of concurrent sends opens
/// more, and the surplus is closed once they finish).
const POOL_MAX_SIZE: u32 = 4;

/// Reply codes that blame our authentication or TLS setup, not the email.
const AUTH_REPLY_CODES: [u16; 4] = [530, 534, 535, 538];

/// Sends email over SMTP, at most once per email id (see the module doc).
#[derive(Debug)]
pub struct SmtpMailer {
    /// The configured transport, built on first use: lettre's pool spawns a
    /// tokio task when built, so building needs a running runtime. Reset to
    /// `None` after a timeout so the next send starts with a fresh pool.
    builder: AsyncSmtpTransportBuilder,
    transport: Mutex<Option<Arc<AsyncSmtpTransport<Tokio1Executor>>>>,
    timeout: Duration,
    from: Mailbox,
    ledger: Arc<dyn SentLedger>,
    /// Ids being sent right now, so two concurrent sends of one id in this
    /// process cannot both reach the server.
    in_flight: Mutex<HashSet<String>>,
}

impl SmtpMailer {
    /// A mailer for `url` (`smtp://`, `smtp+starttls://` or `smtps://`, with an
    /// optional `user:password@`; the password percent-encoded), sending as
    /// `from`, keeping its sent-ledger in `ledger_dir` (created if missing;
    /// [`SmtpMailer::with_ledger`] puts it elsewhere).
    /// Uses [`DEFAULT_SMTP_TIMEOUT`]. Nothing is connected until the first send.
    pub fn from_url(url: &str, from: &str, ledger_dir: PathBuf) -> Result<Self, MailError> {
        Self::from_url_with_timeout(url, from, ledger_dir, DEFAULT_SMTP_TIMEOUT)
    }

    /// [`SmtpMailer::from_url`] with another bound on each whole send.
    pub fn from_url_with_timeout(
        url: &str,
        from: &str,
        ledger_dir: PathBuf,
        timeout: Duration,
    ) -> Result<Self, MailError> {
        let builder = transport_builder(url)?
            .timeout(Some(timeout))
            .pool_config(PoolConfig::new().max_size(POOL_MAX_SIZE));
        let from = message::parse_from(from)?;
        let ledger = Arc::new(FileLedger::new(ledger_dir)?);
        Ok(Self {
            builder,
            transport: Mutex::new(None),
            timeout,
            from,
            ledger,
            in_flight: Mutex::new(HashSet::new()),
        })
    }

    /// Keeps the sent-ledger in `ledger` instead (a shared one, so several
    /// instances never send one email twice between them).
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn SentLedger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// Whether the ledger records `id` as sent.
    pub async fn is_recorded_sent(&self, id: &str) -> Result<bool, EffectError> {
        self.ledger.is_sent(id).await
    }

    fn transport(&self) -> Arc<AsyncSmtpTransport<Tokio1Executor>> {
        let mut slot = self
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(slot.get_or_insert_with(|| Arc::new(self.builder.clone().build())))
    }

    /// Forgets the pool after a timed-out send (see the module doc).
    fn discard_pool(&self, used: &Arc<AsyncSmtpTransport<Tokio1Executor>>) {
        let mut slot = self
            .transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, used))
        {
            *slot = None;
        }
    }

    async fn send_unledgered(&self, email: &Email) -> Result<(), EffectError> {
        if self.ledger.is_sent(&email.id).await? {
            return Ok(());
        }
        let message = compose(email, &self.from)?;
        let transport = self.transport();
        let response = match tokio::time::timeout(self.timeout, transport.send(message)).await {
            Ok(sent) => sent.map_err(|e| classify(&email.id, &e))?,
            Err(_) => {
                self.discard_pool(&transport);
                return Err(EffectError::Transient(format!(
                    "SMTP send of email {:?} timed out after {:?}; the server may be down or overloaded",
                    email.id, self.timeout
                )));
            }
        };
        tracing::info!(email_id = %email.id, code = %response.code(), "email accepted by SMTP server");
        // The server has the email; failing to note it only risks a duplicate
        // on redelivery, so it is logged rather than reported (reporting it
        // would make the driver resend right away).
        if let Err(e) = self.ledger.record_sent(&email.id).await {
            tracing::error!(email_id = %email.id, error = %e,
                "email sent but not recorded in the sent-ledger; a redelivery would send it again");
        }
        Ok(())
    }
}

impl Drop for SmtpMailer {
    fn drop(&mut self) {
        // lettre's pool spawns a tokio task when dropped, which panics outside a
        // runtime; there, leak the pool instead (the process is ending anyway).
        if tokio::runtime::Handle::try_current().is_err() {
            let slot = self
                .transport
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(transport) = slot.take() {
                std::mem::forget(transport);
            }
        }
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), EffectError> {
        let _guard = InFlight::claim(&self.in_flight, &email.id)?;
        self.send_unledgered(email).await
    }
}

/// Holds an id in the in-flight set until dropped.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl<'a> InFlight<'a> {
    fn claim(set: &'a Mutex<HashSet<String>>, id: &str) -> Result<Self, EffectError> {
        let mut ids = set.lock().unwrap_or_else(PoisonError::into_inner);
        if !ids.insert(id.to_owned()) {
            return Err(EffectError::Transient(format!(
                "email {id:?} is being sent by another task; retry to see its outcome"
            )));
        }
        Ok(Self {
            set,
            id: id.to_owned(),
        })
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut ids = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        ids.remove(&self.id);
    }
}

/// Maps a lettre error to the driver's retry decision (see the module doc).
fn classify(id: &str, err: &lettre::transport::smtp::Error) -> EffectError {
    let code = err.status().map(u16::from);
    let text = format!("SMTP send of email {id:?} failed: {err}");
    match code {
        Some(c) if err.is_permanent() && AUTH_REPLY_CODES.contains(&c) => {
            EffectError::Transient(format!(
                "{text}; the server refused our authentication: fix the SMTP URL's credentials or TLS scheme"
            ))
        }
        _ if err.is_permanent() => EffectError::Permanent(text),
        _ if err.is_timeout() => EffectError::Transient(format!("{text} (timed out)")),
        _ => EffectError::Transient(text),
    }
}

/// Parses the URL into a lettre builder (see [`SmtpMailer::from_url`]).
fn transport_builder(raw: &str) -> Result<AsyncSmtpTransportBuilder, MailError> {
    let invalid = |reason: &str| MailError::InvalidUrl {
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw).map_err(|e| invalid(&e.to_string()))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(
            "query and fragment are not supported (choose TLS with the scheme instead)",
        ));
    }
    if !matches!(url.path(), "" | "/") {
        return Err(invalid("a path is not supported"));
    }
    let host = match url.host() {
        Some(Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(Host::Ipv4(ip)) => ip.to_string(),
        Some(Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(invalid("it has no host")),
    };
    let tls_params = || {
        TlsParameters::new(host.clone()).map_err(|e| MailError::Tls {
            host: host.clone(),
            reason: e.to_string(),
        })
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str());
    let builder = match url.scheme() {
        "smtp" => builder.port(url.port().unwrap_or(25)).tls(Tls::None),
        "smtp+starttls" => builder
            .port(url.port().unwrap_or(587))
            .tls(Tls::Required(tls_params()?)),
        "smtps" => builder
            .port(url.port().unwrap_or(465))
            .tls(Tls::Wrapper(tls_params()?)),
        other => {
            return Err(invalid(&format!(
                "unknown scheme {other:?}: use smtp, smtp+starttls or smtps"
            )));
        }
    };
    if url.username().is_empty() {
        if url.password().is_some() {
            return Err(invalid("a password was given without a user name"));
        }
        return Ok(builder);
    }
    let decode = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| invalid("the user name or password is not valid percent-encoded UTF-8"))
    };
    let user = decode(url.username())?;
    let password = decode(url.password().unwrap_or(""))?;
    Ok(builder.credentials(Credentials::new(user, password)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_schemes_are_accepted() {
        for url in [
            "smtp://127.0.0.1:1025",
            "smtp+starttls://mail.example.com",
            "smtps://user:p%40ss@mail.example.com:465/",
            "smtp://[::1]:2525",
        ] {
            assert!(transport_builder(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn unknown_schemes_queries_and_missing_hosts_are_rejected() {
        for url in [
            "http://mail.example.com",
            "smtp://mail.example.com?tls=required",
            "smtp:///nohost",
            "smtp://mail.example.com/helo",
            "smtp://:secret@mail.example.com",
            "not a url",
        ] {
            assert!(
                matches!(transport_builder(url), Err(MailError::InvalidUrl { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn a_rejected_url_never_echoes_its_password() {
        let err = transport_builder("ftp://user:hunter2@host").map(|_| ());
        let text = err.map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(text.contains("unknown scheme"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_second_concurrent_send_of_one_id_is_told_to_retry() {
        let set = Mutex::new(HashSet::new());
        let first = InFlight::claim(&set, "a");
        assert!(first.is_ok());
        assert!(matches!(
            InFlight::claim(&set, "a"),
            Err(EffectError::Transient(_))
        ));
        assert!(InFlight::claim(&set, "b").is_ok());
        drop(first);
        assert!(InFlight::claim(&set, "a").is_ok());
    }
}
