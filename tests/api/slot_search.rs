//! Free slots across resources (`GET /v1/slots`, issue 15): each listed
//! resource with exactly its own `/v1/resources/{id}/slots` answer, pages
//! that follow a cursor and stay bounded, and offers that agree with what
//! `POST /v1/bookings` then decides.

use crate::helpers::time::{HOUR, MINUTE, align_up, parse_time};
use crate::helpers::{Resp, Role, TestApp, rfc3339, room, spawn_app, unique};
use crate::scheduling::{Pick, every_day, slots_path};
use serde_json::{Value, json};
use std::collections::BTreeSet;

const DAY: i64 = 24 * HOUR;

fn search_path(filters: &str, from: i64, to: i64, minutes: i64) -> String {
    format!(
        "/v1/slots?{filters}&from={}&to={}&duration={minutes}",
        rfc3339(from),
        rfc3339(to),
    )
}

/// Every page of a search, following `next_cursor` (at most 50 pages).
async fn all_pages(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let p = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let r = app.get(&p, Some(token)).await;
        let page = r.expect(200, "search page");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
    panic!("more than 50 pages for {path}");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["resource_id"].as_str().expect("resource_id").to_owned())
        .collect()
}

fn slot_starts(item: &Value) -> Vec<i64> {
    item["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| parse_time(s["start"].as_str().expect("start")))
        .collect()
}

fn offered(r: &Resp, id: &str, s: i64) -> bool {
    r.body["items"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|i| i["resource_id"] == id && slot_starts(i).contains(&s))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_lists_each_resource_with_its_own_answer_and_every_offered_slot_books() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let other_vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let kind = unique("court");
    let of_kind = |name: &str, extra: Value| {
        let mut body = room(&unique(name));
        body["kind"] = json!(kind);
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        body
    };
    let bodies = [
        // Always open, no rules.
        of_kind("open", json!({})),
        // Berlin mornings and evenings, with buffers and notice.
        of_kind(
            "berlin",
            json!({
                "timezone": "Europe/Berlin", "slot_minutes": 30, "min_minutes": 30,
                "schedule": {"weekly": {
                    "monday": [{"start": "08:00", "end": "12:00"}, {"start": "18:00", "end": "22:00"}],
                    "tuesday": [{"start": "08:00", "end": "12:00"}],
                    "wednesday": [{"start": "08:00", "end": "12:00"}, {"start": "18:00", "end": "22:00"}],
                    "thursday": [{"start": "08:00", "end": "12:00"}],
                    "friday": [{"start": "08:00", "end": "12:00"}, {"start": "18:00", "end": "22:00"}],
                    "saturday": [{"start": "10:00", "end": "14:00"}],
                    "sunday": [{"start": "10:00", "end": "14:00"}],
                }},
                "rules": {"buffer_before_minutes": 15, "buffer_after_minutes": 15, "min_notice_minutes": 90},
            }),
        ),
        // Hour-long bookings only: a 90-minute search leaves it out.
        of_kind(
            "hourly",
            json!({"slot_minutes": 60, "min_minutes": 60, "max_minutes": 120,
                   "timezone": "America/New_York",
                   "schedule": {"weekly": every_day("09:00", "17:00")}}),
        ),
        // Never open: never listed.
        of_kind("closed", json!({"schedule": {"weekly": {}}})),
    ];
    let mut mine = Vec::new();
    for b in bodies {
        let r = app.create_resource(&vendor.token, b).await;
        mine.push(r["id"].as_str().expect("id").to_owned());
    }
    let theirs = app
        .create_resource(&other_vendor.token, of_kind("theirs", json!({})))
        .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Another kind of the same vendor: not listed under this kind.
    app.create_room(&vendor.token).await;
    let open_ids: BTreeSet<String> = [&mine[0], &mine[1], &mine[2], &theirs]
        .into_iter()
        .cloned()
        .collect();

    let from = align_up(app.now_ms(), 15 * MINUTE);
    let to = from + 4 * DAY;
    let all = search_path(&format!("kind={kind}&limit=100"), from, to, 60);
    // The views know every resource once the search lists the four that
    // have slots.
    app.await_get(&all, &customer.token, |r| {
        r.status == 200
            && r.body["items"]
                .as_array()
                .is_some_and(|i| ids(i).into_iter().collect::<BTreeSet<_>>() == open_ids)
    })
    .await;
    // Two at a time, following the cursor.
    let listed = all_pages(
        &app,
        &customer.token,
        &search_path(&format!("kind={kind}&limit=2"), from, to, 60),
    )
    .await;
    let listed_ids = ids(&listed);
    let mut sorted = listed_ids.clone();
    sorted.sort();
    assert_eq!(listed_ids, sorted, "listed by resource id, each once");
    assert_eq!(
        listed_ids.iter().cloned().collect::<BTreeSet<_>>(),
        open_ids,
        "the resources with slots, not the closed one"
    );
    // Each exactly as its own slots answer (nothing changes meanwhile).
    for item in &listed {
        let id = item["resource_id"].as_str().unwrap();
        let own = app
            .get(&slots_path(id, from, to, 60), Some(&customer.token))
            .await;
        assert_eq!(own.expect(200, "own slots"), item, "{id}");
    }
    // A duration the hourly resource does not allow leaves it out; the
    // vendor filter keeps one vendor's.
    let longer = all_pages(
        &app,
        &customer.token,
        &search_path(&format!("kind={kind}"), from, to, 90),
    )
    .await;
    assert!(!ids(&longer).contains(&mine[2]) && ids(&longer).contains(&mine[1]));
    let own_vendor = all_pages(
        &app,
        &customer.token,
        &search_path(
            &format!("kind={kind}&vendor_id={}", other_vendor.id),
            from,
            to,
            60,
        ),
    )
    .await;
    assert_eq!(ids(&own_vendor), [theirs]);

    // Every offered slot books, and once the views know the booking the
    // search stops offering it; a grid start a listed resource was not
    // offered is refused.
    let mut pick = Pick(0x51_07_5e_a7);
    for round in 0..8 {
        let r = app.get(&all, Some(&customer.token)).await;
        let items = r.expect(200, "search").clone();
        let items = items["items"].as_array().expect("items");
        let item = &items[pick.below(items.len())];
        let id = item["resource_id"].as_str().unwrap().to_owned();
        let starts = slot_starts(item);
        let grid = align_up(from, 60 * MINUTE);
        for _ in 0..3 {
            let s = grid + HOUR * pick.below(((to - grid) / HOUR) as usize) as i64;
            if starts.contains(&s) {
                continue;
            }
            let refused = app
                .book(&customer.token, &unique("k"), &id, s, s + HOUR)
                .await;
            assert!(
                matches!(refused.status, 409 | 422),
                "round {round}: {} on {id} was not offered but booked: {}",
                rfc3339(s),
                refused.text
            );
        }
        let s = starts[pick.below(starts.len())];
        app.book_ok(&customer.token, &id, s, s + HOUR).await;
        app.await_get(&all, &customer.token, |r| {
            r.status == 200 && !offered(r, &id, s)
        })
        .await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_is_checked_and_its_pages_are_bounded() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let kind = unique("desk");
    let mut made = Vec::new();
    for _ in 0..2 {
        let mut body = room(&unique("desk"));
        body["kind"] = json!(kind);
        made.push(
            app.create_resource(&vendor.token, body).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    made.sort();
    let from = app.slot_after(60);
    let filters = format!("kind={kind}");
    for (path, field) in [
        (search_path(&filters, from, from + 63 * DAY, 60), "to"),
        (search_path(&filters, from, from, 60), "to"),
        (search_path(&filters, from, from + DAY, 0), "duration"),
        (search_path(&filters, from, from + DAY, 525_601), "duration"),
        (
            format!("{}&limit=0", search_path(&filters, from, from + DAY, 60)),
            "limit",
        ),
        (
            format!("{}&cursor=zz", search_path(&filters, from, from + DAY, 60)),
            "cursor",
        ),
        (
            format!("/v1/slots?from=x&to={}&duration=60", rfc3339(from)),
            "from",
        ),
    ] {
        let r = app.get(&path, Some(&vendor.token)).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("validation_failed")),
            "{path}: {}",
            r.text
        );
        assert_eq!(r.body["errors"][0]["field"], field, "{path}");
    }
    let r = app
        .get(&search_path(&filters, from, from + DAY, 60), None)
        .await;
    assert_eq!(r.status, 401);

    // 62 days of 15-minute starts on an always-open resource are 5,952
    // slots: two of them pass a page's 10,000, so each gets a page of its
    // own, whole.
    let path = search_path(&filters, from, from + 62 * DAY, 15);
    let first = app
        .await_get(&path, &vendor.token, |r| {
            r.status == 200 && r.body["next_cursor"].is_string()
        })
        .await;
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(ids(items), [made[0].clone()]);
    assert_eq!(items[0]["slots"].as_array().unwrap().len(), 62 * 96);
    assert_eq!(items[0]["truncated"], false);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .get(&format!("{path}&cursor={cursor}"), Some(&vendor.token))
        .await;
    let second = second.expect(200, "second page");
    assert_eq!(ids(second["items"].as_array().unwrap()), [made[1].clone()]);
    assert_eq!(second["next_cursor"], Value::Null);
    app.stop().await;
}
