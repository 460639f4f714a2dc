//! The view store's contract: every query, pagination, the status filter,
//! half-open overlap at the boundaries, and idempotent writes.

use crate::contract::unique;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::fixtures;
use slotstream_domain::identity::Role;
use slotstream_domain::payment::PaymentStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::time::{DAY, HOUR, MINUTE};
use slotstream_domain::{BookingId, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    ApiKeyView, BookingView, LoginLockView, Page, PaymentView, RescheduleView, UserView, ViewError,
    ViewStore, ViewWrite, WebhookView,
};

const T: Millis = 1_800_000_000_000;

/// A customer's users-view row for `email` (its id is the email too).
pub fn user(email: &str) -> UserView {
    UserView {
        user_id: UserId::new(email),
        email: email.into(),
        name: "n".into(),
        role: Role::Customer,
        password_hash: String::new(),
        verified: false,
        created_at: T,
    }
}

/// A booking view with the given identity and interval.
pub fn booking(
    id: &str,
    user: &str,
    resource: &str,
    start: Millis,
    end: Millis,
    created_at: Millis,
) -> BookingView {
    BookingView {
        id: BookingId::new(id),
        resource_id: ResourceId::new(resource),
        vendor_id: UserId::new("vendor"),
        user_id: UserId::new(user),
        start,
        end,
        status: BookingStatus::Pending,
        amount: Money::new(1500, "EUR"),
        hold_expires_at: created_at + 15 * MINUTE,
        payment_id: PaymentId::new(format!("pay-{id}")),
        refund: None,
        created_at,
        updated_at: created_at,
        reschedules: Vec::new(),
    }
}

/// A resource of `vendor` and `kind`.
pub fn resource(id: &str, vendor: &str, kind: &str) -> Resource {
    Resource {
        name: format!("{kind} {id}"),
        kind: kind.to_owned(),
        price: fixtures::hourly(2000),
        created_at: T,
        ..fixtures::resource(id, vendor)
    }
}

async fn put(store: &dyn ViewStore, writes: Vec<ViewWrite>) {
    store.apply(&writes).await.expect("apply view writes");
}

/// Every page of a listing, following cursors; checks each page's size.
async fn all_pages<T, F, Fut>(limit: usize, mut page: F) -> Vec<T>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, ViewError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let p = page(cursor.take()).await.expect("list a page");
        assert!(p.items.len() <= limit, "a page holds at most `limit` items");
        let n = p.items.len();
        items.extend(p.items);
        match p.next_cursor {
            Some(c) => {
                assert_eq!(n, limit, "only a full page has a next cursor");
                cursor = Some(c);
            }
            None => return items,
        }
    }
    panic!("pagination did not end");
}

fn ids(bookings: &[BookingView]) -> Vec<&str> {
    bookings.iter().map(|b| b.id.as_str()).collect()
}

/// Bookings are found by id, replaced by a later put, and patched
/// idempotently; patches of unknown ids do nothing.
pub async fn bookings_are_found_by_id_and_patched_idempotently(store: &dyn ViewStore) {
    let id = unique("bk");
    let b = booking(&id, &unique("u"), &unique("r"), T, T + HOUR, T - DAY);
    put(store, vec![ViewWrite::PutBooking(b.clone())]).await;
    assert_eq!(store.booking(&b.id).await.expect("get"), Some(b.clone()));
    assert_eq!(
        store
            .booking(&BookingId::new(unique("none")))
            .await
            .expect("get"),
        None
    );

    let patch = ViewWrite::PatchBooking {
        id: b.id.clone(),
        status: BookingStatus::Cancelled,
        refund: Some(Money::new(750, "EUR")),
        updated_at: T - 1,
    };
    put(store, vec![patch.clone()]).await;
    let once = store.booking(&b.id).await.expect("get").expect("present");
    put(store, vec![patch]).await;
    let twice = store.booking(&b.id).await.expect("get").expect("present");
    assert_eq!(once, twice, "a patch applied twice changes nothing more");
    assert_eq!(once.status, BookingStatus::Cancelled);
    assert_eq!(once.refund, Some(Money::new(750, "EUR")));
    assert_eq!(
        (once.updated_at, once.start),
        (T - 1, b.start),
        "other fields kept"
    );
    let on_resource = store
        .bookings_by_resource(&b.resource_id, T, T + HOUR, 10, None)
        .await
        .expect("by resource");
    let on_vendor = store
        .bookings_by_vendor(&b.vendor_id, T, T + HOUR, 10, None)
        .await
        .expect("by vendor");
    assert_eq!(
        on_resource.items,
        vec![once.clone()],
        "the resource listing follows the patch"
    );
    assert_eq!(
        on_vendor.items,
        vec![once.clone()],
        "the vendor listing follows the patch"
    );

    let ghost = BookingId::new(unique("ghost"));
    put(
        store,
        vec![ViewWrite::PatchBooking {
            id: ghost.clone(),
            status: BookingStatus::Confirmed,
            refund: None,
            updated_at: T,
        }],
    )
    .await;
    assert_eq!(
        store.booking(&ghost).await.expect("get"),
        None,
        "no row from a patch"
    );
}

