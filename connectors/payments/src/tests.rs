//! The sandbox against a real HTTP receiver on 127.0.0.1.

use super::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use slotstream_runtime::ManualClock;
use std::sync::Mutex;

const NOW_MS: i64 = 1_900_000_000_123;

/// One delivery: its headers and body.
type Delivery = (HeaderMap, Vec<u8>);

#[derive(Clone, Default)]
struct Seen {
    requests: Arc<Mutex<Vec<Delivery>>>,
    answer: Arc<Mutex<u16>>,
}

async fn receive(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    seen.requests.lock().unwrap().push((headers, body.to_vec()));
    StatusCode::from_u16(*seen.answer.lock().unwrap()).unwrap()
}

/// A receiver answering `status`, and its base URL.
async fn receiver(status: u16) -> (Seen, String) {
    let seen = Seen::default();
    *seen.answer.lock().unwrap() = status;
    let app = axum::Router::new()
        .route("/v1/webhooks/payments", post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (seen, url)
}

fn provider(url: &str) -> SandboxProvider {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW_MS));
    SandboxProvider::new(url, SecretString::from("whsec_test"), clock).unwrap()
}

#[tokio::test]
async fn a_checkout_is_reported_as_a_signed_webhook_the_receiver_can_verify() {
    let (seen, url) = receiver(200).await;
    let p = provider(&url);
    p.submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Failed)
        .await
        .unwrap();
    let requests = seen.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    let sig = headers.get(SIGNATURE_HEADER).unwrap().to_str().unwrap();
    assert!(sig.starts_with("t=1900000000,"), "{sig}");
    assert_eq!(
        webhook::verify(b"whsec_test", sig, body, 1_900_000_000, 300),
        Ok(())
    );
    let ev: ProviderEvent = serde_json::from_slice(body).unwrap();
    assert_eq!(ev.id, "evt_pay_1_failed");
    assert_eq!(ev.kind, webhook::FAILED);
    assert_eq!(ev.data.resource_id.as_str(), "res_1");
    assert_eq!(ev.data.reason, "card_declined");
    assert_eq!(ev.created, 1_900_000_000);
}

#[tokio::test]
async fn a_refused_delivery_is_permanent_and_a_server_error_is_transient() {
    let (_, url) = receiver(400).await;
    let err = provider(&url)
        .submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(err, EffectError::Permanent(_)), "{err}");

    let (_, url) = receiver(503).await;
    let err = provider(&url)
        .submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(err, EffectError::Transient(_)), "{err}");
}

#[tokio::test]
async fn nobody_listening_is_a_transient_failure() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = provider(&url)
        .submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
        .await
        .unwrap_err();
    assert!(matches!(err, EffectError::Transient(_)), "{err}");
}

#[test]
fn checkout_urls_and_event_ids_are_stable() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(NOW_MS));
    let p = SandboxProvider::new("http://gw:8080/", SecretString::from("s"), clock).unwrap();
    assert_eq!(
        p.checkout_url(&"pay_9".into()),
        "http://gw:8080/v1/sandbox/checkout/pay_9"
    );
    assert_eq!(p.webhook_url(), "http://gw:8080/v1/webhooks/payments");
    assert_eq!(
        SandboxProvider::event_id(&"pay_9".into(), CheckoutOutcome::Succeeded),
        "evt_pay_9_succeeded"
    );
}

#[tokio::test]
async fn injected_outages_and_timeouts_deliver_nothing_and_are_transient() {
    let (seen, url) = receiver(200).await;
    let faults = SandboxFaults::new();
    let p = provider(&url).with_faults(faults.clone());
    faults
        .next(2, Fault::Unavailable)
        .next(1, Fault::Timeout(Duration::from_millis(20)));
    for _ in 0..3 {
        let err = p
            .submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
            .await
            .unwrap_err();
        assert!(matches!(err, EffectError::Transient(_)), "{err}");
    }
    assert!(
        seen.requests.lock().unwrap().is_empty(),
        "nothing delivered"
    );
    // The retry after the faults delivers, once.
    p.submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
        .await
        .unwrap();
    assert_eq!(seen.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_slow_provider_delivers_after_its_delay_until_cleared() {
    let (seen, url) = receiver(200).await;
    let faults = SandboxFaults::new();
    let p = provider(&url).with_faults(faults.clone());
    faults.always(Some(Fault::Slow(Duration::from_millis(60))));
    let started = std::time::Instant::now();
    p.submit_checkout(&"pay_1".into(), &"res_1".into(), CheckoutOutcome::Succeeded)
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(seen.requests.lock().unwrap().len(), 1);
    faults.clear();
    let started = std::time::Instant::now();
    p.submit_checkout(&"pay_2".into(), &"res_1".into(), CheckoutOutcome::Failed)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(seen.requests.lock().unwrap().len(), 2);
}
