//! Opening hours, buffers, notice, horizon and free slots (issue 15): the
//! schedule endpoints, one refusal code per rule, and slots that agree with
//! what `POST /v1/bookings` then decides.

use crate::helpers::time::{HOUR, MINUTE, align_up, parse_time};
use crate::helpers::{Resp, Role, TestApp, User, rfc3339, room, spawn_app, unique};
use serde_json::{Value, json};

const DAY: i64 = 24 * HOUR;

/// Every day of the week open `from`-`to` (`HH:MM`).
pub fn every_day(from: &str, to: &str) -> Value {
    let hours = json!([{"start": from, "end": to}]);
    json!({
        "monday": hours, "tuesday": hours, "wednesday": hours, "thursday": hours,
        "friday": hours, "saturday": hours, "sunday": hours,
    })
}

async fn put_schedule(app: &TestApp, token: &str, id: &str, body: &Value) -> Resp {
    app.send(
        app.client
            .put(app.url(&format!("/v1/resources/{id}/schedule")))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

pub fn slots_path(id: &str, from: i64, to: i64, minutes: i64) -> String {
    format!(
        "/v1/resources/{id}/slots?from={}&to={}&duration={minutes}",
        rfc3339(from),
        rfc3339(to),
    )
}

/// The offered starts (epoch ms) of a slots answer.
pub fn starts(r: &Resp) -> Vec<i64> {
    r.body["slots"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|slot| parse_time(slot["start"].as_str().expect("start")))
                .collect()
        })
        .unwrap_or_default()
}

fn detail(r: &Resp) -> &str {
    r.body["detail"].as_str().unwrap_or("")
}

