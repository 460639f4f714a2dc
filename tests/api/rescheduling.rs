//! Rescheduling: `POST /v1/bookings/{id}/reschedule` moves a pending or
//! confirmed booking in one decision, keeps its id, frees the old interval
//! at once, answers every refusal with its own code, and replays a repeated
//! key. And a race: many clients moving into and booking the same hours
//! never leave two active bookings overlapping.

use crate::helpers::time::{HOUR, MINUTE, align_up, parse_time};
use crate::helpers::{Resp, Role, TestApp, User, rfc3339, room, spawn_app, unique};
use futures_util::future::join_all;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const DAY: i64 = 24 * HOUR;

async fn reschedule(
    app: &TestApp,
    token: &str,
    key: Option<&str>,
    id: &str,
    start: i64,
    end: i64,
) -> Resp {
    let body = json!({"start": rfc3339(start), "end": rfc3339(end)});
    app.post(
        &format!("/v1/bookings/{id}/reschedule"),
        Some(token),
        key,
        &body,
    )
    .await
}

fn id(b: &Value) -> &str {
    b["id"].as_str().expect("booking id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_moves_keeps_its_id_and_frees_its_old_interval_at_once() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let ann = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let s = app.slot_after(48 * 60);
    let b = app.book_ok(&ann.token, &resource, s, s + HOUR).await;

    let key = unique("move");
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key),
        id(&b),
        s + 3 * HOUR,
        s + 4 * HOUR,
    )
    .await;
    let moved = r.expect(200, "reschedule").clone();
    assert_eq!(moved["id"], b["id"]);
    assert_eq!(moved["status"], "pending");
    assert_eq!(moved["payment"]["id"], b["payment"]["id"]);
    assert_eq!(moved["amount"], b["amount"]);
    assert_eq!(parse_time(moved["start"].as_str().unwrap()), s + 3 * HOUR);
    assert_eq!(parse_time(moved["end"].as_str().unwrap()), s + 4 * HOUR);

    // The old hour is free for someone else; the new one is not.
    app.book_ok(&bob.token, &resource, s, s + HOUR).await;
    app.book(
        &bob.token,
        &unique("k"),
        &resource,
        s + 3 * HOUR,
        s + 4 * HOUR,
    )
    .await
    .problem(409, "slot_unavailable");

    // The views and the owner's mail follow.
    let path = format!("/v1/bookings/{}", id(&b));
    let want = rfc3339(s + 3 * HOUR);
    app.await_get(&path, &ann.token, |r| {
        r.status == 200 && r.body["start"].as_str().map(parse_time) == Some(s + 3 * HOUR)
    })
    .await;
    let mail = app
        .await_email_containing(&ann.email, &["rescheduled", &want[..16]])
        .await;
    assert!(mail.text().contains(id(&b)), "{}", mail.text());

    // The same key and body: the first answer again, nothing moves.
    let again = reschedule(
        &app,
        &ann.token,
        Some(&key),
        id(&b),
        s + 3 * HOUR,
        s + 4 * HOUR,
    )
    .await;
    assert_eq!(again.expect(200, "replay")["start"], moved["start"]);
    // The same key, another body: refused.
    reschedule(
        &app,
        &ann.token,
        Some(&key),
        id(&b),
        s + 6 * HOUR,
        s + 7 * HOUR,
    )
    .await
    .problem(422, "idempotency_key_reused");
    // No key at all.
    reschedule(&app, &ann.token, None, id(&b), s + 6 * HOUR, s + 7 * HOUR)
        .await
        .problem(400, "idempotency_key_missing");

    // A confirmed booking moves too, and stays confirmed.
    let pay = b["payment"]["id"].as_str().unwrap();
    app.complete(&ann.token, pay, "succeeded", &unique("pay"))
        .await
        .expect(202, "complete");
    app.await_booking_status(&ann.token, id(&b), "confirmed")
        .await;
    let r = reschedule(
        &app,
        &ann.token,
        Some(&unique("move")),
        id(&b),
        s + 6 * HOUR,
        s + 7 * HOUR,
    )
    .await;
    let body = r.expect(200, "reschedule a confirmed booking");
    assert_eq!(body["status"], "confirmed");
    assert_eq!(parse_time(body["start"].as_str().unwrap()), s + 6 * HOUR);
    app.book_ok(&bob.token, &resource, s + 3 * HOUR, s + 4 * HOUR)
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_booking_shows_who_moved_it_when_and_from_where_and_is_refunded_when_cancelled() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let ann = app.register_and_login(Role::Customer).await;
    let resource = app.create_room(&vendor.token).await;
    let s = app.slot_after(48 * 60);
    let b = app.book_ok(&ann.token, &resource, s, s + HOUR).await;
    assert_eq!(b["reschedules"], json!([]), "a new booking was never moved");
    let pay = b["payment"]["id"].as_str().unwrap();
    app.complete(&ann.token, pay, "succeeded", &unique("pay"))
        .await
        .expect(202, "complete");
    app.await_booking_status(&ann.token, id(&b), "confirmed")
        .await;

    // Two moves, the second well after the first start; on whole seconds,
    // as the expected instants are written.
    app.clock
        .advance(align_up(app.now_ms(), 1_000) - app.now_ms());
    let first_at = app.now_ms();
    let r = reschedule(
        &app,
        &ann.token,
        Some(&unique("move")),
        id(&b),
        s + 3 * HOUR,
        s + 4 * HOUR,
    )
    .await;
    let once = r.expect(200, "first move").clone();
    let entry = |from: i64, to: i64, at: i64| {
        json!({
            "from_start": rfc3339(from), "from_end": rfc3339(from + HOUR),
            "to_start": rfc3339(to), "to_end": rfc3339(to + HOUR),
            "by": ann.id, "at": rfc3339(at),
        })
    };
    assert_eq!(
        once["reschedules"],
        json!([entry(s, s + 3 * HOUR, first_at)])
    );
    // The answer is built on the gateway's read of the booking: the first
    // move is in the views before the second is asked for.
    let path = format!("/v1/bookings/{}", id(&b));
    app.await_get(&path, &ann.token, |r| {
        r.status == 200
            && r.body["reschedules"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
    })
    .await;
    app.clock.advance(1_000);
    let second_at = app.now_ms();
    let later = s + 5 * DAY;
    let r = reschedule(
        &app,
        &ann.token,
        Some(&unique("move")),
        id(&b),
        later,
        later + HOUR,
    )
    .await;
    let twice = r.expect(200, "second move").clone();
    let lineage = json!([
        entry(s, s + 3 * HOUR, first_at),
        entry(s + 3 * HOUR, later, second_at)
    ]);
    assert_eq!(twice["reschedules"], lineage);
    assert_eq!(twice["status"], "confirmed");

    // The views show the lineage to the owner and to the vendor.
    for token in [&ann.token, &vendor.token] {
        let r = app
            .await_get(&path, token, |r| {
                r.status == 200 && r.body["reschedules"] == lineage
            })
            .await;
        assert_eq!(parse_time(r.body["start"].as_str().unwrap()), later);
    }
    let mine = app
        .await_get("/v1/bookings", &ann.token, |r| {
            r.status == 200 && r.body["items"][0]["reschedules"] == lineage
        })
        .await;
    assert_eq!(mine.body["items"][0]["id"], b["id"]);

    // Cancelled long before its new start: refunded in full (the payment
    // side knows the booking starts later now).
    let r = app.cancel(&ann.token, id(&b)).await;
    let cancelled = r.expect(200, "cancel").clone();
    assert_eq!(cancelled["refund"]["amount"], b["amount"]["amount"]);
    app.await_get(&format!("/v1/payments/{pay}"), &ann.token, |r| {
        r.status == 200 && r.body["status"] == "refunded"
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_answers_its_own_code_and_moves_nothing() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let ann = app.register_and_login(Role::Customer).await;
    let bob = app.register_and_login(Role::Customer).await;
    let hours = json!([{"start": "06:00", "end": "22:00"}]);
    let mut body = room(&unique("room"));
    body["schedule"] = json!({
        "weekly": {
            "monday": hours, "tuesday": hours, "wednesday": hours, "thursday": hours,
            "friday": hours, "saturday": hours, "sunday": hours,
        },
        "exceptions": [],
    });
    body["rules"] = json!({
        "buffer_after_minutes": 30,
        "min_notice_minutes": 120,
        "max_horizon_minutes": 7 * 24 * 60,
        "modify_notice_minutes": 24 * 60,
    });
    let resource = app.create_resource(&vendor.token, body).await;
    let resource = resource["id"].as_str().unwrap().to_owned();
    let d = align_up(app.now_ms(), DAY) + 2 * DAY;
    // Paid, so that moving the clock a day and more later keeps it held.
    let a = app
        .book_and_pay(&ann.token, &resource, d + 10 * HOUR, d + 11 * HOUR)
        .await;
    app.book_ok(&bob.token, &resource, d + 13 * HOUR, d + 14 * HOUR)
        .await;
    let c = app
        .book_ok(&ann.token, &resource, d + 16 * HOUR, d + 17 * HOUR)
        .await;
    let key = || unique("move");
    let refused = |r: &Resp, status: u16, code: &str| {
        r.problem(status, code);
    };

    // Ends 15 minutes before bob's start: inside the 30 minutes after it.
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key()),
        id(&a),
        d + 11 * HOUR + 45 * MINUTE,
        d + 12 * HOUR + 45 * MINUTE,
    )
    .await;
    refused(&r, 409, "slot_unavailable");
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key()),
        id(&a),
        d + 23 * HOUR,
        d + 24 * HOUR,
    )
    .await;
    refused(&r, 422, "outside_opening_hours");
    let soon = app.slot_after(30);
    let r = reschedule(&app, &ann.token, Some(&key()), id(&a), soon, soon + HOUR).await;
    refused(&r, 422, "too_soon");
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key()),
        id(&a),
        d + 8 * DAY + 10 * HOUR,
        d + 8 * DAY + 11 * HOUR,
    )
    .await;
    refused(&r, 422, "too_far_ahead");
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key()),
        id(&a),
        d + 10 * HOUR,
        d + 12 * HOUR,
    )
    .await;
    refused(&r, 422, "price_change_not_supported");
    let r = reschedule(
        &app,
        &bob.token,
        Some(&key()),
        id(&a),
        d + 18 * HOUR,
        d + 19 * HOUR,
    )
    .await;
    refused(&r, 404, "not_found");
    app.cancel(&ann.token, id(&c)).await.expect(200, "cancel");
    let r = reschedule(
        &app,
        &ann.token,
        Some(&key()),
        id(&c),
        d + 18 * HOUR,
        d + 19 * HOUR,
    )
    .await;
    refused(&r, 409, "not_reschedulable");

    // Twenty hours before its start, inside the 24 h modification notice.
    app.clock.advance(d + 10 * HOUR - 20 * HOUR - app.now_ms());
    let token = app.login(&ann.email).await;
    let r = reschedule(
        &app,
        &token,
        Some(&key()),
        id(&a),
        d + 18 * HOUR,
        d + 19 * HOUR,
    )
    .await;
    refused(&r, 422, "modification_notice_passed");
    let detail = r.body["detail"].as_str().unwrap_or("");
    assert!(detail.contains(&rfc3339(d + 10 * HOUR - DAY)), "{}", r.text);

    // Nothing moved.
    let now = app
        .get(&format!("/v1/bookings/{}", id(&a)), Some(&token))
        .await;
    assert_eq!(
        parse_time(now.expect(200, "the booking")["start"].as_str().unwrap()),
        d + 10 * HOUR
    );
    assert_eq!(now.body["status"], "confirmed");
    app.stop().await;
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const CLIENTS: usize = 8;
const REQUESTS: usize = 20;
const HOURS: i64 = 24;
/// Bookings one client keeps at most: 16 over 24 hours leaves room to move.
const KEEP: usize = 2;

