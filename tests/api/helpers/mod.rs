//! `spawn_app()` and the vocabulary every end-to-end test speaks: the whole
//! product (`slotstream::App`: gateway + every processor on the embedded
//! backend) on `127.0.0.1:0` with a fresh data dir and a clock the test moves.
//!
//! Everything here talks HTTP and reads the outbox folder, exactly as a
//! client and an operator would; nothing reaches into the processors.

pub mod outbox;
pub mod resp;
pub mod time;
pub mod tokens;

pub use resp::Resp;
pub use time::{MINUTE, rfc3339};

use serde_json::{Value, json};
use slotstream::{App, Settings};
use slotstream_runtime::{Clock, ManualClock};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Longest any awaited observable state (an email, a view catching up) may
/// take before the test fails with what it saw last.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// Pause between two looks in a bounded poll (HTTP reads, the outbox folder).
pub const POLL_EVERY: Duration = Duration::from_millis(25);
/// The password every test user registers with (the contract wants ≥ 10 chars).
pub const PASSWORD: &str = "correct horse battery staple";

/// A role a user registers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Books resources.
    Customer,
    /// Owns resources.
    Vendor,
}

impl Role {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Vendor => "vendor",
        }
    }
}

/// A registered, verified, logged-in user.
#[derive(Clone, Debug)]
pub struct User {
    /// `user_id` from registration.
    pub id: String,
    /// A bearer token from `/v1/auth/login`.
    pub token: String,
    /// The (unique) email address.
    pub email: String,
}

/// Which backend the suite runs on: `SLOTSTREAM_TEST_BACKEND=kafka` runs the
/// same tests against Kafka + the schema registry + Cassandra + Mailpit that
/// `scripts/engines.sh` starts; anything else (or unset) is the embedded one.
pub fn kafka_under_test() -> bool {
    std::env::var("SLOTSTREAM_TEST_BACKEND").is_ok_and(|b| b == "kafka")
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is unset but SLOTSTREAM_TEST_BACKEND=kafka: start the engines with \
             `eval \"$(scripts/engines.sh start)\"` (scripts/test.sh does)"
        )
    })
}

/// Settings for one test app: the embedded backend in `data_dir`, or, under
/// `SLOTSTREAM_TEST_BACKEND=kafka`, a namespace of its own on the test
/// engines (its own topics, consumer groups, subjects and keyspace) and real
/// SMTP.
pub fn test_settings(data_dir: &std::path::Path, hold_ttl: &str, kafka: bool) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: data_dir.to_path_buf(),
        hold_ttl: humantime::parse_duration(hold_ttl).expect("a hold TTL such as 15m"),
        ..Settings::default()
    };
    if kafka {
        let ns = unique("e2e").replace('-', "_").to_ascii_lowercase();
        s.backend = slotstream::settings::BackendKind::Kafka;
        s.kafka.brokers = Some(required_env("SLOTSTREAM_TEST_KAFKA_BROKERS"));
        s.kafka.schema_registry_url = Some(required_env("SLOTSTREAM_TEST_SCHEMA_REGISTRY_URL"));
        s.scylla.nodes = required_env("SLOTSTREAM_TEST_SCYLLA_NODES")
            .split(',')
            .map(|n| n.trim().to_owned())
            .collect();
        s.smtp_url = Some(required_env("SLOTSTREAM_TEST_SMTP_URL"));
        s.scylla.keyspace = ns.clone();
        s.kafka.namespace = ns;
        // Commit as soon as a batch is there: tests wait on each answer.
        s.kafka.commit_interval = Duration::ZERO;
    }
    s
}

/// Where a test app's emails go.
#[derive(Debug)]
enum MailSource {
    /// `<data_dir>/outbox/*.eml` (embedded runs without SMTP).
    Outbox(PathBuf),
    /// A real SMTP server, read through Mailpit's HTTP API.
    Mailpit {
        api: String,
        seen: std::sync::Mutex<std::collections::HashMap<String, outbox::Email>>,
    },
}

