//! The names statuses and roles go by in the API, the tokens and every store
//! are spelled once, on the domain enums, and read back exactly.

use slotstream_domain::booking::BookingStatus;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::PaymentStatus;
use std::collections::HashSet;

#[test]
fn every_booking_status_name_reads_back_as_its_status() {
    for s in BookingStatus::ALL {
        assert_eq!(BookingStatus::parse(s.as_str()), Some(s));
    }
    let names: HashSet<_> = BookingStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names.len(), BookingStatus::ALL.len(), "names are distinct");
    assert_eq!(BookingStatus::Cancelled.as_str(), "cancelled");
    assert_eq!(BookingStatus::parse("PENDING"), None);
    assert_eq!(BookingStatus::parse("Pending"), None);
    assert_eq!(BookingStatus::parse(""), None);
}

#[test]
fn every_payment_status_name_reads_back_as_its_status() {
    for s in PaymentStatus::ALL {
        assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
    }
    let names: HashSet<_> = PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names.len(), PaymentStatus::ALL.len(), "names are distinct");
    assert_eq!(
        PaymentStatus::PartiallyRefunded.as_str(),
        "partially_refunded"
    );
    assert_eq!(PaymentStatus::RequiresPayment.as_str(), "requires_payment");
    assert_eq!(PaymentStatus::parse("canceled "), None);
}

#[test]
fn roles_read_back_and_nothing_else_is_a_role() {
    for r in [Role::Customer, Role::Vendor] {
        assert_eq!(Role::parse(r.as_str()), Some(r));
    }
    assert_eq!(Role::Vendor.as_str(), "vendor");
    assert_eq!(Role::parse("admin"), None);
    assert_eq!(Role::parse("Vendor"), None);
}
