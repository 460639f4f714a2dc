//! `GET /v1/events`: a partner's own booking and payment events, paged with
//! a cursor, in log order per partition.

use crate::helpers::time::HOUR;
use crate::helpers::{Role, TestApp, encode_query, spawn_app};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Every event `bearer` sees from `after` on, `limit` a page, following
/// cursors until a page has nothing more; returns the items and the last
/// cursor.
async fn drain(
    app: &TestApp,
    bearer: &str,
    query: &str,
    after: Option<&str>,
) -> (Vec<Value>, String) {
    let mut items = Vec::new();
    let mut cursor = after.map(str::to_owned);
    for _ in 0..100 {
        let mut path = format!("/v1/events?limit=2{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&after={}", encode_query(c)));
        }
        let page = app.get(&path, Some(bearer)).await;
        let body = page.expect(200, "events page");
        let got = body["items"].as_array().expect("items");
        assert!(got.len() <= 2, "a page of at most 2 in {}", page.text);
        items.extend(got.iter().cloned());
        cursor = Some(
            body["next_cursor"]
                .as_str()
                .expect("a next_cursor")
                .to_owned(),
        );
        if !body["has_more"].as_bool().expect("has_more") {
            return (items, cursor.unwrap_or_default());
        }
    }
    panic!("events still had more after 100 pages");
}

/// Pages through the events until `want` of them are there (the views
/// project them a little after the answers), bounded.
async fn await_events(
    app: &TestApp,
    bearer: &str,
    query: &str,
    want: usize,
) -> (Vec<Value>, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (items, cursor) = drain(app, bearer, query, None).await;
        if items.len() >= want {
            return (items, cursor);
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {want} events: {items:?}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kinds(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["type"].as_str().expect("type"))
        .collect()
}

/// `a` comes before `b` in `kinds`.
#[track_caller]
fn before(kinds: &[&str], a: &str, b: &str) {
    let pa = kinds
        .iter()
        .position(|k| *k == a)
        .unwrap_or_else(|| panic!("{a} in {kinds:?}"));
    let pb = kinds
        .iter()
        .position(|k| *k == b)
        .unwrap_or_else(|| panic!("{b} in {kinds:?}"));
    assert!(pa < pb, "{a} before {b} in {kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pages_through_its_bookings_lifecycle_and_a_vendor_sees_only_its_resources() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let rival = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let other_customer = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    let rival_room = app.create_room(&rival.token).await;

    let start = app.slot_after(48 * 60);
    let b = app
        .book_and_pay(&customer.token, &room, start, start + HOUR)
        .await;
    let id = b["id"].as_str().expect("booking id").to_owned();
    app.await_booking_status(&customer.token, &id, "confirmed")
        .await;
    app.cancel(&customer.token, &id).await.expect(200, "cancel");
    let theirs = app
        .book_ok(&other_customer.token, &rival_room, start, start + HOUR)
        .await;

    // The customer: its booking's lifecycle, each partition's events in
    // log order, through pages of two.
    let (items, cursor) = await_events(&app, &customer.token, "", 7).await;
    let k = kinds(&items);
    assert_eq!(items.len(), 7, "exactly its own events: {k:?}");
    for (a, z) in [
        ("booking.held", "booking.confirmed"),
        ("booking.confirmed", "booking.cancelled"),
        ("payment.created", "payment.processing"),
        ("payment.processing", "payment.succeeded"),
        ("payment.succeeded", "payment.refunded"),
    ] {
        before(&k, a, z);
    }
    assert!(
        items.iter().all(|i| i["booking_id"] == id.as_str()),
        "only its booking: {items:?}"
    );
    let mut ids: Vec<&str> = items
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 7, "ids are unique");
    let confirmed = items
        .iter()
        .find(|i| i["type"] == "booking.confirmed")
        .expect("confirmed");
    assert_eq!(confirmed["data"]["status"], "confirmed");
    assert_eq!(confirmed["resource_id"], room.as_str());

    // The cursor round-trips: nothing new after it, then only what is new.
    let (none, _) = drain(&app, &customer.token, "", Some(&cursor)).await;
    assert!(none.is_empty(), "nothing after the last cursor: {none:?}");
    let later = app
        .book_ok(&customer.token, &room, start + 2 * HOUR, start + 3 * HOUR)
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let fresh = loop {
        let (fresh, _) = drain(&app, &customer.token, "&types=booking.held", Some(&cursor)).await;
        if !fresh.is_empty() || Instant::now() >= deadline {
            break fresh;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(fresh.len(), 1, "only the new hold: {fresh:?}");
    assert_eq!(fresh[0]["booking_id"], later["id"]);

    // The types filter.
    let (cancels, _) = drain(
        &app,
        &customer.token,
        "&types=booking.cancelled,payment.refunded",
        None,
    )
    .await;
    assert_eq!(kinds(&cancels).len(), 2, "{cancels:?}");
    assert!(
        kinds(&cancels)
            .iter()
            .all(|k| *k == "booking.cancelled" || *k == "payment.refunded")
    );
    let bad = app
        .get("/v1/events?types=booking.exploded", Some(&customer.token))
        .await;
    bad.problem(422, "validation_failed");
    let bad = app
        .get("/v1/events?after=garbage!", Some(&customer.token))
        .await;
    bad.problem(422, "validation_failed");

    // The vendor: its resource and the bookings on it, never the rival's.
    let (mine, _) = await_events(&app, &vendor.token, "", 9).await;
    assert!(kinds(&mine).contains(&"resource.created"), "{mine:?}");
    assert!(
        mine.iter().all(|i| i["resource_id"] == room.as_str()),
        "only its resource: {mine:?}"
    );
    assert!(mine.iter().all(|i| i["booking_id"] != theirs["id"]));
    let (rivals, _) = await_events(&app, &rival.token, "", 2).await;
    assert!(
        rivals
            .iter()
            .all(|i| i["resource_id"] == rival_room.as_str()),
        "{rivals:?}"
    );
    app.stop().await;
}
