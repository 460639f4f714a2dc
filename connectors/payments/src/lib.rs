//! # slotstream-payments: payment provider adapters
//!
//! [`SandboxProvider`] is the built-in provider. It behaves like a hosted
//! checkout (Stripe-like): each payment has a checkout page; when the customer
//! completes checkout, the provider reports the outcome back to the platform
//! the way a remote provider would, as a **signed webhook** to
//! `POST {public_url}/v1/webhooks/payments` (see [`webhook`] for the format and
//! the signature scheme). Each report has a stable event id
//! (`evt_<payment>_<outcome>`), so a redelivered webhook is recognised and
//! ignored by the payment processor. Refunds are accepted idempotently per
//! refund id.
//!
//! The invariant it keeps: **a checkout is reported with exactly one event id
//! per (payment, outcome), and a delivery only counts as done when the
//! platform answered 2xx**; anything else is an error the driver retries
//! (transient) or logs (permanent), so no outcome is silently lost.
//!
//! It keeps what it took (in memory: its ledger of checkouts by payment id)
//! and answers the reconciler's question "what became of this payment?"
//! ([`PaymentProvider::lookup`]) from it. A restarted sandbox has forgotten
//! its ledger and answers `NotFound`; the reconciler then submits the
//! checkout again, whose outcome the customer already chose, so the answer
//! converges on the same event id. A real provider keeps its ledger.
//!
//! It can misbehave on purpose ([`SandboxFaults`]): refuse calls as a
//! provider outage would (5xx), let them time out, answer slowly, or take
//! a checkout and lose its webhook, programmed by a test or drawn at random
//! (`SLOTSTREAM_SANDBOX_FAULTS`), so the platform's reconciler and late
//! outcomes can be exercised and shown.

pub mod faults;
pub mod webhook;

pub use faults::{Fault, SandboxFaults};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use slotstream_domain::payment::CheckoutOutcome;
use slotstream_domain::{Money, PaymentId, ResourceId};
use slotstream_runtime::{
    Clock, EffectError, PaymentProvider, ProviderOutcome, ProviderStatus, trace,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use webhook::{ProviderEvent, ProviderEventData, SIGNATURE_HEADER};

/// How long one webhook delivery may take before it counts as a transient failure.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The HTTP client (its TLS backend) could not be initialised.
    #[error("cannot create the webhook HTTP client: {0}; check the TLS setup of this machine")]
    HttpClient(String),
}

/// The built-in sandbox provider (see the crate docs).
#[derive(Debug)]
pub struct SandboxProvider {
    base_url: String,
    secret: SecretString,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    faults: SandboxFaults,
    /// What it took: the outcome and event decided for each payment's checkout.
    taken: Mutex<HashMap<PaymentId, (CheckoutOutcome, ProviderEvent)>>,
}

impl SandboxProvider {
    /// A provider whose checkout pages and webhook endpoint live under
    /// `public_url` (the gateway's public base URL), signing its webhooks with
    /// `webhook_secret` (the gateway verifies them with the same secret).
    pub fn new(
        public_url: impl Into<String>,
        webhook_secret: SecretString,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .build()
            .map_err(|e| ProviderError::HttpClient(e.to_string()))?;
        Ok(Self {
            base_url: public_url.into().trim_end_matches('/').to_owned(),
            secret: webhook_secret,
            clock,
            http,
            faults: SandboxFaults::default(),
            taken: Mutex::new(HashMap::new()),
        })
    }

    /// The same provider, misbehaving as `faults` says (a handle the test
    /// keeps, to program faults while the platform runs).
    #[must_use]
    pub fn with_faults(mut self, faults: SandboxFaults) -> Self {
        self.faults = faults;
        self
    }

    /// The stable id of the provider event reporting `outcome` for `payment`.
    pub fn event_id(payment: &PaymentId, outcome: CheckoutOutcome) -> String {
        let o = match outcome {
            CheckoutOutcome::Succeeded => "succeeded",
            CheckoutOutcome::Failed => "failed",
        };
        format!("evt_{payment}_{o}")
    }

    /// Where webhooks are delivered.
    pub fn webhook_url(&self) -> String {
        format!("{}/v1/webhooks/payments", self.base_url)
    }

    /// The event reporting `outcome` for `payment_id`, created at Unix second `created`.
    pub fn event(
        payment_id: &PaymentId,
        resource_id: &ResourceId,
        outcome: CheckoutOutcome,
        created: i64,
    ) -> ProviderEvent {
        let reason = match outcome {
            CheckoutOutcome::Succeeded => String::new(),
            CheckoutOutcome::Failed => "card_declined".to_owned(),
        };
        ProviderEvent {
            id: Self::event_id(payment_id, outcome),
            kind: ProviderEvent::kind_for(outcome).to_owned(),
            data: ProviderEventData {
                payment_id: payment_id.clone(),
                resource_id: resource_id.clone(),
                reason,
            },
            created,
        }
    }
}

