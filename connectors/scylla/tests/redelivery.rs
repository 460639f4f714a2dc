//! Redelivery after a crash: re-applying a batch, whole or after a prefix of
//! it already landed, converges to the same rows in every query table.

mod common;

use slotstream_domain::booking::BookingStatus;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::PaymentStatus;
use slotstream_domain::time::{DAY, HOUR};
use slotstream_domain::{BookingId, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::{BookingView, PaymentView, UserView, ViewStore, ViewWrite};
use slotstream_testkit::contract::views::{booking, resource};

const T: i64 = 1_800_000_000_000;

/// A batch where order matters: a booking is put, moved to another day,
/// confirmed then cancelled; a resource changes kind; a payment is patched
/// twice; a user is put then verified.
fn batch() -> Vec<ViewWrite> {
    let first = booking("bk-1", "u-1", "res-1", T, T + HOUR, T);
    let mut moved = first.clone();
    (moved.start, moved.end, moved.created_at) = (T + 3 * DAY, T + 3 * DAY + HOUR, T + 5);
    let mut room = resource("res-1", "vendor", "room");
    let pay = PaymentView {
        id: PaymentId::new("pay-bk-1"),
        booking_id: BookingId::new("bk-1"),
        resource_id: ResourceId::new("res-1"),
        user_id: UserId::new("u-1"),
        status: PaymentStatus::RequiresPayment,
        amount: Money::new(1500, "EUR"),
        refunded_amount: 0,
        checkout_url: "https://pay.example/c".into(),
        updated_at: T,
    };
    let user = UserView {
        user_id: UserId::new("u-1"),
        email: "ana@example.com".into(),
        name: "Ana".into(),
        role: Role::Customer,
        password_hash: "$argon2id$x".into(),
        verified: false,
        created_at: T,
    };
    let mut writes = vec![
        ViewWrite::PutResource(room.clone()),
        ViewWrite::PutBooking(first),
        ViewWrite::PutPayment(pay),
        ViewWrite::PutUser(user),
        ViewWrite::PutBooking(moved),
        ViewWrite::PatchBooking {
            id: BookingId::new("bk-1"),
            status: BookingStatus::Confirmed,
            refund: None,
            updated_at: T + 10,
        },
        ViewWrite::PatchPayment {
            id: PaymentId::new("pay-bk-1"),
            status: PaymentStatus::Succeeded,
            refunded_amount: None,
            updated_at: T + 10,
        },
        ViewWrite::MarkVerified {
            email: "ana@example.com".into(),
        },
        ViewWrite::PatchBooking {
            id: BookingId::new("bk-1"),
            status: BookingStatus::Cancelled,
            refund: Some(Money::new(1500, "EUR")),
            updated_at: T + 20,
        },
        ViewWrite::PatchPayment {
            id: PaymentId::new("pay-bk-1"),
            status: PaymentStatus::Refunded,
            refunded_amount: Some(1500),
            updated_at: T + 20,
        },
    ];
    room.kind = "court".into();
    writes.push(ViewWrite::PutResource(room));
    writes
}

/// Everything every query answers about the batch's rows.
async fn snapshot(views: &dyn ViewStore) -> String {
    let user = UserId::new("u-1");
    let res = ResourceId::new("res-1");
    let vendor = UserId::new("vendor");
    let ids = |items: Vec<BookingView>| -> Vec<String> {
        items.into_iter().map(|b| format!("{b:?}")).collect()
    };
    let mut out = vec![format!(
        "{:?}",
        views.booking(&BookingId::new("bk-1")).await
    )];
    out.push(format!(
        "{:?}",
        views.payment(&PaymentId::new("pay-bk-1")).await
    ));
    out.push(format!(
        "{:?}",
        views.user_by_email("ana@example.com").await
    ));
    out.push(format!("{:?}", views.resource(&res).await));
    for status in [
        None,
        Some(BookingStatus::Pending),
        Some(BookingStatus::Cancelled),
    ] {
        let page = views
            .bookings_by_user(&user, status, 10, None)
            .await
            .expect("by user");
        out.push(format!("user {status:?}: {:?}", ids(page.items)));
    }
    let page = views
        .bookings_by_resource(&res, 0, T + 10 * DAY, 10, None)
        .await
        .expect("by res");
    out.push(format!("resource: {:?}", ids(page.items)));
    let page = views
        .bookings_by_vendor(&vendor, 0, T + 10 * DAY, 10, None)
        .await
        .expect("by vendor");
    out.push(format!("vendor: {:?}", ids(page.items)));
    for kind in ["room", "court"] {
        let page = views
            .resources(None, Some(kind), 10, None)
            .await
            .expect("by kind");
        out.push(format!(
            "{kind}: {:?}",
            page.items.iter().map(|r| &r.id).collect::<Vec<_>>()
        ));
    }
    out.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_batch_converges_to_the_same_rows() {
    common::with_views("redelivery", |views, _| async move {
        let writes = batch();
        views.apply(&writes).await.expect("first delivery");
        let once = snapshot(&*views).await;
        let got = views
            .booking(&BookingId::new("bk-1"))
            .await
            .expect("get")
            .expect("present");
        assert_eq!(
            (got.status, got.start, got.refund),
            (
                BookingStatus::Cancelled,
                T + 3 * DAY,
                Some(Money::new(1500, "EUR"))
            ),
            "writes of one row applied in batch order"
        );
        assert!(
            once.contains("user Some(Pending): []") && once.contains("room: []"),
            "no stale entry is left where a row moved out:\n{once}"
        );

        views
            .apply(&writes)
            .await
            .expect("redelivery of the whole batch");
        assert_eq!(snapshot(&*views).await, once, "the whole batch again");

        for cut in [1, 4, 6, 9] {
            views
                .apply(&writes[..cut])
                .await
                .expect("a prefix (the crash)");
            views.apply(&writes).await.expect("the redelivery");
            assert_eq!(
                snapshot(&*views).await,
                once,
                "after a crash at write {cut}"
            );
        }
    })
    .await;
}
