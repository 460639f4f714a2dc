//! Shared records (Money, Price, CancellationPolicy, Resource and its
//! schedule and rules, OtpIssue) and
//! every enum that crosses a topic. Declarations: see `declare.rs`.

use crate::declare::{avro_enum, avro_record};
use slotstream_domain::Money;
use slotstream_domain::booking::{CancellationRejectionReason, RejectionReason};
use slotstream_domain::identity::{
    OtpIssue, RegistrationRejectionReason, ResendRejectionReason, Role, VerificationRejectionReason,
};
use slotstream_domain::payment::{CheckoutOutcome, CheckoutRejectionReason, PaymentStatus};
use slotstream_domain::resource::{CancellationPolicy, Price, Resource};
use slotstream_domain::schedule::{BookingRules, DateException, LocalRange, ScheduleSpec};

avro_record!(Money {
    amount: Long,
    currency: Str,
});

avro_record!(Price {
    amount: Long,
    currency: Str,
    unit_minutes: Int,
});

avro_record!(CancellationPolicy {
    full_refund_hours: Int,
    partial_refund_hours: Int,
    partial_refund_percent: Int,
});

avro_record!(Resource {
    id: Str,
    vendor_id: Str,
    name: Str,
    kind: Str,
    price: Record,
    timezone: Str,
    slot_minutes: Int,
    min_minutes: Int,
    max_minutes: Int,
    cancellation_policy: Record,
    schedule: Nullable<BoxedRecord>,
    rules: OrDefault<Record>,
    created_at: TimestampMillis,
});

avro_record!(LocalRange {
    start_minute: Int,
    end_minute: Int,
});

avro_record!(DateException {
    date: IsoDate,
    hours: Array<Record>,
});

avro_record!(ScheduleSpec as "Schedule" {
    timezone: Str,
    weekly: Week<Record>,
    exceptions: Array<Record>,
});

avro_record!(BookingRules {
    buffer_before_minutes: Int,
    buffer_after_minutes: Int,
    min_notice_minutes: Int,
    max_horizon_minutes: Nullable<Int>,
    modify_notice_minutes: Int,
});

avro_record!(OtpIssue {
    nonce: Str,
    code_hash: Str,
});

avro_enum!(RejectionReason {
    SlotUnavailable => "SLOT_UNAVAILABLE",
    ResourceNotFound => "RESOURCE_NOT_FOUND",
    InvalidRequest => "INVALID_REQUEST",
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
    OutsideHours => "OUTSIDE_HOURS",
    TooSoon => "TOO_SOON",
    TooFar => "TOO_FAR",
    BookingNotFound => "BOOKING_NOT_FOUND",
    NotReschedulable => "NOT_RESCHEDULABLE",
    TooLateToModify => "TOO_LATE_TO_MODIFY",
    PriceChanged => "PRICE_CHANGED",
});

avro_enum!(CancellationRejectionReason {
    NotFound => "NOT_FOUND",
    NotCancellable => "NOT_CANCELLABLE",
    TooLateToCancel => "TOO_LATE_TO_CANCEL",
});

avro_enum!(PaymentStatus {
    RequiresPayment => "REQUIRES_PAYMENT",
    Processing => "PROCESSING",
    Succeeded => "SUCCEEDED",
    Failed => "FAILED",
    Refunded => "REFUNDED",
    PartiallyRefunded => "PARTIALLY_REFUNDED",
    Canceled => "CANCELED",
    Unknown => "UNKNOWN",
});

avro_enum!(CheckoutOutcome {
    Succeeded => "SUCCEEDED",
    Failed => "FAILED",
});

avro_enum!(CheckoutRejectionReason {
    NotFound => "NOT_FOUND",
    NotPending => "NOT_PENDING",
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
});

avro_enum!(Role {
    Customer => "CUSTOMER",
    Vendor => "VENDOR",
});

avro_enum!(RegistrationRejectionReason {
    EmailTaken => "EMAIL_TAKEN",
});

avro_enum!(VerificationRejectionReason {
    Invalid => "INVALID",
    Expired => "EXPIRED",
    Burned => "BURNED",
    NoPendingCode => "NO_PENDING_CODE",
});

avro_enum!(ResendRejectionReason {
    Throttled => "THROTTLED",
    NoPendingAccount => "NO_PENDING_ACCOUNT",
});
