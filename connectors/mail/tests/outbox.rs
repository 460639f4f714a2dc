//! The outbox mailer against a real file system: every email becomes exactly
//! one complete, parseable `.eml` file.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use mail_parser::{MessageParser, MimeHeaders};
use slotstream_mail::{MailError, OutboxMailer, mailer_from_config};
use slotstream_runtime::{EffectError, Email, Mailer};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn email(id: &str, subject: &str, body: &str) -> Email {
    Email {
        id: id.to_owned(),
        to: "Ada Lovelace <ada@example.com>".to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

/// Names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Result<Vec<String>, std::io::Error> {
    let mut names = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn an_email_becomes_one_parseable_eml_file_with_its_headers_and_body() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = OutboxMailer::new(dir.path().join("outbox"))?;
    let subject = "Buchung bestätigt: Raum Größe ✓ — 会議室";
    let body = "Grüße, Ada!\nYour booking of « Salle Œ » is confirmed.\n日本語の本文";
    outbox
        .send(&email("booking-confirmed.bk_1", subject, body))
        .await?;

    assert_eq!(file_names(outbox.dir())?, ["booking-confirmed.bk_1.eml"]);
    let raw = fs::read(outbox.path_for("booking-confirmed.bk_1"))?;
    let parsed = MessageParser::default()
        .parse(&raw)
        .ok_or("the .eml file does not parse as a message")?;
    assert_eq!(parsed.subject(), Some(subject));
    let to = parsed.to().and_then(|a| a.first()).ok_or("no To")?;
    assert_eq!(to.address(), Some("ada@example.com"));
    assert_eq!(to.name(), Some("Ada Lovelace"));
    let from = parsed.from().and_then(|a| a.first()).ok_or("no From")?;
    assert_eq!(from.address(), Some("no-reply@slotstream.local"));
    assert_eq!(from.name(), Some("Slotstream"));
    assert_eq!(
        parsed.message_id(),
        Some("booking-confirmed.bk_1@slotstream.local")
    );
    assert!(parsed.date().is_some(), "Date header missing");
    let content_type = parsed.content_type().ok_or("no Content-Type")?;
    assert_eq!(content_type.ctype(), "text");
    assert_eq!(content_type.subtype(), Some("plain"));
    assert_eq!(content_type.attribute("charset"), Some("utf-8"));
    let text = parsed.body_text(0).ok_or("no text body")?;
    assert_eq!(text.replace("\r\n", "\n").trim_end(), body);
    Ok(())
}

#[tokio::test]
async fn sending_the_same_id_twice_writes_one_file_and_keeps_the_first_content() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = OutboxMailer::new(dir.path().to_path_buf())?;
    outbox
        .send(&email("otp-7", "first subject", "first body"))
        .await?;
    let first = fs::read(outbox.path_for("otp-7"))?;
    outbox
        .send(&email("otp-7", "second subject", "second body"))
        .await?;

    assert_eq!(file_names(dir.path())?, ["otp-7.eml"]);
    assert_eq!(fs::read(outbox.path_for("otp-7"))?, first);
    let parsed = MessageParser::default()
        .parse(&first)
        .ok_or("unparseable")?;
    assert_eq!(parsed.subject(), Some("first subject"));
    Ok(())
}

