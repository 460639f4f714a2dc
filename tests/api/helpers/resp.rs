//! One HTTP answer read whole, and the assertions every test makes on it,
//! above all the problem+json shape every error shares.

use reqwest::header::HeaderMap;
use serde_json::Value;

/// One HTTP answer, read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub text: String,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub body: Value,
}

impl Resp {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16, what: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "{what}: expected {status}, got {} with body {}",
            self.status, self.text
        );
        &self.body
    }

    /// Asserts an RFC 9457 problem with this status and `code`, and the shape
    /// every error shares: content type, `type`, `title`, `status`, `detail`, `code`.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            self.status, status,
            "expected {status} {code}, got {} with body {}",
            self.status, self.text
        );
        self.assert_problem_shape();
        assert_eq!(
            self.body["code"], code,
            "wrong problem code in {}",
            self.text
        );
        &self.body
    }

    /// Asserts the problem+json shape only (any status, any code).
    #[track_caller]
    pub fn assert_problem_shape(&self) {
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/problem+json"),
            "content-type {ct:?} instead of application/problem+json (status {}, body {})",
            self.status,
            self.text
        );
        for field in ["type", "title", "detail", "code"] {
            assert!(
                self.body[field].is_string(),
                "problem field {field:?} missing or not a string in {}",
                self.text
            );
        }
        assert_eq!(
            self.body["status"], self.status,
            "problem `status` differs from the HTTP status in {}",
            self.text
        );
        let code = self.body["code"].as_str().unwrap_or_default();
        assert!(
            !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "problem code {code:?} is not snake_case"
        );
    }
}
