//! Extractors whose rejections are problem+json like every other error:
//! a JSON body (`415` wrong content type, `400 malformed_json`, `422
//! validation_failed` naming the field, `413` too large), the bearer caller,
//! the `Idempotency-Key` header and the client address.

use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use crate::tokens::Caller;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A JSON request body of type `T` (which should `deny_unknown_fields`).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

fn is_json(parts: &axum::http::HeaderMap) -> bool {
    let Some(ct) = parts
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses a JSON body into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is an object; say so plainly rather than
    // letting serde describe a sequence-shaped struct.
    if let Some(b'[') = bytes.iter().copied().find(|b| !b.is_ascii_whitespace()) {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON ({inner}); send one JSON object"),
            );
        }
        let path = e.path().to_string();
        let text = inner.to_string();
        // serde names unknown/missing fields in the message, not the path.
        let named = named_field(&text);
        let field = match (path.as_str(), named) {
            (".", Some(f)) => f.to_owned(),
            (".", None) => "body".to_owned(),
            (p, Some(f)) if p == f || p.ends_with(&format!(".{f}")) => p.to_owned(),
            (p, Some(f)) => format!("{p}.{f}"),
            (p, None) => p.to_owned(),
        };
        ApiError::validation(vec![FieldError::new(field, in_our_words(&text))])
    })
}

/// Query parameters of type `T`; a repeated, unknown or mistyped parameter
/// is 422 `validation_failed` naming it, like a body field.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(ApiQuery)
            .map_err(|e| {
                let text = e.to_string();
                let field = named_field(&text).unwrap_or("query").to_owned();
                let message = if text.starts_with("duplicate field") {
                    "must be given at most once".to_owned()
                } else {
                    in_our_words(&text)
                };
                ApiError::validation(vec![FieldError::new(field, message)])
            })
    }
}

/// The field a serde message names (`unknown field `x``, `duplicate field `x``).
fn named_field(text: &str) -> Option<&str> {
    ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|p| {
            text.split_once(p)
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(f, _)| f)
        })
}

/// What a type name in a serde message means to a client.
fn expected_in_words(expected: &str) -> String {
    let e = expected.trim();
    let integer = |bits: &str, signed: bool| match (bits, signed) {
        ("8", false) => "an integer from 0 to 255".to_owned(),
        ("16", false) => "an integer from 0 to 65535".to_owned(),
        ("32", false) => "an integer from 0 to 4294967295".to_owned(),
        (_, false) => "a non-negative integer".to_owned(),
        (_, true) => "an integer".to_owned(),
    };
    match e {
        "a string" | "a borrowed string" => "a string".to_owned(),
        "a boolean" => "true or false".to_owned(),
        _ if e.starts_with('u') && e[1..].bytes().all(|b| b.is_ascii_digit()) && e.len() > 1 => {
            integer(&e[1..], false)
        }
        _ if e.starts_with('i') && e[1..].bytes().all(|b| b.is_ascii_digit()) && e.len() > 1 => {
            integer(&e[1..], true)
        }
        _ if e.starts_with("struct ") || e.starts_with("a map") => "a JSON object".to_owned(),
        _ if e.starts_with("a sequence") => "an array".to_owned(),
        _ => e.trim_matches('`').to_owned(),
    }
}

/// A serde message about a value, rewritten in the API's words: `must be an
/// integer from 0 to 4294967295` rather than `invalid type: floating point
/// `60.0`, expected u32`.
fn in_our_words(text: &str) -> String {
    let text = text.split(" at line ").next().unwrap_or(text);
    if let Some((_, rest)) = text.split_once("unknown variant `") {
        let options = rest
            .split_once("expected ")
            .map(|(_, o)| o.replace('`', "").replace("one of ", ""))
            .unwrap_or_default();
        return format!("must be one of {options}");
    }
    if text.starts_with("unknown field") {
        return "is not a field of this request; remove it".to_owned();
    }
    if text.starts_with("missing field") {
        return "is required".to_owned();
    }
    if let Some((_, expected)) = text.split_once(", expected ")
        && (text.starts_with("invalid type") || text.starts_with("invalid value"))
    {
        return format!("must be {}", expected_in_words(expected));
    }
    if text.starts_with("invalid length") {
        return "has the wrong number of elements".to_owned();
    }
    text.to_owned()
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(crate::error::for_status(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| crate::error::for_status(axum::http::StatusCode::PAYLOAD_TOO_LARGE))?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Authenticated by an API key (the key middleware put it there):
        // the route's scope decides, and the key acts as its owner or the
        // owner's end user.
        if let Some(auth) = parts.extensions.get::<crate::api_keys::KeyAuth>() {
            let route = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .map(axum::extract::MatchedPath::as_str);
            return auth.caller(&parts.method, route, &parts.headers);
        }
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized());
        }
        state.tokens.verify(token.trim(), state.now())
    }
}