impl SandboxProvider {
    /// Applies the fault drawn for this call: an error for an outage or a
    /// timeout (after hanging), a pause for a slow answer; the fault itself
    /// for the caller to act on otherwise.
    async fn misbehave(
        &self,
        payment_id: &PaymentId,
        call: &str,
    ) -> Result<Option<Fault>, EffectError> {
        let fault = self.faults.take();
        match fault {
            Some(Fault::Unavailable) => Err(EffectError::Transient(format!(
                "sandbox provider unavailable (injected) for the {call} of {payment_id}"
            ))),
            Some(Fault::Timeout(after)) => {
                tokio::time::sleep(after).await;
                Err(EffectError::Transient(format!(
                    "sandbox provider timed out after {after:?} (injected) for the {call} of {payment_id}"
                )))
            }
            Some(Fault::Slow(by)) => {
                tokio::time::sleep(by).await;
                Ok(fault)
            }
            Some(Fault::LostWebhook) | None => Ok(fault),
        }
    }
}

/// Maps an HTTP status of the receiver to the effect's outcome: 2xx done;
/// 408, 429 and 5xx worth retrying; other 4xx never going to succeed.
fn classify(status: reqwest::StatusCode) -> Result<(), EffectError> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error()
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status == reqwest::StatusCode::TOO_MANY_REQUESTS
    {
        Err(EffectError::Transient(format!("webhook answered {status}")))
    } else {
        Err(EffectError::Permanent(format!(
            "webhook refused with {status}: check the webhook secret and the public URL"
        )))
    }
}

#[async_trait]
impl PaymentProvider for SandboxProvider {
    fn checkout_url(&self, payment_id: &PaymentId) -> String {
        format!("{}/v1/sandbox/checkout/{payment_id}", self.base_url)
    }

    async fn submit_checkout(
        &self,
        payment_id: &PaymentId,
        resource_id: &ResourceId,
        outcome: CheckoutOutcome,
    ) -> Result<(), EffectError> {
        let deliver = self.misbehave(payment_id, "checkout").await? != Some(Fault::LostWebhook);
        // Idempotent per payment: a checkout taken before keeps its first
        // decision and event, whatever this call says.
        let event = {
            let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
            let (_, event) = taken.entry(payment_id.clone()).or_insert_with(|| {
                let now_secs = self.clock.now().div_euclid(1000);
                (
                    outcome,
                    Self::event(payment_id, resource_id, outcome, now_secs),
                )
            });
            event.clone()
        };
        if !deliver {
            tracing::info!(event = %event.id, "sandbox webhook lost (injected)");
            return Ok(());
        }
        let now_secs = self.clock.now().div_euclid(1000);
        let body = serde_json::to_vec(&event)
            .map_err(|e| EffectError::Permanent(format!("encoding provider event: {e}")))?;
        let signature = webhook::sign(self.secret.expose_secret().as_bytes(), now_secs, &body);
        let mut request = self
            .http
            .post(self.webhook_url())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature);
        // The outcome continues the trace of the checkout: the driver runs
        // this effect inside a span of its own when traces are on.
        if let Some((parent, state)) = trace::context_of(&tracing::Span::current()) {
            request = request.header(trace::TRACEPARENT, parent);
            if let Some(state) = state {
                request = request.header(trace::TRACESTATE, state);
            }
        }
        let response =
            request.body(body).send().await.map_err(|e| {
                EffectError::Transient(format!("delivering webhook {}: {e}", event.id))
            })?;
        classify(response.status())?;
        tracing::debug!(event = %event.id, "sandbox webhook delivered");
        Ok(())
    }

    async fn lookup(&self, payment_id: &PaymentId) -> Result<ProviderStatus, EffectError> {
        self.misbehave(payment_id, "lookup").await?;
        let taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(match taken.get(payment_id) {
            None => ProviderStatus::NotFound,
            Some((outcome, event)) => ProviderStatus::Settled(ProviderOutcome {
                event_id: event.id.clone(),
                outcome: *outcome,
                reason: event.data.reason.clone(),
                occurred_at: event.created.saturating_mul(1000),
            }),
        })
    }

    async fn refund(
        &self,
        payment_id: &PaymentId,
        refund_id: &str,
        amount: &Money,
    ) -> Result<(), EffectError> {
        // An outage, a timeout or a slow answer hits refunds as it hits
        // checkouts (a lost webhook does not apply: a refund has none).
        self.misbehave(payment_id, "refund").await?;
        tracing::info!(%payment_id, refund_id, amount = amount.amount, currency = %amount.currency, "sandbox refund accepted");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
