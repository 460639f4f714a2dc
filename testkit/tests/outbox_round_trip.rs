//! What the outbox mailer (lettre) writes, the reader reads back: plain
//! ASCII, and text lettre transfer-encodes (quoted-printable or base64).

use slotstream_runtime::{Email, Mailer};
use slotstream_testkit::eml;

async fn round_trip(subject: &str, body: &str) -> eml::Email {
    let dir = tempfile::tempdir().expect("a temp dir");
    let outbox = slotstream_mail::OutboxMailer::new(dir.path().to_path_buf()).expect("an outbox");
    outbox
        .send(&Email {
            id: "evt-1".into(),
            to: "Ada Lovelace <ada@example.com>".into(),
            subject: subject.into(),
            body: body.into(),
        })
        .await
        .expect("sent");
    let raw = std::fs::read(outbox.path_for("evt-1")).expect("the .eml file");
    eml::parse(&raw).expect("parses")
}

#[tokio::test]
async fn an_ascii_email_reads_back_as_written() {
    let m = round_trip(
        "Your Slotstream verification code: 042917",
        "Hello Ada,\n\nYour verification code is 042917\n",
    )
    .await;
    assert_eq!(m.to, ["ada@example.com"]);
    assert_eq!(m.subject, "Your Slotstream verification code: 042917");
    assert_eq!(
        m.body.trim_end(),
        "Hello Ada,\n\nYour verification code is 042917"
    );
    assert_eq!(eml::six_digits(&m.body).as_deref(), Some("042917"));
}

#[tokio::test]
async fn transfer_encoded_text_reads_back_decoded() {
    let long_line = "Réservation confirmée ".repeat(12);
    for body in [
        // Mostly ASCII with a few non-ASCII characters and a line longer
        // than 76 characters: soft line breaks.
        format!("Refund: 10.00 EUR, {long_line}= done\nCode 123456\n"),
        // Mostly non-ASCII.
        "会議室の予約が確定しました。\n日本語の本文 ✓\n".to_owned(),
    ] {
        let m = round_trip("Buchung bestätigt: Raum Größe ✓", &body).await;
        assert_eq!(m.subject, "Buchung bestätigt: Raum Größe ✓");
        assert_eq!(m.body.trim_end(), body.trim_end());
    }
}
