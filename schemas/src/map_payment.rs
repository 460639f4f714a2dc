//! Payment commands and events <-> their Avro records.

use crate::codec::CodecError;
use crate::fields::{Avro, AvroUnion, field, mapping, opt_timestamp, record, string, timestamp};
use apache_avro::types::Value;
use slotstream_domain::payment::{
    CheckoutRejected, CheckoutSubmitted, PaymentCanceled, PaymentCommand, PaymentCompleted,
    PaymentEvent, PaymentFailed, PaymentIntentCreated, PaymentRefunded, RecordProviderOutcome,
    SubmitCheckout,
};
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};

impl AvroUnion for PaymentCommand {
    const BRANCHES: u32 = 2;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::SubmitCheckout(c) => (0, c.to_value()),
            Self::RecordProviderOutcome(c) => (1, c.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::SubmitCheckout(Avro::from_value(v)?),
            1 => Self::RecordProviderOutcome(Avro::from_value(v)?),
            n => return Err(mapping(format!("PaymentCommand: no branch {n}"))),
        })
    }
}

impl AvroUnion for PaymentEvent {
    const BRANCHES: u32 = 7;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::PaymentIntentCreated(e) => (0, e.to_value()),
            Self::CheckoutSubmitted(e) => (1, e.to_value()),
            Self::CheckoutRejected(e) => (2, e.to_value()),
            Self::PaymentCompleted(e) => (3, e.to_value()),
            Self::PaymentFailed(e) => (4, e.to_value()),
            Self::PaymentCanceled(e) => (5, e.to_value()),
            Self::PaymentRefunded(e) => (6, e.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::PaymentIntentCreated(Avro::from_value(v)?),
            1 => Self::CheckoutSubmitted(Avro::from_value(v)?),
            2 => Self::CheckoutRejected(Avro::from_value(v)?),
            3 => Self::PaymentCompleted(Avro::from_value(v)?),
            4 => Self::PaymentFailed(Avro::from_value(v)?),
            5 => Self::PaymentCanceled(Avro::from_value(v)?),
            6 => Self::PaymentRefunded(Avro::from_value(v)?),
            n => return Err(mapping(format!("PaymentEvent: no branch {n}"))),
        })
    }
}

impl Avro for SubmitCheckout {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("payment_id", string(self.payment_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("outcome", self.outcome.to_value()),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("SubmitCheckout", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                payment_id: PaymentId(f.string("payment_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                outcome: f.nested("outcome")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for RecordProviderOutcome {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("provider_event_id", string(&self.provider_event_id)),
            field("payment_id", string(self.payment_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("outcome", self.outcome.to_value()),
            field("reason", string(&self.reason)),
            field("occurred_at", timestamp(self.occurred_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("RecordProviderOutcome", v, |f| {
            Ok(Self {
                provider_event_id: f.string("provider_event_id")?,
                payment_id: PaymentId(f.string("payment_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                outcome: f.nested("outcome")?,
                reason: f.string("reason")?,
                occurred_at: f.timestamp("occurred_at")?,
            })
        })
    }
}

impl Avro for PaymentIntentCreated {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("payment_id", string(self.payment_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("amount", self.amount.to_value()),
            field("checkout_url", string(&self.checkout_url)),
            // Not last: apache-avro reads a union index at the end of the
            // datum as null, so a truncated record would still decode.
            field("booking_start", opt_timestamp(self.booking_start)),
            field("created_at", timestamp(self.created_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentIntentCreated", v, |f| {
            Ok(Self {
                payment_id: PaymentId(f.string("payment_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                amount: f.nested("amount")?,
                checkout_url: f.string("checkout_url")?,
                booking_start: f.opt_timestamp("booking_start")?,
                created_at: f.timestamp("created_at")?,
            })
        })
    }
}

impl Avro for CheckoutSubmitted {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("payment_id", string(self.payment_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("outcome", self.outcome.to_value()),
            field("submitted_at", timestamp(self.submitted_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("CheckoutSubmitted", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                payment_id: PaymentId(f.string("payment_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                outcome: f.nested("outcome")?,
                submitted_at: f.timestamp("submitted_at")?,
            })
        })
    }
}

impl Avro for CheckoutRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("payment_id", string(self.payment_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("reason", self.reason.to_value()),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("CheckoutRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                payment_id: PaymentId(f.string("payment_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                reason: f.nested("reason")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}

impl Avro for PaymentCompleted {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("payment_id", string(self.payment_id.as_str())),
            field("provider_event_id", string(&self.provider_event_id)),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("amount", self.amount.to_value()),
            // Not last: see PaymentIntentCreated's booking_start.
            field("recorded_at", opt_timestamp(self.recorded_at)),
            field("completed_at", timestamp(self.completed_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentCompleted", v, |f| {
            Ok(Self {
                payment_id: PaymentId(f.string("payment_id")?),
                provider_event_id: f.string("provider_event_id")?,
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                amount: f.nested("amount")?,
                recorded_at: f.opt_timestamp("recorded_at")?,
                completed_at: f.timestamp("completed_at")?,
            })
        })
    }
}

impl Avro for PaymentFailed {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("payment_id", string(self.payment_id.as_str())),
            field("provider_event_id", string(&self.provider_event_id)),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("reason", string(&self.reason)),
            field("failed_at", timestamp(self.failed_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentFailed", v, |f| {
            Ok(Self {
                payment_id: PaymentId(f.string("payment_id")?),
                provider_event_id: f.string("provider_event_id")?,
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                reason: f.string("reason")?,
                failed_at: f.timestamp("failed_at")?,
            })
        })
    }
}

impl Avro for PaymentCanceled {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("payment_id", string(self.payment_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("canceled_at", timestamp(self.canceled_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentCanceled", v, |f| {
            Ok(Self {
                payment_id: PaymentId(f.string("payment_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                canceled_at: f.timestamp("canceled_at")?,
            })
        })
    }
}

impl Avro for PaymentRefunded {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("payment_id", string(self.payment_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("amount", self.amount.to_value()),
            field("refunded_total", self.refunded_total.to_value()),
            field("status", self.status.to_value()),
            field("refund_id", string(&self.refund_id)),
            field("refunded_at", timestamp(self.refunded_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentRefunded", v, |f| {
            Ok(Self {
                payment_id: PaymentId(f.string("payment_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                amount: f.nested("amount")?,
                refunded_total: f.nested("refunded_total")?,
                status: f.nested("status")?,
                refund_id: f.string("refund_id")?,
                refunded_at: f.timestamp("refunded_at")?,
            })
        })
    }
}
