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
use slotstream_domain::identity::{AccountLocked, IdentityEvent};
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

/// Emails about bookings: confirmed, payment failed, hold expired, cancelled,
/// rescheduled, and the payment being confirmed (its outcome is unknown for
/// now).
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
        BookingEvent::BookingPaymentDelayed(e) => Some((
            e.user_email.clone(),
            "We are confirming your payment".into(),
            format!(
                "You paid for booking {} in time, and we are confirming the payment with the payment provider, which has not answered yet.\nYour slot stays reserved for you meanwhile, until {}. You will get another email as soon as we know: nothing more to do on your side, and you will not be charged twice.\n",
                e.booking_id,
                format_time(e.held_until)
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
        BookingEvent::BookingRescheduled(e) => Some((
            e.user_email.clone(),
            "Your booking was rescheduled".into(),
            format!(
                "Your booking has moved to a new time; the previous one is released.\n\n{}Before: {} to {}\n",
                line(&e.booking_id, e.start, e.end),
                format_time(e.previous_start),
                format_time(e.previous_end)
            ),
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

/// Emails about accounts: the verification code, and the notice of a login
/// lock with its unlock code (to a verified owner only: a lock of an address
/// without a verified account emails nobody).
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
        let email = match &env.payload {
            IdentityEvent::UserOTPGenerated(e) => {
                let code = otp::code_for(&self.otp_secret, &e.otp_nonce);
                Some(Email {
                    id: email_id(record),
                    to: e.email.clone(),
                    subject: format!("Your Slotstream verification code: {code}"),
                    body: format!(
                        "Hello {},\n\nYour verification code is {code}\n\nIt is valid until {} and can be used once.\nIf you did not sign up for Slotstream, ignore this email.\n",
                        e.name,
                        format_time(e.expires_at)
                    ),
                })
            }
            IdentityEvent::AccountLocked(e) if e.user_id.is_some() => Some(Email {
                id: email_id(record),
                to: e.email.clone(),
                subject: "Your Slotstream account is locked after failed sign-ins".into(),
                body: lock_notice(e, &otp::code_for(&self.otp_secret, &e.unlock_nonce)),
            }),
            _ => None,
        };
        out.effects.extend(email.map(Effect::SendEmail));
        Ok(())
    }
}

/// The body of a lock notice carrying the unlock `code`.
fn lock_notice(e: &AccountLocked, code: &str) -> String {
    format!(
        "Hello {name},\n\n\
         Someone failed to sign in to your Slotstream account {n} times in a row, so it is \
         locked until {until}: nobody can sign in before then, not even with the right password.\n\n\
         If this was you, unlock it now with this code: {code}\n\
         (POST /v1/auth/unlock with your email address and the code. It works until the lock \
         lifts; five wrong codes burn it.)\n\n\
         If this was not you, someone may be trying to guess your password: consider changing \
         it to a long one that you use nowhere else.\n",
        name = e.name.as_deref().unwrap_or("there"),
        n = e.failed_attempts,
        until = format_time(e.locked_until),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use slotstream_domain::identity::LockReason;

    fn lock_record(user: Option<&str>) -> ConsumedRecord {
        let codec = Codec::embedded();
        let ev = IdentityEvent::AccountLocked(AccountLocked {
            command_id: "lock-1".into(),
            email: "ann@example.com".into(),
            user_id: user.map(Into::into),
            name: user.map(|_| "Ann".to_owned()),
            reason: LockReason::FailedLogins,
            failed_attempts: 50,
            unlock_nonce: "nonce-1".into(),
            unlock_code_hash: "hash".into(),
            locked_until: 1_795_000_000_000,
            locked_at: 1_794_999_100_000,
        });
        ConsumedRecord {
            topic: topics::IDENTITY_EVENTS.name.into(),
            partition: 3,
            offset: 7,
            key: "ann@example.com".into(),
            value: codec.encode(&support::envelope(ev, 0)).expect("encodes"),
            timestamp: 0,
            headers: slotstream_runtime::Headers::new(),
        }
    }

    #[test]
    fn a_lock_of_a_verified_account_mails_its_owner_the_unlock_code_once() {
        let mut p = IdentityNotifications::new(Codec::embedded(), b"secret".to_vec());
        let mut out = Output::default();
        p.process(&lock_record(Some("u1")), 0, &mut out)
            .expect("processes");
        let [Effect::SendEmail(mail)] = out.effects.as_slice() else {
            panic!("one email: {:?}", out.effects)
        };
        let code = otp::code_for(b"secret", "nonce-1");
        assert_eq!(mail.to, "ann@example.com");
        assert_eq!(mail.id, "slotstream.identity-events-3-7", "by position");
        assert!(mail.subject.contains("locked"), "{}", mail.subject);
        for part in [
            "Hello Ann",
            "50 times",
            "2026-11-18T11:06:40Z",
            code.as_str(),
            "/v1/auth/unlock",
            "changing",
        ] {
            assert!(mail.body.contains(part), "{part:?} in {}", mail.body);
        }
    }

    #[test]
    fn a_lock_of_an_address_without_a_verified_account_mails_nobody() {
        let mut p = IdentityNotifications::new(Codec::embedded(), b"secret".to_vec());
        let mut out = Output::default();
        p.process(&lock_record(None), 0, &mut out)
            .expect("processes");
        assert!(out.effects.is_empty(), "{:?}", out.effects);
    }

    #[test]
    fn a_reschedule_mails_the_new_and_the_previous_interval() {
        use slotstream_domain::booking::BookingRescheduled;
        let ev = BookingEvent::BookingRescheduled(BookingRescheduled {
            command_id: "c".into(),
            request_hash: "h".into(),
            booking_id: "bk_1".into(),
            resource_id: "res_1".into(),
            user_id: "usr_1".into(),
            user_email: "ann@example.com".into(),
            previous_start: 1_800_000_000_000,
            previous_end: 1_800_003_600_000,
            start: 1_800_086_400_000,
            end: 1_800_090_000_000,
            rescheduled_by: "usr_1".into(),
            rescheduled_at: 1_700_000_000_000,
        });
        let (to, subject, body) = booking_email(&ev).expect("an email");
        assert_eq!(to, "ann@example.com");
        assert_eq!(subject, "Your booking was rescheduled");
        assert!(
            body.contains(
                "Booking bk_1\nFrom:  2027-01-16T08:00:00Z\nUntil: 2027-01-16T09:00:00Z\n"
            ),
            "{body}"
        );
        assert!(
            body.contains("Before: 2027-01-15T08:00:00Z to 2027-01-15T09:00:00Z"),
            "{body}"
        );
    }

    #[test]
    fn money_and_time_render_for_humans() {
        assert_eq!(format_money(&Money::new(1250, "EUR")), "12.50 EUR");
        assert_eq!(format_money(&Money::new(5, "EUR")), "0.05 EUR");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_795_000_000_000), "2026-11-18T11:06:40Z");
    }
}