/// The product, running for one test.
#[derive(Debug)]
pub struct TestApp {
    /// Where the gateway listens.
    pub addr: SocketAddr,
    /// A client with no default headers; every test request goes through it.
    pub client: reqwest::Client,
    /// The clock every processor and the gateway read; the test moves it.
    pub clock: ManualClock,
    /// The clock the product runs on: `clock` itself, or a clock running
    /// from it ([`spawn_app_running_clock`]).
    pub platform_clock: Arc<dyn Clock>,
    /// The fresh data dir (deleted when the test ends).
    pub data_dir: tempfile::TempDir,
    /// The running product.
    pub app: App,
    /// How it was configured (a Kafka run removes its namespace at stop).
    pub settings: Settings,
    mail: MailSource,
}

/// Starts the product on a free port with a fresh data dir, a 15 minute hold
/// TTL, and a [`ManualClock`] standing at the real current time.
pub async fn spawn_app() -> TestApp {
    spawn_app_on(kafka_under_test(), "15m").await
}

/// As [`spawn_app`], on the backend asked for (`kafka`: the test engines,
/// whatever `SLOTSTREAM_TEST_BACKEND` says) with `hold_ttl`.
pub async fn spawn_app_on(kafka: bool, hold_ttl: &str) -> TestApp {
    spawn_app_custom(kafka, hold_ttl, &slotstream::Role::ALL).await
}

/// As [`spawn_app_on`], with only the processors of `roles` in the process
/// (others may run as separate processes on the same namespace).
pub async fn spawn_app_custom(kafka: bool, hold_ttl: &str, roles: &[slotstream::Role]) -> TestApp {
    spawn_app_configured(kafka, hold_ttl, roles, |_| {}).await
}

/// As [`spawn_app`], with `configure` changing the settings first (limits,
/// timeouts).
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_configured(kafka_under_test(), "15m", &slotstream::Role::ALL, configure).await
}

/// As [`spawn_app`], with the product on a clock that runs with real time
/// from the manual clock's reading ([`time::RunningClock`]): latencies the
/// platform measures on its clock are real ones, and `advance` still jumps.
pub async fn spawn_app_running_clock() -> TestApp {
    spawn_app_clocked(
        kafka_under_test(),
        "15m",
        &slotstream::Role::ALL,
        |_| {},
        true,
    )
    .await
}

/// As [`spawn_app`], with the sandbox payment provider misbehaving as
/// `faults` says (outages, timeouts, slow answers, programmed at any time).
pub async fn spawn_app_with_faults(faults: slotstream_payments::SandboxFaults) -> TestApp {
    spawn_app_faulty(
        kafka_under_test(),
        "15m",
        &slotstream::Role::ALL,
        |_| {},
        false,
        faults,
    )
    .await
}

async fn spawn_app_configured(
    kafka: bool,
    hold_ttl: &str,
    roles: &[slotstream::Role],
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_app_clocked(kafka, hold_ttl, roles, configure, false).await
}

async fn spawn_app_clocked(
    kafka: bool,
    hold_ttl: &str,
    roles: &[slotstream::Role],
    configure: impl FnOnce(&mut Settings),
    running: bool,
) -> TestApp {
    spawn_app_faulty(
        kafka,
        hold_ttl,
        roles,
        configure,
        running,
        Default::default(),
    )
    .await
}

async fn spawn_app_faulty(
    kafka: bool,
    hold_ttl: &str,
    roles: &[slotstream::Role],
    configure: impl FnOnce(&mut Settings),
    running: bool,
    faults: slotstream_payments::SandboxFaults,
) -> TestApp {
    init_tracing();
    let data_dir = tempfile::tempdir().expect("a temp dir for the data dir");
    let mut settings = test_settings(data_dir.path(), hold_ttl, kafka);
    configure(&mut settings);
    let clock = ManualClock::new(time::system_now_ms());
    if kafka {
        bounded("namespace init", slotstream::storage::init(&settings))
            .await
            .expect("the test's namespace is created");
    }
    let app_clock: Arc<dyn Clock> = if running {
        Arc::new(time::RunningClock::new(clock.clone()))
    } else {
        Arc::new(clock.clone())
    };
    let app = bounded(
        "start",
        App::start_faulty(&settings, app_clock.clone(), roles, faults),
    )
    .await
    .expect("the app starts");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let mail = if kafka {
        MailSource::Mailpit {
            api: required_env("SLOTSTREAM_TEST_MAILPIT_API"),
            seen: Default::default(),
        }
    } else {
        MailSource::Outbox(data_dir.path().join("outbox"))
    };
    let t = TestApp {
        addr: app.addr,
        client,
        clock,
        platform_clock: app_clock,
        data_dir,
        app,
        settings,
        mail,
    };
    t.await_ready().await;
    t
}

