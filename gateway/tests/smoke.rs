//! One walk through the whole contract over real HTTP: the gateway on the
//! embedded backend with the processors running, the sandbox provider posting
//! its signed webhook back to the gateway. The exhaustive end-to-end suite
//! lives in the workspace's `tests/`; this only proves the wiring.

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};
use slotstream_domain::booking::BookingConfig;
use slotstream_domain::identity::{IdentityConfig, IdentityEvent};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_gateway::{Gateway, GatewayConfig};
use slotstream_payments::SandboxProvider;
use slotstream_processors as procs;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::{
    Backend, Clock, PaymentProvider, Processor, SystemClock, TopicPartition, ViewStore, topics,
};
use slotstream_schemas::{Codec, Envelope};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const OTP_SECRET: &str = "otp-secret-otp-secret-otp-secret";

struct App {
    url: String,
    http: reqwest::Client,
    backend: Arc<EmbeddedBackend>,
    _dir: tempfile::TempDir,
}

fn spawn<P: Processor>(
    p: P,
    backend: &Arc<EmbeddedBackend>,
    ports: EffectPorts,
    codec: &Codec,
    rx: &watch::Receiver<bool>,
) {
    let backend: Arc<dyn Backend> = backend.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cfg = DriverConfig::new(procs::dead_letter(codec.clone()));
    // spawn_local: the driver's future is not required to be `Send`.
    tokio::task::spawn_local(driver::run(p, backend, ports, clock, cfg, rx.clone()));
}

