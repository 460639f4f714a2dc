//! Side-effect ports: the mailer and the payment provider, and the [`Effect`]s
//! a processor asks the driver to perform before it commits.
//!
//! Effects run *before* the commit of the step that asked for them and are
//! retried until they succeed, so each carries an idempotency key: a crash
//! between the effect and the commit repeats the effect with the same key, and
//! the adapter makes the repeat a no-op (the outbox file of that name exists;
//! the provider has seen that refund id).

use async_trait::async_trait;
use slotstream_domain::payment::CheckoutOutcome;
use slotstream_domain::{Money, PaymentId, ResourceId};

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
    /// Refund money.
    Refund {
        /// The payment.
        payment_id: PaymentId,
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
        }
    }

    /// A one-line description for logs: ids only, never an email body (it
    /// may hold a one-time code) or an address.
    pub fn describe(&self) -> String {
        match self {
            Effect::SendEmail(e) => format!("email {}", e.id),
            Effect::SubmitCheckout { payment_id, .. } => format!("checkout of {payment_id}"),
            Effect::Refund { refund_id, .. } => format!("refund {refund_id}"),
        }
    }
}
