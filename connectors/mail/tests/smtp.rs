//! The SMTP mailer against a real SMTP server (Mailpit) on 127.0.0.1.
//!
//! Start it first, from the workspace root:
//! `eval "$(scripts/engines/smtp.sh start)"`; these tests fail (never skip)
//! when SLOTSTREAM_TEST_SMTP_URL / SLOTSTREAM_TEST_MAILPIT_API are unset.
//! Each test uses fresh uuid-based email ids and its own ledger directory, so
//! they run in parallel against one server without seeing each other's mail.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slotstream_mail::{SmtpMailer, escape_id, mailer_from_config};
use slotstream_runtime::{EffectError, Email, Mailer};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const SENDER: &str = "Slotstream Tests <tests@slotstream.local>";
/// Upper bound for any single send in these tests.
const SEND_BUDGET: Duration = Duration::from_secs(15);

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{name} is unset: these tests need a real SMTP server. From the workspace root run \
             `eval \"$(scripts/engines/smtp.sh start)\"`, then rerun `cargo test -p slotstream-mail`"
        ),
    }
}

fn smtp_url() -> String {
    required_env("SLOTSTREAM_TEST_SMTP_URL")
}

fn fresh_id(label: &str) -> String {
    format!("{label}-{}", uuid::Uuid::new_v4())
}

fn email(id: &str, to: &str, subject: &str, body: &str) -> Email {
    Email {
        id: id.to_owned(),
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

/// An address on 127.0.0.1 where nothing listens.
fn closed_port_url() -> Result<String, std::io::Error> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("smtp://127.0.0.1:{port}"))
}

async fn send_bounded(mailer: &dyn Mailer, email: &Email) -> Result<(), EffectError> {
    tokio::time::timeout(SEND_BUDGET, mailer.send(email))
        .await
        .unwrap_or_else(|_| Err(EffectError::Transient("test budget exceeded".into())))
}

/// Mailpit's HTTP API, read with a bounded plain-HTTP client.
struct Mailpit {
    api: String,
    agent: ureq::Agent,
}

impl Mailpit {
    /// The open instance (any or no credentials).
    fn from_env() -> Self {
        Self::at(required_env("SLOTSTREAM_TEST_MAILPIT_API"))
    }

    /// The instance that requires SMTP AUTH.
    fn auth_from_env() -> Self {
        Self::at(required_env("SLOTSTREAM_TEST_MAILPIT_AUTH_API"))
    }

    fn at(api: String) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build();
        Self {
            api,
            agent: config.into(),
        }
    }

    fn get(&self, path: &str, query: Option<&str>) -> Result<Value, ureq::Error> {
        let mut request = self.agent.get(format!("{}{path}", self.api));
        if let Some(q) = query {
            request = request.query("query", q);
        }
        request.call()?.body_mut().read_json()
    }

    /// Full messages whose `Message-ID` is exactly the one we give `email_id`.
    fn messages_for(
        &self,
        email_id: &str,
    ) -> Result<Vec<Value>, Box<dyn std::error::Error + Send + Sync>> {
        let left = escape_id(email_id);
        let wanted = format!("{left}@slotstream.local");
        let found = self.get("/api/v1/search", Some(&format!("message-id:{left}")))?;
        let summaries = found["messages"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for summary in summaries
            .iter()
            .filter(|m| m["MessageID"] == wanted.as_str())
        {
            let id = summary["ID"].as_str().ok_or("message without ID")?;
            out.push(self.get(&format!("/api/v1/message/{id}"), None)?);
        }
        Ok(out)
    }
}

fn ledger_entries(dir: &Path) -> Result<usize, std::io::Error> {
    Ok(std::fs::read_dir(dir)?.count())
}

