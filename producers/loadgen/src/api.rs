//! The few public API calls the setup phase needs (register, verify, log in,
//! create a resource), with typed errors that say what to check.
//!
//! Invariant: a 429 is never an error by itself: the call waits the server's
//! `Retry-After` (capped) and tries again, a bounded number of times.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Client, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::json;

/// Attempts per call while the server answers 429.
const MAX_ATTEMPTS: u32 = 30;
/// Longest single wait on a `Retry-After`.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Why setting up the users and resources failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `--url` is not a URL this tool can use.
    #[error(
        "--url {url:?} is not a usable http(s) base URL ({reason}); pass something like http://127.0.0.1:8080"
    )]
    BadUrl {
        /// What was given.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server could not be reached at all.
    #[error("cannot reach {url} ({detail}); is `slotstream up` running there? check --url")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The transport error.
        detail: String,
    },
    /// A call got no HTTP answer.
    #[error(
        "{call} failed without an HTTP answer ({detail}); check that the server is healthy and retry"
    )]
    Transport {
        /// Which call.
        call: &'static str,
        /// The transport error.
        detail: String,
    },
    /// A call got a status other than the one the contract promises.
    #[error("{call} answered {status} instead of {expected}: {body}")]
    Status {
        /// Which call.
        call: &'static str,
        /// What came back.
        status: u16,
        /// What the contract says.
        expected: u16,
        /// The (problem+json) body.
        body: String,
    },
    /// A call was still rate limited after every retry.
    #[error(
        "{call} was still rate limited (429) after {attempts} attempts; raise the gateway's auth/write rate limits or lower --setup-concurrency"
    )]
    RateLimited {
        /// Which call.
        call: &'static str,
        /// How many times it was tried.
        attempts: u32,
    },
    /// A success answer did not have the documented shape.
    #[error(
        "{call} answered with an unexpected body ({detail}); is --url a Slotstream gateway of this version?"
    )]
    BadBody {
        /// Which call.
        call: &'static str,
        /// The decoding error.
        detail: String,
    },
    /// No verification email showed up in time.
    #[error(
        "no verification email for {email} appeared in {dir} within {waited:?}; this tool reads the embedded mode's \
         outbox, so run `slotstream up` with the same --data-dir and without SLOTSTREAM_SMTP_URL (or raise --code-timeout)"
    )]
    NoCode {
        /// The address waited for.
        email: String,
        /// The outbox folder.
        dir: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// The outbox folder could not be read.
    #[error("cannot read the outbox {dir}: {source}; check --data-dir and its permissions")]
    Outbox {
        /// The outbox folder.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Ctrl-C arrived before the load started.
    #[error("interrupted during setup (Ctrl-C): nothing was measured")]
    Interrupted,
}

/// A client of the public API rooted at one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
    base: Url,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

impl Api {
    /// An API client for `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(client: Client, base: Url) -> Self {
        Self { client, base }
    }

    /// `base` joined with an absolute path such as `/v1/bookings`.
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        url
    }

    /// `GET /healthz` must answer 200: checks the server is there at all.
    pub async fn healthz(&self) -> Result<(), SetupError> {
        let url = self.url("/healthz");
        let resp =
            self.client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| SetupError::Unreachable {
                    url: url.to_string(),
                    detail: describe(&e),
                })?;
        expect("GET /healthz", resp, StatusCode::OK).await.map(drop)
    }

    /// `POST /v1/auth/register`, expecting 202.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: &str,
    ) -> Result<(), SetupError> {
        let body = json!({ "email": email, "password": password, "name": name, "role": role });
        let req = || self.client.post(self.url("/v1/auth/register")).json(&body);
        self.call("POST /v1/auth/register", req, StatusCode::ACCEPTED)
            .await
            .map(drop)
    }

    /// `POST /v1/auth/verify`, expecting 200.
    pub async fn verify(&self, email: &str, code: &str) -> Result<(), SetupError> {
        let body = json!({ "email": email, "code": code });
        let req = || self.client.post(self.url("/v1/auth/verify")).json(&body);
        self.call("POST /v1/auth/verify", req, StatusCode::OK)
            .await
            .map(drop)
    }

    /// `POST /v1/auth/login`, expecting 200; returns the bearer token.
    pub async fn login(&self, email: &str, password: &str) -> Result<String, SetupError> {
        let body = json!({ "email": email, "password": password });
        let req = || self.client.post(self.url("/v1/auth/login")).json(&body);
        let call = "POST /v1/auth/login";
        let bytes = self.call(call, req, StatusCode::OK).await?;
        let token: Token = decode(call, &bytes)?;
        Ok(token.access_token)
    }

    /// `POST /v1/resources` as the vendor: a 15-minute-slot resource; returns its id.
    pub async fn create_resource(&self, token: &str, name: &str) -> Result<String, SetupError> {
        let body = json!({
            "name": name,
            "kind": "room",
            "price": { "amount": 1000, "currency": "EUR", "unit_minutes": 15 },
            "slot_minutes": 15,
            "min_minutes": 15,
        });
        let req = || {
            self.client
                .post(self.url("/v1/resources"))
                .bearer_auth(token)
                .json(&body)
        };
        let call = "POST /v1/resources";
        let bytes = self.call(call, req, StatusCode::CREATED).await?;
        let created: Created = decode(call, &bytes)?;
        Ok(created.id)
    }

    async fn call(
        &self,
        call: &'static str,
        request: impl Fn() -> RequestBuilder,
        expected: StatusCode,
    ) -> Result<bytes::Bytes, SetupError> {
        for _ in 0..MAX_ATTEMPTS {
            let resp = request().send().await.map_err(|e| SetupError::Transport {
                call,
                detail: describe(&e),
            })?;
            if resp.status() == StatusCode::TOO_MANY_REQUESTS {
                let wait = retry_after(&resp)
                    .unwrap_or(Duration::from_secs(1))
                    .min(MAX_RETRY_AFTER);
                // Backing off as the server asked; the number of attempts is bounded.
                tokio::time::sleep(wait).await;
                continue;
            }
            return expect(call, resp, expected).await;
        }
        Err(SetupError::RateLimited {
            call,
            attempts: MAX_ATTEMPTS,
        })
    }
}

async fn expect(
    call: &'static str,
    resp: reqwest::Response,
    expected: StatusCode,
) -> Result<bytes::Bytes, SetupError> {
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| SetupError::Transport {
        call,
        detail: describe(&e),
    })?;
    if status == expected {
        return Ok(body);
    }
    Err(SetupError::Status {
        call,
        status: status.as_u16(),
        expected: expected.as_u16(),
        body: String::from_utf8_lossy(&body).chars().take(500).collect(),
    })
}

fn decode<T: serde::de::DeserializeOwned>(
    call: &'static str,
    bytes: &[u8],
) -> Result<T, SetupError> {
    serde_json::from_slice(bytes).map_err(|e| SetupError::BadBody {
        call,
        detail: e.to_string(),
    })
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let value = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A transport error with its causes, on one line.
pub fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