/// A user's bookings come newest first (ties by id), page by page with exact
/// limits, optionally of one status, and follow status changes and re-puts.
pub async fn bookings_by_user_are_newest_first_filtered_and_paginated(store: &dyn ViewStore) {
    let user = unique("user");
    let other = unique("other");
    let res = unique("res");
    let prefix = unique("b");
    let mut mine = Vec::new();
    for i in 0..7 {
        let mut b = booking(
            &format!("{prefix}-{i}"),
            &user,
            &res,
            T + i * HOUR,
            T + i * HOUR + MINUTE,
            T + i * 1000,
        );
        if i % 3 == 0 {
            b.status = BookingStatus::Confirmed;
        }
        mine.push(b);
    }
    // Two created at the same instant: ordered by id.
    mine.push(booking(
        &format!("{prefix}-tie-a"),
        &user,
        &res,
        T,
        T + MINUTE,
        T + 3500,
    ));
    mine.push(booking(
        &format!("{prefix}-tie-b"),
        &user,
        &res,
        T,
        T + MINUTE,
        T + 3500,
    ));
    let mut writes: Vec<ViewWrite> = mine.iter().cloned().map(ViewWrite::PutBooking).collect();
    writes.push(ViewWrite::PutBooking(booking(
        &unique("x"),
        &other,
        &res,
        T,
        T + 1,
        T + 99_999,
    )));
    put(store, writes).await;

    let mut expected = mine.clone();
    expected.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let user_id = UserId::new(&user);
    let uid = &user_id;
    for limit in [1, 2, 3, 9, 100] {
        let got = all_pages(limit, |c| async move {
            store.bookings_by_user(uid, None, limit, c.as_deref()).await
        })
        .await;
        assert_eq!(ids(&got), ids(&expected), "newest first with limit {limit}");
    }
    let full = store
        .bookings_by_user(uid, None, 9, None)
        .await
        .expect("list");
    assert_eq!(
        (full.items.len(), full.next_cursor),
        (9, None),
        "no cursor when nothing follows"
    );

    let confirmed: Vec<BookingView> = expected
        .iter()
        .filter(|b| b.status == BookingStatus::Confirmed)
        .cloned()
        .collect();
    let got = all_pages(2, |c| async move {
        store
            .bookings_by_user(uid, Some(BookingStatus::Confirmed), 2, c.as_deref())
            .await
    })
    .await;
    assert_eq!(ids(&got), ids(&confirmed), "status filter");

    let newest = expected[0].clone();
    put(
        store,
        vec![ViewWrite::PatchBooking {
            id: newest.id.clone(),
            status: BookingStatus::Confirmed,
            refund: None,
            updated_at: T,
        }],
    )
    .await;
    let got = store
        .bookings_by_user(uid, Some(BookingStatus::Confirmed), 100, None)
        .await
        .expect("list");
    assert_eq!(
        got.items.first().map(|b| &b.id),
        Some(&newest.id),
        "the filter follows patches"
    );

    let mut moved = expected[1].clone();
    moved.created_at = T - 1;
    put(store, vec![ViewWrite::PutBooking(moved.clone())]).await;
    let got = store
        .bookings_by_user(uid, None, 100, None)
        .await
        .expect("list");
    assert_eq!(
        got.items.len(),
        expected.len(),
        "a re-put booking is listed once"
    );
    assert_eq!(
        got.items.last().map(|b| &b.id),
        Some(&moved.id),
        "at its new place"
    );
}

