//! Operations endpoints: health, metrics, the OpenAPI document and its page.

use super::json;
use crate::dto::Health;
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// 200 once the gateway can answer (its reply router runs); 503 otherwise.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "`unavailable`: replies are not being read", body = crate::error::Problem),
    ))]
pub async fn healthz(State(st): State<AppState>) -> Response {
    if st.replies.is_alive() {
        json(StatusCode::OK, &Health { status: "ok" })
    } else {
        ApiError::unavailable(&"the reply router is not running").into_response()
    }
}

/// Prometheus text exposition of this gateway's metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    st.metrics.pending(st.replies.pending());
    // Lag per processor group and input partition, read at scrape time.
    for group in slotstream_runtime::topics::groups::ALL {
        for topic in group.inputs {
            for p in 0..topic.partitions {
                let tp = slotstream_runtime::TopicPartition::new(topic.name, p);
                let end = st.reader.end_offset(&tp).await;
                let done = st.reader.committed_offset(group.name, &tp).await;
                if let (Ok(end), Ok(done)) = (end, done) {
                    let lag = end.saturating_sub(done.unwrap_or(0));
                    st.metrics.lag(group.name, topic.name, p, lag);
                }
            }
        }
    }
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