/// What one client saw: every hour some booking of its held (`held`, by
/// booking id), and every refused attempt (the booking moved, if any, and
/// the hour).
#[derive(Default)]
struct Seen {
    held: Vec<(String, i64)>,
    refused: Vec<(Option<String>, i64)>,
    finals: BTreeMap<String, i64>,
    moves: usize,
}

async fn client(app: &TestApp, me: &User, resource: &str, base: i64, seed: u64) -> Seen {
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    let mut mine: Vec<String> = Vec::new();
    for _ in 0..REQUESTS {
        let hour = base + rng.below(HOURS as u64) as i64 * HOUR;
        let book = mine.is_empty() || (mine.len() < KEEP && rng.below(2) == 0);
        if !book {
            let b = mine[rng.below(mine.len() as u64) as usize].clone();
            let r = reschedule(app, &me.token, Some(&unique("move")), &b, hour, hour + HOUR).await;
            match (r.status, r.body["code"].as_str()) {
                (200, _) => {
                    assert_eq!(parse_time(r.body["start"].as_str().unwrap()), hour);
                    seen.held.push((b.clone(), hour));
                    seen.finals.insert(b, hour);
                    seen.moves += 1;
                }
                (409, Some("slot_unavailable")) => seen.refused.push((Some(b), hour)),
                _ => panic!("unexpected answer to a reschedule: {} {}", r.status, r.text),
            }
        } else {
            let r = app
                .book(&me.token, &unique("k"), resource, hour, hour + HOUR)
                .await;
            match (r.status, r.body["code"].as_str()) {
                (201, _) => {
                    let b = r.body["id"].as_str().unwrap().to_owned();
                    seen.held.push((b.clone(), hour));
                    seen.finals.insert(b.clone(), hour);
                    mine.push(b);
                }
                (409, Some("slot_unavailable")) => seen.refused.push((None, hour)),
                _ => panic!("unexpected answer to a booking: {} {}", r.status, r.text),
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_racing_to_move_into_and_book_the_same_hours_never_overlap() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let resource = app.create_room(&vendor.token).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(app.register_and_login(Role::Customer).await);
    }
    let base = align_up(app.now_ms(), DAY) + 2 * DAY;
    let seed = crate::helpers::time::system_now_ms() as u64 | 1;
    eprintln!("reschedule race seed {seed}");
    let runs = clients
        .iter()
        .enumerate()
        .map(|(i, c)| client(&app, c, &resource, base, seed.wrapping_mul(i as u64 + 7)));
    let seen: Vec<Seen> = join_all(runs).await;

    // Wait for the views to show every booking at the last hour it was
    // answered with (events, not time).
    let mut finals = BTreeMap::new();
    for (c, s) in clients.iter().zip(&seen) {
        for (b, hour) in &s.finals {
            app.await_get(&format!("/v1/bookings/{b}"), &c.token, |r| {
                r.status == 200 && r.body["start"].as_str().map(parse_time) == Some(*hour)
            })
            .await;
            finals.insert(b.clone(), *hour);
        }
    }
    // The vendor's listing is another view table (on Cassandra, another
    // write): await it too, until it shows each booking where its last
    // answer put it, bounded; the checks below then judge that listing.
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    let active = loop {
        let listed = app
            .all_pages(
                &format!("/v1/vendor/bookings?resource_id={resource}&limit=100"),
                &vendor.token,
            )
            .await;
        let mut active: Vec<(i64, String)> = listed
            .iter()
            .filter(|b| b["status"] == "pending" || b["status"] == "confirmed")
            .map(|b| {
                (
                    parse_time(b["start"].as_str().unwrap()),
                    b["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        active.sort();
        let settled = active.len() == finals.len()
            && active.iter().all(|(start, b)| finals.get(b) == Some(start));
        if settled || std::time::Instant::now() >= deadline {
            break active;
        }
        tokio::time::sleep(crate::helpers::POLL_EVERY).await;
    };
    assert_eq!(active.len(), finals.len(), "every booking made is active");
    for w in active.windows(2) {
        assert!(w[0].0 + HOUR <= w[1].0, "{} and {} overlap", w[0].1, w[1].1);
    }
    for (start, b) in &active {
        assert_eq!(
            finals.get(b),
            Some(start),
            "{b} is where its last answer put it"
        );
    }
    // Every refusal is explained: some other booking held that hour at
    // some point of the run.
    let held: Vec<&(String, i64)> = seen.iter().flat_map(|s| &s.held).collect();
    let refused: Vec<&(Option<String>, i64)> = seen.iter().flat_map(|s| &s.refused).collect();
    for (moving, hour) in &refused {
        assert!(
            held.iter()
                .any(|(b, h)| h == hour && Some(b) != moving.as_ref()),
            "a refusal of {hour} that no other booking explains"
        );
    }
    let moves: usize = seen.iter().map(|s| s.moves).sum();
    eprintln!(
        "race: {} bookings, {moves} moves, {} refusals",
        finals.len(),
        refused.len()
    );
    assert!(moves > 0 && !refused.is_empty(), "the race raced");
    app.stop().await;
}