/// Cursors this store did not issue are refused.
pub async fn bad_cursors_are_refused(store: &dyn ViewStore) {
    let user = UserId::new(unique("u"));
    let res = ResourceId::new(unique("r"));
    for bad in ["not a cursor!", "zz"] {
        let a = store.bookings_by_user(&user, None, 10, Some(bad)).await;
        assert!(
            matches!(a, Err(ViewError::BadCursor)),
            "by user, {bad:?}: {a:?}"
        );
        let b = store
            .bookings_by_resource(&res, T, T + HOUR, 10, Some(bad))
            .await;
        assert!(
            matches!(b, Err(ViewError::BadCursor)),
            "by resource, {bad:?}: {b:?}"
        );
        let c = store.resources(None, None, 10, Some(bad)).await;
        assert!(
            matches!(c, Err(ViewError::BadCursor)),
            "resources, {bad:?}: {c:?}"
        );
    }
}

/// `bookings_by_resource` returns bookings overlapping the half-open query
/// window, by start, including long bookings that began well before it.
pub async fn bookings_by_resource_overlap_half_open_windows(store: &dyn ViewStore) {
    let res = unique("res");
    let user = unique("u");
    let p = unique("b");
    let a = booking(&format!("{p}-a"), &user, &res, T, T + HOUR, T);
    let b = booking(&format!("{p}-b"), &user, &res, T + HOUR, T + 2 * HOUR, T);
    let c = booking(
        &format!("{p}-c"),
        &user,
        &res,
        T + 30 * MINUTE,
        T + 45 * MINUTE,
        T,
    );
    let d = booking(
        &format!("{p}-d"),
        &user,
        &res,
        T - 30 * DAY,
        T + 10 * MINUTE,
        T,
    );
    let elsewhere = booking(&unique("e"), &user, &unique("res"), T, T + HOUR, T);
    let writes = [&a, &b, &c, &d, &elsewhere].map(|x| ViewWrite::PutBooking(x.clone()));
    put(store, writes.to_vec()).await;

    let rid = ResourceId::new(&res);
    let cases: [(Millis, Millis, Vec<&BookingView>); 7] = [
        (T + HOUR, T + 2 * HOUR, vec![&b]),
        (T - HOUR, T, vec![&d]),
        (T, T + 1, vec![&d, &a]),
        (T + 10 * MINUTE, T + 30 * MINUTE, vec![&a]),
        (T + 30 * MINUTE, T + 31 * MINUTE, vec![&a, &c]),
        (T + 2 * HOUR, T + 3 * HOUR, vec![]),
        (T - 31 * DAY, T + 3 * HOUR, vec![&d, &a, &c, &b]),
    ];
    for (from, to, want) in cases {
        let got = store
            .bookings_by_resource(&rid, from, to, 100, None)
            .await
            .expect("list");
        let want: Vec<&str> = want.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(
            ids(&got.items),
            want,
            "window [{}, {}) relative to T",
            from - T,
            to - T
        );
    }
    let got = all_pages(1, |cur| {
        let rid = rid.clone();
        async move {
            store
                .bookings_by_resource(&rid, T - 31 * DAY, T + 3 * HOUR, 1, cur.as_deref())
                .await
        }
    })
    .await;
    assert_eq!(ids(&got), ids(&[d, a.clone(), c, b]), "paginated by start");
    let empty = store
        .bookings_by_resource(&rid, T + 5, T + 5, 10, None)
        .await
        .expect("list");
    assert!(
        empty.items.is_empty() && empty.next_cursor.is_none(),
        "an empty window"
    );
}

/// The first move of the lineage test.
fn first_again(user: &str) -> RescheduleView {
    RescheduleView {
        from_start: T,
        from_end: T + HOUR,
        to_start: T + 3 * HOUR,
        to_end: T + 4 * HOUR,
        by: UserId::new(user),
        at: T + MINUTE,
    }
}

