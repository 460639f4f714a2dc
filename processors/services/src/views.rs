//! The views processors: project events into the read views the gateway's
//! GETs serve. They are the only writers of the views; the views can always be
//! rebuilt by replaying the topics from offset 0 (reset the group's offsets).
//!
//! Booking and payment events share a partitioning (by resource), identity
//! events have their own, hence two groups.

use crate::{events, support};
use slotstream_domain::Millis;
use slotstream_domain::booking::{BookingEvent, BookingStatus};
use slotstream_domain::identity::IdentityEvent;
use slotstream_domain::payment::{PaymentEvent, PaymentStatus};
use slotstream_runtime::log::ConsumedRecord;
use slotstream_runtime::views::{
    ApiKeyView, BookingView, LoginLockView, PaymentView, RescheduleView, UserView, WebhookView,
};
use slotstream_runtime::{Output, Poison, Processor, TopicSpec, ViewWrite, topics};
use slotstream_schemas::{Codec, Envelope};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The positions a views batch applied, written last in its commit
/// ([`ViewWrite::Applied`]): what consistency tokens wait for.
#[derive(Debug, Default)]
struct Applied(BTreeMap<(Arc<str>, u32), u64>);

impl Applied {
    fn note(&mut self, record: &ConsumedRecord) {
        self.0
            .insert((record.topic.clone(), record.partition), record.offset + 1);
    }

    fn flush(&mut self, out: &mut Output) {
        for ((topic, partition), next) in std::mem::take(&mut self.0) {
            out.views.push(ViewWrite::Applied {
                topic: topic.to_string(),
                partition,
                next,
            });
        }
    }
}

/// Projects booking and payment events.
#[derive(Debug)]
pub struct BookingViews {
    codec: Codec,
    applied: Applied,
}

impl BookingViews {
    /// A processor decoding with `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            applied: Applied::default(),
        }
    }
}

fn patch(id: &slotstream_domain::BookingId, status: BookingStatus, at: Millis) -> ViewWrite {
    ViewWrite::PatchBooking {
        id: id.clone(),
        status,
        refund: None,
        updated_at: at,
    }
}

/// View writes for one booking event.
pub fn booking_writes(ev: &BookingEvent) -> Vec<ViewWrite> {
    match ev {
        BookingEvent::ResourceRegistered(e) => vec![ViewWrite::PutResource(e.resource.clone())],
        // The whole resource as the change left it: an upsert, so a
        // redelivery rewrites the same row.
        BookingEvent::ResourceScheduleChanged(e) => {
            vec![ViewWrite::PutResource(e.updated.clone())]
        }
        BookingEvent::BookingHeld(e) => vec![ViewWrite::PutBooking(BookingView::held(e))],
        BookingEvent::BookingConfirmed(e) => vec![patch(
            &e.booking_id,
            BookingStatus::Confirmed,
            e.confirmed_at,
        )],
        BookingEvent::BookingFailed(e) => {
            vec![patch(&e.booking_id, BookingStatus::Failed, e.failed_at)]
        }
        BookingEvent::BookingExpired(e) => {
            vec![patch(&e.booking_id, BookingStatus::Expired, e.expired_at)]
        }
        BookingEvent::BookingCancelled(e) => vec![ViewWrite::PatchBooking {
            id: e.booking_id.clone(),
            status: BookingStatus::Cancelled,
            refund: Some(e.refund.clone()),
            updated_at: e.cancelled_at,
        }],
        BookingEvent::BookingRescheduled(e) => vec![ViewWrite::MoveBooking {
            id: e.booking_id.clone(),
            moved: RescheduleView::of(e),
            updated_at: e.rescheduled_at,
        }],
        // A booking whose payment started, or became unknown, still shows
        // `pending`; its public `hold_expires_at` does not move.
        BookingEvent::BookingRejected(_)
        | BookingEvent::CancellationRejected(_)
        | BookingEvent::PaymentOrphaned(_)
        | BookingEvent::BookingPaymentStarted(_)
        | BookingEvent::BookingPaymentDelayed(_) => Vec::new(),
    }
}

fn pay(
    id: &slotstream_domain::PaymentId,
    status: PaymentStatus,
    refunded: Option<i64>,
    at: Millis,
) -> ViewWrite {
    ViewWrite::PatchPayment {
        id: id.clone(),
        status,
        refunded_amount: refunded,
        updated_at: at,
    }
}

