//! What operators and integrators read: health, metrics, the OpenAPI
//! description and the browsable docs.

use crate::helpers::{Role, spawn_app};
use serde_json::Value;

/// Every path the public contract names, with its parameters as `{}`.
const CONTRACT_PATHS: &[&str] = &[
    "/v1/auth/register",
    "/v1/auth/verify",
    "/v1/auth/resend",
    "/v1/auth/login",
    "/v1/resources",
    "/v1/resources/{}",
    "/v1/resources/{}/availability",
    "/v1/vendor/bookings",
    "/v1/bookings",
    "/v1/bookings/{}",
    "/v1/bookings/{}/cancel",
    "/v1/payments/{}",
    "/v1/payments/{}/complete",
    "/v1/webhooks/payments",
];

/// `/v1/bookings/{booking_id}` as `/v1/bookings/{}`.
fn template(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match (c, in_param) {
            ('{', _) => {
                in_param = true;
                out.push_str("{}");
            }
            ('}', _) => in_param = false,
            (c, false) => out.push(c),
            (_, true) => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_200_without_a_token() {
    let app = spawn_app().await;

    let r = app.get("/healthz", None).await;

    assert_eq!(r.status, 200, "{}", r.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_request_latency_by_route_template_and_never_by_id() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;
    let raw_id = "bk_metricsprobe0123456789";
    app.get(&format!("/v1/bookings/{raw_id}"), Some(&customer.token))
        .await;

    let r = app.get("/metrics", None).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let templated = r.text.lines().filter(|l| !l.starts_with('#')).any(|l| {
        let name = l
            .split(['{', ' '])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        name.contains("request")
            && (name.contains("duration") || name.contains("latency") || name.contains("seconds"))
            && l.contains("/v1/bookings/{")
    });
    assert!(
        templated,
        "no request-latency series labelled with the route template /v1/bookings/{{..}}:\n{}",
        r.text
    );
    assert!(
        !r.text.contains(raw_id),
        "a booking id leaked into a metric label"
    );
    // Consumer lag is exported per processor group and input partition.
    let lag_series = r
        .text
        .lines()
        .filter(|l| l.starts_with("slotstream_consumer_lag{"))
        .filter(|l| l.contains("group=\"slotstream.booking\"") && l.contains("partition=\""))
        .count();
    assert_eq!(
        lag_series,
        2 * 12,
        "one lag series per input partition of the booking group:\n{}",
        r.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_lists_every_contract_path() {
    let app = spawn_app().await;

    let r = app.get("/openapi.json", None).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let doc: Value = serde_json::from_str(&r.text).expect("/openapi.json is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "not an OpenAPI 3 document"
    );
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|p| template(p))
        .collect();
    let missing: Vec<_> = CONTRACT_PATHS
        .iter()
        .filter(|p| !paths.iter().any(|q| q == *p))
        .collect();
    assert!(
        missing.is_empty(),
        "paths missing from /openapi.json: {missing:?} (it has {paths:?})"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_html() {
    let app = spawn_app().await;

    // A redirect to `/docs/` is fine: follow it as a browser would.
    let r = app.send(reqwest::Client::new().get(app.url("/docs"))).await;

    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("text/html"), "content-type {ct}");
    assert!(
        r.text.to_ascii_lowercase().contains("<html"),
        "not an HTML page"
    );
    app.stop().await;
}