/// Another gateway beside the test app's, as a second `slotstream gateway`
/// process would be: its own id, replies partition, port, memory
/// (failed-login counts, read-your-writes caches) and login policy; the same
/// log, views, keys and clock. On Kafka it also has its own clients (a
/// process of its own would: the Kafka reader keeps one consumer per
/// partition, which two reply routers must not share). Stop it with
/// [`OtherGateway::stop`].
#[derive(Debug)]
pub struct OtherGateway {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Its own connections to the engines (Kafka runs).
    _storage: Option<slotstream::storage::Storage>,
}

impl OtherGateway {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Drains its requests and stops it; fails the test if it failed.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        bounded("second gateway stop", self.server)
            .await
            .expect("the second gateway's task")
            .expect("the second gateway stops cleanly");
    }
}

/// Sends the product's logs (warnings and errors; `SLOTSTREAM_LOG` to
/// change) to the test harness's captured output, so a failing test shows
/// what the product complained about while it ran.
fn init_tracing() {
    // Every test calls this; the first one installs the subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLOTSTREAM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_test_writer()
        .try_init();
}

/// How long one phase of a test app's life (namespace set-up, start, stop,
/// namespace removal) may take before the test fails naming it. Generous:
/// these take seconds on Kafka even on a loaded 2-core machine. The bound
/// exists so a hang fails one test with its phase instead of stalling the
/// whole suite until the runner's outer timeout.
const PHASE_LIMIT: Duration = Duration::from_secs(180);

/// Awaits `fut`, failing the test if it takes longer than [`PHASE_LIMIT`].
async fn bounded<T>(phase: &str, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(PHASE_LIMIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("the test app's {phase} did not finish within {PHASE_LIMIT:?}"),
    }
}

/// A process-wide counter for unique names (emails, idempotency keys).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", time::system_now_ms())
}

