//! The payment model's reference: plain vectors and linear scans, written
//! from the public contract.
//!
//! At every eviction instant it drops the answers older than the ledger
//! window and moves every settled payment to `evicted`; afterwards it treats
//! that payment as one it never knew.

use slotstream_domain::payment::{
    ANSWER_WAIT, CheckoutRejectionReason, MAX_CHECK_INTERVAL, PROVIDER_LATE_WINDOW, PaymentEvent,
    PaymentStatus, QUIET_PERIOD,
};
use slotstream_domain::time::HOUR;
use slotstream_domain::{COMMAND_RETENTION, Millis};

/// How late the model lets a refund decided on the booking side reach the
/// payment side: a paid cancellation decided just before the booking's
/// start, or an orphan answered one round trip after the completion. A
/// payment that such a refund may still reach must not be evicted; the
/// rules promise a quiet period, longer than this.
pub const MAX_LAG: Millis = 24 * HOUR;

/// What a decision or reaction amounted to, as both sides describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Created,
    Submitted,
    Rejected(CheckoutRejectionReason),
    Completed,
    Failed,
    Canceled,
    Refunded {
        amount: i64,
        total: i64,
        status: PaymentStatus,
        refund_id: String,
    },
    /// The provider was asked (the `attempt`-th time) what became of it.
    Unknown {
        attempt: u32,
    },
    /// A refund was handed to the provider again (the `attempt`-th ask).
    RefundUnconfirmed {
        refund_id: String,
        attempt: u32,
    },
    /// The provider acknowledged the refund.
    RefundConfirmed {
        refund_id: String,
    },
    /// The payment learnt its booking's new start.
    Moved {
        start: Millis,
    },
}

pub fn kind(ev: &PaymentEvent) -> Kind {
    match ev {
        PaymentEvent::PaymentIntentCreated(_) => Kind::Created,
        PaymentEvent::CheckoutSubmitted(_) => Kind::Submitted,
        PaymentEvent::CheckoutRejected(r) => Kind::Rejected(r.reason),
        PaymentEvent::PaymentCompleted(_) => Kind::Completed,
        PaymentEvent::PaymentFailed(_) => Kind::Failed,
        PaymentEvent::PaymentCanceled(_) => Kind::Canceled,
        PaymentEvent::PaymentRefunded(r) => Kind::Refunded {
            amount: r.amount.amount,
            total: r.refunded_total.amount,
            status: r.status,
            refund_id: r.refund_id.clone(),
        },
        PaymentEvent::PaymentStatusUnknown(u) => Kind::Unknown { attempt: u.attempt },
        PaymentEvent::RefundUnconfirmed(r) => Kind::RefundUnconfirmed {
            refund_id: r.refund_id.clone(),
            attempt: r.attempt,
        },
        PaymentEvent::RefundConfirmed(r) => Kind::RefundConfirmed {
            refund_id: r.refund_id.clone(),
        },
        PaymentEvent::PaymentBookingRescheduled(m) => Kind::Moved {
            start: m.booking_start,
        },
    }
}

#[derive(Clone, Debug)]
pub struct RefPayment {
    pub n: usize,
    pub amount: i64,
    pub status: PaymentStatus,
    pub refunded: i64,
    pub refunds: u32,
    pub seen: Vec<String>,
    /// When it last changed (for a provider outcome: the provider's instant).
    pub updated: Millis,
    /// Its booking's start.
    pub start: Millis,
    /// Its booking's hold deadline: a checkout submitted at or after it is
    /// refused.
    pub hold: Millis,
    /// When this side recorded its success.
    pub recorded: Option<Millis>,
    /// What the customer submitted (true: pay), once a checkout was.
    pub checkout: Option<bool>,
    /// When the provider is next asked, while the outcome is not known.
    pub check_at: Option<Millis>,
    /// How many times it was asked.
    pub checks: u32,
    /// A refund the provider has not acknowledged yet (its id).
    pub refund_pending: Option<String>,
}

impl RefPayment {
    /// The contract's settle rule, case by case: a canceled intent once a
    /// late success can no longer arrive; a failed or (partly) refunded one
    /// after the quiet period; a succeeded one a quiet period after the
    /// latest of its booking's start (a paid cancellation), the instant this
    /// side recorded its success (an orphan refund) and its last change; an
    /// open one never.
    pub fn settles_at(&self) -> Option<Millis> {
        use PaymentStatus as S;
        if self.refund_pending.is_some() {
            return None;
        }
        match self.status {
            S::Canceled => Some(self.updated + PROVIDER_LATE_WINDOW),
            S::Failed | S::Refunded | S::PartiallyRefunded => Some(self.updated + QUIET_PERIOD),
            S::Succeeded => {
                let last = [self.start, self.recorded?, self.updated]
                    .into_iter()
                    .max()?;
                Some(last + QUIET_PERIOD)
            }
            S::RequiresPayment | S::Processing | S::Unknown => None,
        }
    }