/// A vendor and a customer, and the vendor's resource made of `body`.
async fn vendor_customer_resource(app: &TestApp, body: Value) -> (User, User, String) {
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let r = app.create_resource(&vendor.token, body).await;
    let id = r["id"].as_str().expect("id").to_owned();
    (vendor, customer, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_sets_reads_and_clears_hours_and_learns_which_bookings_fall_outside() {
    let app = spawn_app().await;
    let (vendor, customer, id) = vendor_customer_resource(&app, room(&unique("room"))).await;
    // Two bookings tomorrow (UTC): 06:00-07:00 and 10:00-11:00.
    let day = align_up(app.now_ms(), DAY) + DAY;
    let early = app
        .book_ok(&customer.token, &id, day + 6 * HOUR, day + 7 * HOUR)
        .await;
    let inside = app
        .book_ok(&customer.token, &id, day + 10 * HOUR, day + 11 * HOUR)
        .await;

    let body = json!({
        "schedule": {
            "weekly": every_day("09:00", "17:00"),
            "exceptions": [{"date": &rfc3339(day + 2 * DAY)[..10], "hours": []}],
        },
        "rules": {"buffer_after_minutes": 15},
    });
    // Only the resource's vendor may change it, with a valid schedule.
    let other = app.register_and_login(Role::Vendor).await;
    let r = put_schedule(&app, &other.token, &id, &body).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (403, Some("forbidden"))
    );
    let r = put_schedule(&app, &customer.token, &id, &body).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let bad = json!({"schedule": {"weekly": {"monday": [{"start": "09:00", "end": "25:00"}]}}});
    let r = put_schedule(&app, &vendor.token, &id, &bad).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body["errors"][0]["field"],
        "schedule.weekly.monday[0].end"
    );
    let overlapping = json!({"schedule": {"weekly": {"friday": [
        {"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]}}});
    let r = put_schedule(&app, &vendor.token, &id, &overlapping).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["errors"][0]["field"], "schedule.weekly.friday");

    let r = put_schedule(&app, &vendor.token, &id, &body).await;
    let changed = r.expect(200, "schedule changed");
    assert_eq!(changed["outside_hours"], json!([early["id"]]));
    assert_eq!(
        changed["schedule"]["weekly"]["monday"],
        json!([{"start": "09:00", "end": "17:00"}])
    );
    assert_eq!(changed["rules"]["buffer_after_minutes"], 15);
    assert_eq!(changed["rules"]["max_horizon_minutes"], Value::Null);

    // Both bookings stay; the change cancelled nothing.
    for b in [&early, &inside] {
        let got = app
            .get(
                &format!("/v1/bookings/{}", b["id"].as_str().unwrap()),
                Some(&customer.token),
            )
            .await;
        assert_eq!(got.body["status"], "pending", "{}", got.text);
    }
    let read = app
        .get(
            &format!("/v1/resources/{id}/schedule"),
            Some(&customer.token),
        )
        .await;
    let read = read.expect(200, "schedule");
    assert_eq!(read["timezone"], "UTC");
    assert_eq!(read["schedule"], changed["schedule"]);
    let resource = app
        .get(&format!("/v1/resources/{id}"), Some(&customer.token))
        .await;
    assert_eq!(resource.body["rules"]["buffer_after_minutes"], 15);

    // The new hours decide: 07:00 is closed, and the dated exception
    // closes the day after tomorrow altogether.
    let r = app
        .book(
            &customer.token,
            &unique("k"),
            &id,
            day + 7 * HOUR,
            day + 8 * HOUR,
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.body["code"], "outside_opening_hours");
    assert_eq!(
        r.body["type"],
        "urn:slotstream:problem:outside_opening_hours"
    );
    assert!(
        detail(&r).contains(&format!(
            "{} to {}",
            rfc3339(day + 9 * HOUR),
            rfc3339(day + 17 * HOUR)
        )),
        "{}",
        r.text
    );
    let closed = day + 2 * DAY + 10 * HOUR;
    let r = app
        .book(&customer.token, &unique("k"), &id, closed, closed + HOUR)
        .await;
    assert_eq!(r.body["code"], "outside_opening_hours", "{}", r.text);

    // Back to always open, without rules.
    let r = put_schedule(&app, &vendor.token, &id, &json!({"schedule": null})).await;
    let cleared = r.expect(200, "cleared");
    assert_eq!(cleared["schedule"], Value::Null);
    assert_eq!(cleared["outside_hours"], json!([]));
    app.book_ok(&customer.token, &id, day + 7 * HOUR, day + 8 * HOUR)
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_refuses_with_its_own_code_and_says_what_would_pass() {
    let app = spawn_app().await;
    let mut body = room(&unique("room"));
    body["rules"] = json!({
        "buffer_before_minutes": 15,
        "buffer_after_minutes": 30,
        "min_notice_minutes": 120,
        "max_horizon_minutes": 7 * 24 * 60,
        "modify_notice_minutes": 24 * 60,
    });
    // A whole minute, so the instants the details name are whole seconds.
    app.clock
        .advance(align_up(app.now_ms(), MINUTE) - app.now_ms());
    let (_vendor, customer, id) = vendor_customer_resource(&app, body).await;
    let now = app.now_ms();

    // Minimum notice: the earliest allowed start is now + 2 h.
    let soon = app.slot_after(60);
    let r = app
        .book(&customer.token, &unique("k"), &id, soon, soon + HOUR)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("too_soon")),
        "{}",
        r.text
    );
    assert!(detail(&r).contains(&rfc3339(now + 2 * HOUR)), "{}", r.text);

    // Horizon: the latest allowed start is now + 7 days.
    let far = app.slot_after(8 * 24 * 60);
    let r = app
        .book(&customer.token, &unique("k"), &id, far, far + HOUR)
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("too_far_ahead")),
        "{}",
        r.text
    );
    assert!(detail(&r).contains(&rfc3339(now + 7 * DAY)), "{}", r.text);

    // Buffers: 30 minutes after a booking plus 15 before the next.
    let a = app.slot_after(3 * 60);
    let first = app.book_ok(&customer.token, &id, a, a + HOUR).await;
    assert_eq!(
        parse_time(first["end"].as_str().unwrap()),
        a + HOUR,
        "buffers are not the booking's time"
    );
    let r = app
        .book(
            &customer.token,
            &unique("k"),
            &id,
            a + HOUR + 15 * MINUTE,
            a + 2 * HOUR,
        )
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (409, Some("slot_unavailable")),
        "{}",
        r.text
    );
    assert!(
        detail(&r).contains(&rfc3339(a + HOUR + 45 * MINUTE)),
        "{}",
        r.text
    );
    app.book_ok(
        &customer.token,
        &id,
        a + HOUR + 45 * MINUTE,
        a + 2 * HOUR + 45 * MINUTE,
    )
    .await;

    // Cancellation notice: a day; this one starts in about three hours.
    let r = app
        .cancel(&customer.token, first["id"].as_str().unwrap())
        .await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (422, Some("cancellation_notice_passed")),
        "{}",
        r.text
    );
    assert!(detail(&r).contains(&rfc3339(a - DAY)), "{}", r.text);
    // One more than a day ahead may still be cancelled.
    let later = app.slot_after(2 * 24 * 60);
    let b = app.book_ok(&customer.token, &id, later, later + HOUR).await;
    app.cancel(&customer.token, b["id"].as_str().unwrap())
        .await
        .expect(200, "cancel ahead of the notice");
    app.stop().await;
}

