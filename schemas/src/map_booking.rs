//! Booking commands and events <-> their Avro records.

use crate::codec::CodecError;
use crate::fields::{Avro, AvroUnion, field, mapping, record, string, timestamp};
use apache_avro::types::Value;
use slotstream_domain::booking::{
    BookingCancelled, BookingCommand, BookingConfirmed, BookingEvent, BookingExpired,
    BookingFailed, BookingHeld, BookingRejected, CancelBooking, CancellationRejected,
    PaymentOrphaned, RegisterResource, RequestBooking, ResourceRegistered,
};
use slotstream_domain::{BookingId, CommandId, PaymentId, ResourceId, UserId};

impl AvroUnion for BookingCommand {
    const BRANCHES: u32 = 3;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::RegisterResource(c) => (0, c.to_value()),
            Self::RequestBooking(c) => (1, c.to_value()),
            Self::CancelBooking(c) => (2, c.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::RegisterResource(Avro::from_value(v)?),
            1 => Self::RequestBooking(Avro::from_value(v)?),
            2 => Self::CancelBooking(Avro::from_value(v)?),
            n => return Err(mapping(format!("BookingCommand: no branch {n}"))),
        })
    }
}

impl AvroUnion for BookingEvent {
    const BRANCHES: u32 = 9;

    fn to_branch(&self) -> (u32, Value) {
        match self {
            Self::ResourceRegistered(e) => (0, e.to_value()),
            Self::BookingHeld(e) => (1, e.to_value()),
            Self::BookingRejected(e) => (2, e.to_value()),
            Self::BookingConfirmed(e) => (3, e.to_value()),
            Self::BookingFailed(e) => (4, e.to_value()),
            Self::BookingExpired(e) => (5, e.to_value()),
            Self::BookingCancelled(e) => (6, e.to_value()),
            Self::CancellationRejected(e) => (7, e.to_value()),
            Self::PaymentOrphaned(e) => (8, e.to_value()),
        }
    }

    fn from_branch(index: u32, v: Value) -> Result<Self, CodecError> {
        Ok(match index {
            0 => Self::ResourceRegistered(Avro::from_value(v)?),
            1 => Self::BookingHeld(Avro::from_value(v)?),
            2 => Self::BookingRejected(Avro::from_value(v)?),
            3 => Self::BookingConfirmed(Avro::from_value(v)?),
            4 => Self::BookingFailed(Avro::from_value(v)?),
            5 => Self::BookingExpired(Avro::from_value(v)?),
            6 => Self::BookingCancelled(Avro::from_value(v)?),
            7 => Self::CancellationRejected(Avro::from_value(v)?),
            8 => Self::PaymentOrphaned(Avro::from_value(v)?),
            n => return Err(mapping(format!("BookingEvent: no branch {n}"))),
        })
    }
}

impl Avro for RegisterResource {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("resource", self.resource.to_value()),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("RegisterResource", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                resource: f.nested("resource")?,
            })
        })
    }
}

impl Avro for RequestBooking {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("booking_id", string(self.booking_id.as_str())),
            field("payment_id", string(self.payment_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("start", timestamp(self.start)),
            field("end", timestamp(self.end)),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("RequestBooking", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                booking_id: BookingId(f.string("booking_id")?),
                payment_id: PaymentId(f.string("payment_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                start: f.timestamp("start")?,
                end: f.timestamp("end")?,
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for CancelBooking {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("requested_at", timestamp(self.requested_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("CancelBooking", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                requested_at: f.timestamp("requested_at")?,
            })
        })
    }
}

impl Avro for ResourceRegistered {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("resource", self.resource.to_value()),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("ResourceRegistered", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                resource: f.nested("resource")?,
            })
        })
    }
}

