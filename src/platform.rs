//! The composition root: opens the adapters [`Settings`] pick ([`Storage`])
//! and starts the processors of the roles asked for on them. Embedded vs
//! distributed is that one choice; nothing below it knows which backend runs.

use crate::settings::Settings;
use crate::storage::Storage;
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use slotstream_domain::booking::BookingConfig;
use slotstream_domain::identity::IdentityConfig;
use slotstream_payments::{SandboxFaults, SandboxProvider};
use slotstream_processors as procs;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::{
    Backend, Clock, LogError, PaymentProvider, Processor, Producer, Telemetry, ViewStore,
};
use slotstream_schemas::Codec;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a view group's driver gathers records before a commit.
const VIEWS_LINGER: std::time::Duration = std::time::Duration::from_millis(5);

/// The secrets the platform keeps in its data dir.
#[derive(Debug, Clone)]
pub struct Keys {
    /// HS256 key for access tokens.
    pub jwt: SecretString,
    /// Key for OTP derivation and hashing (shared by identity and notification).
    pub otp: SecretString,
    /// Key the payment provider signs its webhooks with.
    pub webhook: SecretString,
}

impl Keys {
    /// Loads the keys from `<data_dir>/keys/`, creating them on first start;
    /// `jwt_override` (from configuration) wins over the stored JWT key.
    /// Keys set in configuration win over the stored ones; processes that
    /// share a data dir (one machine) share the stored ones.
    pub fn load_or_create(data_dir: &Path, settings: &Settings) -> anyhow::Result<Self> {
        let dir = data_dir.join("keys");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let pick = |configured: &Option<SecretString>, file: &str| match configured {
            Some(s) => Ok(s.clone()),
            None => read_or_create(&dir.join(file)),
        };
        Ok(Self {
            jwt: pick(&settings.jwt_secret, "jwt.key")?,
            otp: pick(&settings.otp_secret, "otp.key")?,
            webhook: pick(&settings.webhook_secret, "webhook.key")?,
        })
    }

    /// The OTP key as bytes.
    pub fn otp_bytes(&self) -> Vec<u8> {
        self.otp.expose_secret().as_bytes().to_vec()
    }
}

fn read_or_create(path: &Path) -> anyhow::Result<SecretString> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_owned();
        anyhow::ensure!(s.len() >= 32, "key file {} is too short", path.display());
        return Ok(SecretString::from(s));
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    let s = hex::encode(raw);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &s).with_context(|| format!("writing {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(SecretString::from(s))
}

/// One processor kind, as `slotstream processor <role>` names it. Each is one
/// or two consumer groups (notification and views have a booking and an
/// identity half).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Role {
    /// Decides availability, holds, expiry, confirmation, cancellation.
    Booking,
    /// Payment intents, checkout, provider outcomes, refunds.
    Payment,
    /// Registration, OTP verification.
    Identity,
    /// Every email.
    Notification,
    /// The read views the gateway's GETs read.
    Views,
    /// The overlap auditor (`slotstream-audit`): checks the invariants on
    /// the booking and payment events, counts what it finds.
    Audit,
}

impl Role {
    /// Every role: what `slotstream up` runs.
    pub const ALL: [Role; 6] = [
        Role::Booking,
        Role::Payment,
        Role::Identity,
        Role::Notification,
        Role::Views,
        Role::Audit,
    ];
}

/// A running platform: the backend and the drivers of the processors it runs
/// (all of them for `up`, one role for `processor <role>`, none for `gateway`).
#[derive(Debug)]
pub struct Platform {
    storage: Storage,
    /// Encodes and decodes every record.
    pub codec: Codec,
    /// The clock every processor reads through its driver.
    pub clock: Arc<dyn Clock>,
    /// The data dir's secrets.
    pub keys: Keys,
    /// The process's metrics recorder and the processors' readiness.
    pub telemetry: Telemetry,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<Result<(), LogError>>)>,
}

