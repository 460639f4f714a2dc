//! How events change a booking partition. `apply` is the only mutation on the
//! live path; it trusts that `decide` only emitted legal events.

use super::messages::*;
use super::model::{Booking, Reschedule};
use super::partition::{BookingPartition, StoredAnswer};
use super::transitions::{BookingEventKind, next_status};
use crate::ids::{BookingId, CommandId};
use crate::state::StateKey;
use crate::time::{Interval, Millis};

impl BookingPartition {
    /// Applies one event; returns the keys whose stored record changed.
    pub fn apply(&mut self, ev: &BookingEvent) -> Vec<StateKey> {
        let mut keys = Vec::with_capacity(2);
        match ev {
            BookingEvent::ResourceRegistered(e) => {
                if !self.resources.contains_key(&e.resource.id) {
                    self.put_resource(e.resource.clone());
                    keys.push(StateKey::Resource(e.resource.id.clone()));
                }
                self.file(
                    &e.command_id,
                    "",
                    e.resource.created_at,
                    ev,
                    None,
                    &mut keys,
                );
            }
            BookingEvent::BookingHeld(e) => {
                let slot = self.hold(e);
                keys.push(StateKey::Booking(e.booking_id.clone()));
                self.file(
                    &e.command_id,
                    &e.request_hash,
                    e.held_at,
                    ev,
                    slot,
                    &mut keys,
                );
            }
            BookingEvent::BookingRejected(e) => {
                // A key-reuse rejection answers the retry only; the ledger
                // keeps the first answer.
                if e.reason != RejectionReason::IdempotencyKeyReused {
                    self.file(
                        &e.command_id,
                        &e.request_hash,
                        e.rejected_at,
                        ev,
                        None,
                        &mut keys,
                    );
                }
            }
            BookingEvent::BookingConfirmed(e) => {
                self.advance(
                    &e.booking_id,
                    BookingEventKind::Confirmed,
                    e.confirmed_at,
                    &mut keys,
                );
            }
            BookingEvent::BookingFailed(e) => {
                self.advance(
                    &e.booking_id,
                    BookingEventKind::Failed,
                    e.failed_at,
                    &mut keys,
                );
            }
            BookingEvent::BookingExpired(e) => {
                self.advance(
                    &e.booking_id,
                    BookingEventKind::Expired,
                    e.expired_at,
                    &mut keys,
                );
            }
            BookingEvent::BookingCancelled(e) => {
                self.advance(
                    &e.booking_id,
                    BookingEventKind::Cancelled,
                    e.cancelled_at,
                    &mut keys,
                );
                self.file(&e.command_id, "", e.cancelled_at, ev, None, &mut keys);
            }
            BookingEvent::CancellationRejected(e) => {
                self.file(&e.command_id, "", e.rejected_at, ev, None, &mut keys);
            }
            // Informs the payment side; the booking itself does not change.
            BookingEvent::PaymentOrphaned(_) => {}
            BookingEvent::BookingPaymentStarted(e) => self.start_payment(e, &mut keys),
            BookingEvent::BookingPaymentDelayed(e) => self.delay_payment(e, &mut keys),
            BookingEvent::ResourceScheduleChanged(e) => {
                if self.resources.contains_key(&e.updated.id) {
                    self.put_resource(e.updated.clone());
                    keys.push(StateKey::Resource(e.updated.id.clone()));
                }
                self.file(&e.command_id, "", e.changed_at, ev, None, &mut keys);
            }
            BookingEvent::BookingRescheduled(e) => {
                self.reschedule(e, &mut keys);
                self.file(
                    &e.command_id,
                    &e.request_hash,
                    e.rescheduled_at,
                    ev,
                    None,
                    &mut keys,
                );
            }
        }
        keys
    }

