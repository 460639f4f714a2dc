//! The view store contract (every function of
//! `slotstream_testkit::contract::views`), run against a real CQL node, each
//! test in its own keyspace.

mod common;

use slotstream_testkit::contract::views as contract;

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            common::with_views(stringify!($name), |views, _| async move {
                contract::$name(&*views).await;
            })
            .await;
        }
    )*};
}

contract_tests!(
    bookings_are_found_by_id_and_patched_idempotently,
    bookings_by_user_are_newest_first_filtered_and_paginated,
    bad_cursors_are_refused,
    bookings_by_resource_overlap_half_open_windows,
    bookings_by_vendor_span_all_their_resources,
    a_moved_booking_shows_its_lineage_and_is_listed_at_its_new_interval,
    resources_filter_by_vendor_and_kind,
    resource_schedules_and_rules_round_trip,
    payments_are_put_and_patched,
    users_are_found_by_email_and_verified,
    login_locks_are_put_lifted_and_replaced,
    api_keys_are_found_by_id_listed_by_owner_and_revoked,
    webhooks_are_listed_by_owner_and_deleted,
);