    pub fn settled(&self, now: Millis) -> bool {
        self.settles_at().is_some_and(|at| now >= at)
    }

    /// Why money may still move for this payment at `now`, if it may: the
    /// safety side of the settle rule, spelled from what can arrive rather
    /// than from the rule.
    pub fn may_still_be_refunded(&self, now: Millis) -> Option<&'static str> {
        use PaymentStatus as S;
        match self.status {
            S::RequiresPayment | S::Processing | S::Unknown => Some("open"),
            S::Canceled if now < self.updated + PROVIDER_LATE_WINDOW => {
                Some("a late success may still complete it")
            }
            S::Succeeded if now < self.start + MAX_LAG => {
                Some("a paid cancellation decided before the start may still arrive")
            }
            S::Succeeded if self.recorded.is_none_or(|at| now < at + MAX_LAG) => {
                Some("an orphan refund may still come back")
            }
            _ => None,
        }
    }
}

#[derive(Default)]
pub struct Reference {
    /// Live payments.
    pub payments: Vec<RefPayment>,
    /// Payments that settled and left.
    pub evicted: Vec<RefPayment>,
    /// (command id, request hash, first answer, answered at).
    pub answers: Vec<(String, String, Kind, Millis)>,
}

impl Reference {
    /// Forgets, at `now`, the answers older than the ledger window and every
    /// settled payment.
    pub fn evict(&mut self, now: Millis) {
        self.answers
            .retain(|(_, _, _, at)| *at >= now - COMMAND_RETENTION);
        let (gone, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.payments)
            .into_iter()
            .partition(|p| p.settled(now));
        self.payments = live;
        self.evicted.extend(gone);
    }

    pub fn hold(
        &mut self,
        n: usize,
        amount: i64,
        start: Millis,
        hold: Millis,
        now: Millis,
    ) -> Vec<Kind> {
        if self.payments.iter().any(|p| p.n == n) {
            return Vec::new();
        }
        self.payments.push(RefPayment {
            n,
            amount,
            status: PaymentStatus::RequiresPayment,
            refunded: 0,
            refunds: 0,
            seen: Vec::new(),
            updated: now,
            start,
            hold,
            recorded: None,
            checkout: None,
            check_at: None,
            checks: 0,
            refund_pending: None,
        });
        vec![Kind::Created]
    }

    // The reference mirrors the command's fields one by one, on purpose.
    #[allow(clippy::too_many_arguments)]
    pub fn checkout(
        &mut self,
        command: &str,
        hash: &str,
        n: usize,
        payer_ok: bool,
        outcome: bool,
        appended: Millis,
        now: Millis,
    ) -> (bool, Kind) {
        // The customer's action counts when the gateway appended it, never
        // later than the decision.
        let submitted = appended.min(now);
        if let Some((_, h, k, _)) = self.answers.iter().find(|(c, _, _, _)| c == command) {
            return if h == hash {
                (false, k.clone())
            } else {
                (
                    false,
                    Kind::Rejected(CheckoutRejectionReason::IdempotencyKeyReused),
                )
            };
        }
        let k = match self.payments.iter_mut().find(|p| p.n == n) {
            Some(p) if payer_ok => {
                if p.status == PaymentStatus::RequiresPayment && submitted < p.hold {
                    p.status = PaymentStatus::Processing;
                    p.updated = submitted;
                    p.checkout = Some(outcome);
                    p.check_at = Some(submitted + ANSWER_WAIT);
                    Kind::Submitted
                } else {
                    Kind::Rejected(CheckoutRejectionReason::NotPending)
                }
            }
            _ => Kind::Rejected(CheckoutRejectionReason::NotFound),
        };
        // A submission is filed at its submission instant, a refusal when
        // it was decided.
        let at = if k == Kind::Submitted { submitted } else { now };
        self.answers
            .push((command.into(), hash.into(), k.clone(), at));
        (true, k)
    }