/// A move rewrites the interval in the row and in the listings by start,
/// and adds the move to the booking's lineage once, however often it is
/// applied; a move of an unknown booking writes nothing.
pub async fn a_moved_booking_shows_its_lineage_and_is_listed_at_its_new_interval(
    store: &dyn ViewStore,
) {
    let res = unique("res");
    let user = unique("u");
    let b = booking(&unique("b"), &user, &res, T, T + HOUR, T);
    put(store, vec![ViewWrite::PutBooking(b.clone())]).await;
    let first = first_again(&user);
    let second = RescheduleView {
        from_start: T + 3 * HOUR,
        from_end: T + 4 * HOUR,
        to_start: T + DAY,
        to_end: T + DAY + HOUR,
        by: UserId::new(&user),
        at: T + 2 * MINUTE,
    };
    let mv = |m: &RescheduleView| ViewWrite::MoveBooking {
        id: b.id.clone(),
        moved: m.clone(),
        updated_at: m.at,
    };
    put(store, vec![mv(&first)]).await;
    put(store, vec![mv(&first)]).await;
    let got = store.booking(&b.id).await.expect("read").expect("found");
    assert_eq!((got.start, got.end), (T + 3 * HOUR, T + 4 * HOUR));
    assert_eq!(
        got.reschedules,
        std::slice::from_ref(&first),
        "once, however often applied"
    );
    assert_eq!(got.updated_at, T + MINUTE);
    put(store, vec![mv(&second)]).await;
    let got = store.booking(&b.id).await.expect("read").expect("found");
    assert_eq!((got.start, got.end), (T + DAY, T + DAY + HOUR));
    assert_eq!(got.reschedules, [first, second], "oldest first");
    let rid = ResourceId::new(&res);
    for (from, to, want) in [
        (T, T + 2 * HOUR, 0),
        (T + 3 * HOUR, T + 4 * HOUR, 0),
        (T + DAY, T + DAY + 1, 1),
    ] {
        let page = store
            .bookings_by_resource(&rid, from, to, 10, None)
            .await
            .expect("list");
        assert_eq!(page.items.len(), want, "[{}, {})", from - T, to - T);
        if want == 1 {
            assert_eq!(page.items[0].reschedules.len(), 2);
        }
    }
    let mine = store
        .bookings_by_user(&UserId::new(&user), None, 10, None)
        .await
        .expect("list");
    assert_eq!(mine.items.len(), 1);
    assert_eq!(mine.items[0].reschedules.len(), 2);
    let unknown = BookingId::new(unique("none"));
    put(
        store,
        vec![ViewWrite::MoveBooking {
            id: unknown.clone(),
            moved: first_again(&user),
            updated_at: T,
        }],
    )
    .await;
    assert_eq!(store.booking(&unknown).await.expect("read"), None);
}

/// `bookings_by_vendor` spans every resource of the vendor (and no other
/// vendor's), overlapping the half-open window, by start, paginated.
pub async fn bookings_by_vendor_span_all_their_resources(store: &dyn ViewStore) {
    let vendor = unique("vendor");
    let user = unique("u");
    let p = unique("b");
    let mine = |id: &str, res: &str, start: Millis, end: Millis| {
        let mut b = booking(&format!("{p}-{id}"), &user, res, start, end, T);
        b.vendor_id = UserId::new(&vendor);
        b
    };
    let (r1, r2) = (unique("res"), unique("res"));
    let a = mine("a", &r1, T, T + HOUR);
    let b = mine("b", &r2, T + 30 * MINUTE, T + 90 * MINUTE);
    let long = mine("long", &r2, T - 30 * DAY, T + 5 * MINUTE);
    let later = mine("later", &r1, T + 5 * HOUR, T + 6 * HOUR);
    let mut other = booking(&unique("other"), &user, &unique("res"), T, T + HOUR, T);
    other.vendor_id = UserId::new(unique("vendor"));
    let writes = [&a, &b, &long, &later, &other].map(|x| ViewWrite::PutBooking(x.clone()));
    put(store, writes.to_vec()).await;

    let v = UserId::new(&vendor);
    let cases: [(Millis, Millis, Vec<&BookingView>); 4] = [
        (T, T + 2 * HOUR, vec![&long, &a, &b]),
        (T + HOUR, T + 5 * HOUR, vec![&b]),
        (T + 6 * HOUR, T + 7 * HOUR, vec![]),
        (T - 31 * DAY, T + 7 * HOUR, vec![&long, &a, &b, &later]),
    ];
    for (from, to, want) in cases {
        let got = store
            .bookings_by_vendor(&v, from, to, 100, None)
            .await
            .expect("list");
        let want: Vec<&str> = want.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(
            ids(&got.items),
            want,
            "window [{}, {}) relative to T",
            from - T,
            to - T
        );
    }
    let got = all_pages(1, |cur| {
        let v = v.clone();
        async move {
            store
                .bookings_by_vendor(&v, T - 31 * DAY, T + 7 * HOUR, 1, cur.as_deref())
                .await
        }
    })
    .await;
    assert_eq!(ids(&got), ids(&[long, a, b, later]), "paginated by start");
}