    /// Moves an active booking to its new interval: out of every index
    /// under the old interval, back in under the new one, in this one
    /// step (never both held, never neither). Its status, hold and payment
    /// stay; the old interval joins its lineage.
    fn reschedule(&mut self, e: &BookingRescheduled, keys: &mut Vec<StateKey>) {
        let Some(slot) = self.by_id.get(&e.booking_id).copied() else {
            debug_assert!(
                false,
                "BookingRescheduled for unknown booking {}",
                e.booking_id
            );
            return;
        };
        let from = Interval::new(e.previous_start, e.previous_end);
        let movable = self
            .slot(slot)
            .is_some_and(|b| b.status.is_active() && b.interval == from);
        debug_assert!(
            movable,
            "BookingRescheduled for {} out of turn",
            e.booking_id
        );
        if !movable {
            return;
        }
        self.unindex(slot);
        if let Some(b) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            b.interval = Interval::new(e.start, e.end);
            b.updated_at = e.rescheduled_at;
            b.reschedules.push(Reschedule {
                from,
                by: e.rescheduled_by.clone(),
                at: e.rescheduled_at,
            });
        }
        self.index(slot);
        keys.push(StateKey::Booking(e.booking_id.clone()));
    }

    /// Creates the booking a hold describes; its slot, or `None` if a
    /// booking with that id already existed (a bug upstream: ignored).
    fn hold(&mut self, e: &BookingHeld) -> Option<usize> {
        let exists = self.by_id.contains_key(&e.booking_id);
        debug_assert!(
            !exists,
            "BookingHeld for an existing booking {}",
            e.booking_id
        );
        if exists {
            return None;
        }
        let slot = self.insert(Booking {
            id: e.booking_id.clone(),
            resource_id: e.resource_id.clone(),
            vendor_id: e.vendor_id.clone(),
            user_id: e.user_id.clone(),
            user_email: e.user_email.clone(),
            interval: Interval::new(e.start, e.end),
            status: BookingStatus::Pending,
            amount: e.amount.clone(),
            payment_id: e.payment_id.clone(),
            hold_expires_at: e.hold_expires_at,
            created_at: e.held_at,
            updated_at: e.held_at,
            pay_by: None,
            reschedules: Vec::new(),
        });
        Some(slot)
    }

    /// Moves a pending booking's release to `pay_by`: a checkout submitted
    /// inside its hold was seen. Its status does not change.
    fn start_payment(&mut self, e: &BookingPaymentStarted, keys: &mut Vec<StateKey>) {
        let Some(slot) = self.by_id.get(&e.booking_id).copied() else {
            debug_assert!(
                false,
                "BookingPaymentStarted for unknown booking {}",
                e.booking_id
            );
            return;
        };
        let pending = self
            .slot(slot)
            .is_some_and(|b| b.status == BookingStatus::Pending && b.pay_by.is_none());
        debug_assert!(
            pending,
            "BookingPaymentStarted for {} out of turn",
            e.booking_id
        );
        if !pending {
            return;
        }
        self.unindex(slot);
        if let Some(b) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            b.pay_by = Some(e.pay_by);
        }
        self.index(slot);
        keys.push(StateKey::Booking(e.booking_id.clone()));
    }

    /// Moves a pending booking's release later, to `held_until`: its
    /// payment is unknown. Its status does not change.
    fn delay_payment(&mut self, e: &BookingPaymentDelayed, keys: &mut Vec<StateKey>) {
        let Some(slot) = self.by_id.get(&e.booking_id).copied() else {
            debug_assert!(
                false,
                "BookingPaymentDelayed for unknown booking {}",
                e.booking_id
            );
            return;
        };
        let later = self.slot(slot).is_some_and(|b| {
            b.status == BookingStatus::Pending && b.pay_by.is_some_and(|p| p < e.held_until)
        });
        debug_assert!(
            later,
            "BookingPaymentDelayed for {} out of turn",
            e.booking_id
        );
        if !later {
            return;
        }
        self.unindex(slot);
        if let Some(b) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            b.pay_by = Some(e.held_until);
        }
        self.index(slot);
        keys.push(StateKey::Booking(e.booking_id.clone()));
    }

    /// Moves a booking along the transition table; leaving `Pending` drops
    /// its hold, reaching a final state frees its slot at once, and its
    /// settle instant follows its new status.
    fn advance(
        &mut self,
        id: &BookingId,
        kind: BookingEventKind,
        at: Millis,
        keys: &mut Vec<StateKey>,
    ) {
        let found = self.by_id.get(id).copied();
        let Some((slot, from)) = found.and_then(|slot| self.slot(slot).map(|b| (slot, b.status)))
        else {
            debug_assert!(found.is_some(), "{kind:?} for unknown booking {id}");
            return;
        };
        let Some(to) = next_status(from, kind) else {
            debug_assert!(
                next_status(from, kind).is_some(),
                "illegal transition {from:?} --{kind:?}--> for {id}"
            );
            return;
        };
        // Out of every index under the old fields, back in under the new:
        // the hold goes when it leaves `Pending`, the slot when it reaches a
        // final state, and its settle instant moves with status and time.
        self.unindex(slot);
        if let Some(b) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            b.status = to;
            b.updated_at = at;
        }
        self.index(slot);
        keys.push(StateKey::Booking(id.clone()));
    }

    /// Files the first answer to a command with its request hash (empty for
    /// commands without a body hash: any retry replays). A hold is filed as a
    /// reference to the booking it created (`held`).
    fn file(
        &mut self,
        id: &CommandId,
        request_hash: &str,
        at: Millis,
        ev: &BookingEvent,
        held: Option<usize>,
        keys: &mut Vec<StateKey>,
    ) {
        let filed = self.ledger.file(id, at, || {
            let hash = request_hash.to_owned();
            let answer = match held {
                Some(slot) => StoredAnswer::Held(slot),
                None => StoredAnswer::Event(Box::new(ev.clone())),
            };
            (hash, answer)
        });
        keys.extend(filed);
    }
}
