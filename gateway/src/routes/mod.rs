//! The router: every endpoint of the public contract, and the layers around
//! them (request id, trace span, metrics, problem+json for bare errors,
//! timeout, body limit, per-IP limit on `/v1/auth/*`).

pub mod api_keys;
pub mod auth;
pub mod bookings;
pub mod events;
pub mod ops;
pub mod payments;
pub mod resources;
pub mod schedule;
pub mod webhooks;

use crate::error::{self, ApiError, PROBLEM_JSON};
use crate::extract::client_ip;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use slotstream_runtime::{ViewError, trace};
use slotstream_schemas::ReplyPayload;
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Instrument as _;

/// Default page size of listings.
pub const DEFAULT_LIMIT: usize = 20;

/// The whole API on `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.cfg.body_limit;
    let auth = Router::new()
        .route("/v1/auth/register", post(auth::register))
        .route("/v1/auth/verify", post(auth::verify))
        .route("/v1/auth/resend", post(auth::resend))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/unlock", post(auth::unlock))
        .route_layer(middleware::from_fn_with_state(state.clone(), limit_auth));
    let api = Router::new()
        .route(
            "/v1/resources",
            post(resources::create).get(resources::list),
        )
        .route("/v1/resources/{id}", get(resources::get_one))
        .route(
            "/v1/resources/{id}/availability",
            get(resources::availability),
        )
        .route(
            "/v1/resources/{id}/schedule",
            get(schedule::get_schedule).put(schedule::put_schedule),
        )
        .route("/v1/resources/{id}/slots", get(schedule::slots))
        .route("/v1/slots", get(schedule::search))
        .route("/v1/vendor/bookings", get(bookings::vendor_list))
        .route("/v1/bookings", post(bookings::create).get(bookings::list))
        .route("/v1/bookings/{id}", get(bookings::get_one))
        .route("/v1/bookings/{id}/cancel", post(bookings::cancel))
        .route("/v1/bookings/{id}/reschedule", post(bookings::reschedule))
        .route("/v1/api-keys", post(api_keys::create).get(api_keys::list))
        .route("/v1/api-keys/{id}", delete(api_keys::revoke))
        .route("/v1/events", get(events::list))
        .route("/v1/payments/{id}", get(payments::get_one))
        .route("/v1/payments/{id}/complete", post(payments::complete))
        .route("/v1/webhooks/payments", post(payments::webhook))
        .route("/v1/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/v1/webhooks/{id}",
            get(webhooks::get_one).delete(webhooks::delete),
        )
        .route("/v1/sandbox/checkout/{id}", get(payments::checkout_page))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/docs", get(ops::docs))
        .route("/docs/app.js", get(ops::docs_script))
        .route("/docs/app.css", get(ops::docs_style))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            authenticate_key,
        ));
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(middleware::from_fn(trace_request))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.cfg.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(limit));
    let mut app = auth
        .merge(api)
        .fallback(|| async { error::for_status(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async { error::for_status(StatusCode::METHOD_NOT_ALLOWED) })
        .layer(layers);
    for (name, value) in SECURITY_HEADERS {
        app = app.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    app.with_state(state)
}

/// Headers every response carries unless its handler set its own: no MIME
/// sniffing, no framing (clickjacking), no caching (answers carry tokens and
/// personal data), no referrer. Pages (`/docs`, the checkout) set a stricter
/// `Content-Security-Policy` of their own; JSON needs none beyond this one.
pub const SECURITY_HEADERS: [(header::HeaderName, &str); 5] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The trace span of a request: bounded fields only.
fn span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!("http", method = %req.method(), route, request_id)
}

/// The request's span in the booking's trace: a child of the client's
/// `traceparent` when it sent one, else the root of a new trace. Its trace
/// context goes back in `traceresponse` (W3C Trace Context level 2), so a
/// client can find the trace of what it asked. With spans off (no OTLP
/// endpoint) the span is disabled and this only passes the request on.
async fn trace_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let span = tracing::info_span!(
        target: trace::TARGET,
        "request",
        otel.name = %format_args!("{} {route}", req.method()),
        otel.kind = "server",
        http.request.method = %req.method(),
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    if span.is_disabled() {
        return next.run(req).await;
    }
    let headers = req.headers();
    trace::adopt(
        &span,
        headers.get(trace::TRACEPARENT).map(HeaderValue::as_bytes),
        headers.get(trace::TRACESTATE).map(HeaderValue::as_bytes),
    );
    let mut res = next.run(req).instrument(span.clone()).await;
    span.record("http.response.status_code", res.status().as_u16());
    if let Some(value) =
        trace::context_of(&span).and_then(|(parent, _)| HeaderValue::try_from(parent).ok())
    {
        res.headers_mut().insert("traceresponse", value);
    }
    res
}

/// Records latency by route template and status class, and gives bare error
/// responses (from routing, limits, timeouts) the problem+json shape.
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    let mut res = next.run(req).await;
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let mut fresh = error::for_status(status).into_response();
        for name in [header::ALLOW, header::RETRY_AFTER] {
            if let Some(v) = res.headers().get(&name) {
                fresh.headers_mut().insert(name, v.clone());
            }
        }
        res = fresh;
    }
    st.metrics.http(
        &route,
        &method,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// Authenticates `Authorization: Bearer sk_...` (a bad, revoked or
/// expired key is 401), takes one request from the key's quota (429 with
/// `Retry-After` when empty) and hands the key to the [`crate::tokens::Caller`]
/// extractor; the answer carries the quota's `RateLimit-*` headers. Any
/// other request passes untouched.
async fn authenticate_key(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let Some(presented) = crate::api_keys::bearer_key(req.headers()) else {
        return next.run(req).await;
    };
    let Some(key_id) = crate::api_keys::parse(presented) else {
        return ApiError::unauthorized().into_response();
    };
    let stored = match st.api_key(key_id).await {
        Ok(stored) => stored,
        Err(e) => return e.into_response(),
    };
    let key = match crate::api_keys::check(presented, stored, st.now()) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let quota = st.quotas.take(&key, Instant::now());
    if let Some(secs) = quota.retry_after {
        let mut res = ApiError::rate_limited(
            secs,
            "this API key's quota is used up; retry after the number of seconds in Retry-After",
        )
        .into_response();
        quota.write(res.headers_mut());
        return res;
    }
    req.extensions_mut()
        .insert(crate::api_keys::KeyAuth { key });
    let mut res = next.run(req).await;
    quota.write(res.headers_mut());
    res
}

/// The per-IP limit of `/v1/auth/*`.
async fn limit_auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    match st.limits.auth(client_ip(req.extensions())) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// 202 `{id, status: "processing"}`: accepted, and the outcome arrives later
/// (a checkout submitted to the provider); the client GETs `id`.
pub fn processing(
    id: impl std::fmt::Display,
    token: Option<&crate::consistency::ConsistencyToken>,
) -> Response {
    decided(
        StatusCode::ACCEPTED,
        &crate::dto::ProcessingDto {
            id: id.to_string(),
            status: crate::dto::ProcessingStatus::Processing,
        },
        token,
    )
}

/// Seconds a client is told to wait before repeating a request whose
/// decision did not arrive in time.
pub const PENDING_RETRY_AFTER_SECS: u64 = 1;

/// 202 `{id, status: "pending_decision"}` with `Retry-After`: the decision did
/// not arrive within the wait budget. The command is on the log and will be
/// decided; the client repeats the request with the same Idempotency-Key
/// (which gets the first decision, nothing happens twice) or GETs `id`.
pub fn pending_decision(id: impl std::fmt::Display) -> Response {
    let mut res = json(
        StatusCode::ACCEPTED,
        &crate::dto::ProcessingDto {
            id: id.to_string(),
            status: crate::dto::ProcessingStatus::PendingDecision,
        },
    );
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(PENDING_RETRY_AFTER_SECS),
    );
    res
}

