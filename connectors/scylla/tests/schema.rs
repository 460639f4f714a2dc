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

/// A keyspace made before resources had schedules (its resource tables lack
/// `scheduling`): connecting fails until `ensure_schema` (`slotstream
/// init`) adds the column, after which a row written before reads as a
/// resource without schedule or rules, and a scheduled one round-trips.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_adds_the_scheduling_column_to_an_older_keyspace() {
    common::with_views("older_keyspace", |views, opts| async move {
        let old = slotstream_testkit::contract::views::resource("res-old", "v-1", "room");
        views
            .apply(&[ViewWrite::PutResource(old.clone())])
            .await
            .expect("write");
        let session = scylla::client::session_builder::SessionBuilder::new()
            .known_nodes(common::nodes())
            .build()
            .await
            .expect("session");
        let ks = &opts.keyspace;
        for table in [
            "resources",
            "resources_by_vendor",
            "resources_by_kind",
            "resource_catalog",
        ] {
            session
                .query_unpaged(format!("ALTER TABLE {ks}.{table} DROP scheduling"), ())
                .await
                .expect("drop the column, as an older release had none");
        }
        assert!(
            ScyllaViews::connect(&opts).await.is_err(),
            "statements naming the column do not prepare"
        );
        ScyllaViews::ensure_schema(&opts).await.expect("init");
        let views = ScyllaViews::connect(&opts)
            .await
            .expect("connect after init");
        assert_eq!(views.resource(&old.id).await.expect("read"), Some(old));
        let mut scheduled = slotstream_testkit::contract::views::resource("res-new", "v-1", "room");
        scheduled.rules.min_notice_minutes = 30;
        views
            .apply(&[ViewWrite::PutResource(scheduled.clone())])
            .await
            .expect("write");
        assert_eq!(
            views.resource(&scheduled.id).await.expect("read"),
            Some(scheduled)
        );
    })
    .await;
}
