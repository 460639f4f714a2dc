//! The HTTP edge without processors behind it: rejections are problem+json,
//! auth and signatures are enforced, a decision that never comes is a 202,
//! and a verified webhook lands on the payment-commands topic.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use secrecy::SecretString;
use serde_json::{Value, json};
use slotstream_domain::UserId;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::{CheckoutOutcome, PaymentCommand};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_gateway::tokens::Tokens;
use slotstream_gateway::{Gateway, GatewayConfig, RateLimits, RateQuota};
use slotstream_payments::SandboxProvider;
use slotstream_payments::webhook::{self, SIGNATURE_HEADER};
use slotstream_runtime::{Backend, Clock, ManualClock, TopicPartition, ViewStore, topics};
use slotstream_schemas::{Codec, Envelope};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const NOW: i64 = 1_900_000_000_000;
const JWT: &str = "jwt-secret-jwt-secret-jwt-secret";
const WEBHOOK: &str = "whsec-edge";

struct Edge {
    router: axum::Router,
    backend: Arc<EmbeddedBackend>,
    _gateway: Gateway,
    _dir: tempfile::TempDir,
}

async fn edge(rate: RateLimits) -> Edge {
    edge_with(rate, slotstream_runtime::Telemetry::new()).await
}

async fn edge_with(rate: RateLimits, telemetry: slotstream_runtime::Telemetry) -> Edge {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        durable: false,
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(dir.path(), opts).unwrap();
    let mut cfg = GatewayConfig::new(
        "gw-edge",
        "http://gw.test",
        SecretString::from(WEBHOOK),
        SecretString::from(JWT),
        SecretString::from("otp-secret-otp-secret-otp-secret"),
    );
    cfg.wait_budget = Duration::from_millis(100);
    cfg.rate = rate;
    cfg.telemetry = telemetry;
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW));
    let views: Arc<dyn ViewStore> = backend.clone();
    let gateway = Gateway::start(
        cfg,
        backend.producer(),
        backend.reader(),
        views,
        clock,
        Codec::embedded(),
    )
    .await
    .unwrap();
    Edge {
        router: gateway.router(),
        backend,
        _gateway: gateway,
        _dir: dir,
    }
}

fn token(role: Role) -> String {
    let t = Tokens::new(&SecretString::from(JWT), Duration::from_secs(900));
    t.issue(&UserId::from("usr_1"), role, "c@x.io", NOW)
        .unwrap()
}

async fn send(e: &Edge, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    let res = e.router.clone().oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (parts.status, parts.headers, v)
}

fn post(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .unwrap()
}

fn is_problem(h: &axum::http::HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json")
}

#[tokio::test]
async fn routing_and_body_errors_are_problem_json_with_stable_codes() {
    let e = edge(RateLimits::default()).await;
    let cases = [
        (
            Request::get("/v1/nope").body(Body::empty()).unwrap(),
            404,
            "not_found",
        ),
        (
            Request::delete("/v1/bookings").body(Body::empty()).unwrap(),
            405,
            "method_not_allowed",
        ),
        (
            post("/v1/auth/register", "text/plain", "{}"),
            415,
            "unsupported_media_type",
        ),
        (
            post("/v1/auth/register", "application/json", "{\"email\":"),
            400,
            "malformed_json",
        ),
        (
            post("/v1/auth/login", "application/json", vec![b' '; 70 * 1024]),
            413,
            "payload_too_large",
        ),
    ];
    for (req, status, code) in cases {
        let path = req.uri().to_string();
        let (s, h, v) = send(&e, req).await;
        assert_eq!(
            (s.as_u16(), v["code"].as_str()),
            (status, Some(code)),
            "{path}: {v}"
        );
        assert!(is_problem(&h), "{path}");
        assert_eq!(v["status"], status);
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    let body = json!({"email": "a@x.io", "password": "long enough pw", "name": "A", "role": "admin", "x": 1});
    let (s, _, v) = send(
        &e,
        post("/v1/auth/register", "application/json", body.to_string()),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
    );
    let body = json!({"email": "not-an-email", "password": "short", "name": "", "role": "vendor"});
    let (_, _, v) = send(
        &e,
        post("/v1/auth/register", "application/json", body.to_string()),
    )
    .await;
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "name"]);
}

