//! The log port contract suite, run against the real broker. Each test gets
//! its own namespace.
//!
//! Not run: `static_members_split_task_partitions`, which checks the static
//! `member`/`members` split of backends without group coordination; Kafka
//! ignores those arguments and lets the group coordinator assign (see
//! `tests/kafka.rs` for the two-member and bad-input tests instead).

mod common;

use slotstream_testkit::contract::log as contract;

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            common::in_namespace(common::options(), |opts| async move {
                let backend = common::connect(&opts, None).await;
                contract::$name(&*backend).await;
            })
            .await;
        }
    )*};
}

contract_tests!(
    keyed_records_land_on_murmur2_partitions,
    headers_travel_with_records,
    offsets_are_dense_and_ordered,
    invalid_records_are_refused_without_harming_others,
    readers_are_woken_by_new_data,
    committed_offsets_resume_in_a_new_session,
    commits_are_atomic_and_fenced_sessions_write_nothing,
    a_failed_commit_rewinds_to_committed_offsets,
);