/// The `Idempotency-Key` header, 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(pub String);

/// The header's name.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

impl IdempotencyKey {
    /// The key of `headers`: `Ok(None)` when absent, 422 when malformed
    /// (empty included).
    pub fn optional(headers: &axum::http::HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(v) = headers.get(IDEMPOTENCY_KEY) else {
            return Ok(None);
        };
        let invalid = || {
            ApiError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )
        };
        let s = v.to_str().map_err(|_| invalid())?;
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err(invalid());
        }
        Ok(Some(Self(s.to_owned())))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Where the key is required, an empty one is as good as none.
        let empty = parts
            .headers
            .get(IDEMPOTENCY_KEY)
            .is_some_and(|v| v.is_empty());
        let key = if empty {
            None
        } else {
            Self::optional(&parts.headers)?
        };
        key.ok_or_else(|| {
            ApiError::bad_request(
                "idempotency_key_missing",
                "this endpoint requires an `Idempotency-Key` header (1 to 255 characters, e.g. a UUID) so retries are safe",
            )
        })
    }
}

/// The client's address, as an extractor (see [`client_ip`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_ip(&parts.extensions)))
    }
}

/// The peer's IP address (unspecified when served without connect info).
pub fn client_ip(parts_ext: &axum::http::Extensions) -> IpAddr {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        start: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        n: u32,
    }

    #[test]
    fn syntax_errors_are_400_malformed_json() {
        for bad in [&b"{"[..], b"", b"{\"start\": }", b"not json"] {
            let e = parse_json::<Body>(bad).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "malformed_json"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_422_naming_the_field() {
        let e = parse_json::<Body>(br#"{"start":"x","extra":1}"#).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (422, "validation_failed"));
        assert_eq!(e.errors[0].field, "extra");
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(e.errors[0].field, "start");
        let e = parse_json::<Body>(br#"{"start":"x","nested":{"n":-1}}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "nested.n");
        for not_an_object in [&br#"[1]"#[..], br#" "x""#, b"12"] {
            let e = parse_json::<Body>(not_an_object).unwrap_err();
            assert_eq!(
                (e.code, e.errors[0].field.as_str()),
                ("validation_failed", "body")
            );
        }
    }

    #[test]
    fn type_errors_are_said_in_the_apis_words_not_the_parsers() {
        let e = parse_json::<Body>(br#"{"start":"x","nested":{"n":60.5}}"#).unwrap_err();
        assert_eq!(e.errors[0].field, "nested.n");
        assert_eq!(
            e.errors[0].message,
            "must be an integer from 0 to 4294967295"
        );
        let e = parse_json::<Body>(br#"{"start":1}"#).unwrap_err();
        assert_eq!(e.errors[0].message, "must be a string");
        let e = parse_json::<Body>(br#"{"start":"x","nested":3}"#).unwrap_err();
        assert_eq!(e.errors[0].message, "must be a JSON object");
        let e = parse_json::<Body>(br#"{"start":"x","extra":1}"#).unwrap_err();
        assert_eq!(
            e.errors[0].message,
            "is not a field of this request; remove it"
        );
        assert!(!e.detail.contains("expected"), "{}", e.detail);
    }

    #[test]
    fn the_idempotency_key_must_be_short_visible_ascii() {
        let mut h = axum::http::HeaderMap::new();
        assert_eq!(IdempotencyKey::optional(&h).unwrap(), None);
        h.insert(IDEMPOTENCY_KEY, "k-1".parse().unwrap());
        assert_eq!(
            IdempotencyKey::optional(&h).unwrap(),
            Some(IdempotencyKey("k-1".into()))
        );
        h.insert(IDEMPOTENCY_KEY, "x".repeat(256).parse().unwrap());
        assert_eq!(
            IdempotencyKey::optional(&h).unwrap_err().errors[0].field,
            "Idempotency-Key"
        );
        h.insert(IDEMPOTENCY_KEY, "x".repeat(255).parse().unwrap());
        assert!(IdempotencyKey::optional(&h).unwrap().is_some());
    }

    #[test]
    fn json_content_types_are_recognised() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!is_json(&h));
        for (ct, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{ct}");
        }
    }
}
