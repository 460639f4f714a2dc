//! Shared records (Money, Price, CancellationPolicy, Resource, OtpIssue) and
//! every enum that crosses a topic.

use crate::codec::CodecError;
use crate::fields::{Avro, avro_enum, field, int, record, string, timestamp};
use apache_avro::types::Value;
use slotstream_domain::booking::{CancellationRejectionReason, RejectionReason};
use slotstream_domain::identity::{
    OtpIssue, RegistrationRejectionReason, ResendRejectionReason, Role, VerificationRejectionReason,
};
use slotstream_domain::payment::{CheckoutOutcome, CheckoutRejectionReason, PaymentStatus};
use slotstream_domain::resource::{CancellationPolicy, Price, Resource};
use slotstream_domain::{Money, ResourceId, UserId};

impl Avro for Money {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("amount", Value::Long(self.amount)),
            field("currency", string(&self.currency)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("Money", v, |f| {
            Ok(Money {
                amount: f.long("amount")?,
                currency: f.string("currency")?,
            })
        })
    }
}

impl Avro for Price {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("amount", Value::Long(self.amount)),
            field("currency", string(&self.currency)),
            field("unit_minutes", int(self.unit_minutes)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("Price", v, |f| {
            Ok(Price {
                amount: f.long("amount")?,
                currency: f.string("currency")?,
                unit_minutes: f.u32("unit_minutes")?,
            })
        })
    }
}

impl Avro for CancellationPolicy {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("full_refund_hours", int(self.full_refund_hours)),
            field("partial_refund_hours", int(self.partial_refund_hours)),
            field(
                "partial_refund_percent",
                Value::Int(i32::from(self.partial_refund_percent)),
            ),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("CancellationPolicy", v, |f| {
            Ok(CancellationPolicy {
                full_refund_hours: f.u32("full_refund_hours")?,
                partial_refund_hours: f.u32("partial_refund_hours")?,
                partial_refund_percent: f.u8("partial_refund_percent")?,
            })
        })
    }
}

impl Avro for Resource {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("id", string(self.id.as_str())),
            field("vendor_id", string(self.vendor_id.as_str())),
            field("name", string(&self.name)),
            field("kind", string(&self.kind)),
            field("price", self.price.to_value()),
            field("timezone", string(&self.timezone)),
            field("slot_minutes", int(self.slot_minutes)),
            field("min_minutes", int(self.min_minutes)),
            field("max_minutes", int(self.max_minutes)),
            field("cancellation_policy", self.cancellation_policy.to_value()),
            field("created_at", timestamp(self.created_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("Resource", v, |f| {
            Ok(Resource {
                id: ResourceId(f.string("id")?),
                vendor_id: UserId(f.string("vendor_id")?),
                name: f.string("name")?,
                kind: f.string("kind")?,
                price: f.nested("price")?,
                timezone: f.string("timezone")?,
                slot_minutes: f.u32("slot_minutes")?,
                min_minutes: f.u32("min_minutes")?,
                max_minutes: f.u32("max_minutes")?,
                cancellation_policy: f.nested("cancellation_policy")?,
                created_at: f.timestamp("created_at")?,
            })
        })
    }
}

impl Avro for OtpIssue {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("nonce", string(&self.nonce)),
            field("code_hash", string(&self.code_hash)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("OtpIssue", v, |f| {
            Ok(OtpIssue {
                nonce: f.string("nonce")?,
                code_hash: f.string("code_hash")?,
            })
        })
    }
}

avro_enum!(RejectionReason, "RejectionReason" {
    SlotUnavailable = 0 => "SLOT_UNAVAILABLE",
    ResourceNotFound = 1 => "RESOURCE_NOT_FOUND",
    InvalidRequest = 2 => "INVALID_REQUEST",
    IdempotencyKeyReused = 3 => "IDEMPOTENCY_KEY_REUSED",
});

avro_enum!(CancellationRejectionReason, "CancellationRejectionReason" {
    NotFound = 0 => "NOT_FOUND",
    NotCancellable = 1 => "NOT_CANCELLABLE",
});

avro_enum!(PaymentStatus, "PaymentStatus" {
    RequiresPayment = 0 => "REQUIRES_PAYMENT",
    Processing = 1 => "PROCESSING",
    Succeeded = 2 => "SUCCEEDED",
    Failed = 3 => "FAILED",
    Refunded = 4 => "REFUNDED",
    PartiallyRefunded = 5 => "PARTIALLY_REFUNDED",
    Canceled = 6 => "CANCELED",
});

avro_enum!(CheckoutOutcome, "CheckoutOutcome" {
    Succeeded = 0 => "SUCCEEDED",
    Failed = 1 => "FAILED",
});

avro_enum!(CheckoutRejectionReason, "CheckoutRejectionReason" {
    NotFound = 0 => "NOT_FOUND",
    NotPending = 1 => "NOT_PENDING",
    IdempotencyKeyReused = 2 => "IDEMPOTENCY_KEY_REUSED",
});

avro_enum!(Role, "Role" {
    Customer = 0 => "CUSTOMER",
    Vendor = 1 => "VENDOR",
});

avro_enum!(RegistrationRejectionReason, "RegistrationRejectionReason" {
    EmailTaken = 0 => "EMAIL_TAKEN",
});

avro_enum!(VerificationRejectionReason, "VerificationRejectionReason" {
    Invalid = 0 => "INVALID",
    Expired = 1 => "EXPIRED",
    Burned = 2 => "BURNED",
    NoPendingCode = 3 => "NO_PENDING_CODE",
});

avro_enum!(ResendRejectionReason, "ResendRejectionReason" {
    Throttled = 0 => "THROTTLED",
    NoPendingAccount = 1 => "NO_PENDING_ACCOUNT",
});
