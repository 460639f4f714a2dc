//! Schema creation, connecting, and dropping, against a real CQL node.

mod common;

use slotstream_runtime::{ViewStore, ViewWrite};
use slotstream_scylla::{ScyllaError, ScyllaOptions, ScyllaViews};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_schema_twice_is_fine_and_keeps_the_data() {
    common::with_views("schema_twice", |views, opts| async move {
        let r = slotstream_testkit::contract::views::resource("res-1", "v-1", "room");
        views
            .apply(&[ViewWrite::PutResource(r.clone())])
            .await
            .expect("write");
        ScyllaViews::ensure_schema(&opts)
            .await
            .expect("a second ensure_schema succeeds");
        let again = ScyllaViews::connect(&opts).await.expect("connect again");
        assert_eq!(
            again.resource(&r.id).await.expect("read"),
            Some(r),
            "the second ensure_schema dropped nothing"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_without_the_schema_says_to_run_init() {
    let opts = common::fresh_options("no_schema");
    let err = ScyllaViews::connect(&opts)
        .await
        .expect_err("no keyspace, no connection");
    assert!(
        matches!(&err, ScyllaError::MissingSchema { missing, .. } if missing.contains("bookings")),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("run `slotstream init`"),
        "the message says what to do: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_production_keyspace_is_never_dropped() {
    let opts = ScyllaOptions::new(common::nodes());
    let err = ScyllaViews::drop_keyspace(&opts)
        .await
        .expect_err("refused");
    assert!(
        matches!(err, ScyllaError::RefusedDrop(ref k) if k == "slotstream"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyspace_name_cql_would_need_quoting_for_is_refused() {
    let mut opts = ScyllaOptions::new(common::nodes());
    opts.keyspace = "views; DROP KEYSPACE slotstream".into();
    let err = ScyllaViews::ensure_schema(&opts)
        .await
        .expect_err("refused before any statement runs");
    assert!(matches!(err, ScyllaError::InvalidOptions(_)), "{err:?}");
}