/// Resources by id, by vendor, by kind and by both, in id order, paginated;
/// a re-put moves a resource between kinds.
pub async fn resources_filter_by_vendor_and_kind(store: &dyn ViewStore) {
    let p = unique("res");
    let (v1, v2) = (unique("v1"), unique("v2"));
    let (room, court) = (unique("room"), unique("court"));
    let r1 = resource(&format!("{p}-1"), &v1, &room);
    let r2 = resource(&format!("{p}-2"), &v1, &court);
    let r3 = resource(&format!("{p}-3"), &v1, &room);
    let r4 = resource(&format!("{p}-4"), &v2, &room);
    let all = [&r1, &r2, &r3, &r4];
    put(
        store,
        all.iter()
            .map(|r| ViewWrite::PutResource((*r).clone()))
            .collect(),
    )
    .await;
    assert_eq!(store.resource(&r2.id).await.expect("get"), Some(r2.clone()));
    assert_eq!(
        store
            .resource(&ResourceId::new(unique("none")))
            .await
            .expect("get"),
        None
    );

    let names = |rs: &[Resource]| rs.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    let want = |rs: &[&Resource]| rs.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
    let vendor1 = UserId::new(&v1);
    let (vendor, room_kind) = (&vendor1, room.as_str());
    let by_vendor = all_pages(2, |c| async move {
        store.resources(Some(vendor), None, 2, c.as_deref()).await
    })
    .await;
    assert_eq!(names(&by_vendor), want(&[&r1, &r2, &r3]), "by vendor");
    let both = all_pages(1, |c| async move {
        store
            .resources(Some(vendor), Some(room_kind), 1, c.as_deref())
            .await
    })
    .await;
    assert_eq!(names(&both), want(&[&r1, &r3]), "by vendor and kind");
    let by_kind = all_pages(2, |c| async move {
        store
            .resources(None, Some(room_kind), 2, c.as_deref())
            .await
    })
    .await;
    assert_eq!(names(&by_kind), want(&[&r1, &r3, &r4]), "by kind");
    let every = all_pages(3, |c| async move {
        store.resources(None, None, 3, c.as_deref()).await
    })
    .await;
    let ours: Vec<Resource> = every
        .into_iter()
        .filter(|r| r.id.as_str().starts_with(&p))
        .collect();
    assert_eq!(names(&ours), want(&all), "unfiltered, by id");

    let mut moved = r1.clone();
    moved.kind = court.clone();
    put(store, vec![ViewWrite::PutResource(moved)]).await;
    let by_kind = store
        .resources(None, Some(room_kind), 100, None)
        .await
        .expect("list");
    assert_eq!(
        names(&by_kind.items),
        want(&[&r3, &r4]),
        "left its old kind"
    );
    let courts = store
        .resources(Some(vendor), Some(&court), 100, None)
        .await
        .expect("list");
    assert_eq!(
        names(&courts.items),
        want(&[&r1, &r2]),
        "joined its new kind"
    );
}

