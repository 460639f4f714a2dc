//! A quick load measurement of `POST /v1/bookings` over real HTTP: the
//! gateway and the processors on a durable embedded backend in a temp dir,
//! `CLIENTS` customers each booking `PER_CLIENT` distinct slots back to back.
//!
//! `cargo run --release -p slotstream-gateway --example load [clients] [per_client]`
//! (`LOAD_DURABLE=0` to skip fsyncs). The processors run on one thread (a
//! `LocalSet`), the client shares the machine: a floor, not a ceiling.

use secrecy::SecretString;
use serde_json::{Value, json};
use slotstream_domain::booking::BookingConfig;
use slotstream_domain::identity::{IdentityConfig, IdentityEvent};
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_gateway::{Gateway, GatewayConfig, RateQuota};
use slotstream_payments::SandboxProvider;
use slotstream_processors as procs;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::{
    Backend, Clock, PaymentProvider, Processor, SystemClock, TopicPartition, ViewStore, topics,
};
use slotstream_schemas::{Codec, Envelope};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OTP: &str = "otp-secret-otp-secret-otp-secret";

fn spawn<P: Processor>(
    p: P,
    backend: &Arc<EmbeddedBackend>,
    ports: EffectPorts,
    codec: &Codec,
    stop: &tokio::sync::watch::Receiver<bool>,
) {
    let backend: Arc<dyn Backend> = backend.clone();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cfg = DriverConfig::new(procs::dead_letter(codec.clone()));
    // spawn_local: the driver's future is not required to be `Send`.
    tokio::task::spawn_local(driver::run(p, backend, ports, clock, cfg, stop.clone()));
}

async fn post(
    http: &reqwest::Client,
    url: String,
    token: Option<&str>,
    key: Option<String>,
    body: Value,
) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn otp(backend: &EmbeddedBackend, email: &str) -> String {
    let codec = Codec::embedded();
    let mut nonce = String::new();
    for p in 0..topics::IDENTITY_EVENTS.partitions {
        let tp = TopicPartition::new(topics::IDENTITY_EVENTS.name, p);
        for r in backend
            .reader()
            .read(&tp, 0, 100_000, Duration::ZERO)
            .await
            .expect("read")
        {
            if let Ok(env) = codec.decode::<Envelope<IdentityEvent>>(&r.value)
                && let IdentityEvent::UserOTPGenerated(e) = env.payload
                && e.email == email
            {
                nonce = e.otp_nonce;
            }
        }
    }
    procs::otp::code_for(OTP.as_bytes(), &nonce)
}

async fn user(
    http: &reqwest::Client,
    url: &str,
    backend: &EmbeddedBackend,
    email: &str,
    role: &str,
) -> String {
    let pw = "correct horse battery";
    let (s, _) = post(
        http,
        format!("{url}/v1/auth/register"),
        None,
        None,
        json!({"email": email, "password": pw, "name": "L", "role": role}),
    )
    .await;
    assert_eq!(s, 202);
    let code = otp(backend, email).await;
    let (s, _) = post(
        http,
        format!("{url}/v1/auth/verify"),
        None,
        None,
        json!({"email": email, "code": code}),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = post(
        http,
        format!("{url}/v1/auth/login"),
        None,
        None,
        json!({"email": email, "password": pw}),
    )
    .await;
    assert_eq!(s, 200);
    v["access_token"].as_str().expect("token").to_owned()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(64);
    let per_client = args.get(1).copied().unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, run(clients, per_client));
}

async fn run(clients: usize, per_client: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    // LOAD_DURABLE=0 skips the fsyncs, to see the CPU-bound rate.
    let durable = std::env::var("LOAD_DURABLE").map_or(true, |v| v != "0");
    let opts = EmbeddedOptions {
        durable,
        ..EmbeddedOptions::default()
    };
    let backend = EmbeddedBackend::open(dir.path(), opts).expect("backend");
    let codec = Codec::embedded();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let webhook = SecretString::from("whsec-load");
    let provider: Arc<dyn PaymentProvider> =
        Arc::new(SandboxProvider::new(&url, webhook.clone(), clock.clone()).expect("provider"));
    let checkout: procs::payment::CheckoutUrl = {
        let p = provider.clone();
        Arc::new(move |id| p.checkout_url(id))
    };
    let none = EffectPorts::default();
    let (stop, rx) = tokio::sync::watch::channel(false);
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
        EffectPorts {
            mailer: None,
            payments: Some(provider),
        },
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
    let mut cfg = GatewayConfig::new(
        GatewayConfig::fresh_gateway_id(),
        url.clone(),
        webhook,
        SecretString::from("jwt-secret-jwt-secret-jwt-secret"),
        SecretString::from(OTP),
    );
    cfg.rate.auth_per_ip = RateQuota::new(10_000, 10_000);
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
    .expect("gateway");
    tokio::spawn(gw.serve(listener, std::future::pending()));

    let http = reqwest::Client::new();
    let vendor = user(&http, &url, &backend, "vendor@load.test", "vendor").await;
    let mut resources = Vec::new();
    for i in 0..clients {
        let body = json!({"name": format!("R{i}"), "kind": "room", "price": {"amount": 1000, "currency": "EUR", "unit_minutes": 60}});
        let (s, v) = post(
            &http,
            format!("{url}/v1/resources"),
            Some(&vendor),
            None,
            body,
        )
        .await;
        assert_eq!(s, 201, "{v}");
        resources.push(v["id"].as_str().expect("id").to_owned());
    }
    let mut tokens = Vec::new();
    for i in 0..clients {
        tokens.push(
            user(
                &http,
                &url,
                &backend,
                &format!("c{i}@load.test"),
                "customer",
            )
            .await,
        );
    }
    let hour = 3_600_000;
    let base = (SystemClock.now() / hour + 24) * hour;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (http, url, resources) = (http.clone(), url.clone(), resources.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut held = 0;
            for j in 0..per_client {
                // Each client books its own hour on a rotating resource: no conflicts.
                let start = base + (j as i64) * hour;
                let r = &resources[(i + j) % resources.len()];
                let at = |ms| slotstream_gateway::rfc3339::format(ms);
                let body = json!({"resource_id": r, "start": at(start), "end": at(start + hour)});
                let t = Instant::now();
                let (s, _) = post(
                    &http,
                    format!("{url}/v1/bookings"),
                    Some(&token),
                    Some(format!("k{i}-{j}")),
                    body,
                )
                .await;
                latencies.push(t.elapsed());
                held += usize::from(s == 201);
            }
            (latencies, held)
        }));
    }
    let mut all = Vec::new();
    let mut held = 0;
    for t in tasks {
        let (l, h) = t.await.expect("task");
        all.extend(l);
        held += h;
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{} bookings ({} held) by {clients} clients in {secs:.2} s: {:.0} req/s; latency p50 {:?} p99 {:?} max {:?}",
        all.len(),
        held,
        all.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        all[all.len() - 1]
    );
    let _ = stop.send(true);
}
