//! What every handler shares: the ports, the codec, the reply waiters, the
//! read-your-writes caches, limiters, token keys and metrics; and the one way
//! to write a command and wait for its answer.

use crate::config::GatewayConfig;
use crate::error::ApiError;
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::passwords::Passwords;
use crate::recent::Recent;
use crate::replies::Replies;
use crate::tokens::Tokens;
use bytes::Bytes;
use secrecy::ExposeSecret;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, CommandId, Millis, PaymentId, ResourceId};
use slotstream_runtime::views::{BookingView, LoginLockView, PaymentView, UserView};
use slotstream_runtime::{Clock, OutRecord, Producer, TopicSpec, ViewStore, trace};
use slotstream_schemas::{Codec, Contract, Envelope, ReplyPayload};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::AbortHandle;
use tracing::Instrument as _;

/// The gateway's shared state (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Bookings, payments, resources and accounts this gateway just answered.
#[derive(Debug)]
pub struct RecentWrites {
    /// Bookings by id.
    pub bookings: Recent<BookingId, BookingView>,
    /// Payments by id.
    pub payments: Recent<PaymentId, PaymentView>,
    /// Resources by id.
    pub resources: Recent<ResourceId, Resource>,
    /// Accounts by normalized email.
    pub users: Recent<String, UserView>,
    /// Login locks (and lifts) by normalized email.
    pub locks: Recent<String, LoginLockView>,
}

/// See [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// Configuration.
    pub cfg: GatewayConfig,
    /// Writes commands.
    pub producer: Arc<dyn Producer>,
    /// Read views.
    pub views: Arc<dyn ViewStore>,
    /// Reads the log directly.
    pub reader: Arc<dyn slotstream_runtime::LogReader>,
    /// The gateway's clock.
    pub clock: Arc<dyn Clock>,
    /// Record codec.
    pub codec: Codec,
    /// Reply waiters.
    pub replies: Arc<Replies>,
    /// Read-your-writes caches.
    pub recent: RecentWrites,
    /// Rate limiters.
    pub limits: Limiters,
    /// API keys lately read or written, by id.
    pub api_keys: crate::api_keys::KeyCache,
    /// Per-key quotas.
    pub quotas: crate::api_keys::Quotas,
    /// Failed-login back-off and lock-out.
    pub lockout: crate::lockout::Lockout,
    /// Access tokens.
    pub tokens: Tokens,
    /// Password hashing.
    pub passwords: Passwords,
    /// Metrics.
    pub metrics: Metrics,
    /// Background tasks, stopped when the last handle to the state goes.
    pub tasks: std::sync::Mutex<Vec<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().map(std::mem::take).unwrap_or_default();
        for t in tasks {
            t.abort();
        }
    }
}

/// What a command's wait ended with.
#[derive(Debug)]
pub enum Answer {
    /// The processor's reply, and the consistency token of its decision
    /// (none when the backend could not name a position).
    Replied(
        Arc<ReplyPayload>,
        Option<crate::consistency::ConsistencyToken>,
    ),
    /// Nothing within the wait budget: answer 202 `processing`.
    Pending,
}

impl Inner {
    /// Now, by the gateway's clock.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The OTP secret's bytes.
    pub fn otp_secret(&self) -> &[u8] {
        self.cfg.otp_secret.expose_secret().as_bytes()
    }

    /// Where `payment` is paid (the sandbox provider's page on this gateway).
    pub fn checkout_url(&self, payment: &PaymentId) -> String {
        format!("{}/v1/sandbox/checkout/{payment}", self.cfg.public_url)
    }

    fn record<T: Contract>(
        &self,
        topic: TopicSpec,
        key: &str,
        value: &T,
    ) -> Result<OutRecord, ApiError> {
        Ok(OutRecord {
            topic: topic.name,
            partition: None,
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: self
                .codec
                .encode(value)
                .map_err(|e| ApiError::internal(&e))?,
            timestamp: self.now(),
            headers: slotstream_runtime::Headers::new(),
        })
    }