/// A resource's schedule and rules come back whole from the resource
/// itself and from every listing, and a later put (a schedule change)
/// replaces them, back to none included.
pub async fn resource_schedules_and_rules_round_trip(store: &dyn ViewStore) {
    use slotstream_domain::schedule::{
        BookingRules, DateException, LocalDate, LocalRange, ScheduleSpec,
    };
    let vendor = unique("vs");
    let mut r = resource(&unique("sched"), &vendor, "room");
    r.timezone = "Europe/Berlin".into();
    r.schedule = Some(Box::new(ScheduleSpec {
        timezone: "Europe/Berlin".into(),
        weekly: std::array::from_fn(|d| match d {
            0 => vec![LocalRange::hm(9, 0, 12, 0), LocalRange::hm(13, 0, 24, 0)],
            6 => Vec::new(),
            _ => vec![LocalRange::hm(8, 30, 17, 0)],
        }),
        exceptions: vec![DateException {
            date: LocalDate::new(2030, 12, 24),
            hours: Vec::new(),
        }],
    }));
    r.rules = BookingRules {
        buffer_before_minutes: 5,
        buffer_after_minutes: 10,
        min_notice_minutes: 60,
        max_horizon_minutes: Some(43_200),
        modify_notice_minutes: 1_440,
    };
    put(store, vec![ViewWrite::PutResource(r.clone())]).await;
    assert_eq!(store.resource(&r.id).await.expect("get"), Some(r.clone()));
    let listed = store
        .resources(Some(&UserId::new(&vendor)), None, 10, None)
        .await
        .expect("list");
    assert_eq!(listed.items, vec![r.clone()]);
    let cleared = Resource {
        schedule: None,
        rules: BookingRules::default(),
        ..r.clone()
    };
    put(store, vec![ViewWrite::PutResource(cleared.clone())]).await;
    assert_eq!(store.resource(&r.id).await.expect("get"), Some(cleared));
}

/// Payments are put and patched idempotently; unknown ids stay unknown.
pub async fn payments_are_put_and_patched(store: &dyn ViewStore) {
    let id = PaymentId::new(unique("pay"));
    let pay = PaymentView {
        id: id.clone(),
        booking_id: BookingId::new(unique("bk")),
        resource_id: ResourceId::new(unique("r")),
        user_id: UserId::new(unique("u")),
        status: PaymentStatus::RequiresPayment,
        amount: Money::new(1500, "EUR"),
        refunded_amount: 0,
        checkout_url: "https://pay.example/checkout".into(),
        updated_at: T,
    };
    put(store, vec![ViewWrite::PutPayment(pay.clone())]).await;
    assert_eq!(store.payment(&id).await.expect("get"), Some(pay.clone()));
    let patch = ViewWrite::PatchPayment {
        id: id.clone(),
        status: PaymentStatus::PartiallyRefunded,
        refunded_amount: Some(500),
        updated_at: T + 1,
    };
    put(store, vec![patch.clone(), patch]).await;
    let got = store.payment(&id).await.expect("get").expect("present");
    assert_eq!(
        (got.status, got.refunded_amount, got.updated_at),
        (PaymentStatus::PartiallyRefunded, 500, T + 1)
    );
    assert_eq!(got.checkout_url, pay.checkout_url, "other fields kept");
    let ghost = PaymentId::new(unique("ghost"));
    put(
        store,
        vec![ViewWrite::PatchPayment {
            id: ghost.clone(),
            status: PaymentStatus::Succeeded,
            refunded_amount: None,
            updated_at: T,
        }],
    )
    .await;
    assert_eq!(store.payment(&ghost).await.expect("get"), None);
}

/// Users are found by email and marked verified idempotently.
pub async fn users_are_found_by_email_and_verified(store: &dyn ViewStore) {
    let email = format!("{}@example.com", unique("ana"));
    let user = UserView {
        user_id: UserId::new(unique("u")),
        email: email.clone(),
        name: "Ana".into(),
        role: Role::Customer,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        verified: false,
        created_at: T,
    };
    put(store, vec![ViewWrite::PutUser(user.clone())]).await;
    assert_eq!(
        store.user_by_email(&email).await.expect("get"),
        Some(user.clone())
    );
    let verify = ViewWrite::MarkVerified {
        email: email.clone(),
    };
    put(store, vec![verify.clone(), verify]).await;
    let got = store
        .user_by_email(&email)
        .await
        .expect("get")
        .expect("present");
    assert!(got.verified, "verified");
    assert_eq!(got.user_id, user.user_id);
    let ghost = format!("{}@example.com", unique("nobody"));
    put(
        store,
        vec![ViewWrite::MarkVerified {
            email: ghost.clone(),
        }],
    )
    .await;
    assert_eq!(store.user_by_email(&ghost).await.expect("get"), None);
}