/// A JSON response with `status`.
pub fn json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut res = (status, bytes).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// 201 with `Location: location`.
pub fn created<T: serde::Serialize>(location: &str, body: &T) -> Response {
    let mut res = json(StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A write's answer: `body` with the `Consistency-Token` header when the
/// decision's position is known. The token is a header only: a replayed
/// request must get its first body again (the contract), and a replay's
/// token may name a later position than the first answer's.
pub fn decided<T: serde::Serialize>(
    status: StatusCode,
    body: &T,
    token: Option<&crate::consistency::ConsistencyToken>,
) -> Response {
    crate::consistency::with_header(json(status, body), token)
}

/// [`decided`] with 201 and `Location`.
pub fn created_decided<T: serde::Serialize>(
    location: &str,
    body: &T,
    token: Option<&crate::consistency::ConsistencyToken>,
) -> Response {
    let mut res = decided(StatusCode::CREATED, body, token);
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// A page size: default 20, else 1 to 100.
pub fn page_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.trim().parse::<usize>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid(
            "limit",
            "must be an integer from 1 to 100",
        )),
    }
}

/// A view error as an answer: a foreign cursor is the client's mistake.
pub fn view_error(e: ViewError) -> ApiError {
    match e {
        ViewError::BadCursor => ApiError::invalid(
            "cursor",
            "is not a cursor this API issued; pass a next_cursor from a previous page",
        ),
        other => ApiError::unavailable(&other),
    }
}

/// A reply of a kind the command cannot have: a bug somewhere, logged.
pub fn unexpected(command: &str, reply: &ReplyPayload) -> ApiError {
    let kind = match reply {
        ReplyPayload::Booking(_) => "booking event",
        ReplyPayload::Payment(_) => "payment event",
        ReplyPayload::Identity(_) => "identity event",
    };
    ApiError::internal(&format!("unexpected {kind} in reply to {command}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_limits_default_to_20_and_stay_within_1_to_100() {
        assert_eq!(page_limit(None).unwrap(), 20);
        assert_eq!(page_limit(Some("1")).unwrap(), 1);
        assert_eq!(page_limit(Some("100")).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(
                page_limit(Some(bad)).unwrap_err().errors[0].field,
                "limit",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_foreign_cursor_is_a_validation_failure_and_an_outage_is_503() {
        assert_eq!(view_error(ViewError::BadCursor).errors[0].field, "cursor");
        assert_eq!(
            view_error(ViewError::Transient("down".into())).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
