//! Consistency tokens: reads that follow a write on any gateway instance
//! (ARCHITECTURE.md, "Consistency tokens").
//!
//! A write's answer carries a token naming the log positions of its
//! decision's events (the processor's reply carries them: see
//! `slotstream_runtime::positions`). A read that sends the token back in a
//! `Consistency-Token` header waits until the views have applied every
//! named position, up to [`GatewayConfig::consistency_wait`], then answers
//! from the views; past the bound it answers 503 `consistency_timeout` with
//! `Retry-After`, never a possibly stale row.
//!
//! The token is opaque to clients: base64url (no padding) of a version
//! byte and the compact position encoding. Version 1 is the only one.
//!
//! [`GatewayConfig::consistency_wait`]: crate::config::GatewayConfig::consistency_wait

use crate::error::ApiError;
use crate::state::{AppState, Inner};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use slotstream_runtime::positions::{self, Position};
use std::time::Duration;
use tokio::time::Instant;

/// The header a token travels in, both ways.
pub const HEADER: &str = "consistency-token";
/// The token's version byte.
const VERSION: u8 = 1;
/// Longest token accepted (16 positions of at most 16 bytes, encoded).
const MAX_LEN: usize = 360;

/// The log positions a read must wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyToken {
    positions: Vec<Position>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64url, too long, or empty.
    #[error("not a consistency token")]
    Garbled,
    /// A version this gateway does not know.
    #[error("consistency token version {0} is not supported")]
    Version(u8),
    /// The positions inside do not read.
    #[error("consistency token names no valid position: {0}")]
    Positions(#[from] positions::PositionError),
}

impl ConsistencyToken {
    /// A token for `positions` (`None` when there are none).
    pub fn new(positions: Vec<Position>) -> Option<Self> {
        (!positions.is_empty()).then_some(Self { positions })
    }

    /// The token a reply's positions header names, if it names any.
    pub fn from_header(bytes: &[u8]) -> Option<Self> {
        Self::new(positions::decode(bytes).ok()?)
    }

    /// The positions it names.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// The opaque text clients hold.
    pub fn encode(&self) -> String {
        let mut raw = vec![VERSION];
        raw.extend(positions::encode(&self.positions));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads what [`ConsistencyToken::encode`] wrote.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        if text.is_empty() || text.len() > MAX_LEN {
            return Err(TokenError::Garbled);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| TokenError::Garbled)?;
        let (&version, rest) = raw.split_first().ok_or(TokenError::Garbled)?;
        if version != VERSION {
            return Err(TokenError::Version(version));
        }
        let positions = positions::decode(rest)?;
        Self::new(positions).ok_or(TokenError::Garbled)
    }
}

/// The `Consistency-Token` request header of a read, if sent; 400
/// `invalid_consistency_token` when it does not read.
#[derive(Debug)]
pub struct ReadAfter(pub Option<ConsistencyToken>);

impl FromRequestParts<AppState> for ReadAfter {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Some(v) = parts.headers.get(HEADER) else {
            return Ok(Self(None));
        };
        let token = v
            .to_str()
            .map_err(|_| TokenError::Garbled)
            .and_then(|t| ConsistencyToken::parse(t.trim()))
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_consistency_token",
                    format!(
                        "{e}: send back the Consistency-Token header of a write's answer unchanged, or none"
                    ),
                )
            })?;
        st.await_token(&token).await?;
        Ok(Self(Some(token)))
    }
}

impl Inner {
    /// Waits until the views have applied every position of `token`, up to
    /// the configured bound; 503 `consistency_timeout` past it.
    pub async fn await_token(&self, token: &ConsistencyToken) -> Result<(), ApiError> {
        let started = Instant::now();
        let deadline = started + self.cfg.consistency_wait;
        let mut pause = Duration::from_millis(1);
        loop {
            let mut behind = false;
            for p in token.positions() {
                let next = self
                    .views
                    .applied(p.topic, p.partition)
                    .await
                    .map_err(|e| ApiError::unavailable(&e))?;
                if next <= p.offset {
                    behind = true;
                    break;
                }
            }
            if !behind {
                self.metrics
                    .consistency_wait("applied", started.elapsed().as_secs_f64());
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                self.metrics
                    .consistency_wait("timeout", started.elapsed().as_secs_f64());
                return Err(timeout(self.cfg.consistency_wait));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

impl Inner {
    /// A payment row that a token's write implies but the views may not
    /// hold yet (the intent of a booking just held, decided by the payment
    /// processor after the booking): polled up to the bound, then 503
    /// `consistency_timeout` (an unknown id also ends here: the token says
    /// a write is in flight, and a 404 could be stale).
    pub async fn payment_soon(
        &self,
        id: &slotstream_domain::PaymentId,
    ) -> Result<slotstream_runtime::PaymentView, ApiError> {
        let started = Instant::now();
        let deadline = started + self.cfg.consistency_wait;
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(p) = self.payment(id).await? {
                return Ok(p);
            }
            let now = Instant::now();
            if now >= deadline {
                self.metrics
                    .consistency_wait("timeout", started.elapsed().as_secs_f64());
                return Err(timeout(self.cfg.consistency_wait));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

fn timeout(bound: Duration) -> ApiError {
    ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "consistency_timeout",
            format!(
                "the views have not caught up with the write this token names within {} ms; retry with the same token",
                bound.as_millis()
            ),
        )
    }
}

/// Adds the `Consistency-Token` header of a write's answer.
pub fn with_header(mut res: Response, token: Option<&ConsistencyToken>) -> Response {
    if let Some(t) = token
        && let Ok(v) = HeaderValue::from_str(&t.encode())
    {
        res.headers_mut().insert(HEADER, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_runtime::topics;

    fn token() -> ConsistencyToken {
        ConsistencyToken::new(vec![
            Position {
                topic: topics::BOOKING_EVENTS.name,
                partition: 7,
                offset: 123_456,
            },
            Position {
                topic: topics::PAYMENT_EVENTS.name,
                partition: 0,
                offset: 0,
            },
        ])
        .unwrap()
    }

    #[test]
    fn a_token_round_trips_and_is_small_and_url_safe() {
        let t = token();
        let text = t.encode();
        assert!(text.len() <= 16, "{text} is {} chars", text.len());
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(ConsistencyToken::parse(&text).unwrap(), t);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        assert_eq!(ConsistencyToken::parse(""), Err(TokenError::Garbled));
        assert_eq!(
            ConsistencyToken::parse("not a token!"),
            Err(TokenError::Garbled)
        );
        assert_eq!(
            ConsistencyToken::parse(&"A".repeat(MAX_LEN + 1)),
            Err(TokenError::Garbled)
        );
        // A version byte alone names nothing.
        assert_eq!(
            ConsistencyToken::parse(&URL_SAFE_NO_PAD.encode([VERSION])),
            Err(TokenError::Garbled)
        );
        let mut v2 = URL_SAFE_NO_PAD.decode(token().encode()).unwrap();
        v2[0] = 2;
        assert_eq!(
            ConsistencyToken::parse(&URL_SAFE_NO_PAD.encode(&v2)),
            Err(TokenError::Version(2))
        );
        // A truncated position, an unknown topic, a partition out of range.
        for body in [&[1u8, 7][..], &[42, 0, 0], &[1, 12, 0]] {
            let mut raw = vec![VERSION];
            raw.extend_from_slice(body);
            assert!(matches!(
                ConsistencyToken::parse(&URL_SAFE_NO_PAD.encode(&raw)),
                Err(TokenError::Positions(_))
            ));
        }
    }
}