/// Login locks are found by email, for any address; a lift marks the row
/// idempotently, and a new lock replaces a lifted one.
pub async fn login_locks_are_put_lifted_and_replaced(store: &dyn ViewStore) {
    let email = format!("{}@example.com", unique("locked"));
    assert_eq!(store.login_lock(&email).await.expect("get"), None);
    let lock = LoginLockView {
        email: email.clone(),
        locked_until: T + 15 * MINUTE,
        unlocked_at: None,
    };
    put(store, vec![ViewWrite::PutLoginLock(lock.clone())]).await;
    let got = store.login_lock(&email).await.expect("get");
    assert_eq!(got, Some(lock.clone()));
    assert!(got.is_some_and(|l| l.holds_at(T) && !l.holds_at(T + 15 * MINUTE)));
    let lift = ViewWrite::LiftLoginLock {
        email: email.clone(),
        unlocked_at: T + MINUTE,
    };
    put(store, vec![lift.clone(), lift]).await;
    let lifted = store.login_lock(&email).await.expect("get").expect("row");
    assert_eq!(
        (lifted.locked_until, lifted.unlocked_at),
        (T + 15 * MINUTE, Some(T + MINUTE)),
        "the lifted lock keeps its end"
    );
    assert!(!lifted.holds_at(T + 2 * MINUTE));
    let again = LoginLockView {
        email: email.clone(),
        locked_until: T + HOUR,
        unlocked_at: None,
    };
    put(store, vec![ViewWrite::PutLoginLock(again.clone())]).await;
    assert_eq!(store.login_lock(&email).await.expect("get"), Some(again));
    let ghost = format!("{}@example.com", unique("nobody"));
    put(
        store,
        vec![ViewWrite::LiftLoginLock {
            email: ghost.clone(),
            unlocked_at: T,
        }],
    )
    .await;
    assert_eq!(store.login_lock(&ghost).await.expect("get"), None);
}

fn api_key(id: &str, owner: &str) -> ApiKeyView {
    ApiKeyView {
        key_id: id.to_owned(),
        owner_id: UserId(owner.to_owned()),
        owner_email: format!("{owner}@example.com"),
        name: format!("key {id}"),
        prefix: format!("sk_live_{id}"),
        secret_hash: "9f".repeat(32),
        scopes: vec!["bookings:write".to_owned(), "resources:read".to_owned()],
        expires_at: Some(T + DAY),
        rate_per_second: Some(7),
        burst: None,
        created_at: T,
        revoked_at: None,
    }
}

/// API keys are found by id and listed by owner (by id, up to a limit,
/// revoked ones included); a revocation marks the row idempotently and
/// one of an unknown key writes nothing.
pub async fn api_keys_are_found_by_id_listed_by_owner_and_revoked(store: &dyn ViewStore) {
    let owner = unique("vendor");
    let other = unique("vendor");
    let ids = [unique("kb"), unique("ka"), unique("kc")];
    assert_eq!(store.api_key(&ids[0]).await.expect("get"), None);
    let mut writes: Vec<ViewWrite> = ids
        .iter()
        .map(|id| ViewWrite::PutApiKey(api_key(id, &owner)))
        .collect();
    let foreign = api_key(&unique("kz"), &other);
    writes.push(ViewWrite::PutApiKey(foreign.clone()));
    put(store, writes.clone()).await;
    put(store, writes).await;
    assert_eq!(
        store.api_key(&ids[0]).await.expect("get"),
        Some(api_key(&ids[0], &owner))
    );
    let mut sorted = ids.to_vec();
    sorted.sort();
    let listed = store
        .api_keys_by_owner(&UserId(owner.clone()), 10)
        .await
        .expect("list");
    let listed_ids: Vec<&str> = listed.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(listed_ids, sorted, "the owner's keys only, by id");
    let two = store
        .api_keys_by_owner(&UserId(owner.clone()), 2)
        .await
        .expect("list");
    assert_eq!(two.len(), 2);
    assert_eq!(
        store
            .api_keys_by_owner(&UserId(other), 10)
            .await
            .expect("list"),
        vec![foreign]
    );

    let revoke = ViewWrite::RevokeApiKey {
        key_id: ids[1].clone(),
        owner_id: UserId(owner.clone()),
        revoked_at: T + HOUR,
    };
    put(store, vec![revoke.clone(), revoke]).await;
    let revoked = store.api_key(&ids[1]).await.expect("get").expect("row");
    assert_eq!(revoked.revoked_at, Some(T + HOUR));
    assert!(!revoked.live_at(T) && api_key(&ids[1], &owner).live_at(T));
    assert!(!api_key(&ids[1], &owner).live_at(T + DAY), "expired");
    let listed = store
        .api_keys_by_owner(&UserId(owner.clone()), 10)
        .await
        .expect("list");
    assert_eq!(
        listed.iter().filter(|k| k.revoked_at.is_some()).count(),
        1,
        "the listing shows the revocation"
    );
    let ghost = unique("ghost");
    put(
        store,
        vec![ViewWrite::RevokeApiKey {
            key_id: ghost.clone(),
            owner_id: UserId(owner),
            revoked_at: T,
        }],
    )
    .await;
    assert_eq!(store.api_key(&ghost).await.expect("get"), None);
}