/// Percent-encodes a query value (cursors are opaque and may hold any byte).
pub fn encode_query(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The body every test uses for a plain resource: 20.00 EUR per started hour,
/// default rules (15 minute slots, default cancellation policy).
pub fn room(name: &str) -> Value {
    json!({"name": name, "kind": "room", "price": {"amount": 2000, "currency": "EUR", "unit_minutes": 60}})
}

impl TestApp {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The data dir's path.
    pub fn dir(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    /// Stops the gateway (drain) and every processor (commit), and fails the
    /// test if any of them stopped uncleanly.
    pub async fn stop(self) {
        bounded("stop", self.app.stop())
            .await
            .expect("the app stops cleanly");
        if self.settings.backend == slotstream::settings::BackendKind::Kafka {
            bounded(
                "namespace removal",
                slotstream::storage::destroy(&self.settings),
            )
            .await
            .expect("the test's namespace is removed");
        }
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        self.try_send(req).await.expect("the gateway answers")
    }

    /// Sends a request; a transport error is returned rather than failing.
    pub async fn try_send(&self, req: reqwest::RequestBuilder) -> Result<Resp, reqwest::Error> {
        let res = req.send().await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            body,
        })
    }

    /// `GET path`, with a bearer token if given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// `POST path` with a JSON body, a bearer token and an `Idempotency-Key` if given.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
    ) -> Resp {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    /// Starts [`OtherGateway`] on the running platform, with `login`.
    pub async fn second_gateway(&self, login: slotstream_gateway::LoginPolicy) -> OtherGateway {
        self.second_gateway_configured(|cfg| cfg.login = login)
            .await
    }

    /// Starts [`OtherGateway`] on the running platform, with `configure`
    /// changing its configuration first (its login policy, its wait budget).
    pub async fn second_gateway_configured(
        &self,
        configure: impl FnOnce(&mut slotstream_gateway::GatewayConfig),
    ) -> OtherGateway {
        let platform = &self.app.platform;
        let own = if self.settings.backend == slotstream::settings::BackendKind::Kafka {
            let opened = slotstream::storage::Storage::open(&self.settings);
            Some(
                bounded("second gateway storage", opened)
                    .await
                    .expect("its own clients"),
            )
        } else {
            None
        };
        let (backend, views, codec) = match &own {
            Some(s) => (s.backend.clone(), s.views.clone(), s.codec.clone()),
            None => (platform.backend(), platform.views(), platform.codec.clone()),
        };
        let mut cfg = slotstream_gateway::GatewayConfig::new(
            slotstream_gateway::GatewayConfig::fresh_gateway_id(),
            self.app.url(),
            platform.keys.webhook.clone(),
            platform.keys.jwt.clone(),
            platform.keys.otp.clone(),
        );
        configure(&mut cfg);
        let gateway = bounded(
            "second gateway start",
            slotstream_gateway::Gateway::start(
                cfg,
                backend.producer(),
                backend.reader(),
                views,
                Arc::new(self.clock.clone()),
                codec,
            ),
        )
        .await
        .expect("a second gateway starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the second gateway");
        let addr = listener.local_addr().expect("its address");
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        OtherGateway {
            addr,
            stop,
            server,
            _storage: own,
        }
    }

    /// `POST path` with a JSON body at `other` (no token, no key).
    pub async fn post_at(&self, other: &OtherGateway, path: &str, body: &Value) -> Resp {
        self.send(self.client.post(other.url(path)).json(body))
            .await
    }

    /// The clock's current time in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now()
    }

    /// Moves the clock just past the instant an unpaid hold taken now is
    /// released when no checkout was seen: its `hold_expires_at` plus the
    /// checkout grace.
    pub fn advance_past_unpaid_hold(&self) {
        self.advance(
            self.settings.hold_ttl + self.settings.checkout_grace + Duration::from_secs(1),
        );
    }

    /// Moves the platform's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by.as_millis() as i64);
    }

    /// The first 15 minute boundary at least `minutes` after the clock's now.
    pub fn slot_after(&self, minutes: i64) -> i64 {
        time::align_up(self.now_ms() + minutes * MINUTE, 15 * MINUTE)
    }

    /// Bounded poll of `/healthz` until the process says it is ready.
    async fn await_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let last = self.client.get(self.url("/healthz")).send().await;
            if matches!(&last, Ok(r) if r.status().as_u16() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz not 200 within {PATIENCE:?}: {last:?}"
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    // ----- auth -----

    /// Registers a user with a fresh email, reads the code from the outbox,
    /// verifies and logs in.
    pub async fn register_and_login(&self, role: Role) -> User {
        let email = format!("{}@example.com", unique(role.as_str()));
        let reg = self.register(&email, PASSWORD, role).await;
        let id = reg.expect(202, "register")["user_id"]
            .as_str()
            .expect("user_id")
            .to_owned();
        let code = self.verification_code(&email, &[]).await;
        self.verify(&email, &code).await.expect(200, "verify");
        let token = self.login(&email).await;
        User { id, token, email }
    }

    /// `POST /v1/auth/register`.
    pub async fn register(&self, email: &str, password: &str, role: Role) -> Resp {
        let body = json!({"email": email, "password": password, "name": "Test User", "role": role.as_str()});
        self.post("/v1/auth/register", None, None, &body).await
    }

    /// `POST /v1/auth/verify`.
    pub async fn verify(&self, email: &str, code: &str) -> Resp {
        self.post(
            "/v1/auth/verify",
            None,
            None,
            &json!({"email": email, "code": code}),
        )
        .await
    }

    /// `POST /v1/auth/login` with [`PASSWORD`]; asserts 200 and returns the token.
    ///
    /// Login reads the users view, which is eventually consistent: right after
    /// a 200 from verify it may still say `email_not_verified`, and after a
    /// test moved the clock past the gateway's memory of fresh sign-ups
    /// (`recent_ttl`), a view still catching up (Kafka, a loaded machine) may
    /// not know the account yet (`invalid_credentials`). Those two answers are
    /// retried in a bounded poll; the account and password are the test's own,
    /// so either one that lasts still fails the test.
    pub async fn login(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD});
        let deadline = Instant::now() + PATIENCE;
        loop {
            let r = self.post("/v1/auth/login", None, None, &body).await;
            let lagging = (r.status == 403 && r.body["code"] == "email_not_verified")
                || (r.status == 401 && r.body["code"] == "invalid_credentials");
            if lagging && Instant::now() < deadline {
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
            let ok = r.expect(200, "login");
            assert_eq!(ok["token_type"], "Bearer", "token_type in {}", r.text);
            return ok["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned();
        }
    }

    /// Bounded poll of the outbox for a verification email to `email` whose
    /// code is not in `known`; returns its six-digit code.
    pub async fn verification_code(&self, email: &str, known: &[String]) -> String {
        let mail = self
            .await_email(email, |m| {
                m.subject.to_ascii_lowercase().contains("verification code")
                    && outbox::six_digits(&m.body).is_some_and(|c| !known.contains(&c))
            })
            .await;
        outbox::six_digits(&mail.body).expect("a six-digit code in the verification email")
    }

    // ----- outbox -----

    /// Every email to `addr` in the outbox so far, each as its subject, a
    /// blank line and its decoded body, oldest first.
    pub async fn emails_to(&self, addr: &str) -> Vec<String> {
        self.mails(addr)
            .await
            .into_iter()
            .map(|m| m.text())
            .collect()
    }

    /// The `Message-ID`s of every message to `addr` at the SMTP server (Kafka
    /// runs; duplicates show up as repeats).
    pub async fn message_ids_to(&self, addr: &str) -> Vec<String> {
        let MailSource::Mailpit { api, .. } = &self.mail else {
            panic!("message ids need a Kafka run (real SMTP)");
        };
        outbox::mailpit_message_ids(&self.client, api, addr).await
    }

    /// Every email to `addr` so far, oldest first: from the outbox folder, or
    /// from the SMTP server's API in a Kafka run.
    pub async fn mails(&self, addr: &str) -> Vec<outbox::Email> {
        match &self.mail {
            MailSource::Outbox(dir) => outbox::read(dir, addr),
            MailSource::Mailpit { api, seen } => {
                outbox::read_mailpit(&self.client, api, seen, addr).await
            }
        }
    }

    /// Bounded poll of the outbox (a folder, not a log: nothing to block on)
    /// until an email to `addr` satisfies `pick`.
    pub async fn await_email(
        &self,
        addr: &str,
        mut pick: impl FnMut(&outbox::Email) -> bool,
    ) -> outbox::Email {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mails = self.mails(addr).await;
            if let Some(m) = mails.iter().find(|m| pick(m)) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no matching email to {addr} within {PATIENCE:?}; the outbox has for them: {:#?}",
                mails.iter().map(outbox::Email::text).collect::<Vec<_>>()
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Bounded poll until an email to `addr` contains every one of `words`
    /// (case-insensitive, subject or body).
    pub async fn await_email_containing(&self, addr: &str, words: &[&str]) -> outbox::Email {
        self.await_email(addr, |m| {
            let t = m.text().to_ascii_lowercase();
            words.iter().all(|w| t.contains(&w.to_ascii_lowercase()))
        })
        .await
    }

    // ----- resources, bookings, payments -----

    /// `POST /v1/resources`; asserts 201 and returns the resource.
    pub async fn create_resource(&self, vendor_token: &str, body: Value) -> Value {
        let r = self
            .post("/v1/resources", Some(vendor_token), None, &body)
            .await;
        r.expect(201, "create resource").clone()
    }

    /// Creates [`room`] and returns its id.
    pub async fn create_room(&self, vendor_token: &str) -> String {
        let r = self
            .create_resource(vendor_token, room(&unique("room")))
            .await;
        r["id"].as_str().expect("resource id").to_owned()
    }

    /// `POST /v1/bookings` for `[start, end)` (epoch ms) with `key`.
    pub async fn book(&self, token: &str, key: &str, resource: &str, start: i64, end: i64) -> Resp {
        let body = json!({"resource_id": resource, "start": rfc3339(start), "end": rfc3339(end)});
        self.post("/v1/bookings", Some(token), Some(key), &body)
            .await
    }

    /// Books with a fresh key and asserts 201; returns the booking.
    pub async fn book_ok(&self, token: &str, resource: &str, start: i64, end: i64) -> Value {
        let r = self.book(token, &unique("key"), resource, start, end).await;
        r.expect(201, "book").clone()
    }

    /// `POST /v1/payments/{id}/complete` with `outcome` and `key`.
    pub async fn complete(&self, token: &str, payment_id: &str, outcome: &str, key: &str) -> Resp {
        let path = format!("/v1/payments/{payment_id}/complete");
        self.post(&path, Some(token), Some(key), &json!({"outcome": outcome}))
            .await
    }

    /// `POST /v1/bookings/{id}/cancel` (no body).
    pub async fn cancel(&self, token: &str, id: &str) -> Resp {
        self.send(
            self.client
                .post(self.url(&format!("/v1/bookings/{id}/cancel")))
                .bearer_auth(token),
        )
        .await
    }

    /// Books `[start, end)`, pays successfully and waits for `confirmed`;
    /// returns the 201 booking.
    pub async fn book_and_pay(&self, token: &str, resource: &str, start: i64, end: i64) -> Value {
        let booking = self.book_ok(token, resource, start, end).await;
        let pay = booking["payment"]["id"].as_str().expect("payment id");
        self.complete(token, pay, "succeeded", &unique("pay"))
            .await
            .expect(202, "complete");
        self.await_booking_status(
            token,
            booking["id"].as_str().expect("booking id"),
            "confirmed",
        )
        .await;
        booking
    }

    /// Bounded poll of `GET /v1/bookings/{id}` until its status is `status`;
    /// fails with the last answer.
    pub async fn await_booking_status(&self, token: &str, id: &str, status: &str) -> Value {
        self.await_status(&format!("/v1/bookings/{id}"), token, status)
            .await
    }

    /// Bounded poll of `GET /v1/payments/{id}` until its status is `status`.
    pub async fn await_payment_status(&self, token: &str, id: &str, status: &str) -> Value {
        self.await_status(&format!("/v1/payments/{id}"), token, status)
            .await
    }

    async fn await_status(&self, path: &str, token: &str, status: &str) -> Value {
        self.await_get(path, token, |r| {
            r.status == 200 && r.body["status"] == status
        })
        .await
        .body
    }

    /// Bounded poll of `GET path` until `done` holds; fails with the last answer.
    pub async fn await_get(
        &self,
        path: &str,
        token: &str,
        mut done: impl FnMut(&Resp) -> bool,
    ) -> Resp {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let r = self.get(path, Some(token)).await;
            if done(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} did not reach the awaited state within {PATIENCE:?}; last answer {} {}",
                r.status,
                r.text
            );
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Every item of a paginated list (`{items, next_cursor}`), following
    /// cursors; `path` must already carry a `?`.
    pub async fn all_pages(&self, path: &str, token: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let url = match &cursor {
                Some(c) => format!("{path}&cursor={}", encode_query(c)),
                None => path.to_owned(),
            };
            let r = self.get(&url, Some(token)).await;
            let body = r.expect(200, "list page");
            items.extend(body["items"].as_array().expect("items").iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
        panic!("{path} still had a next_cursor after 1000 pages");
    }
}
