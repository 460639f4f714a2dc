//! The notification processors: turn events into emails, once each.
//!
//! An email's id is the position of the event that caused it
//! (`topic/partition/offset`): committed positions never change, so a
//! redelivery after a crash produces the same id and the mailer's idempotency
//! (outbox file name, SMTP sent-ledger) keeps it from going out twice.
//!
//! Two groups because their inputs are partitioned differently: booking events
//! by resource, identity events by email.

use crate::support;
use slotstream_domain::booking::BookingEvent;
use slotstream_domain::identity::IdentityEvent;
use slotstream_domain::{Millis, Money};
use slotstream_runtime::log::ConsumedRecord;
use slotstream_runtime::otp;
use slotstream_runtime::{Effect, Email, Output, Poison, Processor, TopicSpec, topics};
use slotstream_schemas::{Codec, Envelope};

fn email_id(record: &ConsumedRecord) -> String {
    format!("{}-{}-{}", record.topic, record.partition, record.offset)
}

/// `1250 EUR` as `12.50 EUR` (two minor digits, as for most currencies).
pub fn format_money(m: &Money) -> String {
    let sign = if m.amount < 0 { "-" } else { "" };
    let a = m.amount.unsigned_abs();
    format!("{sign}{}.{:02} {}", a / 100, a % 100, m.currency)
}

/// An instant as RFC 3339 UTC, e.g. `2026-11-24T10:00:00Z`.
pub fn format_time(t: Millis) -> String {
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.max(0) as u64);
    humantime::format_rfc3339_seconds(st).to_string()
}

/// Emails about bookings: confirmed, payment failed, hold expired, cancelled.
#[derive(Debug)]
pub struct BookingNotifications {
    codec: Codec,
}

impl BookingNotifications {
    /// A processor decoding with `codec`.
    pub fn new(codec: Codec) -> Self {
        Self { codec }
    }
}

/// The email an event deserves, if any.
fn booking_email(ev: &BookingEvent) -> Option<(String, String, String)> {
    let line = |id: &dyn std::fmt::Display, s: Millis, e: Millis| {
        format!(
            "Booking {id}\nFrom:  {}\nUntil: {}\n",
            format_time(s),
            format_time(e)
        )
    };
    match ev {
        BookingEvent::BookingConfirmed(e) => Some((
            e.user_email.clone(),
            "Your booking is confirmed".into(),
            format!(
                "Thank you! Your payment of {} went through and your booking is confirmed.\n\n{}",
                format_money(&e.amount),
                line(&e.booking_id, e.start, e.end)
            ),
        )),
        BookingEvent::BookingFailed(e) => Some((
            e.user_email.clone(),
            "Payment failed: your booking was not confirmed".into(),
            format!(
                "The payment for booking {} failed ({}), so the slot has been released.\nYou can book again at any time.\n",
                e.booking_id, e.reason
            ),
        )),
        BookingEvent::BookingExpired(e) => Some((
            e.user_email.clone(),
            "Your booking hold expired".into(),
            format!(
                "We held booking {} for you, but it was not paid in time, so the slot has been released.\n",
                e.booking_id
            ),
        )),
        BookingEvent::BookingCancelled(e) => Some((
            e.user_email.clone(),
            "Your booking is cancelled".into(),
            if e.was_paid {
                format!(
                    "Booking {} is cancelled. Refund: {} (per the cancellation policy).\n",
                    e.booking_id,
                    format_money(&e.refund)
                )
            } else {
                format!(
                    "Booking {} is cancelled. It was not paid, so nothing is refunded (refund: {}).\n",
                    e.booking_id,
                    format_money(&e.refund)
                )
            },
        )),
        _ => None,
    }
}

impl Processor for BookingNotifications {
    fn group(&self) -> &'static str {
        topics::groups::NOTIFICATION_BOOKING.name
    }
    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::NOTIFICATION_BOOKING.inputs.to_vec()
    }
    fn process(
        &mut self,
        record: &ConsumedRecord,
        _now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        let env: Envelope<BookingEvent> = support::decode(&self.codec, record)?;
        if let Some((to, subject, body)) = booking_email(&env.payload) {
            out.effects.push(Effect::SendEmail(Email {
                id: email_id(record),
                to,
                subject,
                body,
            }));
        }
        Ok(())
    }
}

/// Emails about accounts: the verification code.
pub struct IdentityNotifications {
    codec: Codec,
    otp_secret: Vec<u8>,
}

impl std::fmt::Debug for IdentityNotifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityNotifications")
            .finish_non_exhaustive()
    }
}

impl IdentityNotifications {
    /// A processor that derives codes with `otp_secret` (shared with the gateway).
    pub fn new(codec: Codec, otp_secret: Vec<u8>) -> Self {
        Self { codec, otp_secret }
    }
}

impl Processor for IdentityNotifications {
    fn group(&self) -> &'static str {
        topics::groups::NOTIFICATION_IDENTITY.name
    }
    fn inputs(&self) -> Vec<TopicSpec> {
        topics::groups::NOTIFICATION_IDENTITY.inputs.to_vec()
    }
    fn process(
        &mut self,
        record: &ConsumedRecord,
        _now: Millis,
        out: &mut Output,
    ) -> Result<(), Poison> {
        let env: Envelope<IdentityEvent> = support::decode(&self.codec, record)?;
        if let IdentityEvent::UserOTPGenerated(e) = &env.payload {
            let code = otp::code_for(&self.otp_secret, &e.otp_nonce);
            out.effects.push(Effect::SendEmail(Email {
                id: email_id(record),
                to: e.email.clone(),
                subject: format!("Your Slotstream verification code: {code}"),
                body: format!(
                    "Hello {},\n\nYour verification code is {code}\n\nIt is valid until {} and can be used once.\nIf you did not sign up for Slotstream, ignore this email.\n",
                    e.name,
                    format_time(e.expires_at)
                ),
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_time_render_for_humans() {
        assert_eq!(format_money(&Money::new(1250, "EUR")), "12.50 EUR");
        assert_eq!(format_money(&Money::new(5, "EUR")), "0.05 EUR");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_000_000_000), "2026-11-18T11:06:40Z");
    }
}