#[tokio::test]
async fn ids_with_slashes_or_dot_dots_cannot_escape_the_outbox() -> TestResult {
    let root = tempfile::tempdir()?;
    let outbox_dir = root.path().join("data").join("outbox");
    let outbox = OutboxMailer::new(outbox_dir.clone())?;
    let ids = [
        "../escaped",
        "../../etc/passwd",
        "..",
        ".",
        "a/b/c",
        "/abs",
        "\\win\\path",
    ];
    for id in ids {
        outbox.send(&email(id, "s", "b")).await?;
        assert_eq!(
            outbox.path_for(id).parent(),
            Some(outbox_dir.as_path()),
            "{id}"
        );
    }

    let names = file_names(&outbox_dir)?;
    assert_eq!(names.len(), ids.len(), "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".eml") && !n.starts_with('.')),
        "{names:?}"
    );
    assert_eq!(file_names(root.path())?, ["data"]);
    assert_eq!(file_names(&root.path().join("data"))?, ["outbox"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_sends_of_distinct_ids_make_fifty_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = Arc::new(OutboxMailer::new(dir.path().to_path_buf())?);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move { outbox.send(&email(&format!("mail-{i}"), "s", "b")).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    let names = file_names(dir.path())?;
    assert_eq!(names.len(), 50, "{names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("mail-") && n.ends_with(".eml"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sends_of_one_id_leave_exactly_one_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = Arc::new(OutboxMailer::new(dir.path().to_path_buf())?);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let outbox = Arc::clone(&outbox);
            tokio::spawn(async move { outbox.send(&email("same", &format!("try {i}"), "b")).await })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    assert_eq!(file_names(dir.path())?, ["same.eml"]);
    let raw = fs::read(outbox.path_for("same"))?;
    let parsed = MessageParser::default().parse(&raw).ok_or("unparseable")?;
    assert!(parsed.subject().is_some_and(|s| s.starts_with("try ")));
    Ok(())
}

#[tokio::test]
async fn a_line_break_in_the_subject_cannot_inject_a_header() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = OutboxMailer::new(dir.path().to_path_buf())?;
    outbox
        .send(&email("inject", "Hello\r\nBcc: eve@example.com", "b"))
        .await?;

    let raw = fs::read(outbox.path_for("inject"))?;
    let parsed = MessageParser::default().parse(&raw).ok_or("unparseable")?;
    assert!(parsed.bcc().is_none(), "a Bcc header was injected");
    assert!(
        parsed
            .subject()
            .is_some_and(|s| s.contains("Bcc: eve@example.com"))
    );
    Ok(())
}

#[tokio::test]
async fn a_malformed_recipient_fails_permanently_and_writes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let outbox = OutboxMailer::new(dir.path().to_path_buf())?;
    let mut bad = email("bad-to", "s", "b");
    bad.to = "not an address".to_owned();

    let result = outbox.send(&bad).await;
    assert!(
        matches!(result, Err(EffectError::Permanent(_))),
        "{result:?}"
    );
    assert!(file_names(dir.path())?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_configured_sender_is_used_and_the_outbox_is_the_default() -> TestResult {
    let data = tempfile::tempdir()?;
    let mailer = mailer_from_config(None, data.path(), "Bookings <bookings@example.org>", None)?;
    mailer.send(&email("welcome", "s", "b")).await?;

    let raw = fs::read(data.path().join("outbox").join("welcome.eml"))?;
    let parsed = MessageParser::default().parse(&raw).ok_or("unparseable")?;
    let from = parsed.from().and_then(|a| a.first()).ok_or("no From")?;
    assert_eq!(from.address(), Some("bookings@example.org"));
    assert_eq!(from.name(), Some("Bookings"));
    Ok(())
}

#[tokio::test]
async fn a_blank_smtp_url_means_the_outbox() -> TestResult {
    let data = tempfile::tempdir()?;
    let mailer = mailer_from_config(Some("  "), data.path(), slotstream_mail::DEFAULT_FROM, None)?;
    mailer.send(&email("blank-url", "s", "b")).await?;
    assert!(data.path().join("outbox").join("blank-url.eml").is_file());
    Ok(())
}

#[test]
fn bad_configuration_is_reported_before_anything_is_sent() -> TestResult {
    let data = tempfile::tempdir()?;
    let bad_url = mailer_from_config(Some("http://mail.example.com"), data.path(), "a@b.c", None);
    assert!(matches!(bad_url, Err(MailError::InvalidUrl { .. })));
    let bad_from = mailer_from_config(None, data.path(), "nobody", None);
    assert!(matches!(bad_from, Err(MailError::InvalidFrom { .. })));

    let file = data.path().join("a-file");
    fs::write(&file, b"x")?;
    let not_a_dir = OutboxMailer::new(file.join("outbox"));
    assert!(matches!(not_a_dir, Err(MailError::CreateDir { .. })));
    Ok(())
}
