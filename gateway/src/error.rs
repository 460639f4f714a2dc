//! The HTTP edge's one error type, rendered as `application/problem+json`
//! (RFC 9457): `{type, title, status, detail, code}` plus `errors` for
//! validation failures. 5xx bodies never carry internals: the cause is logged
//! and the client gets a fixed sentence.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field as the API names it (`start`, `price.currency`, `Idempotency-Key`).
    pub field: String,
    /// What is wrong with it and how to fix it.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document, as sent.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:slotstream:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened and what to do.
    pub detail: String,
    /// Stable machine-readable code, e.g. `slot_unavailable`.
    pub code: String,
    /// The offending fields (`validation_failed` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Client-facing detail.
    pub detail: String,
    /// Offending fields.
    pub errors: Vec<FieldError>,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Any status and code.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// The same error listing the offending fields.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The same error under another code.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required: log in at POST /v1/auth/login and send `Authorization: Bearer <token>`",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} with this id is visible to you"),
        )
    }

    /// 409 with a specific code.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 400 with a specific code.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 `validation_failed` listing the offending fields.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => "the request has invalid fields; see `errors`".to_owned(),
        };
        Self {
            errors,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                detail,
            )
        }
    }

    /// 422 `validation_failed` for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// 429 `rate_limited` with `Retry-After: secs` (at least 1).
    pub fn rate_limited(secs: u64, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(secs.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail)
        }
    }

    /// 503 `unavailable`: a dependency (log, views) failed; `cause` is logged, not sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%cause, "dependency unavailable");
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unavailable; retry shortly (POSTs with the same Idempotency-Key are safe to retry)",
            )
        }
    }

    /// 500 `internal`: a bug; `cause` is logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("urn:slotstream:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// The problem for a bare error status produced outside a handler (routing,
/// body limit, timeout), so every error body has the same shape.
pub fn for_status(status: StatusCode) -> ApiError {
    match status {
        StatusCode::NOT_FOUND => {
            ApiError::new(status, "not_found", "no such endpoint; see /openapi.json")
        }
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "this endpoint does not take that method; see /openapi.json",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "payload_too_large", "the request body is too large")
        }
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => ApiError::new(
            status,
            "timeout",
            "the request took too long; retry (with the same Idempotency-Key)",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "send the body as `Content-Type: application/json`",
        ),
        s if s.is_server_error() => ApiError::new(
            s,
            "internal",
            "an internal error occurred; it has been logged",
        ),
        s => ApiError::new(s, "bad_request", "the request could not be processed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_json(res: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_validation_failure_renders_as_problem_json_with_its_fields() {
        let err = ApiError::validation(vec![
            FieldError::new("start", "must be aligned to 15 minute slots"),
            FieldError::new("end", "must be after start"),
        ]);
        let res = err.into_response();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(res.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let v = body_json(res).await;
        assert_eq!(v["type"], "urn:slotstream:problem:validation_failed");
        assert_eq!(v["title"], "Unprocessable Entity");
        assert_eq!(v["status"], 422);
        assert_eq!(v["code"], "validation_failed");
        assert_eq!(v["errors"][1]["field"], "end");
        assert!(v["detail"].as_str().unwrap().contains("errors"));
    }

    #[tokio::test]
    async fn rate_limits_carry_retry_after_and_plain_errors_have_no_errors_list() {
        let res = ApiError::rate_limited(0, "slow down").into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let v = body_json(res).await;
        assert_eq!(v["code"], "rate_limited");
        assert!(v.get("errors").is_none());
    }

    #[tokio::test]
    async fn internal_errors_never_leak_their_cause() {
        let res = ApiError::internal(&"redb: table corrupted at page 7").into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body_json(res).await.to_string();
        assert!(!text.contains("redb"), "{text}");
    }

    #[tokio::test]
    async fn unauthorized_answers_ask_for_a_bearer_token() {
        let res = ApiError::unauthorized().into_response();
        assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body_json(res).await["code"], "unauthorized");
    }

    #[test]
    fn bare_statuses_map_to_stable_codes() {
        assert_eq!(for_status(StatusCode::NOT_FOUND).code, "not_found");
        assert_eq!(
            for_status(StatusCode::METHOD_NOT_ALLOWED).code,
            "method_not_allowed"
        );
        assert_eq!(
            for_status(StatusCode::PAYLOAD_TOO_LARGE).code,
            "payload_too_large"
        );
        assert_eq!(for_status(StatusCode::BAD_GATEWAY).code, "internal");
    }
}
