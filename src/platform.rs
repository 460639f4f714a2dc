//! The composition root: picks the adapters from [`Settings`] and starts every
//! processor on them. Embedded vs distributed is this one choice; nothing
//! below it knows which backend runs.

use crate::settings::{BackendKind, Settings};
use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use slotstream_domain::booking::BookingConfig;
use slotstream_domain::identity::IdentityConfig;
use slotstream_embedded::{EmbeddedBackend, EmbeddedOptions};
use slotstream_payments::SandboxProvider;
use slotstream_processors as procs;
use slotstream_runtime::driver::{self, DriverConfig, EffectPorts};
use slotstream_runtime::{
    Backend, Clock, LogError, PaymentProvider, Processor, Producer, ViewStore,
};
use slotstream_schemas::Codec;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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
    pub fn load_or_create(
        data_dir: &Path,
        jwt_override: Option<SecretString>,
    ) -> anyhow::Result<Self> {
        let dir = data_dir.join("keys");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let jwt = match jwt_override {
            Some(s) => s,
            None => read_or_create(&dir.join("jwt.key"))?,
        };
        let otp = read_or_create(&dir.join("otp.key"))?;
        let webhook = read_or_create(&dir.join("webhook.key"))?;
        Ok(Self { jwt, otp, webhook })
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

/// A running platform: the backend and every processor's driver.
#[derive(Debug)]
pub struct Platform {
    backend: Arc<EmbeddedBackend>,
    /// Encodes and decodes every record.
    pub codec: Codec,
    /// The clock every processor reads through its driver.
    pub clock: Arc<dyn Clock>,
    /// The data dir's secrets.
    pub keys: Keys,
    shutdown: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<Result<(), LogError>>)>,
}

impl Platform {
    /// Opens the backend and starts every processor, with the built-in
    /// sandbox payment provider reporting through the gateway's webhook.
    pub async fn start(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::start_with(settings, clock, None).await
    }

    /// As [`Platform::start`], with another payment provider (processor-level
    /// tests that run without the gateway use one that reports in-process).
    pub async fn start_with(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        provider: Option<Arc<dyn PaymentProvider>>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            settings.backend == BackendKind::Embedded,
            "backend {:?} is not available in this build yet; use SLOTSTREAM_BACKEND=embedded",
            settings.backend
        );
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data dir {}", settings.data_dir.display()))?;
        let keys = Keys::load_or_create(&settings.data_dir, settings.jwt_secret.clone())?;
        let backend = EmbeddedBackend::open(
            &settings.data_dir,
            EmbeddedOptions {
                durable: settings.durable,
                ..EmbeddedOptions::default()
            },
        )
        .with_context(|| {
            format!(
                "opening the embedded log in {}",
                settings.data_dir.display()
            )
        })?;
        let codec = Codec::embedded();
        let hold_ttl = settings.hold_ttl()?.as_millis() as i64;

        let mailer = slotstream_mail::mailer_from_config(
            settings.smtp_url.as_deref(),
            &settings.data_dir,
            &settings.mail_from,
        )?;
        let provider: Arc<dyn PaymentProvider> = match provider {
            Some(p) => p,
            None => Arc::new(SandboxProvider::new(
                settings.public_url(),
                keys.webhook.clone(),
                clock.clone(),
            )?),
        };
        let checkout: procs::payment::CheckoutUrl = {
            let p = provider.clone();
            Arc::new(move |id| p.checkout_url(id))
        };

        let (shutdown, rx) = watch::channel(false);
        let mut platform = Self {
            backend,
            codec: codec.clone(),
            clock: clock.clone(),
            keys,
            shutdown,
            tasks: Vec::new(),
        };
        let none = EffectPorts::default();
        let mail = EffectPorts {
            mailer: Some(mailer),
            payments: None,
        };
        let pay = EffectPorts {
            mailer: None,
            payments: Some(provider),
        };
        let c = codec.clone();
        platform.spawn(
            procs::BookingProcessor::new(c.clone(), BookingConfig { hold_ttl }),
            none.clone(),
            &rx,
        );
        platform.spawn(procs::PaymentProcessor::new(c.clone(), checkout), pay, &rx);
        platform.spawn(
            procs::IdentityProcessor::new(c.clone(), IdentityConfig::default()),
            none.clone(),
            &rx,
        );
        platform.spawn(
            procs::BookingNotifications::new(c.clone()),
            mail.clone(),
            &rx,
        );
        platform.spawn(
            procs::IdentityNotifications::new(c.clone(), platform.keys.otp_bytes()),
            mail,
            &rx,
        );
        platform.spawn(procs::BookingViews::new(c.clone()), none.clone(), &rx);
        platform.spawn(procs::IdentityViews::new(c), none, &rx);
        Ok(platform)
    }

    fn spawn<P: Processor>(&mut self, p: P, ports: EffectPorts, rx: &watch::Receiver<bool>) {
        let group = p.group();
        let cfg = DriverConfig::new(procs::dead_letter(self.codec.clone()));
        let backend: Arc<dyn Backend> = self.backend.clone();
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

    /// The log, for producing commands and reading topics.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.backend.clone()
    }

    /// A producer of commands.
    pub fn producer(&self) -> Arc<dyn Producer> {
        self.backend.producer()
    }

    /// The read views.
    pub fn views(&self) -> Arc<dyn ViewStore> {
        self.backend.clone()
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
