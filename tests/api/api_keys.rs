//! API keys for server-to-server partners (issue 16): a vendor creates a
//! key (shown once), a partner books with it on behalf of its end users
//! (`X-Customer-Ref`), scopes and per-key quotas are enforced with
//! problem+json and the `RateLimit-*` headers, and a revoked key stops
//! working.

use crate::helpers::{Resp, Role, TestApp, spawn_app, unique};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn create_key(app: &TestApp, token: &str, body: &Value) -> Resp {
    app.post("/v1/api-keys", Some(token), Some(&unique("ak")), body)
        .await
}

/// A request with an API key, for the partner's end user `customer` if given.
async fn with_key(
    app: &TestApp,
    req: reqwest::RequestBuilder,
    key: &str,
    customer: Option<&str>,
) -> Resp {
    let mut req = req.bearer_auth(key);
    if let Some(c) = customer {
        req = req.header("X-Customer-Ref", c);
    }
    app.send(req).await
}

async fn book_as(
    app: &TestApp,
    key: &str,
    customer: &str,
    idem: &str,
    resource: &str,
    start: i64,
) -> Resp {
    let body = json!({
        "resource_id": resource,
        "start": crate::helpers::rfc3339(start),
        "end": crate::helpers::rfc3339(start + 3_600_000),
    });
    let req = app
        .client
        .post(app.url("/v1/bookings"))
        .header("Idempotency-Key", idem)
        .json(&body);
    with_key(app, req, key, Some(customer)).await
}