impl Platform {
    /// Opens the backend and starts every processor, with the built-in
    /// sandbox payment provider reporting through the gateway's webhook.
    pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::start_roles(settings, clock, None, &Role::ALL).await
    }

    /// As [`Platform::start`], with another payment provider (processor-level
    /// tests that run without the gateway use one that reports in-process).
    pub async fn start_with(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        provider: Option<Arc<dyn PaymentProvider>>,
    ) -> anyhow::Result<Self> {
        Self::start_roles(settings, clock, provider, &Role::ALL).await
    }

    /// Opens the backend and starts the processors of `roles` only.
    pub async fn start_roles(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        provider: Option<Arc<dyn PaymentProvider>>,
        roles: &[Role],
    ) -> anyhow::Result<Self> {
        Self::start_faulty(settings, clock, provider, roles, SandboxFaults::default()).await
    }

    /// As [`Platform::start_roles`], with the built-in sandbox provider (when
    /// `provider` is `None`) misbehaving as `faults` says: tests program
    /// provider outages, timeouts and slow answers through their handle.
    pub async fn start_faulty(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        provider: Option<Arc<dyn PaymentProvider>>,
        roles: &[Role],
        faults: SandboxFaults,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let keys = Keys::load_or_create(&settings.data_dir, settings)?;
        let storage = Storage::open(settings).await?;
        let codec = storage.codec.clone();
        let millis = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let booking_cfg = BookingConfig {
            hold_ttl: millis(settings.hold_ttl),
            payment_decision_timeout: millis(settings.payment_decision_timeout),
            checkout_grace: millis(settings.checkout_grace),
            payment_unknown_hold: millis(settings.payment_unknown_hold),
        };
        // Faults a test programs win; otherwise the configured random ones.
        let faults = match &settings.sandbox_faults {
            Some(spec) if !faults.is_programmed() => {
                SandboxFaults::parse(spec).map_err(|e| anyhow::anyhow!("sandbox_faults: {e}"))?
            }
            _ => faults,
        };

        let (shutdown, rx) = watch::channel(false);
        let telemetry = Telemetry::new();
        telemetry.readiness().set_max_lag(settings.ready_max_lag);
        let mut platform = Self {
            storage,
            codec: codec.clone(),
            clock: clock.clone(),
            keys,
            telemetry,
            shutdown,
            tasks: Vec::new(),
        };
        let none = EffectPorts::default();
        let c = codec;
        let needs_mail = roles.contains(&Role::Notification);
        let mail = EffectPorts {
            mailer: if needs_mail {
                Some(slotstream_mail::mailer_from_config(
                    settings.smtp_url.as_deref(),
                    &settings.data_dir,
                    &settings.mail_from,
                    platform.storage.sent_ledger.clone(),
                )?)
            } else {
                None
            },
            payments: None,
        };
        for role in roles {
            match role {
                Role::Booking => platform.spawn(
                    procs::BookingProcessor::new(c.clone(), booking_cfg),
                    none.clone(),
                    &rx,
                ),
                Role::Payment => {
                    let provider: Arc<dyn PaymentProvider> = match provider.clone() {
                        Some(p) => p,
                        None => Arc::new(
                            SandboxProvider::new(
                                settings.public_url(),
                                platform.keys.webhook.clone(),
                                clock.clone(),
                            )?
                            .with_faults(faults.clone()),
                        ),
                    };
                    let checkout: procs::payment::CheckoutUrl = {
                        let p = provider.clone();
                        Arc::new(move |id| p.checkout_url(id))
                    };
                    let pay = EffectPorts {
                        mailer: None,
                        payments: Some(provider),
                    };
                    platform.spawn(procs::PaymentProcessor::new(c.clone(), checkout), pay, &rx);
                }
                Role::Identity => platform.spawn(
                    procs::IdentityProcessor::new(c.clone(), IdentityConfig::default()),
                    none.clone(),
                    &rx,
                ),
                Role::Notification => {
                    platform.spawn(
                        procs::BookingNotifications::new(c.clone()),
                        mail.clone(),
                        &rx,
                    );
                    let otp = platform.keys.otp_bytes();
                    platform.spawn(
                        procs::IdentityNotifications::new(c.clone(), otp),
                        mail.clone(),
                        &rx,
                    );
                }
                Role::Views => {
                    platform.spawn(procs::BookingViews::new(c.clone()), none.clone(), &rx);
                    platform.spawn(procs::IdentityViews::new(c.clone()), none.clone(), &rx);
                }
                Role::Audit => {
                    if roles.len() > 1 {
                        // Beside other processors (slotstream up) the auditor
                        // does not hold the process's readiness back: after
                        // an upgrade it reads the whole history first.
                        platform
                            .telemetry
                            .readiness()
                            .exempt(slotstream_runtime::topics::groups::AUDIT.name);
                    }
                    let slack = settings.audit_slack.as_millis() as i64;
                    let auditor = slotstream_audit::AuditProcessor::new(
                        c.clone(),
                        slack,
                        &platform.telemetry,
                    );
                    platform.spawn(auditor, none.clone(), &rx);
                }
            }
        }
        Ok(platform)
    }

    fn spawn<P: Processor>(&mut self, p: P, ports: EffectPorts, rx: &watch::Receiver<bool>) {
        let group = p.group();
        let mut cfg = DriverConfig::new(procs::dead_letter(self.codec.clone()));
        if slotstream_runtime::topics::groups::VIEWS
            .iter()
            .any(|g| g.name == group)
            || group == slotstream_runtime::topics::groups::AUDIT.name
        {
            // Views are off the request path: gathering 5 ms of records per
            // commit made fewer, larger view commits and saved ~9 % of the
            // server's CPU at 5,000 bookings/s (BENCHMARKS.md). So is the
            // auditor.
            cfg.linger = VIEWS_LINGER;
        }
        // Registered before the driver runs, so readiness never reports a
        // processor that has not started as ready.
        self.telemetry.readiness().member(group, cfg.member);
        cfg.telemetry = self.telemetry.clone();
        let backend = self.storage.backend.clone();
        let task = tokio::spawn(driver::run(
            p,
            backend,
            ports,
            self.clock.clone(),
            cfg,
            rx.clone(),
        ));
        self.tasks.push((group, task));
    }

    /// What the platform runs on: the log, the views, the codec and the
    /// shared sent-ledger (if any).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The log, for producing commands and reading topics.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.storage.backend.clone()
    }

    /// A producer of commands.
    pub fn producer(&self) -> Arc<dyn Producer> {
        self.storage.backend.producer()
    }

    /// The read views.
    pub fn views(&self) -> Arc<dyn ViewStore> {
        self.storage.views.clone()
    }

    /// Resolves when any processor stops on its own (an error): the process
    /// should then exit rather than run with a dead processor.
    pub async fn failed(&mut self) -> anyhow::Error {
        if self.tasks.is_empty() {
            return std::future::pending().await;
        }
        let futs = self.tasks.iter_mut().map(|(g, t)| {
            let g = *g;
            Box::pin(async move { (g, t.await) })
        });
        let ((group, res), _, _) = futures_select_all(futs).await;
        match res {
            Ok(Ok(())) => anyhow::anyhow!("processor {group} stopped"),
            Ok(Err(e)) => anyhow::anyhow!("processor {group} failed: {e}"),
            Err(e) => anyhow::anyhow!("processor {group} panicked: {e}"),
        }
    }

    /// Asks every processor to finish its batch, commit and stop; waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let mut first_err = None;
        for (group, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    first_err
                        .get_or_insert_with(|| anyhow::anyhow!("processor {group} failed: {e}"));
                }
                Err(e) => {
                    first_err
                        .get_or_insert_with(|| anyhow::anyhow!("processor {group} panicked: {e}"));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

use futures_util::future::select_all as futures_select_all;