    /// Appends `payload` to `topic` keyed by `key`, without waiting for any
    /// reply; resolves once the record is durable.
    pub async fn send<C>(
        &self,
        topic: TopicSpec,
        key: &str,
        payload: C,
        reply_to: Option<String>,
    ) -> Result<(), ApiError>
    where
        Envelope<C>: Contract,
    {
        let env = Envelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: self.now(),
            reply_to,
            payload,
        };
        let mut rec = self.record(topic, key, &env)?;
        // The command carries the request's trace onward (nothing when
        // spans are off: the span is disabled and no header is written).
        let span = tracing::info_span!(
            target: trace::TARGET,
            "send",
            otel.name = %format_args!("send {}", topic.name),
            otel.kind = "producer",
            messaging.system = "kafka",
            messaging.operation.type = "send",
            messaging.destination.name = topic.name,
        );
        trace::inject(&span, &mut rec.headers);
        self.producer
            .send(vec![rec])
            .instrument(span)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        Ok(())
    }

    /// Writes a command and waits up to the wait budget for its reply.
    pub async fn ask<C>(
        &self,
        command: &'static str,
        topic: TopicSpec,
        key: &str,
        command_id: &CommandId,
        payload: C,
    ) -> Result<Answer, ApiError>
    where
        Envelope<C>: Contract,
    {
        let started = Instant::now();
        // Registered before sending: the reply cannot slip past us.
        let waiter = self.replies.register(command_id.as_str());
        self.send(topic, key, payload, Some(self.cfg.gateway_id.clone()))
            .await?;
        let budget = self.cfg.wait_budget.saturating_sub(started.elapsed());
        let reply = waiter.wait(budget).await;
        self.metrics
            .reply_wait(command, reply.is_some(), started.elapsed().as_secs_f64());
        Ok(match reply {
            Some((r, token)) => Answer::Replied(r, token),
            None => {
                self.metrics.decision(command, "timeout");
                Answer::Pending
            }
        })
    }

    /// A resource: remembered ones first (a resource changes only by a
    /// schedule change, remembered here when this gateway answers it; one
    /// made through another gateway shows once the copy expires), then the
    /// view.
    pub async fn resource(&self, id: &ResourceId) -> Result<Option<Resource>, ApiError> {
        let now = self.now();
        if let Some(r) = self.recent.resources.get(id, now) {
            return Ok(Some(r));
        }
        let found = self
            .views
            .resource(id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        if let Some(r) = &found {
            self.recent.resources.put(id.clone(), r.clone(), now);
        }
        Ok(found)
    }

    /// A resource for a read: with a consistency token, the view's row (a
    /// remembered copy may be older than the write the token names; the
    /// fresh row replaces it), else [`Inner::resource`].
    pub async fn resource_for(
        &self,
        id: &ResourceId,
        read: &crate::consistency::ReadAfter,
    ) -> Result<Option<Resource>, ApiError> {
        if read.0.is_none() {
            return self.resource(id).await;
        }
        let found = self
            .views
            .resource(id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        if let Some(r) = &found {
            self.recent.resources.put(id.clone(), r.clone(), self.now());
        }
        Ok(found)
    }

    /// A booking: the newer of the view's row and the one just answered
    /// ([`newer_booking`]).
    pub async fn booking(&self, id: &BookingId) -> Result<Option<BookingView>, ApiError> {
        let view = self
            .views
            .booking(id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let mine = self.recent.bookings.get(id, self.now());
        Ok(newer_booking(view, mine))
    }

    /// A payment: of the view's row and the one just answered, the one
    /// further along its lifecycle. (Timestamps can't decide it: a provider
    /// reports outcomes on its own clock, in whole seconds.)
    pub async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentView>, ApiError> {
        let view = self
            .views
            .payment(id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        Ok(self.newer_payment(id, view))
    }

    /// The newer of a payment's view row (already read) and this gateway's
    /// memory of it.
    pub fn newer_payment(&self, id: &PaymentId, view: Option<PaymentView>) -> Option<PaymentView> {
        let mine = self.recent.payments.get(id, self.now());
        match (view, mine) {
            (Some(v), Some(m)) if progress(m.status) > progress(v.status) => Some(m),
            (Some(v), _) => Some(v),
            (None, m) => m,
        }
    }

    /// An account by normalized email; a verification this gateway just
    /// answered wins over a view that has not caught up.
    pub async fn user(&self, email: &str) -> Result<Option<UserView>, ApiError> {
        let view = self
            .views
            .user_by_email(email)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let mine = self.recent.users.get(&email.to_owned(), self.now());
        Ok(match (view, mine) {
            (Some(v), Some(m)) if m.verified && !v.verified && m.user_id == v.user_id => Some(m),
            (Some(v), Some(m)) if m.created_at > v.created_at => Some(m),
            (Some(v), _) => Some(v),
            (None, m) => m,
        })
    }
}

impl Inner {
    /// The login lock of a normalized email: the view's row, or the lock or
    /// lift this gateway just answered when the view has not caught up (a
    /// later lock ends later; a lift of the same lock beats the lock).
    pub async fn login_lock(&self, email: &str) -> Result<Option<LoginLockView>, ApiError> {
        let view = self
            .views
            .login_lock(email)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        let mine = self.recent.locks.get(&email.to_owned(), self.now());
        let order = |l: &LoginLockView| (l.locked_until, l.unlocked_at.is_some());
        Ok(match (view, mine) {
            (Some(v), Some(m)) if order(&m) > order(&v) => Some(m),
            (Some(v), _) => Some(v),
            (None, m) => m,
        })
    }
}

impl Inner {
    /// The stored row of an API key: this gateway's copy while fresh, else
    /// the view's (then kept).
    pub async fn api_key(
        &self,
        key_id: &str,
    ) -> Result<Option<slotstream_runtime::ApiKeyView>, ApiError> {
        if let Some(k) = self.api_keys.get(key_id) {
            return Ok(Some(k));
        }
        let found = self
            .views
            .api_key(key_id)
            .await
            .map_err(|e| ApiError::unavailable(&e))?;
        if let Some(k) = &found {
            self.api_keys.put(k.clone());
        }
        // A revocation this gateway read from the log before the view did.
        Ok(found.map(|k| self.api_keys.overlay(k)))
    }
}

/// How far along its lifecycle a payment status is; a row never goes back.
fn progress(s: slotstream_domain::payment::PaymentStatus) -> u8 {
    use slotstream_domain::payment::PaymentStatus as S;
    match s {
        S::RequiresPayment => 0,
        S::Processing => 1,
        // The same step as processing: a row may show either while the
        // provider is asked, never going back to requires_payment.
        S::Unknown => 1,
        S::Succeeded | S::Failed | S::Canceled => 2,
        S::PartiallyRefunded => 3,
        S::Refunded => 4,
    }
}

/// Of a booking's view row and this gateway's memory of it, the newer: by
/// `updated_at`, except that a move this gateway answered and the view does
/// not show yet (its row has more moves) keeps its interval and lineage
/// whatever the timestamps say (a confirmation is stamped with the
/// provider's instant, which can be later than the move's).
pub fn newer_booking(view: Option<BookingView>, mine: Option<BookingView>) -> Option<BookingView> {
    match (view, mine) {
        (Some(v), Some(m)) if m.reschedules.len() > v.reschedules.len() => {
            let (start, end, moves) = (m.start, m.end, m.reschedules.clone());
            let mut newer = if m.updated_at > v.updated_at { m } else { v };
            (newer.start, newer.end, newer.reschedules) = (start, end, moves);
            Some(newer)
        }
        (Some(v), Some(m)) if m.updated_at > v.updated_at => Some(m),
        (Some(v), _) => Some(v),
        (None, m) => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slotstream_domain::booking::BookingStatus;
    use slotstream_domain::{Money, PaymentId, ResourceId, UserId};
    use slotstream_runtime::RescheduleView;

    fn row(status: BookingStatus, updated_at: i64) -> BookingView {
        BookingView {
            id: BookingId::new("b"),
            resource_id: ResourceId::new("r"),
            vendor_id: UserId::new("v"),
            user_id: UserId::new("u"),
            start: 100,
            end: 200,
            status,
            amount: Money::new(1, "EUR"),
            hold_expires_at: 50,
            payment_id: PaymentId::new("p"),
            refund: None,
            created_at: 1,
            updated_at,
            reschedules: Vec::new(),
        }
    }

    #[test]
    fn a_move_the_view_does_not_show_yet_wins_over_a_later_stamped_row() {
        // The view: confirmed at the provider's (later) instant, not moved.
        let view = row(BookingStatus::Confirmed, 30);
        // This gateway's answer to the move, stamped earlier.
        let mut mine = row(BookingStatus::Confirmed, 20);
        mine.moved(&RescheduleView {
            from_start: 100,
            from_end: 200,
            to_start: 300,
            to_end: 400,
            by: UserId::new("u"),
            at: 20,
        });
        let got = newer_booking(Some(view.clone()), Some(mine.clone())).unwrap();
        assert_eq!((got.start, got.end, got.updated_at), (300, 400, 30));
        assert_eq!(got.reschedules, mine.reschedules);
        // Once the view shows the move, it decides by time again.
        let mut caught_up = view.clone();
        caught_up.moved(&mine.reschedules[0]);
        let got = newer_booking(Some(caught_up.clone()), Some(mine.clone())).unwrap();
        assert_eq!(got, caught_up);
        // Without moves: the later row.
        let newer = row(BookingStatus::Cancelled, 40);
        assert_eq!(
            newer_booking(Some(view.clone()), Some(newer.clone())),
            Some(newer)
        );
        assert_eq!(
            newer_booking(Some(view.clone()), Some(row(BookingStatus::Pending, 10))),
            Some(view)
        );
        assert_eq!(newer_booking(None, None), None);
    }
}
