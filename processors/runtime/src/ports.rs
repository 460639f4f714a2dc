//! Side-effect ports: the mailer and the payment provider, and the [`Effect`]s
//! a processor asks the driver to perform before it commits.
//!
//! Emails run *before* the commit of the step that asked for them and
//! are retried until they succeed, so each carries an idempotency key: a
//! crash between the effect and the commit repeats the effect with the same
//! key, and the adapter makes the repeat a no-op (the outbox file of that
//! name exists; the provider has seen that refund id).
//!
//! Provider calls (checkouts, the reconciler's asks, refunds:
//! [`Effect::after_commit`]) run *after* the commit instead, once each, bounded by a timeout: what asked
//! for them is already durable (the payment's check timer), so a provider
//! that is down or slow stalls only its own payments, never the partition.
//! What such a call learns comes back as an [`EffectReport`].

use async_trait::async_trait;
use slotstream_domain::payment::CheckoutOutcome;
use slotstream_domain::{Millis, Money, PaymentId, ResourceId};

/// An email to send once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// Stable id derived from the event that caused it; the idempotency key
    /// and the `Message-ID`.
    pub id: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Why an effect failed.
#[derive(Debug, thiserror::Error)]
pub enum EffectError {
    /// The server is unreachable or said "try later"; the driver retries.
    #[error("temporarily failed: {0} (will retry)")]
    Transient(String),
    /// It can never succeed as asked (bad address, unknown payment); the driver
    /// logs it and moves on rather than blocking the partition.
    #[error("permanently failed: {0}")]
    Permanent(String),
}

/// Delivers email (outbox files or SMTP).
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `email`; sending the same `email.id` again must not deliver twice
    /// where the transport allows detecting it.
    async fn send(&self, email: &Email) -> Result<(), EffectError>;
}

/// Where a mailer notes the emails a server has accepted, so a redelivered
/// event sends nothing. A file per id under the data dir for one process;
/// a shared table in distributed mode, so the instance that takes over a
/// partition knows what the previous one sent.
#[async_trait]
pub trait SentLedger: Send + Sync + std::fmt::Debug {
    /// Whether `email_id` is recorded as sent.
    async fn is_sent(&self, email_id: &str) -> Result<bool, EffectError>;
    /// Records `email_id` as sent, durably before returning.
    async fn record_sent(&self, email_id: &str) -> Result<(), EffectError>;
}

/// A payment provider (the built-in sandbox, or a real one behind a connector).
#[async_trait]
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Where the customer pays for `payment_id`.
    fn checkout_url(&self, payment_id: &PaymentId) -> String;
    /// Passes the customer's checkout to the provider, which reports the
    /// outcome later (a webhook). Idempotent per `payment_id`.
    async fn submit_checkout(
        &self,
        payment_id: &PaymentId,
        resource_id: &ResourceId,
        outcome: CheckoutOutcome,
    ) -> Result<(), EffectError>;
    /// Refunds `amount` of `payment_id`; idempotent per `refund_id`.
    async fn refund(
        &self,
        payment_id: &PaymentId,
        refund_id: &str,
        amount: &Money,
    ) -> Result<(), EffectError>;
    /// What became of the checkout of `payment_id`, asked by the payment's
    /// idempotency key (its id), as Stripe's "retrieve a PaymentIntent".
    async fn lookup(&self, payment_id: &PaymentId) -> Result<ProviderStatus, EffectError>;
}

/// What a provider knows of a payment's checkout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderStatus {
    /// It never received a checkout for this payment.
    NotFound,
    /// It has the checkout and has not decided it yet.
    Pending,
    /// It decided it.
    Settled(ProviderOutcome),
}

/// A provider's decision on a checkout, as its webhook reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderOutcome {
    /// The provider's event id (the one its webhook carries), so the
    /// decision is recorded once however it arrives.
    pub event_id: String,
    /// Paid or declined.
    pub outcome: CheckoutOutcome,
    /// Why it was declined (empty on success).
    pub reason: String,
    /// When the provider decided it.
    pub occurred_at: Millis,
}

/// What an effect performed after the commit learnt that its processor must
/// decide on (handed back to the partition that asked, see
/// [`Processor::on_report`](crate::Processor::on_report)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EffectReport {
    /// The provider said how a checkout ended.
    PaymentSettled {
        /// The payment.
        payment_id: PaymentId,
        /// Its resource.
        resource_id: ResourceId,
        /// The provider's decision.
        outcome: ProviderOutcome,
    },
    /// The provider acknowledged a refund.
    RefundAccepted {
        /// The payment.
        payment_id: PaymentId,
        /// Its resource.
        resource_id: ResourceId,
        /// The refund (its idempotency key).
        refund_id: String,
    },
}

/// A side effect a processor asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send an email.
    SendEmail(Email),
    /// Hand a checkout to the provider.
    SubmitCheckout {
        /// The payment.
        payment_id: PaymentId,
        /// Its resource (routes the provider's webhook back).
        resource_id: ResourceId,
        /// What the customer did.
        outcome: CheckoutOutcome,
    },
    /// Ask the provider what became of a checkout (by the payment's
    /// idempotency key); hand it the checkout again if it never got it.
    ReconcilePayment {
        /// The payment.
        payment_id: PaymentId,
        /// Its resource.
        resource_id: ResourceId,
        /// What the customer submitted.
        outcome: CheckoutOutcome,
    },
    /// Refund money.
    Refund {
        /// The payment.
        payment_id: PaymentId,
        /// Its resource (the partition the acknowledgement goes back to).
        resource_id: ResourceId,
        /// Idempotency key at the provider.
        refund_id: String,
        /// How much.
        amount: Money,
    },
}

impl Effect {
    /// Its kind, a bounded label: `email`, `checkout` or `refund`.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::SendEmail(_) => "email",
            Effect::SubmitCheckout { .. } => "checkout",
            Effect::Refund { .. } => "refund",
            Effect::ReconcilePayment { .. } => "reconcile",
        }
    }

    /// A one-line description for logs: ids only, never an email body (it
    /// may hold a one-time code) or an address.
    pub fn describe(&self) -> String {
        match self {
            Effect::SendEmail(e) => format!("email {}", e.id),
            Effect::SubmitCheckout { payment_id, .. } => format!("checkout of {payment_id}"),
            Effect::Refund { refund_id, .. } => format!("refund {refund_id}"),
            Effect::ReconcilePayment { payment_id, .. } => format!("reconcile {payment_id}"),
        }
    }

    /// Whether the driver performs it after the commit, once and bounded,
    /// instead of before the commit until it succeeds: the provider calls,
    /// whose retries a durable timer owns (the payment's check, for a
    /// checkout or a refund), so a provider outage never holds a
    /// partition's commits back.
    pub fn after_commit(&self) -> bool {
        matches!(
            self,
            Effect::SubmitCheckout { .. } | Effect::ReconcilePayment { .. } | Effect::Refund { .. }
        )
    }
}
