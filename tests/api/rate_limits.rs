//! The gateway's rate limits are settings (`SLOTSTREAM_RATE_*`): a partner
//! that books for many end users from one account raises its write limit
//! and is not refused; a lowered one is enforced.

use crate::helpers::{Role, TestApp, spawn_app_with, unique};
use futures_util::StreamExt;
use serde_json::json;

/// `n` writes by `token`, up to 64 at once: bookings whose times do not
/// parse, so the gateway answers each itself (422 once the write passed the
/// rate limit, 429 when it did not) and nothing reaches the log.
async fn writes(app: &TestApp, token: &str, n: usize) -> Vec<u16> {
    let body = json!({"resource_id": "res_unknown", "start": "not a time", "end": "nor this"});
    futures_util::stream::iter(0..n)
        .map(|_| {
            let key = unique("rate");
            let body = &body;
            async move {
                app.post("/v1/bookings", Some(token), Some(&key), body)
                    .await
                    .status
            }
        })
        .buffer_unordered(64)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_write_limit_is_honoured() {
    // The default (100/s, burst 200) refuses most of 400 writes made at once.
    let app = spawn_app_with(|s| {
        s.rate_writes_per_user = 2_000;
        s.rate_writes_burst = 1_000;
    })
    .await;
    let partner = app.register_and_login(Role::Customer).await;

    let statuses = writes(&app, &partner.token, 400).await;

    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused, 0, "{refused} of 400 writes refused");
    assert!(statuses.iter().all(|s| *s == 422), "{statuses:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_write_limit_is_enforced_per_user() {
    let app = spawn_app_with(|s| {
        s.rate_writes_per_user = 1;
        s.rate_writes_burst = 3;
    })
    .await;
    let one = app.register_and_login(Role::Customer).await;
    let other = app.register_and_login(Role::Customer).await;

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.extend(writes(&app, &one.token, 1).await);
    }

    assert_eq!(statuses, [422, 422, 422, 429]);
    assert_eq!(
        writes(&app, &other.token, 1).await,
        [422],
        "another user's bucket"
    );
    app.stop().await;
}
