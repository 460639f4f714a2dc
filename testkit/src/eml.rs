//! Reading the emails the outbox mailer writes (`<data_dir>/outbox/*.eml`)
//! as a person would: who they are to, the subject, the text with its
//! transfer encoding undone.
//!
//! Parsing is `mail-parser`'s: folded headers, RFC 2047 encoded words,
//! quoted-printable and base64 bodies (lettre picks either for text that is
//! not plain ASCII), multipart messages.

use mail_parser::MessageParser;

/// One email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Every address of `To:`, as written (without display names).
    pub to: Vec<String>,
    /// The subject, unfolded and decoded; empty when there is none.
    pub subject: String,
    /// The first text body, decoded, with line breaks as `\n`; empty when
    /// there is none.
    pub body: String,
}

impl Email {
    /// Whether `addr` is one of the recipients (case-insensitive).
    pub fn is_to(&self, addr: &str) -> bool {
        self.to.iter().any(|a| a.eq_ignore_ascii_case(addr))
    }
}

/// Parses one `.eml` file. `None` when it is not a message with a `To:`
/// address.
pub fn parse(raw: &[u8]) -> Option<Email> {
    let message = MessageParser::default().parse(raw)?;
    let to: Vec<String> = message
        .to()?
        .iter()
        .filter_map(|a| a.address())
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if to.is_empty() {
        return None;
    }
    Some(Email {
        to,
        subject: message.subject().unwrap_or_default().to_owned(),
        body: message
            .body_text(0)
            .map(|b| b.replace("\r\n", "\n"))
            .unwrap_or_default(),
    })
}

/// The first run of exactly six ASCII digits in `text` (a one-time code):
/// longer or shorter runs of digits are not codes.
pub fn six_digits(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_printable_body_is_decoded_and_its_soft_breaks_joined() {
        let eml = "To: <a@example.com>\r\nSubject: Your code\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n\r\n\
                   Refund: 10.00 =\r\nEUR =3D ok =C3=A9\r\n";
        let m = parse(eml.as_bytes()).expect("parses");
        assert_eq!(m.to, ["a@example.com"]);
        assert_eq!(m.subject, "Your code");
        assert_eq!(m.body, "Refund: 10.00 EUR = ok é\n");
    }

    #[test]
    fn a_base64_body_and_an_encoded_folded_subject_are_decoded() {
        let eml = "To: \"Ann\" <Ann@Example.org>, bob@example.org\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\n \
                   verification code\nContent-Type: text/plain; charset=utf-8\n\
                   Content-Transfer-Encoding: base64\n\nWW91ciBjb2RlIGlzIDA0MjkxNy4K\n";
        let m = parse(eml.as_bytes()).expect("parses");
        assert_eq!(m.to, ["Ann@Example.org", "bob@example.org"]);
        assert!(m.is_to("ann@example.org") && m.is_to("BOB@example.org"));
        assert_eq!(m.subject, "Grüße verification code");
        assert_eq!(m.body, "Your code is 042917.\n");
    }

    #[test]
    fn a_message_without_recipient_is_not_an_email() {
        assert_eq!(parse(b"Subject: x\r\n\r\nbody\r\n"), None);
    }

    #[test]
    fn only_a_run_of_exactly_six_digits_is_a_code() {
        assert_eq!(
            six_digits("2026-11-24 1234567 code 042917."),
            Some("042917".into())
        );
        assert_eq!(six_digits("no code 12345"), None);
        assert_eq!(six_digits("order 1234567 at 12:00"), None);
    }
}
