//! Webhook subscriptions for vendors (issue 16): a vendor subscribes a URL
//! and gets the signing secret once; subscriptions are listed, read and
//! deleted by their owner only; URLs that point inside the platform's
//! network are refused unless the operator allows them (SSRF); the payment
//! provider's callback under `/v1/webhooks/payments` keeps working.

use crate::helpers::{Resp, Role, TestApp, spawn_app, spawn_app_with, unique};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn subscribe(app: &TestApp, token: &str, body: &Value, idem: Option<&str>) -> Resp {
    let key = idem.map_or_else(|| unique("wh"), str::to_owned);
    app.post("/v1/webhooks", Some(token), Some(&key), body)
        .await
}

async fn read(app: &TestApp, path: &str, bearer: &str, token: Option<&str>) -> Resp {
    let mut req = app.client.get(app.url(path)).bearer_auth(bearer);
    if let Some(t) = token {
        req = req.header("Consistency-Token", t);
    }
    app.send(req).await
}

async fn delete(app: &TestApp, path: &str, bearer: &str) -> Resp {
    app.send(app.client.delete(app.url(path)).bearer_auth(bearer))
        .await
}

fn token_of(r: &Resp) -> String {
    r.header("consistency-token")
        .expect("a write's answer carries a Consistency-Token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_subscribes_sees_the_secret_once_then_lists_reads_and_deletes_it() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let vendor = app.register_and_login(Role::Vendor).await;
    let other = app.register_and_login(Role::Vendor).await;
    let body = json!({
        "url": "http://127.0.0.1:9/hooks",
        "events": ["booking.confirmed", "booking.held", "booking.confirmed"],
        "description": "crm sync",
    });
    let idem = unique("idem");
    let created = subscribe(&app, &vendor.token, &body, Some(&idem)).await;
    let hook = created.expect(201, "subscribe").clone();
    let id = hook["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("wh_"), "{id}");
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/webhooks/{id}").as_str())
    );
    assert_eq!(hook["url"], "http://127.0.0.1:9/hooks");
    assert_eq!(hook["events"], json!(["booking.confirmed", "booking.held"]));
    assert_eq!(hook["description"], "crm sync");
    assert_eq!(hook["status"], "enabled");
    let secret = hook["secret"].as_str().expect("the secret, this once");
    assert!(
        secret.starts_with("whsec_") && secret.len() == 70,
        "{secret}"
    );
    // Nothing stores it: it is the platform key's derivation for this id,
    // which is how the deliverer signs with the same secret.
    let otp = app
        .app
        .platform
        .keys
        .otp
        .expose_secret()
        .as_bytes()
        .to_vec();
    assert_eq!(
        secret,
        slotstream_runtime::webhooks::secret_for(&otp, &id),
        "derived from the platform key and the id"
    );
    let token = token_of(&created);

    // A repeat with the same Idempotency-Key: the first subscription, no secret.
    let again = subscribe(&app, &vendor.token, &body, Some(&idem)).await;
    let again = again.expect(200, "a repeat").clone();
    assert_eq!(again["id"], id.as_str());
    assert!(again.get("secret").is_none(), "{again}");

    let listed = read(&app, "/v1/webhooks", &vendor.token, Some(&token)).await;
    let items = listed.expect(200, "list")["items"].clone();
    let items = items.as_array().expect("items");
    assert_eq!(items.len(), 1, "one subscription, the repeat made none");
    assert_eq!(items[0]["id"], id.as_str());
    assert!(
        items[0].get("secret").is_none(),
        "never listed: {}",
        items[0]
    );
    let path = format!("/v1/webhooks/{id}");
    let one = read(&app, &path, &vendor.token, Some(&token)).await;
    let one = one.expect(200, "get").clone();
    assert_eq!(one["url"], "http://127.0.0.1:9/hooks");
    assert!(one.get("secret").is_none(), "{one}");

    // Another vendor neither sees nor deletes it.
    read(&app, &path, &other.token, Some(&token))
        .await
        .problem(404, "not_found");
    let theirs = read(&app, "/v1/webhooks", &other.token, Some(&token)).await;
    assert_eq!(theirs.expect(200, "their list")["items"], json!([]));
    delete(&app, &path, &other.token)
        .await
        .problem(404, "not_found");

    let gone = delete(&app, &path, &vendor.token).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let after = token_of(&gone);
    read(&app, &path, &vendor.token, Some(&after))
        .await
        .problem(404, "not_found");
    let listed = read(&app, "/v1/webhooks", &vendor.token, Some(&after)).await;
    assert_eq!(listed.expect(200, "list after delete")["items"], json!([]));
    delete(&app, &path, &vendor.token)
        .await
        .problem(404, "not_found");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_that_point_inside_are_refused_unless_the_operator_allows_them() {
    let app = spawn_app().await;
    let vendor = app.register_and_login(Role::Vendor).await;
    for url in [
        "http://127.0.0.1:8080/hooks",
        "http://10.1.2.3/hooks",
        "http://172.20.0.1/hooks",
        "http://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "http://localhost:8080/hooks",
        "ftp://example.com/hooks",
        "not a url",
        "https://user:pass@93.184.216.34/hooks",
    ] {
        let r = subscribe(
            &app,
            &vendor.token,
            &json!({"url": url, "events": ["*"]}),
            None,
        )
        .await;
        let p = r.problem(422, "validation_failed");
        assert!(
            p.to_string().contains("url"),
            "{url}: the url field is named: {p}"
        );
    }
    // A public address is accepted (an IP literal: nothing to resolve).
    let ok = subscribe(
        &app,
        &vendor.token,
        &json!({"url": "https://93.184.216.34/hooks", "events": ["*"]}),
        None,
    )
    .await;
    assert_eq!(ok.expect(201, "a public URL")["events"], json!(["*"]));
    // Unknown event types and an empty list are refused.
    for events in [json!([]), json!(["booking.exploded"])] {
        subscribe(
            &app,
            &vendor.token,
            &json!({"url": "https://93.184.216.34/hooks", "events": events}),
            None,
        )
        .await
        .problem(422, "validation_failed");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_vendors_subscribe_and_the_payment_callback_is_still_the_providers() {
    let app = spawn_app_with(|s| s.webhook_allow_private = true).await;
    let customer = app.register_and_login(Role::Customer).await;
    let body = json!({"url": "http://127.0.0.1:9/hooks", "events": ["*"]});
    subscribe(&app, &customer.token, &body, None)
        .await
        .problem(403, "forbidden");
    read(&app, "/v1/webhooks", &customer.token, None)
        .await
        .problem(403, "forbidden");
    let anonymous = app
        .send(app.client.post(app.url("/v1/webhooks")).json(&body))
        .await;
    anonymous.problem(401, "unauthorized");
    // The static route wins over `{id}`: an unsigned callback is the
    // provider route's refusal, not a subscription's 401 or 405.
    let callback = app
        .send(
            app.client
                .post(app.url("/v1/webhooks/payments"))
                .json(&json!({})),
        )
        .await;
    callback.problem(400, "webhook_signature_invalid");
    app.stop().await;
}