impl Avro for BookingHeld {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("vendor_id", string(self.vendor_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("start", timestamp(self.start)),
            field("end", timestamp(self.end)),
            field("amount", self.amount.to_value()),
            field("payment_id", string(self.payment_id.as_str())),
            field("hold_expires_at", timestamp(self.hold_expires_at)),
            field("held_at", timestamp(self.held_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingHeld", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                vendor_id: UserId(f.string("vendor_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                start: f.timestamp("start")?,
                end: f.timestamp("end")?,
                amount: f.nested("amount")?,
                payment_id: PaymentId(f.string("payment_id")?),
                hold_expires_at: f.timestamp("hold_expires_at")?,
                held_at: f.timestamp("held_at")?,
            })
        })
    }
}

impl Avro for BookingRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("request_hash", string(&self.request_hash)),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("reason", self.reason.to_value()),
            field("detail", string(&self.detail)),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                request_hash: f.string("request_hash")?,
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                reason: f.nested("reason")?,
                detail: f.string("detail")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}

impl Avro for BookingConfirmed {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("payment_id", string(self.payment_id.as_str())),
            field("start", timestamp(self.start)),
            field("end", timestamp(self.end)),
            field("amount", self.amount.to_value()),
            field("confirmed_at", timestamp(self.confirmed_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingConfirmed", v, |f| {
            Ok(Self {
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                payment_id: PaymentId(f.string("payment_id")?),
                start: f.timestamp("start")?,
                end: f.timestamp("end")?,
                amount: f.nested("amount")?,
                confirmed_at: f.timestamp("confirmed_at")?,
            })
        })
    }
}

impl Avro for BookingFailed {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("payment_id", string(self.payment_id.as_str())),
            field("reason", string(&self.reason)),
            field("failed_at", timestamp(self.failed_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingFailed", v, |f| {
            Ok(Self {
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                payment_id: PaymentId(f.string("payment_id")?),
                reason: f.string("reason")?,
                failed_at: f.timestamp("failed_at")?,
            })
        })
    }
}

impl Avro for BookingExpired {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("payment_id", string(self.payment_id.as_str())),
            field("expired_at", timestamp(self.expired_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingExpired", v, |f| {
            Ok(Self {
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                payment_id: PaymentId(f.string("payment_id")?),
                expired_at: f.timestamp("expired_at")?,
            })
        })
    }
}

impl Avro for BookingCancelled {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("user_email", string(&self.user_email)),
            field("payment_id", string(self.payment_id.as_str())),
            field("was_paid", Value::Boolean(self.was_paid)),
            field("refund", self.refund.to_value()),
            field("cancelled_at", timestamp(self.cancelled_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("BookingCancelled", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                user_email: f.string("user_email")?,
                payment_id: PaymentId(f.string("payment_id")?),
                was_paid: f.boolean("was_paid")?,
                refund: f.nested("refund")?,
                cancelled_at: f.timestamp("cancelled_at")?,
            })
        })
    }
}

impl Avro for CancellationRejected {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("command_id", string(self.command_id.as_str())),
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("user_id", string(self.user_id.as_str())),
            field("reason", self.reason.to_value()),
            field("rejected_at", timestamp(self.rejected_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("CancellationRejected", v, |f| {
            Ok(Self {
                command_id: CommandId(f.string("command_id")?),
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                user_id: UserId(f.string("user_id")?),
                reason: f.nested("reason")?,
                rejected_at: f.timestamp("rejected_at")?,
            })
        })
    }
}

impl Avro for PaymentOrphaned {
    fn to_value(&self) -> Value {
        Value::Record(vec![
            field("booking_id", string(self.booking_id.as_str())),
            field("resource_id", string(self.resource_id.as_str())),
            field("payment_id", string(self.payment_id.as_str())),
            field("amount", self.amount.to_value()),
            field("orphaned_at", timestamp(self.orphaned_at)),
        ])
    }

    fn from_value(v: Value) -> Result<Self, CodecError> {
        record("PaymentOrphaned", v, |f| {
            Ok(Self {
                booking_id: BookingId(f.string("booking_id")?),
                resource_id: ResourceId(f.string("resource_id")?),
                payment_id: PaymentId(f.string("payment_id")?),
                amount: f.nested("amount")?,
                orphaned_at: f.timestamp("orphaned_at")?,
            })
        })
    }
}
