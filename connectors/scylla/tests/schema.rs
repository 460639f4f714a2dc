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

/// A keyspace made before resources had schedules and bookings showed
/// their moves (its resource tables lack `scheduling`, its booking tables
/// `reschedules`): connecting adds the columns (two processes at once
/// too), after which rows written before read as a resource without
/// schedule or rules and a booking never moved, and both round-trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_adds_the_columns_an_older_keyspace_lacks() {
    common::with_views("older_keyspace", |views, opts| async move {
        use slotstream_runtime::RescheduleView;
        let old = slotstream_testkit::contract::views::resource("res-old", "v-1", "room");
        let booking = slotstream_testkit::contract::views::booking(
            "b-old",
            "u-1",
            "res-old",
            1_800_000_000_000,
            1_800_003_600_000,
            1_799_000_000_000,
        );
        views
            .apply(&[
                ViewWrite::PutResource(old.clone()),
                ViewWrite::PutBooking(booking.clone()),
            ])
            .await
            .expect("write");
        let session = scylla::client::session_builder::SessionBuilder::new()
            .known_nodes(common::nodes())
            .build()
            .await
            .expect("session");
        let ks = &opts.keyspace;
        let added = [
            ("resources", "scheduling"),
            ("resources_by_vendor", "scheduling"),
            ("resources_by_kind", "scheduling"),
            ("resource_catalog", "scheduling"),
            ("bookings", "reschedules"),
            ("bookings_by_user", "reschedules"),
            ("bookings_by_user_status", "reschedules"),
            ("bookings_by_resource_day", "reschedules"),
            ("bookings_by_vendor_day", "reschedules"),
        ];
        for (table, column) in added {
            session
                .query_unpaged(format!("ALTER TABLE {ks}.{table} DROP {column}"), ())
                .await
                .expect("drop the column, as an older release had none");
        }
        let (a, b) = tokio::join!(ScyllaViews::connect(&opts), ScyllaViews::connect(&opts));
        let views = a.expect("connect adds the columns");
        b.expect("so does a second process racing it");
        for (table, column) in added {
            let rows = session
                .query_unpaged(
                    "SELECT column_name FROM system_schema.columns \
                     WHERE keyspace_name = ? AND table_name = ? AND column_name = ?",
                    (ks.as_str(), table, column),
                )
                .await
                .expect("read the schema")
                .into_rows_result()
                .expect("rows");
            assert_eq!(rows.rows_num(), 1, "{table}.{column}");
        }
        assert_eq!(views.resource(&old.id).await.expect("read"), Some(old));
        assert_eq!(
            views.booking(&booking.id).await.expect("read"),
            Some(booking.clone())
        );
        let mut scheduled = slotstream_testkit::contract::views::resource("res-new", "v-1", "room");
        scheduled.rules.min_notice_minutes = 30;
        let moved = RescheduleView {
            from_start: booking.start,
            from_end: booking.end,
            to_start: booking.start + 7_200_000,
            to_end: booking.end + 7_200_000,
            by: booking.user_id.clone(),
            at: 1_799_500_000_000,
        };
        views
            .apply(&[
                ViewWrite::PutResource(scheduled.clone()),
                ViewWrite::MoveBooking {
                    id: booking.id.clone(),
                    moved: moved.clone(),
                    updated_at: moved.at,
                },
            ])
            .await
            .expect("write");
        assert_eq!(
            views.resource(&scheduled.id).await.expect("read"),
            Some(scheduled)
        );
        let got = views
            .booking(&booking.id)
            .await
            .expect("read")
            .expect("found");
        assert_eq!(got.reschedules, [moved]);
    })
    .await;
}
