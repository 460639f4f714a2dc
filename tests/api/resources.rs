//! Resources, their listing and availability, and the vendor's view of the
//! bookings on them.

use crate::helpers::time::{HOUR, time_of};
use crate::helpers::{Resp, Role, TestApp, rfc3339, room, spawn_app, unique};
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn ids(r: &Resp) -> Vec<String> {
    r.body["items"].as_array().map_or_else(Vec::new, |items| {
        items
            .iter()
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_creates_a_resource_with_the_contracts_defaults() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;

    let r = app
        .post(
            "/v1/resources",
            Some(&vendor.token),
            None,
            &room("Blue room"),
        )
        .await;

    let res = r.expect(201, "create resource");
    assert!(
        res["id"].as_str().is_some_and(|s| !s.is_empty()),
        "id in {}",
        r.text
    );
    assert_eq!(res["vendor_id"], vendor.id.as_str());
    assert_eq!(res["name"], "Blue room");
    assert_eq!(res["kind"], "room");
    assert_eq!(
        res["price"],
        json!({"amount": 2000, "currency": "EUR", "unit_minutes": 60})
    );
    assert_eq!(res["slot_minutes"], 15);
    assert_eq!(res["min_minutes"], 15);
    assert_eq!(res["max_minutes"], 43_200);
    assert_eq!(
        res["cancellation_policy"],
        json!({"full_refund_hours": 24, "partial_refund_hours": 2, "partial_refund_percent": 50})
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_can_read_a_vendors_resource() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let id = app.create_room(&vendor.token).await;

    let r = app
        .await_get(&format!("/v1/resources/{id}"), &customer.token, |r| {
            r.status == 200
        })
        .await;

    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["vendor_id"], vendor.id.as_str());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cannot_create_a_resource() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;

    let r = app
        .post(
            "/v1/resources",
            Some(&customer.token),
            None,
            &room("Mine now"),
        )
        .await;

    r.problem(403, "forbidden");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_resource_is_not_found() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;

    let r = app
        .get("/v1/resources/res_does_not_exist", Some(&customer.token))
        .await;

    assert_eq!(r.status, 404, "{}", r.text);
    r.assert_problem_shape();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_resource_is_refused_with_validation_failed_naming_the_field() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let mut body = room("Lower-case money");
    body["price"]["currency"] = json!("eur");

    let r = app
        .post("/v1/resources", Some(&vendor.token), None, &body)
        .await;

    r.problem(422, "validation_failed");
    assert!(
        r.text.contains("currency"),
        "the offending field is not named in {}",
        r.text
    );
    app.stop().await;
}

/// Creates `n` rooms for `token` with the given kind; returns their ids.
async fn create_many(app: &TestApp, token: &str, n: usize, kind: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for _ in 0..n {
        let mut body = room(&unique("room"));
        body["kind"] = json!(kind);
        out.insert(
            app.create_resource(token, body).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_a_vendors_resources_pages_through_all_of_them_without_duplicates() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let other = app.register_and_login(Role::Vendor).await;
    let created = create_many(&app, &vendor.token, 25, "room").await;
    create_many(&app, &other.token, 2, "room").await;
    let all = format!("/v1/resources?vendor_id={}&limit=100", vendor.id);
    app.await_get(&all, &vendor.token, |r| ids(r).len() == 25)
        .await;

    let mut pages = Vec::new();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut path = format!("/v1/resources?vendor_id={}&limit=10", vendor.id);
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", crate::helpers::encode_query(c)));
        }
        let r = app.get(&path, Some(&vendor.token)).await;
        r.expect(200, "a page");
        pages.push(ids(&r).len());
        seen.extend(ids(&r));
        cursor = r.body["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }

    assert_eq!(pages, vec![10, 10, 5], "page sizes");
    let unique_seen: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(
        unique_seen.len(),
        seen.len(),
        "a resource appeared on two pages"
    );
    assert_eq!(
        unique_seen, created,
        "the pages hold exactly the vendor's resources"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_resources_by_kind_returns_only_that_kind() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let courts = create_many(&app, &vendor.token, 2, "court").await;
    create_many(&app, &vendor.token, 2, "room").await;
    let path = format!("/v1/resources?vendor_id={}&kind=court&limit=100", vendor.id);

    let r = app
        .await_get(&path, &vendor.token, |r| ids(r).len() >= 2)
        .await;

    assert_eq!(
        ids(&r).into_iter().collect::<BTreeSet<_>>(),
        courts,
        "kind=court gave {}",
        r.text
    );
    app.stop().await;
}

fn busy(r: &Resp) -> Vec<(i64, i64)> {
    r.body["busy"].as_array().map_or_else(Vec::new, |b| {
        let mut v: Vec<_> = b
            .iter()
            .map(|i| (time_of(&i["start"]), time_of(&i["end"])))
            .collect();
        v.sort_unstable();
        v
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_lists_pending_and_confirmed_bookings_but_not_expired_or_cancelled_ones() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let s = app.slot_after(48 * 60);
    let expired = app.book_ok(&customer.token, &resource, s, s + HOUR).await;
    app.advance_past_unpaid_hold();
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, expired["id"].as_str().expect("id"), "expired")
        .await;
    app.book_ok(&token, &resource, s + HOUR, s + 2 * HOUR).await;
    app.book_and_pay(&token, &resource, s + 2 * HOUR, s + 3 * HOUR)
        .await;
    let cancelled = app
        .book_ok(&token, &resource, s + 3 * HOUR, s + 4 * HOUR)
        .await;
    app.cancel(&token, cancelled["id"].as_str().expect("id"))
        .await
        .expect(200, "cancel");
    let (from, to) = (rfc3339(s - HOUR), rfc3339(s + 5 * HOUR));
    let path = format!("/v1/resources/{resource}/availability?from={from}&to={to}");
    let want = vec![(s + HOUR, s + 2 * HOUR), (s + 2 * HOUR, s + 3 * HOUR)];

    let r = app
        .await_get(&path, &token, |r| r.status == 200 && busy(r) == want)
        .await;

    assert_eq!(r.body["resource_id"], resource.as_str());
    assert_eq!(time_of(&r.body["from"]), s - HOUR);
    assert_eq!(time_of(&r.body["to"]), s + 5 * HOUR);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_of_an_unknown_resource_is_not_found() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;
    let s = app.slot_after(60);
    let path = format!(
        "/v1/resources/res_does_not_exist/availability?from={}&to={}",
        rfc3339(s),
        rfc3339(s + HOUR)
    );

    let r = app.get(&path, Some(&customer.token)).await;

    assert_eq!(r.status, 404, "{}", r.text);
    r.assert_problem_shape();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn availability_with_to_before_from_is_refused_with_validation_failed() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let resource = app.create_room(&vendor.token).await;
    let s = app.slot_after(60);
    let path = format!(
        "/v1/resources/{resource}/availability?from={}&to={}",
        rfc3339(s + HOUR),
        rfc3339(s)
    );

    let r = app
        .await_get(&path, &vendor.token, |r| r.status != 404)
        .await;

    r.problem(422, "validation_failed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendor_bookings_list_shows_only_bookings_on_the_callers_resources() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let other = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let mine = app.create_room(&vendor.token).await;
    let theirs = app.create_room(&other.token).await;
    let s = app.slot_after(24 * 60);
    let on_mine = app.book_ok(&customer.token, &mine, s, s + HOUR).await;
    app.book_ok(&customer.token, &theirs, s, s + HOUR).await;
    app.await_get("/v1/vendor/bookings?limit=100", &other.token, |r| {
        !ids(r).is_empty()
    })
    .await;

    let r = app
        .await_get("/v1/vendor/bookings?limit=100", &vendor.token, |r| {
            !ids(r).is_empty()
        })
        .await;
    let filtered = app
        .get(
            &format!("/v1/vendor/bookings?resource_id={theirs}"),
            Some(&vendor.token),
        )
        .await;

    let items: &Vec<Value> = r.body["items"].as_array().expect("items");
    assert_eq!(
        ids(&r),
        vec![on_mine["id"].as_str().expect("id").to_owned()],
        "vendor sees {}",
        r.text
    );
    assert!(items.iter().all(|b| b["resource_id"] == mine.as_str()));
    assert!(
        filtered.status == 404 || (filtered.status == 200 && ids(&filtered).is_empty()),
        "another vendor's resource leaked: {} {}",
        filtered.status,
        filtered.text
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_cannot_list_vendor_bookings() {
    let app = spawn_app().await;
    let customer = app.register_and_login(Role::Customer).await;

    let r = app.get("/v1/vendor/bookings", Some(&customer.token)).await;

    r.problem(403, "forbidden");
    app.stop().await;
}
