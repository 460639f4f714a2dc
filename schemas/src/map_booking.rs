//! Booking commands and events <-> their Avro records. Declarations: see
//! `declare.rs`.

use crate::declare::{avro_record, avro_union};
use slotstream_domain::booking::{
    BookingCancelled, BookingCommand, BookingConfirmed, BookingEvent, BookingExpired,
    BookingFailed, BookingHeld, BookingPaymentDelayed, BookingPaymentStarted, BookingRejected,
    BookingRescheduled, CancelBooking, CancellationRejected, PaymentOrphaned, RegisterResource,
    RequestBooking, RescheduleBooking, ResourceRegistered, ResourceScheduleChanged,
    UpdateResourceSchedule,
};

avro_union!(BookingCommand {
    RegisterResource,
    RequestBooking,
    CancelBooking,
    UpdateResourceSchedule,
    RescheduleBooking,
});

avro_union!(BookingEvent {
    ResourceRegistered,
    BookingHeld,
    BookingRejected,
    BookingConfirmed,
    BookingFailed,
    BookingExpired,
    BookingCancelled,
    CancellationRejected,
    PaymentOrphaned,
    BookingPaymentStarted,
    BookingPaymentDelayed,
    ResourceScheduleChanged,
    BookingRescheduled,
});

avro_record!(RegisterResource {
    command_id: Str,
    resource: Record,
});

avro_record!(RequestBooking {
    command_id: Str,
    request_hash: Str,
    booking_id: Str,
    payment_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    start: TimestampMillis,
    end: TimestampMillis,
    requested_at: TimestampMillis,
});

avro_record!(CancelBooking {
    command_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    requested_at: TimestampMillis,
});

avro_record!(ResourceRegistered {
    command_id: Str,
    resource: Record,
});

avro_record!(BookingHeld {
    command_id: Str,
    request_hash: Str,
    booking_id: Str,
    resource_id: Str,
    vendor_id: Str,
    user_id: Str,
    user_email: Str,
    start: TimestampMillis,
    end: TimestampMillis,
    amount: Record,
    payment_id: Str,
    hold_expires_at: TimestampMillis,
    held_at: TimestampMillis,
});

avro_record!(BookingRejected {
    command_id: Str,
    request_hash: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    reason: Enum,
    detail: Str,
    rejected_at: TimestampMillis,
});

avro_record!(BookingConfirmed {
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    payment_id: Str,
    start: TimestampMillis,
    end: TimestampMillis,
    amount: Record,
    confirmed_at: TimestampMillis,
});

avro_record!(BookingFailed {
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    payment_id: Str,
    reason: Str,
    failed_at: TimestampMillis,
});

avro_record!(BookingExpired {
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    payment_id: Str,
    expired_at: TimestampMillis,
});

avro_record!(BookingCancelled {
    command_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    payment_id: Str,
    was_paid: Boolean,
    refund: Record,
    cancelled_at: TimestampMillis,
});

avro_record!(CancellationRejected {
    command_id: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    reason: Enum,
    rejected_at: TimestampMillis,
});

avro_record!(PaymentOrphaned {
    booking_id: Str,
    resource_id: Str,
    payment_id: Str,
    amount: Record,
    orphaned_at: TimestampMillis,
});

avro_record!(BookingPaymentStarted {
    booking_id: Str,
    resource_id: Str,
    payment_id: Str,
    submitted_at: TimestampMillis,
    pay_by: TimestampMillis,
});

avro_record!(BookingPaymentDelayed {
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    payment_id: Str,
    submitted_at: TimestampMillis,
    held_until: TimestampMillis,
    delayed_at: TimestampMillis,
});

avro_record!(UpdateResourceSchedule {
    command_id: Str,
    resource_id: Str,
    vendor_id: Str,
    schedule: Nullable<BoxedRecord>,
    rules: Record,
    requested_at: TimestampMillis,
});

avro_record!(ResourceScheduleChanged {
    command_id: Str,
    updated: Record,
    outside_hours: Array<Str>,
    changed_at: TimestampMillis,
});

avro_record!(RescheduleBooking {
    command_id: Str,
    request_hash: Str,
    booking_id: Str,
    resource_id: Str,
    requested_by: Str,
    start: TimestampMillis,
    end: TimestampMillis,
    requested_at: TimestampMillis,
});

avro_record!(BookingRescheduled {
    command_id: Str,
    request_hash: Str,
    booking_id: Str,
    resource_id: Str,
    user_id: Str,
    user_email: Str,
    previous_start: TimestampMillis,
    previous_end: TimestampMillis,
    start: TimestampMillis,
    end: TimestampMillis,
    rescheduled_by: Str,
    rescheduled_at: TimestampMillis,
});
