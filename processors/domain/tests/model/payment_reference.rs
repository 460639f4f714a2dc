//! The payment model's reference: plain vectors and linear scans, written
//! from the public contract.

use slotstream_domain::payment::{CheckoutRejectionReason, PaymentEvent, PaymentStatus};

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
}

#[derive(Default)]
pub struct Reference {
    pub payments: Vec<RefPayment>,
    pub answers: Vec<(String, String, Kind)>,
}

impl Reference {
    pub fn hold(&mut self, n: usize, amount: i64) -> Vec<Kind> {
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
        });
        vec![Kind::Created]
    }

    pub fn checkout(
        &mut self,
        command: &str,
        hash: &str,
        n: usize,
        payer_ok: bool,
    ) -> (bool, Kind) {
        if let Some((_, h, k)) = self.answers.iter().find(|(c, _, _)| c == command) {
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
                if p.status == PaymentStatus::RequiresPayment {
                    p.status = PaymentStatus::Processing;
                    Kind::Submitted
                } else {
                    Kind::Rejected(CheckoutRejectionReason::NotPending)
                }
            }
            _ => Kind::Rejected(CheckoutRejectionReason::NotFound),
        };
        self.answers.push((command.into(), hash.into(), k.clone()));
        (true, k)
    }

    pub fn webhook(&mut self, n: usize, succeeded: bool, event: &str) -> Vec<Kind> {
        let Some(p) = self.payments.iter_mut().find(|p| p.n == n) else {
            return Vec::new();
        };
        if p.seen.iter().any(|s| s == event) {
            return Vec::new();
        }
        use PaymentStatus as S;
        let k = match (succeeded, p.status) {
            (true, S::RequiresPayment | S::Processing | S::Canceled) => {
                p.status = S::Succeeded;
                Kind::Completed
            }
            (false, S::RequiresPayment | S::Processing) => {
                p.status = S::Failed;
                Kind::Failed
            }
            _ => return Vec::new(),
        };
        p.seen.push(event.into());
        vec![k]
    }

    pub fn cancel(&mut self, n: usize) -> Vec<Kind> {
        match self.payments.iter_mut().find(|p| p.n == n) {
            Some(p)
                if matches!(
                    p.status,
                    PaymentStatus::RequiresPayment | PaymentStatus::Processing
                ) =>
            {
                p.status = PaymentStatus::Canceled;
                vec![Kind::Canceled]
            }
            _ => Vec::new(),
        }
    }

    pub fn refund(&mut self, n: usize, wanted: i64) -> Vec<Kind> {
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
        p.status = if p.refunded == p.amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        };
        vec![Kind::Refunded {
            amount,
            total: p.refunded,
            status: p.status,
            refund_id: format!("p{n}-r{}", p.refunds),
        }]
    }
}