async fn spawn_app() -> (App, watch::Sender<bool>) {
    let dir = tempfile::tempdir().unwrap();
    let opts = EmbeddedOptions {
        durable: false,
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(dir.path(), opts).unwrap();
    let codec = Codec::embedded();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let webhook = SecretString::from("whsec-smoke-test");

    let provider: Arc<dyn PaymentProvider> =
        Arc::new(SandboxProvider::new(&url, webhook.clone(), clock.clone()).unwrap());
    let checkout: procs::payment::CheckoutUrl = {
        let p = provider.clone();
        Arc::new(move |id| p.checkout_url(id))
    };
    let (stop, rx) = watch::channel(false);
    let none = EffectPorts::default();
    let pay = EffectPorts {
        mailer: None,
        payments: Some(provider),
    };
    spawn(
        procs::BookingProcessor::new(codec.clone(), BookingConfig::default()),
        &backend,
        none.clone(),
        &codec,
        &rx,
    );
    spawn(
        procs::PaymentProcessor::new(codec.clone(), checkout),
        &backend,
        pay,
        &codec,
        &rx,
    );
    spawn(
        procs::IdentityProcessor::new(codec.clone(), IdentityConfig::default()),
        &backend,
        none.clone(),
        &codec,
        &rx,
    );
    spawn(
        procs::BookingViews::new(codec.clone()),
        &backend,
        none.clone(),
        &codec,
        &rx,
    );
    spawn(
        procs::IdentityViews::new(codec.clone()),
        &backend,
        none,
        &codec,
        &rx,
    );

    let cfg = GatewayConfig::new(
        GatewayConfig::fresh_gateway_id(),
        url.clone(),
        webhook,
        SecretString::from("jwt-secret-jwt-secret-jwt-secret"),
        SecretString::from(OTP_SECRET),
    );
    let views: Arc<dyn ViewStore> = backend.clone();
    let gw = Gateway::start(
        cfg,
        backend.producer(),
        backend.reader(),
        views,
        clock,
        codec,
    )
    .await
    .unwrap();
    let mut stopped = rx.clone();
    tokio::spawn(gw.serve(listener, async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    let app = App {
        url,
        http: reqwest::Client::new(),
        backend,
        _dir: dir,
    };
    (app, stop)
}

impl App {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The code emailed to `email`, re-derived from the last OTP event's nonce.
    async fn otp_code(&self, email: &str) -> String {
        let reader = self.backend.reader();
        let codec = Codec::embedded();
        let mut nonce = None;
        for p in 0..topics::IDENTITY_EVENTS.partitions {
            let tp = TopicPartition::new(topics::IDENTITY_EVENTS.name, p);
            for r in reader.read(&tp, 0, 10_000, Duration::ZERO).await.unwrap() {
                if let Ok(env) = codec.decode::<Envelope<IdentityEvent>>(&r.value)
                    && let IdentityEvent::UserOTPGenerated(e) = env.payload
                    && e.email == email
                {
                    nonce = Some(e.otp_nonce);
                }
            }
        }
        slotstream_runtime::otp::code_for(
            OTP_SECRET.as_bytes(),
            &nonce.expect("an OTP was generated"),
        )
    }

    async fn signed_up(&self, email: &str, role: &str) -> String {
        let body = json!({"email": email, "password": "correct horse battery", "name": "Ada", "role": role});
        let (s, v) = self
            .call("POST", "/v1/auth/register", None, None, Some(body))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["status"], "pending_verification");
        let login = json!({"email": email, "password": "correct horse battery"});
        let (s, v) = self
            .call("POST", "/v1/auth/login", None, None, Some(login.clone()))
            .await;
        assert_eq!(
            (s, &v["code"]),
            (StatusCode::FORBIDDEN, &json!("email_not_verified")),
            "{v}"
        );
        let code = self.otp_code(email).await;
        let (s, v) = self
            .call(
                "POST",
                "/v1/auth/verify",
                None,
                None,
                Some(json!({"email": email, "code": code})),
            )
            .await;
        assert_eq!(
            (s, &v["status"]),
            (StatusCode::OK, &json!("verified")),
            "{v}"
        );
        let (s, v) = self
            .call("POST", "/v1/auth/login", None, None, Some(login))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["access_token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_customer_books_pays_and_cancels_through_the_gateway_on_the_embedded_backend() {
    tokio::task::LocalSet::new().run_until(walk_through()).await;
}

async fn walk_through() {
    let (app, stop) = spawn_app().await;
    let (s, v) = app.call("GET", "/healthz", None, None, None).await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("ok")));

    let vendor = app.signed_up("vendor@example.com", "vendor").await;
    let customer = app.signed_up("customer@example.com", "customer").await;
    let resource = json!({"name": "Court 1", "kind": "court", "price": {"amount": 2000, "currency": "EUR", "unit_minutes": 60}});
    let (s, v) = app
        .call(
            "POST",
            "/v1/resources",
            Some(&customer),
            None,
            Some(resource.clone()),
        )
        .await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden"))
    );
    let (s, v) = app
        .call("POST", "/v1/resources", Some(&vendor), None, Some(resource))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let resource_id = v["id"].as_str().unwrap().to_owned();

    // Two days ahead, on the hour: a full refund on cancellation.
    let hour = 3_600_000;
    let start_ms = (SystemClock.now() / hour + 48) * hour;
    let at = |ms: i64| slotstream_gateway::rfc3339::format(ms);
    let booking =
        json!({"resource_id": resource_id, "start": at(start_ms), "end": at(start_ms + 2 * hour)});
    let (s, v) = app
        .call(
            "POST",
            "/v1/bookings",
            Some(&customer),
            None,
            Some(booking.clone()),
        )
        .await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::BAD_REQUEST, &json!("idempotency_key_missing"))
    );
    let (s, first) = app
        .call(
            "POST",
            "/v1/bookings",
            Some(&customer),
            Some("k1"),
            Some(booking.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "pending");
    assert_eq!(first["amount"], json!({"amount": 4000, "currency": "EUR"}));
    assert_eq!(first["payment"]["status"], "requires_payment");
    let (s, again) = app
        .call(
            "POST",
            "/v1/bookings",
            Some(&customer),
            Some("k1"),
            Some(booking.clone()),
        )
        .await;
    assert_eq!(
        (s, &again),
        (StatusCode::CREATED, &first),
        "a retry returns the first answer"
    );
    let mut other = booking.clone();
    other["end"] = json!(at(start_ms + hour));
    let (s, v) = app
        .call(
            "POST",
            "/v1/bookings",
            Some(&customer),
            Some("k1"),
            Some(other.clone()),
        )
        .await;
    assert_eq!(
        (s, &v["code"]),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!("idempotency_key_reused")
        )
    );
    let (s, v) = app
        .call(
            "POST",
            "/v1/bookings",
            Some(&customer),
            Some("k2"),
            Some(other),
        )
        .await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::CONFLICT, &json!("slot_unavailable"))
    );

    let booking_id = first["id"].as_str().unwrap().to_owned();
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/bookings/{booking_id}"),
            Some(&customer),
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, &v["id"]),
        (StatusCode::OK, &first["id"]),
        "read-your-writes: {v}"
    );
    let payment_id = first["payment"]["id"].as_str().unwrap().to_owned();
    let pay = json!({"outcome": "succeeded"});
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/payments/{payment_id}/complete"),
            Some(&customer),
            Some("p1"),
            Some(pay),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");

    // The sandbox reports by signed webhook; the booking confirms.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, v) = app
            .call(
                "GET",
                &format!("/v1/bookings/{booking_id}"),
                Some(&customer),
                None,
                None,
            )
            .await;
        if v["status"] == "confirmed" {
            break;
        }
        assert!(Instant::now() < deadline, "never confirmed: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let range = format!(
        "from={}&to={}",
        at(start_ms - hour),
        at(start_ms + 3 * hour)
    );
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/resources/{resource_id}/availability?{range}"),
            Some(&customer),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["busy"],
        json!([{"start": at(start_ms), "end": at(start_ms + 2 * hour)}])
    );
    let (s, v) = app
        .call(
            "GET",
            &format!("/v1/vendor/bookings?resource_id={resource_id}"),
            Some(&vendor),
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, v["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1)),
        "{v}"
    );

    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/bookings/{booking_id}/cancel"),
            Some(&customer),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "cancelled");
    assert_eq!(v["refund"]["amount"], 4000);
    let (s, v) = app
        .call(
            "POST",
            &format!("/v1/bookings/{booking_id}/cancel"),
            Some(&customer),
            None,
            None,
        )
        .await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::CONFLICT, &json!("not_cancellable"))
    );

    let (s, v) = app.call("GET", "/v1/nope", None, None, None).await;
    assert_eq!(
        (s, &v["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    let (_, metrics) = app.call("GET", "/metrics", None, None, None).await;
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains(r#"route="/v1/bookings""#)
    );
    let (s, doc) = app.call("GET", "/openapi.json", None, None, None).await;
    assert_eq!(
        (s, doc["paths"]["/v1/bookings"]["post"].is_object()),
        (StatusCode::OK, true)
    );
    let _ = stop.send(true);
}
