//! Shared test setup: a real CQL node from `SLOTSTREAM_TEST_SCYLLA_NODES`, and
//! a fresh keyspace per test, dropped at the end even when the test fails.

#![allow(dead_code)]

use slotstream_scylla::{ScyllaOptions, ScyllaViews};
use slotstream_testkit::contract::unique;
use std::future::Future;
use std::sync::Arc;

/// The node list, or a panic that says how to start one.
pub fn nodes() -> Vec<String> {
    match std::env::var("SLOTSTREAM_TEST_SCYLLA_NODES") {
        Ok(v) if !v.trim().is_empty() => v.split(',').map(|s| s.trim().to_owned()).collect(),
        _ => panic!(
            "SLOTSTREAM_TEST_SCYLLA_NODES is not set: these tests need a real CQL node. \
             Start one with `eval \"$(scripts/engines/cql.sh start)\"` from the repository root \
             (stop it with `scripts/engines/cql.sh stop`), then run the tests again"
        ),
    }
}

/// Options for a keyspace no other test or run uses: `[a-z0-9_]`, at most 48 characters.
pub fn fresh_options(test: &str) -> ScyllaOptions {
    let tag: String = unique("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let head: String = test.chars().take(47 - tag.len().min(40)).collect();
    let mut keyspace = format!("t{head}{tag}");
    keyspace.truncate(48);
    let mut opts = ScyllaOptions::new(nodes());
    opts.keyspace = keyspace;
    opts
}

/// Runs `body` against a fresh keyspace with the schema in place, then drops
/// the keyspace and re-raises the body's panic, if any.
pub async fn with_views<F, Fut>(test: &str, body: F)
where
    F: FnOnce(Arc<ScyllaViews>, ScyllaOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let opts = fresh_options(test);
    ScyllaViews::ensure_schema(&opts)
        .await
        .expect("create the schema");
    let views = ScyllaViews::connect(&opts).await.expect("connect");
    let outcome = tokio::spawn(body(views, opts.clone())).await;
    ScyllaViews::drop_keyspace(&opts)
        .await
        .expect("drop the test keyspace");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