#[tokio::test]
async fn protected_endpoints_need_a_genuine_live_token_of_the_right_role() {
    let e = edge(RateLimits::default()).await;
    let (s, h, v) = send(
        &e,
        Request::get("/v1/bookings").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    let good = token(Role::Customer);
    let forged = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        good.split('.').nth(1).unwrap()
    );
    for bad in [forged, format!("{good}x"), "Basic abc".to_owned()] {
        let req =
            Request::get("/v1/bookings").header(header::AUTHORIZATION, format!("Bearer {bad}"));
        let (s, _, _) = send(&e, req.body(Body::empty()).unwrap()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let resource = json!({"name": "Room", "kind": "room", "price": {"amount": 1, "currency": "EUR", "unit_minutes": 60}});
    let req = Request::post("/v1/resources")
        .header(header::AUTHORIZATION, format!("Bearer {good}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(resource.to_string()))
        .unwrap();
    let (s, _, v) = send(&e, req).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let req = Request::get("/v1/vendor/bookings?resource_id=res_1")
        .header(header::AUTHORIZATION, format!("Bearer {good}"));
    let (s, _, _) = send(&e, req.body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_booking_whose_decision_does_not_arrive_in_time_is_202_pending_decision_with_a_stable_id()
{
    let e = edge(RateLimits::default()).await;
    let booking = json!({"resource_id": "res_1", "start": "2030-01-31T09:00:00Z", "end": "2030-01-31T10:00:00Z"});
    let req = || {
        Request::post("/v1/bookings")
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", token(Role::Customer)),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", "k-1")
            .body(Body::from(booking.to_string()))
            .unwrap()
    };
    let (s, h, first) = send(&e, req()).await;
    assert_eq!(
        (s, first["status"].as_str()),
        (StatusCode::ACCEPTED, Some("pending_decision"))
    );
    assert_eq!(
        h[header::RETRY_AFTER],
        "1",
        "an undecided answer says when to ask again"
    );
    let (_, _, again) = send(&e, req()).await;
    assert_eq!(
        first["id"], again["id"],
        "a retry proposes the same booking id"
    );
    // The command is on the log, keyed by the resource, addressed back to us.
    let p = slotstream_runtime::partitioner::partition_for(
        b"res_1",
        topics::BOOKING_COMMANDS.partitions,
    );
    let tp = TopicPartition::new(topics::BOOKING_COMMANDS.name, p);
    let records = e
        .backend
        .reader()
        .read(&tp, 0, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].key.as_ref(), b"res_1");
}

#[tokio::test]
async fn only_a_fresh_correctly_signed_webhook_is_recorded() {
    let e = edge(RateLimits::default()).await;
    let event = SandboxProvider::event(
        &"pay_1".into(),
        &"res_9".into(),
        CheckoutOutcome::Succeeded,
        NOW / 1000,
    );
    let body = serde_json::to_vec(&event).unwrap();
    let deliver = |sig: String| {
        Request::post("/v1/webhooks/payments")
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sig)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    for bad in [
        webhook::sign(b"wrong secret", NOW / 1000, &body),
        webhook::sign(WEBHOOK.as_bytes(), NOW / 1000 - 301, &body),
        String::new(),
    ] {
        let (s, h, v) = send(&e, deliver(bad)).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("webhook_signature_invalid"))
        );
        assert!(is_problem(&h));
    }
    let (s, _, v) = send(
        &e,
        deliver(webhook::sign(WEBHOOK.as_bytes(), NOW / 1000, &body)),
    )
    .await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"received": true})));
    let p = slotstream_runtime::partitioner::partition_for(
        b"res_9",
        topics::PAYMENT_COMMANDS.partitions,
    );
    let tp = TopicPartition::new(topics::PAYMENT_COMMANDS.name, p);
    let records = e
        .backend
        .reader()
        .read(&tp, 0, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "only the genuine delivery was written");
    let env: Envelope<PaymentCommand> = Codec::embedded().decode(&records[0].value).unwrap();
    let PaymentCommand::RecordProviderOutcome(cmd) = env.payload else {
        panic!("wrong command")
    };
    assert_eq!(
        (cmd.provider_event_id.as_str(), cmd.outcome),
        ("evt_pay_1_succeeded", CheckoutOutcome::Succeeded)
    );
    assert_eq!(cmd.occurred_at, NOW);
}

#[tokio::test]
async fn auth_calls_from_one_address_are_rate_limited_with_retry_after() {
    let e = edge(RateLimits {
        auth_per_ip: RateQuota::new(1, 2),
        ..RateLimits::default()
    })
    .await;
    let login = || {
        post(
            "/v1/auth/resend",
            "application/json",
            r#"{"email":"nobody@x.io"}"#,
        )
    };
    // The first two pass the limiter (and wait for a decision that never comes).
    for _ in 0..2 {
        let (s, _, _) = send(&e, login()).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let (s, h, v) = send(&e, login()).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate_limited"))
    );
    assert!(
        h[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn readyz_waits_for_every_processor_of_the_process() {
    let telemetry = slotstream_runtime::Telemetry::new();
    let e = edge_with(RateLimits::default(), telemetry.clone()).await;
    let readyz = || Request::get("/readyz").body(Body::empty()).unwrap();
    // A gateway alone is ready once it reads its replies.
    let (s, _, v) = send(&e, readyz()).await;
    assert_eq!(
        (s, &v["status"], &v["processors"]),
        (StatusCode::OK, &json!("ready"), &json!([]))
    );
    // Processors in the same process: not ready until each one is.
    let booking = telemetry.readiness().member("slotstream.booking", 0);
    let views = telemetry.readiness().member("slotstream.views.booking", 0);
    booking.set(true);
    let (s, h, v) = send(&e, readyz()).await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("not_ready"))
    );
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");
    assert!(h.contains_key(header::RETRY_AFTER));
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("slotstream.views.booking") && !detail.contains("slotstream.booking,"),
        "{detail}"
    );
    views.set(true);
    let (s, _, v) = send(&e, readyz()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["processors"].as_array().map(Vec::len), Some(2));
    // Liveness does not follow readiness.
    booking.set(false);
    let (s, _, _) = send(&e, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(send(&e, readyz()).await.0, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let e = edge(RateLimits::default()).await;
    let (s, _, v) = send(&e, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"status": "ok"})));
    let (s, h, _) = send(&e, Request::get("/docs").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let (s, _, v) = send(
        &e,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (s, v["openapi"].as_str().map(|s| s.starts_with("3."))),
        (StatusCode::OK, Some(true))
    );
    let (s, _, page) = send(
        &e,
        Request::get("/v1/sandbox/checkout/pay_%3Cb%3E")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("pay_&lt;b&gt;"));
    let (_, _, text) = send(&e, Request::get("/metrics").body(Body::empty()).unwrap()).await;
    assert!(
        text.as_str()
            .unwrap()
            .contains(r#"route="/v1/sandbox/checkout/{id}""#),
        "{text}"
    );
}
