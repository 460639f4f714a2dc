//! Traces across the choreography (issue 14): one booking, checked out and
//! paid, is one trace whose spans cover the gateway, the booking, payment
//! and notification processors and the effects between them.
//!
//! A test binary of its own because it installs the process-wide `tracing`
//! subscriber: the production OpenTelemetry layer
//! (`slotstream::traces::otel_layer`, same filter) over the SDK's in-memory
//! exporter instead of OTLP. The product runs in-process on the embedded
//! backend, over real HTTP, as in the end-to-end suite.

#[allow(dead_code, unused_imports)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use helpers::{MINUTE, Role, TestApp, rfc3339, spawn_app, unique};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::json;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The client's own span: the parent it names in `traceparent`.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

fn describe(spans: &[&SpanData]) -> Vec<String> {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} [{}] trace {} group {:?}",
                s.name,
                s.span_context.span_id(),
                s.span_context.trace_id(),
                attr(s, "messaging.consumer.group.name")
            )
        })
        .collect()
}

/// A `POST` naming the client's span as the parent.
async fn traced_post(
    app: &TestApp,
    path: &str,
    token: &str,
    key: &str,
    body: &serde_json::Value,
) -> helpers::Resp {
    app.send(
        app.client
            .post(app.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .header("traceparent", format!("00-{TRACE}-{CLIENT_SPAN}-01"))
            .json(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_booking_is_one_trace_across_gateway_processors_and_effects() {
    let exporter = InMemorySpanExporter::default();
    // Spans exported as each ends, so a finished step is visible at once.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .with_resource(slotstream::traces::resource("test"))
        .build();
    tracing_subscriber::registry()
        .with(slotstream::traces::otel_layer(&provider))
        .init();

    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    // Every trace so far began at a gateway request whose span ended before
    // its answer was sent: whatever else is still running belongs to one of
    // these traces.
    let before: HashSet<TraceId> = exporter
        .get_finished_spans()
        .expect("spans")
        .iter()
        .map(|s| s.span_context.trace_id())
        .collect();
    let trace = TraceId::from_hex(TRACE).expect("hex");
    assert!(!before.contains(&trace));

    let start = app.slot_after(60);
    let body =
        json!({"resource_id": room, "start": rfc3339(start), "end": rfc3339(start + 30 * MINUTE)});
    let booked = traced_post(&app, "/v1/bookings", &customer.token, &unique("k"), &body).await;
    let booking = booked.expect(201, "book").clone();
    let answered = booked
        .header("traceresponse")
        .expect("the gateway answers with the trace of the request")
        .to_owned();
    assert!(
        answered.starts_with(&format!("00-{TRACE}-")),
        "traceresponse {answered} continues the client's trace"
    );
    let payment = booking["payment"]["id"].as_str().expect("payment id");
    traced_post(
        &app,
        &format!("/v1/payments/{payment}/complete"),
        &customer.token,
        &unique("pay"),
        &json!({"outcome": "succeeded"}),
    )
    .await
    .expect(202, "complete");
    app.await_email_containing(&customer.email, &["confirm"])
        .await;

    // The email was written inside its effect's span; the step that asked
    // for it ends right after. Bounded poll until the notification's
    // process span of the confirmation is exported.
    let wanted = |spans: &[SpanData]| {
        spans.iter().any(|s| {
            s.span_context.trace_id() == trace
                && attr(s, "messaging.consumer.group.name").as_deref()
                    == Some("slotstream.notification.booking")
                && s.name.starts_with("process")
                && spans.iter().any(|e| {
                    e.name == "effect email" && e.parent_span_id == s.span_context.span_id()
                })
        })
    };
    let deadline = Instant::now() + helpers::PATIENCE;
    let spans = loop {
        let spans = exporter.get_finished_spans().expect("spans");
        if wanted(&spans) {
            break spans;
        }
        assert!(
            Instant::now() < deadline,
            "no notification span with an email effect in the trace within {:?}: {:#?}",
            helpers::PATIENCE,
            describe(&spans.iter().collect::<Vec<_>>())
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };

    // One trace: nothing the booking caused started a trace of its own.
    let strays: Vec<&SpanData> = spans
        .iter()
        .filter(|s| {
            let t = s.span_context.trace_id();
            t != trace && !before.contains(&t)
        })
        .collect();
    assert!(
        strays.is_empty(),
        "spans outside the booking's trace: {:#?}",
        describe(&strays)
    );
    let ours: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect();
    // A connected tree under the client's span.
    let ids: HashSet<SpanId> = ours.iter().map(|s| s.span_context.span_id()).collect();
    let client = SpanId::from_hex(CLIENT_SPAN).expect("hex");
    for s in &ours {
        assert!(
            s.parent_span_id == client || ids.contains(&s.parent_span_id),
            "{} has a parent outside the trace: {:#?}",
            s.name,
            describe(&ours)
        );
    }
    let has = |what: &str, pick: &dyn Fn(&SpanData) -> bool| {
        assert!(
            ours.iter().any(|s| pick(s)),
            "no span of {what} in the trace: {:#?}",
            describe(&ours)
        );
    };
    let route = |r: &'static str| {
        move |s: &SpanData| {
            s.name.starts_with("POST ") && attr(s, "http.route").as_deref() == Some(r)
        }
    };
    let step = |group: &'static str, topic: &'static str| {
        move |s: &SpanData| {
            attr(s, "messaging.consumer.group.name").as_deref() == Some(group)
                && attr(s, "messaging.destination.name").as_deref() == Some(topic)
        }
    };
    has("the booking request", &route("/v1/bookings"));
    has("the checkout request", &route("/v1/payments/{id}/complete"));
    has("the provider's webhook", &route("/v1/webhooks/payments"));
    has("the command sent", &|s| {
        s.name == "send slotstream.booking-commands"
    });
    has(
        "the booking decision",
        &step("slotstream.booking", "slotstream.booking-commands"),
    );
    has(
        "the intent",
        &step("slotstream.payment", "slotstream.booking-events"),
    );
    has(
        "the checkout",
        &step("slotstream.payment", "slotstream.payment-commands"),
    );
    has("the provider call", &|s| s.name == "effect checkout");
    has(
        "the confirmation",
        &step("slotstream.booking", "slotstream.payment-events"),
    );
    has(
        "the notification",
        &step(
            "slotstream.notification.booking",
            "slotstream.booking-events",
        ),
    );
    has("the email", &|s| s.name == "effect email");
    // The request's server span is the child of the client's span.
    assert!(
        ours.iter()
            .any(|s| route("/v1/bookings")(s) && s.parent_span_id == client),
        "the booking request's span is a child of the client's"
    );

    app.stop().await;
    provider.shutdown().expect("provider shut down");
}