/// A small deterministic generator (xorshift), so a failure replays.
pub struct Pick(pub u64);

impl Pick {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_offered_slot_books_and_a_refused_start_was_not_offered() {
    let app = spawn_app().await;
    let mut body = room(&unique("room"));
    body["timezone"] = json!("Europe/Berlin");
    body["slot_minutes"] = json!(30);
    body["min_minutes"] = json!(30);
    body["schedule"] = json!({
        "weekly": {
            "monday": [{"start": "08:00", "end": "12:00"}, {"start": "13:00", "end": "18:30"}],
            "tuesday": [{"start": "08:00", "end": "18:00"}],
            "wednesday": [{"start": "10:00", "end": "14:00"}],
            "thursday": [{"start": "08:00", "end": "18:00"}],
            "friday": [{"start": "20:00", "end": "24:00"}],
            "saturday": [{"start": "00:00", "end": "03:00"}, {"start": "09:00", "end": "13:00"}],
            "sunday": [],
        },
    });
    body["rules"] = json!({
        "buffer_before_minutes": 10,
        "buffer_after_minutes": 20,
        "min_notice_minutes": 60,
        "max_horizon_minutes": 5 * 24 * 60,
    });
    let (_vendor, customer, id) = vendor_customer_resource(&app, body).await;
    let from = app.now_ms();
    let to = from + 6 * DAY;
    let mut pick = Pick(0x5eed_cafe);
    let mut booked = 0;
    for round in 0..8 {
        let minutes = [60, 90, 30][round % 3];
        let r = app
            .get(&slots_path(&id, from, to, minutes), Some(&customer.token))
            .await;
        let answer = r.expect(200, "slots").clone();
        let offered = starts(&r);
        assert!(
            !offered.is_empty(),
            "round {round}: nothing offered: {}",
            r.text
        );
        // Every slot: in the window, on the grid, after the notice, within
        // the horizon, local time with Berlin's offset.
        for (s, slot) in offered.iter().zip(answer["slots"].as_array().unwrap()) {
            assert!(*s >= from + HOUR && *s <= from + 5 * DAY && s % (30 * MINUTE) == 0);
            let local = slot["local_start"].as_str().unwrap();
            assert!(
                local.ends_with("+01:00") || local.ends_with("+02:00"),
                "{local}"
            );
        }
        // Grid starts in the window that were not offered are refused.
        let grid = align_up(from, 30 * MINUTE);
        for _ in 0..3 {
            let s = grid + 30 * MINUTE * pick.below(((to - grid) / (30 * MINUTE)) as usize) as i64;
            if offered.contains(&s) {
                continue;
            }
            let r = app
                .book(&customer.token, &unique("k"), &id, s, s + minutes * MINUTE)
                .await;
            assert!(
                matches!(r.status, 409 | 422),
                "round {round}: {} was not offered but booked: {}",
                rfc3339(s),
                r.text
            );
        }
        // An offered one books.
        let s = offered[pick.below(offered.len())];
        app.book_ok(&customer.token, &id, s, s + minutes * MINUTE)
            .await;
        booked += 1;
        // Once the views know it, it is no longer offered.
        app.await_get(&slots_path(&id, from, to, minutes), &customer.token, |r| {
            r.status == 200 && !starts(r).contains(&s)
        })
        .await;
    }
    assert_eq!(booked, 8);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slot_queries_are_checked_and_bounded() {
    let app = spawn_app().await;
    let (_vendor, customer, id) = vendor_customer_resource(&app, room(&unique("room"))).await;
    let from = app.slot_after(60);
    for (path, field) in [
        (slots_path(&id, from, from + 63 * DAY, 60), "to"),
        (slots_path(&id, from, from, 60), "to"),
        (slots_path(&id, from, from + DAY, 50), "duration"),
        (
            format!("/v1/resources/{id}/slots?from=yesterday&to=x&duration=60"),
            "from",
        ),
    ] {
        let r = app.get(&path, Some(&customer.token)).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (422, Some("validation_failed")),
            "{path}: {}",
            r.text
        );
        assert_eq!(r.body["errors"][0]["field"], field, "{path}");
    }
    let r = app
        .get(
            &slots_path("no-such-resource", from, from + DAY, 60),
            Some(&customer.token),
        )
        .await;
    assert_eq!(r.status, 404);
    // Without a schedule or rules, every aligned start in the window is
    // offered, minus what a booking holds.
    app.book_ok(&customer.token, &id, from + HOUR, from + 2 * HOUR)
        .await;
    let r = app
        .await_get(
            &slots_path(&id, from, from + 4 * HOUR, 60),
            &customer.token,
            |r| r.status == 200 && starts(r).len() == 16 - 7,
        )
        .await;
    let expected: Vec<i64> = (0..16)
        .map(|i| from + i * 15 * MINUTE)
        .filter(|s| *s + HOUR <= from + HOUR || *s >= from + 2 * HOUR)
        .collect();
    assert_eq!(starts(&r), expected);
    app.stop().await;
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Midnight UTC of the last Sunday of March (the EU's spring forward, at
/// 01:00 UTC) of the first year in which it is more than two days after
/// `now`.
fn next_spring_forward(now: i64) -> i64 {
    let mut year = 1970 + now / (365 * DAY) - 1;
    loop {
        let march_31 = days_from_civil(year, 3, 31);
        // 1970-01-01 was a Thursday: (days + 4) % 7 is 0 on Sundays.
        let sunday = march_31 - (march_31 + 4).rem_euclid(7);
        if sunday * DAY > now + 2 * DAY {
            return sunday * DAY;
        }
        year += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_spring_forward_day_the_skipped_hour_is_never_offered_or_booked() {
    let app = spawn_app().await;
    let day = next_spring_forward(app.now_ms());
    // The day before, so notice and the booking window hold.
    app.clock.advance(day - DAY - app.now_ms());
    let mut body = room(&unique("room"));
    body["timezone"] = json!("Europe/Berlin");
    body["slot_minutes"] = json!(60);
    body["min_minutes"] = json!(60);
    body["schedule"] = json!({"weekly": every_day("01:00", "04:00")});
    let (_vendor, customer, id) = vendor_customer_resource(&app, body).await;

    // 01:00-04:00 local is two real hours that day: 00:00Z-02:00Z (the
    // next opening, 01:00 CEST, is 23:00Z: out of this window).
    let r = app
        .get(
            &slots_path(&id, day, day + 20 * HOUR, 60),
            Some(&customer.token),
        )
        .await;
    let answer = r.expect(200, "slots");
    let locals: Vec<(String, String)> = answer["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].to_string(), s["local_start"].to_string()))
        .collect();
    let date = &rfc3339(day)[..10];
    let quoted = |s: String| format!("\"{s}\"");
    assert_eq!(
        locals,
        [
            (
                quoted(rfc3339(day)),
                quoted(format!("{date}T01:00:00+01:00"))
            ),
            (
                quoted(rfc3339(day + HOUR)),
                quoted(format!("{date}T03:00:00+02:00"))
            ),
        ]
    );
    // Both book; an hour past them (local 04:00) does not.
    app.book_ok(&customer.token, &id, day, day + HOUR).await;
    app.book_ok(&customer.token, &id, day + HOUR, day + 2 * HOUR)
        .await;
    let r = app
        .book(
            &customer.token,
            &unique("k"),
            &id,
            day + 2 * HOUR,
            day + 3 * HOUR,
        )
        .await;
    assert_eq!(r.body["code"], "outside_opening_hours", "{}", r.text);
    app.stop().await;
}
