//! `slotstream up` as a value: the platform's processors plus the gateway on a
//! bound listener. End-to-end tests start exactly this on port 0.

use crate::platform::{Platform, Role};
use crate::settings::{BackendKind, Settings};
use crate::storage;
use anyhow::Context;
use slotstream_gateway::{Gateway, GatewayConfig};
use slotstream_payments::SandboxFaults;
use slotstream_runtime::Clock;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running Slotstream: processors and the HTTP gateway.
#[derive(Debug)]
pub struct App {
    /// Where the gateway listens (the real port when 0 was asked for).
    pub addr: SocketAddr,
    /// The processors and backend.
    pub platform: Platform,
    server: JoinHandle<std::io::Result<()>>,
    stop_server: oneshot::Sender<()>,
}

impl App {
    /// Binds `settings.listen`, starts every processor and the gateway: the
    /// whole platform in one process (`slotstream up`). On the kafka backend
    /// it first creates whatever is missing ([`storage::init`]), so one
    /// command runs it against empty engines.
    pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        if settings.backend == BackendKind::Kafka {
            for line in storage::init(settings).await? {
                tracing::info!("init: {line}");
            }
        }
        let roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| settings.audit || *r != Role::Audit)
            .collect();
        Self::start_roles(settings, clock, &roles).await
    }

    /// Binds `settings.listen` and starts the gateway with the processors of
    /// `roles` beside it (none: `slotstream gateway`).
    pub async fn start_roles(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        roles: &[Role],
    ) -> anyhow::Result<Self> {
        Self::start_faulty(settings, clock, roles, SandboxFaults::default()).await
    }

    /// As [`App::start_roles`], with the sandbox payment provider misbehaving
    /// as `faults` says (tests: provider outages, timeouts, slow answers).
    pub async fn start_faulty(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        roles: &[Role],
        faults: SandboxFaults,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(&settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let mut settings = settings.clone();
        // Checkout links and the sandbox's webhooks must reach the real port.
        if settings.public_url.is_none() {
            settings.public_url = Some(format!("http://{addr}"));
        }
        let platform =
            Platform::start_faulty(&settings, clock.clone(), None, roles, faults).await?;
        let backend = platform.backend();
        let mut cfg = GatewayConfig::new(
            GatewayConfig::fresh_gateway_id(),
            settings.public_url(),
            platform.keys.webhook.clone(),
            platform.keys.jwt.clone(),
            platform.keys.otp.clone(),
        );
        cfg.login = settings.login_policy();
        cfg.connections = settings.connection_limits();
        cfg.rate = settings.rate_limits();
        cfg.consistency_wait = settings.consistency_wait;
        cfg.webhook_allow_private = settings.webhook_allow_private;
        // One recorder for the process: /metrics shows the processors too.
        cfg.telemetry = platform.telemetry.clone();
        let gateway = Gateway::start(
            cfg,
            backend.producer(),
            backend.reader(),
            platform.views(),
            clock,
            platform.codec.clone(),
        )
        .await
        .context("starting the gateway")?;
        let (stop_server, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            platform,
            server,
            stop_server,
        })
    }

    /// The gateway's base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drains in-flight requests, then stops the processors after their
    /// current batch is committed.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop_server.send(());
        self.server.await.context("gateway task")??;
        self.platform.stop().await
    }
}