    pub fn webhook(
        &mut self,
        n: usize,
        succeeded: bool,
        event: &str,
        occurred: Millis,
        now: Millis,
    ) -> Vec<Kind> {
        let Some(p) = self.payments.iter_mut().find(|p| p.n == n) else {
            return Vec::new();
        };
        if p.seen.iter().any(|s| s == event) {
            return Vec::new();
        }
        use PaymentStatus as S;
        let k = match (succeeded, p.status) {
            (true, S::RequiresPayment | S::Processing | S::Unknown | S::Canceled) => {
                p.status = S::Succeeded;
                p.recorded = Some(now);
                Kind::Completed
            }
            (false, S::RequiresPayment | S::Processing | S::Unknown) => {
                p.status = S::Failed;
                Kind::Failed
            }
            _ => return Vec::new(),
        };
        // The outcome is known: nobody asks the provider any more.
        p.check_at = None;
        p.seen.push(event.into());
        p.updated = occurred;
        vec![k]
    }

    /// The booking moved to `start` (before its old start): a payment that
    /// is open or holds money keeps it as its booking's start, so a paid
    /// cancellation until then still finds it.
    pub fn moved(&mut self, n: usize, start: Millis) -> Vec<Kind> {
        use PaymentStatus as S;
        match self.payments.iter_mut().find(|p| p.n == n) {
            Some(p)
                if p.start != start
                    && matches!(
                        p.status,
                        S::RequiresPayment
                            | S::Processing
                            | S::Unknown
                            | S::Succeeded
                            | S::PartiallyRefunded
                    ) =>
            {
                p.start = start;
                vec![Kind::Moved { start }]
            }
            _ => Vec::new(),
        }
    }

    /// The booking lapsed: an intent nobody checked out is canceled; a
    /// submitted checkout waits for the provider's word.
    pub fn cancel(&mut self, n: usize, now: Millis) -> Vec<Kind> {
        match self.payments.iter_mut().find(|p| p.n == n) {
            Some(p) if p.status == PaymentStatus::RequiresPayment => {
                p.status = PaymentStatus::Canceled;
                p.updated = now;
                vec![Kind::Canceled]
            }
            _ => Vec::new(),
        }
    }

    pub fn refund(&mut self, n: usize, wanted: i64, now: Millis) -> Vec<Kind> {
        let Some(p) = self.payments.iter_mut().find(|p| p.n == n) else {
            return Vec::new();
        };
        if !matches!(
            p.status,
            PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded
        ) {
            return Vec::new();
        }
        let amount = wanted.min(p.amount - p.refunded);
        if amount <= 0 {
            return Vec::new();
        }
        p.refunded += amount;
        p.refunds += 1;
        p.updated = now;
        p.status = if p.refunded == p.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        let refund_id = format!("p{n}-r{}", p.refunds);
        p.refund_pending = Some(refund_id.clone());
        p.check_at = Some(now + ANSWER_WAIT);
        p.checks = 0;
        vec![Kind::Refunded {
            amount,
            total: p.refunded,
            status: p.status,
            refund_id,
        }]
    }
}

impl Reference {
    /// The check timer at `now`: every payment whose check is due, earliest
    /// first (ties by id), is asked about once more and is unknown.
    pub fn due(&mut self, now: Millis) -> Vec<Kind> {
        let mut due: Vec<(Millis, String, usize)> = self
            .payments
            .iter()
            .filter_map(|p| {
                Some((
                    p.check_at.filter(|at| *at <= now)?,
                    format!("p{}", p.n),
                    p.n,
                ))
            })
            .collect();
        due.sort();
        due.into_iter()
            .map(|(_, _, n)| {
                let p = self.payments.iter_mut().find(|p| p.n == n).expect("live");
                p.checks += 1;
                let pause = (ANSWER_WAIT << (p.checks - 1).min(16)).min(MAX_CHECK_INTERVAL);
                p.check_at = Some(now + pause);
                p.updated = now;
                if let Some(refund_id) = &p.refund_pending {
                    return Kind::RefundUnconfirmed {
                        refund_id: refund_id.clone(),
                        attempt: p.checks,
                    };
                }
                p.status = PaymentStatus::Unknown;
                Kind::Unknown { attempt: p.checks }
            })
            .collect()
    }
}

impl Reference {
    /// The provider acknowledges payment `n`'s pending refund at `now`.
    pub fn ack_refund(&mut self, n: usize, now: Millis) -> Vec<Kind> {
        let Some(p) = self.payments.iter_mut().find(|p| p.n == n) else {
            return Vec::new();
        };
        let Some(refund_id) = p.refund_pending.take() else {
            return Vec::new();
        };
        p.check_at = None;
        p.updated = now;
        vec![Kind::RefundConfirmed { refund_id }]
    }
}
