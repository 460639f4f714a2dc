//! Payment commands and events <-> their Avro records. Declarations: see
//! `declare.rs`.

use crate::declare::{avro_record, avro_union};
use slotstream_domain::payment::{
    CheckoutRejected, CheckoutSubmitted, PaymentBookingRescheduled, PaymentCanceled,
    PaymentCommand, PaymentCompleted, PaymentEvent, PaymentFailed, PaymentIntentCreated,
    PaymentRefunded, PaymentStatusUnknown, RecordProviderOutcome, RefundConfirmed,
    RefundUnconfirmed, SubmitCheckout,
};

avro_union!(PaymentCommand {
    SubmitCheckout,
    RecordProviderOutcome,
});

avro_union!(PaymentEvent {
    PaymentIntentCreated,
    CheckoutSubmitted,
    CheckoutRejected,
    PaymentCompleted,
    PaymentFailed,
    PaymentCanceled,
    PaymentRefunded,
    PaymentStatusUnknown,
    RefundUnconfirmed,
    RefundConfirmed,
    PaymentBookingRescheduled,
});

avro_record!(SubmitCheckout {
    command_id: Str,
    request_hash: Str,
    payment_id: Str,
    resource_id: Str,
    user_id: Str,
    outcome: Enum,
    // Not last: see PaymentIntentCreated's booking_start.
    appended_at: Nullable<TimestampMillis>,
    requested_at: TimestampMillis,
});

avro_record!(RecordProviderOutcome {
    provider_event_id: Str,
    payment_id: Str,
    resource_id: Str,
    outcome: Enum,
    reason: Str,
    occurred_at: TimestampMillis,
});

avro_record!(PaymentIntentCreated {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    amount: Record,
    checkout_url: Str,
    // Not last: apache-avro reads a union index at the end of the datum as
    // null, so a truncated record would still decode.
    booking_start: Nullable<TimestampMillis>,
    hold_expires_at: Nullable<TimestampMillis>,
    created_at: TimestampMillis,
});

avro_record!(CheckoutSubmitted {
    command_id: Str,
    request_hash: Str,
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    outcome: Enum,
    submitted_at: TimestampMillis,
});

avro_record!(CheckoutRejected {
    command_id: Str,
    request_hash: Str,
    payment_id: Str,
    resource_id: Str,
    reason: Enum,
    rejected_at: TimestampMillis,
});

avro_record!(PaymentCompleted {
    payment_id: Str,
    provider_event_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    amount: Record,
    // Not last: see PaymentIntentCreated's booking_start.
    recorded_at: Nullable<TimestampMillis>,
    completed_at: TimestampMillis,
});

avro_record!(PaymentFailed {
    payment_id: Str,
    provider_event_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    reason: Str,
    failed_at: TimestampMillis,
});

avro_record!(PaymentCanceled {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    canceled_at: TimestampMillis,
});

avro_record!(PaymentRefunded {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    amount: Record,
    refunded_total: Record,
    status: Enum,
    refund_id: Str,
    refunded_at: TimestampMillis,
});

avro_record!(PaymentStatusUnknown {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    outcome: Enum,
    submitted_at: TimestampMillis,
    attempt: Int,
    next_check_at: TimestampMillis,
    checked_at: TimestampMillis,
});

avro_record!(RefundUnconfirmed {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    refund_id: Str,
    amount: Record,
    attempt: Int,
    next_check_at: TimestampMillis,
    checked_at: TimestampMillis,
});

avro_record!(RefundConfirmed {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    refund_id: Str,
    confirmed_at: TimestampMillis,
});

avro_record!(PaymentBookingRescheduled {
    payment_id: Str,
    booking_id: Str,
    resource_id: Str,
    booking_start: TimestampMillis,
    rescheduled_at: TimestampMillis,
});