fn webhook(id: &str, owner: &str) -> WebhookView {
    WebhookView {
        webhook_id: id.to_owned(),
        owner_id: UserId(owner.to_owned()),
        owner_email: format!("{owner}@example.com"),
        url: format!("https://hooks.example.com/{id}"),
        events: vec![
            "booking.confirmed".to_owned(),
            "payment.succeeded".to_owned(),
        ],
        description: Some(format!("hook {id}")),
        created_at: T,
    }
}

/// Webhook subscriptions are found by owner and id and listed by owner (by
/// id, up to a limit); putting one twice leaves one row; a deletion removes
/// it (twice, or of an unknown one, is harmless).
pub async fn webhooks_are_listed_by_owner_and_deleted(store: &dyn ViewStore) {
    let owner = unique("vendor");
    let other = unique("vendor");
    let ids = [unique("whb"), unique("wha"), unique("whc")];
    let me = UserId(owner.clone());
    assert_eq!(store.webhook(&me, &ids[0]).await.expect("get"), None);
    let mut writes: Vec<ViewWrite> = ids
        .iter()
        .map(|id| ViewWrite::PutWebhook(webhook(id, &owner)))
        .collect();
    let foreign = webhook(&unique("whz"), &other);
    writes.push(ViewWrite::PutWebhook(foreign.clone()));
    put(store, writes.clone()).await;
    put(store, writes).await;
    assert_eq!(
        store.webhook(&me, &ids[0]).await.expect("get"),
        Some(webhook(&ids[0], &owner))
    );
    assert_eq!(
        store.webhook(&me, &foreign.webhook_id).await.expect("get"),
        None,
        "another owner's subscription is not found under mine"
    );
    let mut sorted = ids.to_vec();
    sorted.sort();
    let listed = store.webhooks_by_owner(&me, 10).await.expect("list");
    let listed_ids: Vec<&str> = listed.iter().map(|w| w.webhook_id.as_str()).collect();
    assert_eq!(listed_ids, sorted, "the owner's subscriptions only, by id");
    assert_eq!(
        store.webhooks_by_owner(&me, 2).await.expect("list").len(),
        2
    );
    assert_eq!(
        store
            .webhooks_by_owner(&UserId(other), 10)
            .await
            .expect("list"),
        vec![foreign]
    );
    let delete = ViewWrite::DeleteWebhook {
        owner_id: me.clone(),
        webhook_id: ids[1].clone(),
    };
    put(store, vec![delete.clone(), delete]).await;
    assert_eq!(store.webhook(&me, &ids[1]).await.expect("get"), None);
    assert_eq!(
        store.webhooks_by_owner(&me, 10).await.expect("list").len(),
        2
    );
    put(
        store,
        vec![ViewWrite::DeleteWebhook {
            owner_id: me.clone(),
            webhook_id: unique("ghost"),
        }],
    )
    .await;
    assert_eq!(
        store.webhooks_by_owner(&me, 10).await.expect("list").len(),
        2
    );
}
