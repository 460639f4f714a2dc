//! Reading the outbox folder (`<data_dir>/outbox/*.eml`) as a person would:
//! who it is to, the subject, the body with its transfer encoding undone; or,
//! in a Kafka run, the real SMTP server's mailbox through Mailpit's API.
//! Parsing is the testkit's `.eml` reader, the one the load generator uses.

use std::path::Path;
use std::time::SystemTime;

/// One email from the outbox.
#[derive(Clone, Debug)]
pub struct Email {
    /// The recipient's address (without any display name).
    pub to: String,
    /// The subject line, unfolded.
    pub subject: String,
    /// The decoded body.
    pub body: String,
    /// When the file was written, for ordering.
    pub written: SystemTime,
    /// The file name, to tell emails apart.
    pub file: String,
}

impl Email {
    /// The subject, a blank line and the body.
    pub fn text(&self) -> String {
        format!("{}\n\n{}", self.subject, self.body)
    }
}

/// Every email in `dir` addressed to `addr` (case-insensitive), oldest first.
/// A missing folder is an empty outbox; a file that does not parse yet (being
/// written) is skipped and seen on the next look.
pub fn read(dir: &Path, addr: &str) -> Vec<Email> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Email> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let raw = std::fs::read(e.path()).ok()?;
            let written = e
                .metadata()
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            parse(&raw, written, e.file_name().to_string_lossy().into_owned())
        })
        .filter(|m| m.to.eq_ignore_ascii_case(addr))
        .collect();
    out.sort_by(|a, b| a.written.cmp(&b.written).then_with(|| a.file.cmp(&b.file)));
    out
}

/// Every email to `addr` that reached the SMTP server, from Mailpit's HTTP API
/// (`api`), oldest first. Bodies are fetched once per message and kept in
/// `seen`. An API error is a failed test, not an empty mailbox.
pub async fn read_mailpit(
    client: &reqwest::Client,
    api: &str,
    seen: &std::sync::Mutex<std::collections::HashMap<String, Email>>,
    addr: &str,
) -> Vec<Email> {
    let get = |url: String| async move {
        client
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("Mailpit API {url}: {e}"))
            .json::<serde_json::Value>()
            .await
            .unwrap_or_else(|e| panic!("Mailpit API {url}: not JSON: {e}"))
    };
    let query = format!("to:\"{addr}\"");
    let found = get(format!(
        "{api}/api/v1/search?limit=500&query={}",
        super::encode_query(&query)
    ))
    .await;
    let summaries = found["messages"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    // Newest first from the API; number them oldest first.
    for (i, summary) in summaries.iter().rev().enumerate() {
        let Some(id) = summary["ID"].as_str() else {
            continue;
        };
        let cached = seen.lock().ok().and_then(|m| m.get(id).cloned());
        let mail = match cached {
            Some(m) => m,
            None => {
                let full = get(format!("{api}/api/v1/message/{id}")).await;
                let m = Email {
                    to: full["To"][0]["Address"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    subject: full["Subject"].as_str().unwrap_or_default().to_owned(),
                    body: full["Text"].as_str().unwrap_or_default().to_owned(),
                    written: SystemTime::UNIX_EPOCH,
                    file: id.to_owned(),
                };
                if let Ok(mut map) = seen.lock() {
                    map.insert(id.to_owned(), m.clone());
                }
                m
            }
        };
        if mail.to.eq_ignore_ascii_case(addr) {
            out.push(Email {
                written: SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(i as u64),
                ..mail
            });
        }
    }
    out
}

/// The `MessageID` of every message to `addr` at Mailpit (repeats included).
pub async fn mailpit_message_ids(client: &reqwest::Client, api: &str, addr: &str) -> Vec<String> {
    let url = format!(
        "{api}/api/v1/search?limit=1000&query={}",
        super::encode_query(&format!("to:\"{addr}\""))
    );
    let found: serde_json::Value = client
        .get(&url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("Mailpit API {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("Mailpit API {url}: not JSON: {e}"));
    found["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["MessageID"].as_str().map(str::to_owned))
        .collect()
}

pub use slotstream_testkit::eml::six_digits;

/// The email in `raw`, addressed to its first recipient.
fn parse(raw: &[u8], written: SystemTime, file: String) -> Option<Email> {
    let m = slotstream_testkit::eml::parse(raw)?;
    Some(Email {
        to: m.to.into_iter().next()?,
        subject: m.subject,
        body: m.body,
        written,
        file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_printable_body_is_decoded_and_its_soft_breaks_joined() {
        let eml = "To: <a@example.com>\r\nSubject: Your code\r\n \r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nRefund: 10.00 =\r\nEUR =3D ok\r\n";
        let m = parse(eml.as_bytes(), SystemTime::UNIX_EPOCH, "x.eml".into()).expect("parses");
        assert_eq!(m.to, "a@example.com");
        assert_eq!(m.body, "Refund: 10.00 EUR = ok\n");
    }

    #[test]
    fn only_a_run_of_exactly_six_digits_is_a_code() {
        assert_eq!(
            six_digits("2026-11-24 1234567 code 042917."),
            Some("042917".into())
        );
        assert_eq!(six_digits("no code 12345"), None);
    }
}
