//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document
//! and its page.

use super::json;
use crate::dto::{Health, ProcessorReadiness, Readiness};
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// Liveness: 200 while the gateway can answer (its reply router runs);
/// 503 otherwise. Restart the process when this fails; do not route to it
/// until `/readyz` says so.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Alive", body = Health),
        (status = 503, description = "`unavailable`: replies are not being read", body = crate::error::Problem),
    ))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    if st.replies.is_alive() {
        json(StatusCode::OK, &Health { status: "ok" })
    } else {
        ApiError::unavailable(&"the reply router is not running").into_response()
    }
}

/// Readiness: 200 once the reply router runs and every processor of this
/// process has restored the state of each partition assigned to it and
/// read its inputs to within the configured lag (`ready_max_lag` records
/// per partition); 503 `not_ready` naming the ones that have not. A
/// gateway without processors is ready once it reads its replies.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "`not_ready`: restoring state or catching up", body = crate::error::Problem),
    ))]
pub async fn readyz(State(st): State<AppState>) -> Response {
    let readiness = st.metrics.telemetry().readiness();
    let processors: Vec<ProcessorReadiness> = readiness
        .members()
        .into_iter()
        .map(|m| ProcessorReadiness {
            group: m.group,
            member: m.member,
            ready: m.ready,
            gates: m.gates,
        })
        .collect();
    let replies = st.replies.is_alive();
    if replies && processors.iter().all(|p| p.ready || !p.gates) {
        return json(
            StatusCode::OK,
            &Readiness {
                status: "ready",
                processors,
            },
        );
    }
    let mut waiting: Vec<String> = processors
        .iter()
        .filter(|p| !p.ready && p.gates)
        .map(|p| p.group.clone())
        .collect();
    if !replies {
        waiting.insert(0, "the reply router".into());
    }
    let mut err = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_ready",
        format!("not ready yet: {}", waiting.join(", ")),
    );
    err.retry_after = Some(1);
    err.into_response()
}

/// Prometheus text exposition of this process's metrics: the gateway's,
/// and in `slotstream up` every processor's and the auditor's.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    st.metrics.pending(st.replies.pending());
    let mut res = st.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// The OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_default());
    let mut res = doc.clone().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// What the docs page may load: its own script and style from this origin,
/// `/openapi.json`, nothing else; and no page may frame it.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    res
}

/// A browsable API reference (self-hosted: no third-party script).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn docs() -> Response {
    asset(include_str!("docs.html"), "text/html; charset=utf-8")
}

/// The docs page's script.
#[utoipa::path(get, path = "/docs/app.js", tag = "operations",
    responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
pub async fn docs_script() -> Response {
    asset(include_str!("docs.js"), "text/javascript; charset=utf-8")
}

/// The docs page's style sheet.
#[utoipa::path(get, path = "/docs/app.css", tag = "operations",
    responses((status = 200, description = "CSS", content_type = "text/css")))]
pub async fn docs_style() -> Response {
    asset(include_str!("docs.css"), "text/css; charset=utf-8")
}