/// View writes for one payment event.
pub fn payment_writes(ev: &PaymentEvent) -> Vec<ViewWrite> {
    match ev {
        PaymentEvent::PaymentIntentCreated(e) => {
            vec![ViewWrite::PutPayment(PaymentView::intent(e))]
        }
        PaymentEvent::CheckoutSubmitted(e) => vec![pay(
            &e.payment_id,
            PaymentStatus::Processing,
            None,
            e.submitted_at,
        )],
        PaymentEvent::PaymentCompleted(e) => vec![pay(
            &e.payment_id,
            PaymentStatus::Succeeded,
            None,
            e.completed_at,
        )],
        PaymentEvent::PaymentFailed(e) => {
            vec![pay(&e.payment_id, PaymentStatus::Failed, None, e.failed_at)]
        }
        PaymentEvent::PaymentCanceled(e) => vec![pay(
            &e.payment_id,
            PaymentStatus::Canceled,
            None,
            e.canceled_at,
        )],
        PaymentEvent::PaymentRefunded(e) => vec![pay(
            &e.payment_id,
            e.status,
            Some(e.refunded_total.amount),
            e.refunded_at,
        )],
        // The first ask makes the payment `unknown`; later asks change
        // nothing a reader sees.
        PaymentEvent::PaymentStatusUnknown(e) if e.attempt <= 1 => vec![pay(
            &e.payment_id,
            PaymentStatus::Unknown,
            None,
            e.checked_at,
        )],
        PaymentEvent::CheckoutRejected(_)
        | PaymentEvent::PaymentStatusUnknown(_)
        | PaymentEvent::RefundUnconfirmed(_)
        | PaymentEvent::RefundConfirmed(_)
        // The booking view shows the move (`BookingRescheduled`).
        | PaymentEvent::PaymentBookingRescheduled(_) => Vec::new(),
    }
}

impl Processor for BookingViews {
    fn group(&self) -> &'static str {
        topics::groups::VIEWS_BOOKING.name
    }
    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::VIEWS_BOOKING.inputs.to_vec()
    }
    fn process(
        &mut self,
        record: &ConsumedRecord,
        _now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        // A record that does not decode is dead-lettered and skipped: the
        // views have applied it as much as they ever will.
        self.applied.note(record);
        if &*record.topic == topics::BOOKING_EVENTS.name {
            let env: Envelope<BookingEvent> = support::decode(&self.codec, record)?;
            out.views.extend(booking_writes(&env.payload));
            out.views
                .extend(events::booking_event(&env.payload, record).map(ViewWrite::PutEvent));
        } else {
            let env: Envelope<PaymentEvent> = support::decode(&self.codec, record)?;
            out.views.extend(payment_writes(&env.payload));
            out.views
                .extend(events::payment_event(&env.payload, record).map(ViewWrite::PutEvent));
        }
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output) {
        self.applied.flush(out);
    }
}

/// Projects identity events into the users, login-locks and API-keys views
/// (login reads the first two, every key-authenticated request the third).
#[derive(Debug)]
pub struct IdentityViews {
    codec: Codec,
    applied: Applied,
}

impl IdentityViews {
    /// A processor decoding with `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            applied: Applied::default(),
        }
    }
}

impl Processor for IdentityViews {
    fn group(&self) -> &'static str {
        topics::groups::VIEWS_IDENTITY.name
    }
    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::VIEWS_IDENTITY.inputs.to_vec()
    }
    fn process(
        &mut self,
        record: &ConsumedRecord,
        _now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        self.applied.note(record);
        let env: Envelope<IdentityEvent> = support::decode(&self.codec, record)?;
        match env.payload {
            IdentityEvent::UserRegistered(e) => {
                out.views.push(ViewWrite::PutUser(UserView::registered(&e)))
            }
            IdentityEvent::EmailVerified(e) => {
                out.views.push(ViewWrite::MarkVerified { email: e.email })
            }
            IdentityEvent::AccountLocked(e) => {
                out.views.push(ViewWrite::PutLoginLock(LoginLockView {
                    email: e.email,
                    locked_until: e.locked_until,
                    unlocked_at: None,
                }))
            }
            IdentityEvent::AccountUnlocked(e) => out.views.push(ViewWrite::LiftLoginLock {
                email: e.email,
                unlocked_at: e.unlocked_at,
            }),
            IdentityEvent::ApiKeyCreated(e) => out
                .views
                .push(ViewWrite::PutApiKey(ApiKeyView::created(&e))),
            IdentityEvent::ApiKeyRevoked(e) => out.views.push(ViewWrite::RevokeApiKey {
                key_id: e.key_id,
                owner_id: e.owner_id,
                revoked_at: e.revoked_at,
            }),
            IdentityEvent::WebhookCreated(e) => out
                .views
                .push(ViewWrite::PutWebhook(WebhookView::created(&e))),
            IdentityEvent::WebhookDeleted(e) => out.views.push(ViewWrite::DeleteWebhook {
                owner_id: e.owner_id,
                webhook_id: e.webhook_id,
            }),
            _ => {}
        }
        Ok(())
    }

    fn before_commit(&mut self, out: &mut Output) {
        self.applied.flush(out);
    }
}
