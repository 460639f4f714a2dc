//! What operators run and scrape beside the API: the endpoints of a
//! `slotstream processor <role>` process (`/healthz`, `/readyz`,
//! `/metrics`), and the auditor once over the whole log
//! (`slotstream audit --from-beginning`).

use crate::platform::Role;
use crate::settings::Settings;
use crate::storage::Storage;
use anyhow::Context;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use slotstream_audit::{Report, Violation};
use slotstream_domain::Millis;
use slotstream_runtime::Telemetry;

/// The HTTP endpoints of a processor process:
/// - `GET /healthz`: liveness, 200 while its drivers run (the process exits
///   when one fails);
/// - `GET /readyz`: 200 once every processor has restored the state of its
///   partitions and read its inputs to within `ready_max_lag` records, 503
///   before (the body lists each processor and whether it is ready);
/// - `GET /metrics`: Prometheus text, everything this process records.
pub fn processor_router(role: Role, telemetry: Telemetry) -> axum::Router {
    let name = format!("{role:?}").to_lowercase();
    let ready_telemetry = telemetry.clone();
    let ready_name = name.clone();
    axum::Router::new()
        .route(
            "/healthz",
            axum::routing::get(move || {
                let name = name.clone();
                async move { axum::Json(serde_json::json!({"status": "ok", "processor": name})) }
            }),
        )
        .route(
            "/readyz",
            axum::routing::get(move || {
                let t = ready_telemetry.clone();
                let name = ready_name.clone();
                async move { readyz(&t, &name) }
            }),
        )
        .route(
            "/metrics",
            axum::routing::get(move || {
                let t = telemetry.clone();
                async move { metrics(&t) }
            }),
        )
}

fn readyz(telemetry: &Telemetry, processor: &str) -> Response {
    let readiness = telemetry.readiness();
    let members: Vec<serde_json::Value> = readiness
        .members()
        .into_iter()
        .map(|m| {
            serde_json::json!({"group": m.group, "member": m.member, "ready": m.ready, "gates": m.gates})
        })
        .collect();
    let ready = readiness.is_ready();
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "processor": processor,
        "max_lag": readiness.max_lag(),
        "processors": members,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

fn metrics(telemetry: &Telemetry) -> Response {
    let mut res = telemetry.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// Audits the whole log once (every partition of the booking and payment
/// events from the beginning), running the final checks at `now`;
/// `on_violation` sees each finding as it is found.
pub async fn audit_once(
    settings: &Settings,
    now: Millis,
    on_violation: impl FnMut(&Violation),
) -> anyhow::Result<Report> {
    let slack = settings.audit_slack.as_millis() as Millis;
    let storage = Storage::open(settings).await?;
    let reader = storage.backend.reader();
    slotstream_audit::scan(&*reader, &storage.codec, slack, now, on_violation)
        .await
        .context("reading the booking and payment events")
}

/// The operator's summary of a scan, one line per kind.
pub fn audit_summary(report: &Report) -> String {
    let mut s = format!(
        "audited {} records of the booking and payment events ({} undecodable, skipped); \
         {} bookings and {} payments not yet settled\n",
        report.records, report.undecodable, report.tracked.0, report.tracked.1
    );
    for (kind, n) in report.by_kind() {
        s.push_str(&format!("  {:<20} {n}\n", kind.as_str()));
    }
    s.push_str(if report.is_clean() {
        "no violation\n"
    } else {
        "VIOLATIONS FOUND\n"
    });
    s
}