#[tokio::test]
async fn an_email_sent_over_smtp_arrives_with_its_subject_body_and_message_id() -> TestResult {
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url(&smtp_url(), SENDER, ledger.path().to_path_buf())?;
    let id = fresh_id("booking-confirmed");
    let subject = "Réservation confirmée ✓ — 会議室";
    let body = "Hallo Ada,\nyour booking is confirmed. Grüße!";
    send_bounded(&mailer, &email(&id, "ada@example.com", subject, body)).await?;

    let messages = Mailpit::from_env().messages_for(&id)?;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let m = &messages[0];
    assert_eq!(m["Subject"], subject);
    assert_eq!(
        m["MessageID"],
        format!("{}@slotstream.local", escape_id(&id))
    );
    assert_eq!(m["To"][0]["Address"], "ada@example.com");
    assert_eq!(m["From"]["Address"], "tests@slotstream.local");
    let text = m["Text"].as_str().ok_or("no text body")?;
    assert_eq!(text.replace("\r\n", "\n").trim_end(), body);
    assert!(mailer.is_recorded_sent(&id).await?);
    Ok(())
}

#[tokio::test]
async fn sending_the_same_id_again_even_after_a_restart_delivers_it_once() -> TestResult {
    let ledger = tempfile::tempdir()?;
    let id = fresh_id("otp");
    let first = SmtpMailer::from_url(&smtp_url(), SENDER, ledger.path().to_path_buf())?;
    send_bounded(
        &first,
        &email(&id, "bob@example.com", "Your verification code", "123456"),
    )
    .await?;
    send_bounded(
        &first,
        &email(&id, "bob@example.com", "Your verification code", "123456"),
    )
    .await?;
    drop(first);

    // A "restarted" process with the same ledger but an unreachable server:
    // succeeding proves the ledger answered without touching the network.
    let restarted = SmtpMailer::from_url(&closed_port_url()?, SENDER, ledger.path().to_path_buf())?;
    send_bounded(
        &restarted,
        &email(&id, "bob@example.com", "Your verification code", "123456"),
    )
    .await?;

    assert_eq!(Mailpit::from_env().messages_for(&id)?.len(), 1);
    assert_eq!(ledger_entries(ledger.path())?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_of_one_id_deliver_it_once() -> TestResult {
    let ledger = tempfile::tempdir()?;
    let mailer = Arc::new(SmtpMailer::from_url(
        &smtp_url(),
        SENDER,
        ledger.path().to_path_buf(),
    )?);
    let id = fresh_id("race");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (mailer, id) = (Arc::clone(&mailer), id.clone());
            tokio::spawn(async move {
                // Like the driver: retry transient failures ("being sent") with a backoff.
                for _ in 0..100 {
                    match send_bounded(mailer.as_ref(), &email(&id, "eve@example.com", "s", "b"))
                        .await
                    {
                        Err(EffectError::Transient(_)) => {
                            tokio::time::sleep(Duration::from_millis(20)).await
                        }
                        other => return other,
                    }
                }
                Err(EffectError::Transient(
                    "still in flight after 100 tries".into(),
                ))
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    assert_eq!(Mailpit::from_env().messages_for(&id)?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_refused_connection_is_transient_and_records_nothing() -> TestResult {
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url(&closed_port_url()?, SENDER, ledger.path().to_path_buf())?;
    let id = fresh_id("refused");
    let result = send_bounded(&mailer, &email(&id, "ada@example.com", "s", "b")).await;

    assert!(
        matches!(result, Err(EffectError::Transient(_))),
        "{result:?}"
    );
    assert!(!mailer.is_recorded_sent(&id).await?);
    assert_eq!(ledger_entries(ledger.path())?, 0);
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_a_transient_failure() -> TestResult {
    // The kernel completes the TCP handshake into the backlog, but nobody ever
    // sends the SMTP greeting.
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("smtp://{}", silent.local_addr()?);
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url_with_timeout(
        &url,
        SENDER,
        ledger.path().to_path_buf(),
        Duration::from_millis(300),
    )?;
    let started = std::time::Instant::now();
    let result = send_bounded(
        &mailer,
        &email(&fresh_id("silent"), "ada@example.com", "s", "b"),
    )
    .await;

    assert!(
        matches!(&result, Err(EffectError::Transient(m)) if m != "test budget exceeded"),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(ledger_entries(ledger.path())?, 0);
    Ok(())
}

#[tokio::test]
async fn a_mailbox_the_server_refuses_is_a_permanent_failure() -> TestResult {
    // smtp.sh starts Mailpit refusing recipients containing "!" with a 550.
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url(&smtp_url(), SENDER, ledger.path().to_path_buf())?;
    let id = fresh_id("refused-mailbox");
    let result = send_bounded(&mailer, &email(&id, "no!body@example.com", "s", "b")).await;

    assert!(
        matches!(&result, Err(EffectError::Permanent(m)) if m.contains("550")),
        "{result:?}"
    );
    assert!(!mailer.is_recorded_sent(&id).await?);
    assert!(Mailpit::from_env().messages_for(&id)?.is_empty());
    Ok(())
}

#[tokio::test]
async fn credentials_in_the_url_authenticate_to_a_server_that_requires_them() -> TestResult {
    let url = required_env("SLOTSTREAM_TEST_SMTP_AUTH_URL");
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url(&url, SENDER, ledger.path().to_path_buf())?;
    let id = fresh_id("auth");
    send_bounded(&mailer, &email(&id, "ada@example.com", "with auth", "b")).await?;

    let messages = Mailpit::auth_from_env().messages_for(&id)?;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["Subject"], "with auth");
    Ok(())
}

#[tokio::test]
async fn refused_or_missing_credentials_are_transient_so_no_email_is_dropped() -> TestResult {
    let url = required_env("SLOTSTREAM_TEST_SMTP_AUTH_URL");
    let wrong_password = url.replacen(":test-password@", ":wrong%20password@", 1);
    assert_ne!(wrong_password, url, "smtp.sh changed its test credentials");
    let no_credentials = url.replacen("slotstream:test-password@", "", 1);
    for (url, code) in [(wrong_password, "535"), (no_credentials, "530")] {
        let ledger = tempfile::tempdir()?;
        let mailer = SmtpMailer::from_url(&url, SENDER, ledger.path().to_path_buf())?;
        let id = fresh_id("bad-auth");
        let result = send_bounded(&mailer, &email(&id, "ada@example.com", "s", "b")).await;

        assert!(
            matches!(&result, Err(EffectError::Transient(m)) if m.contains(code)),
            "{result:?}"
        );
        assert_eq!(ledger_entries(ledger.path())?, 0);
        assert!(Mailpit::auth_from_env().messages_for(&id)?.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn mailer_from_config_with_a_url_sends_over_smtp_with_its_ledger_in_the_data_dir()
-> TestResult {
    let data = tempfile::tempdir()?;
    let mailer = mailer_from_config(Some(&smtp_url()), data.path(), SENDER, None)?;
    let id = fresh_id("config");
    send_bounded(
        mailer.as_ref(),
        &email(&id, "ada@example.com", "via config", "b"),
    )
    .await?;

    assert_eq!(Mailpit::from_env().messages_for(&id)?.len(), 1);
    assert_eq!(ledger_entries(&data.path().join("smtp-sent"))?, 1);
    assert!(!data.path().join("outbox").exists());
    Ok(())
}

#[test]
fn a_mailer_can_be_built_and_dropped_outside_any_runtime() -> TestResult {
    // The composition root may build it before the runtime starts and drop it
    // after the runtime is gone; neither may panic (lettre's pool spawns tasks).
    let ledger = tempfile::tempdir()?;
    let mailer = SmtpMailer::from_url(&closed_port_url()?, SENDER, ledger.path().to_path_buf())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(send_bounded(
        &mailer,
        &email("drop-test", "a@example.com", "s", "b"),
    ));
    assert!(
        matches!(result, Err(EffectError::Transient(_))),
        "{result:?}"
    );
    drop(runtime);
    drop(mailer);
    assert_eq!(ledger_entries(ledger.path())?, 0);
    Ok(())
}