async fn my_bookings(app: &TestApp, key: &str, customer: &str) -> Vec<String> {
    let r = with_key(
        app,
        app.client.get(app.url("/v1/bookings")),
        key,
        Some(customer),
    )
    .await;
    let body = r.expect(200, "list as an end user");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|b| b["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Bounded poll of an end user's booking list until it holds `n` bookings.
async fn await_my_bookings(app: &TestApp, key: &str, customer: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let got = my_bookings(app, key, customer).await;
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{customer} has {got:?}, not {n} bookings, after {:?}",
            crate::helpers::PATIENCE
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls `GET /v1/api-keys` until `done` holds.
async fn await_listing(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    app.await_get("/v1/api-keys", token, |r| r.status == 200 && done(&r.body))
        .await
        .body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_books_for_its_end_users_with_a_key_until_it_is_revoked() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let resource = app.create_room(&vendor.token).await;

    // Created: the key is in the answer, once.
    let created = create_key(
        &app,
        &vendor.token,
        &json!({"name": "partner", "scopes": ["bookings:write", "bookings:read"]}),
    )
    .await;
    let body = created.expect(201, "create a key").clone();
    let key = body["secret"]
        .as_str()
        .expect("the key, shown once")
        .to_owned();
    let id = body["id"].as_str().expect("id").to_owned();
    assert!(key.starts_with("sk_live_"), "{key}");
    assert!(key.starts_with(body["prefix"].as_str().expect("prefix")));
    assert_eq!(body["status"], "active");
    assert_eq!(
        (body["rate_per_second"].as_u64(), body["burst"].as_u64()),
        (Some(10), Some(20))
    );

    // Listed without the secret.
    let listing = await_listing(&app, &vendor.token, |b| {
        b["items"].as_array().is_some_and(|i| i.len() == 1)
    })
    .await;
    assert_eq!(listing["items"][0]["id"], id.as_str());
    assert!(listing["items"][0].get("secret").is_none(), "{listing}");
    assert!(!listing.to_string().contains(&key[key.len() - 64..]));

    // Two end users book with the same Idempotency-Key: two bookings.
    let start = app.slot_after(120);
    let ann = book_as(&app, &key, "ann", "same-key", &resource, start).await;
    let ann = ann.expect(201, "ann books").clone();
    let bob = book_as(&app, &key, "bob", "same-key", &resource, start + 7_200_000).await;
    let bob = bob.expect(201, "bob books").clone();
    assert_ne!(ann["id"], bob["id"]);
    // A repeat of ann's request is ann's first answer, nothing twice.
    let again = book_as(&app, &key, "ann", "same-key", &resource, start).await;
    assert_eq!(again.expect(201, "ann repeats")["id"], ann["id"]);

    // Each end user sees only its own bookings; the vendor's own list is empty.
    let ann_id = ann["id"].as_str().expect("id").to_owned();
    let bob_id = bob["id"].as_str().expect("id").to_owned();
    // The list is read from the views, which follow the decision: wait for
    // each end user's booking to appear there, then for nothing else.
    assert_eq!(
        await_my_bookings(&app, &key, "ann", 1).await,
        [ann_id.as_str()]
    );
    assert_eq!(
        await_my_bookings(&app, &key, "bob", 1).await,
        [bob_id.as_str()]
    );
    let other = with_key(
        &app,
        app.client.get(app.url(&format!("/v1/bookings/{ann_id}"))),
        &key,
        Some("bob"),
    )
    .await;
    other.problem(404, "not_found");
    let own = app.get("/v1/bookings", Some(&vendor.token)).await;
    assert_eq!(
        own.expect(200, "the vendor's own bookings")["items"],
        json!([])
    );

    // A scope the key lacks is 403 problem+json; so is key management.
    let refused = with_key(&app, app.client.get(app.url("/v1/resources")), &key, None).await;
    refused.problem(403, "forbidden");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap_or("")
            .contains("resources:read")
    );
    let manage = with_key(&app, app.client.get(app.url("/v1/api-keys")), &key, None).await;
    manage.problem(403, "forbidden");

    // Key-authenticated answers carry the quota's headers.
    let ok = with_key(
        &app,
        app.client.get(app.url("/v1/bookings")),
        &key,
        Some("ann"),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("ratelimit-limit"), Some("20"));
    assert!(ok.header("ratelimit-remaining").is_some());
    assert!(ok.header("ratelimit-reset").is_some());

    // Revoked: 401 on this gateway within the stated bound (at once here).
    let revoked = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/api-keys/{id}")))
                .bearer_auth(&vendor.token),
        )
        .await;
    assert_eq!(revoked.expect(200, "revoke")["status"], "revoked");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = with_key(
            &app,
            app.client.get(app.url("/v1/bookings")),
            &key,
            Some("ann"),
        )
        .await;
        if r.status == 401 {
            r.problem(401, "unauthorized");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a revoked key still answers {}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    await_listing(&app, &vendor.token, |b| {
        b["items"][0]["status"] == "revoked"
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keys_quota_is_429_with_retry_after_and_ratelimit_headers() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let created = create_key(
        &app,
        &vendor.token,
        &json!({"name": "slow", "scopes": ["resources:read"], "rate_per_second": 1, "burst": 3}),
    )
    .await;
    let key = created.expect(201, "create")["secret"]
        .as_str()
        .expect("key")
        .to_owned();
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..4 {
        let r = with_key(&app, app.client.get(app.url("/v1/resources")), &key, None).await;
        statuses.push(r.status);
        last = Some(r);
    }
    // Three back to back within the burst (a fourth second would refill one
    // token; the four requests take milliseconds).
    assert_eq!(statuses, [200, 200, 200, 429]);
    let refused = last.expect("answers");
    refused.problem(429, "rate_limited");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.header("ratelimit-limit"), Some("3"));
    assert_eq!(refused.header("ratelimit-remaining"), Some("0"));
    assert!(
        refused
            .header("ratelimit-reset")
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| (1..=3).contains(&s))
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_garbled_keys_are_401_problems_and_customers_get_no_keys() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let created = create_key(
        &app,
        &vendor.token,
        &json!({"name": "k", "scopes": ["bookings:read"]}),
    )
    .await;
    let key = created.expect(201, "create")["secret"]
        .as_str()
        .expect("key")
        .to_owned();
    // The right id with another secret, a garbled key, an unknown id.
    let mut wrong_secret = key.clone();
    let last = wrong_secret.pop().expect("a char");
    wrong_secret.push(if last == '0' { '1' } else { '0' });
    let unknown = format!("sk_live_{}_{}", "ab".repeat(12), "cd".repeat(32));
    for bad in [wrong_secret.as_str(), "sk_live_nonsense", "sk_", &unknown] {
        let r = with_key(&app, app.client.get(app.url("/v1/bookings")), bad, None).await;
        r.problem(401, "unauthorized");
    }
    // A bad end-user reference is named.
    let r = with_key(
        &app,
        app.client.get(app.url("/v1/bookings")),
        &key,
        Some("a b"),
    )
    .await;
    assert_eq!(
        r.problem(422, "validation_failed")["errors"][0]["field"],
        "X-Customer-Ref"
    );

    // Customers hold no keys; scopes are checked.
    let customer = app.register_and_login(Role::Customer).await;
    create_key(
        &app,
        &customer.token,
        &json!({"name": "k", "scopes": ["bookings:read"]}),
    )
    .await
    .problem(403, "forbidden");
    let bad = create_key(
        &app,
        &vendor.token,
        &json!({"name": "k", "scopes": ["everything"]}),
    )
    .await;
    assert_eq!(
        bad.problem(422, "validation_failed")["errors"][0]["field"],
        "scopes"
    );
    // Revoking a key that is not yours is 404.
    let other = app.register_and_login(Role::Vendor).await;
    let id = created.body["id"].as_str().expect("id");
    let r = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/api-keys/{id}")))
                .bearer_auth(&other.token),
        )
        .await;
    r.problem(404, "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_on_one_gateway_is_refused_at_once_on_another_that_cached_it() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    // The other gateway would keep a key it read for an hour: only the
    // revocation it follows on the log can make it refuse the key sooner.
    let other = app
        .second_gateway_configured(|cfg| cfg.api_key_cache_ttl = Duration::from_secs(3600))
        .await;
    let created = create_key(
        &app,
        &vendor.token,
        // A quota the polls below cannot use up.
        &json!({"name": "partner", "scopes": ["bookings:read"], "rate_per_second": 1000, "burst": 1000}),
    )
    .await;
    let body = created.expect(201, "create a key").clone();
    let key = body["secret"].as_str().expect("the key").to_owned();
    let id = body["id"].as_str().expect("id").to_owned();

    // The other gateway reads the key from its view (once the view has it)
    // and caches it.
    let list_there = || {
        with_key(
            &app,
            app.client.get(other.url("/v1/bookings")),
            &key,
            Some("ann"),
        )
    };
    let deadline = Instant::now() + crate::helpers::PATIENCE;
    loop {
        let r = list_there().await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the other gateway never accepted the new key: {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revoked on the first gateway: the other refuses it as soon as the
    // revocation reaches it, far inside its cache's hour.
    let revoked = app
        .send(
            app.client
                .delete(app.url(&format!("/v1/api-keys/{id}")))
                .bearer_auth(&vendor.token),
        )
        .await;
    assert_eq!(revoked.expect(200, "revoke")["status"], "revoked");
    let deadline = Instant::now() + crate::helpers::PATIENCE;
    loop {
        let r = list_there().await;
        if r.status == 401 {
            r.problem(401, "unauthorized");
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            Instant::now() < deadline,
            "the other gateway still accepts the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.stop().await;
    app.stop().await;
}
