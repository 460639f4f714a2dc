//! The redb tables of the embedded backend and the small encodings they use.
//!
//! Every table is created when the database is opened, so read transactions
//! never meet a missing table. Changing a key or value layout here changes
//! the file format: bump [`FORMAT_VERSION`].

use redb::TableDefinition;
use slotstream_domain::booking::BookingStatus;
use slotstream_runtime::topics::{self, TopicSpec};

/// Version of the log file's layout, stored in [`META`] under `"format"`.
/// Version 2 added [`STATE_LOG`]; a version-1 file is upgraded at open (its
/// [`STATE`] entries stay readable and are compacted away by restores).
/// Version 3 moved the views, and the offsets, state and epochs of the view
/// groups, into their own file ([`VIEWS_FILE`]); an older file is split at
/// open (see `migrate.rs`).
pub(crate) const FORMAT_VERSION: u64 = 3;

/// Version of the views file's layout, stored in its own [`META`].
pub(crate) const VIEWS_FORMAT_VERSION: u64 = 1;

/// The log file: every topic, and the offsets, state and epochs of every
/// group except the view groups.
pub(crate) const LOG_FILE: &str = "slotstream.redb";
/// The views file: the view tables, and the offsets, state and epochs of the
/// view groups, written by their own writer thread.
pub(crate) const VIEWS_FILE: &str = "views.redb";

/// The oldest format this build opens (and upgrades).
pub(crate) const OLDEST_FORMAT: u64 = 1;

/// Key of a log record: (partition, offset).
pub(crate) type LogKey = (u32, u64);
/// Value of a log record: (timestamp, key, value).
pub(crate) type LogValue = (i64, &'static [u8], &'static [u8]);

/// File metadata: `"format"` -> [`FORMAT_VERSION`].
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Committed consumer offsets: (group, topic, partition) -> next offset to read.
pub(crate) const OFFSETS: TableDefinition<(&str, &str, u32), u64> = TableDefinition::new("offsets");
/// Key of a state changelog entry: (group, task partition, sequence).
pub(crate) type StateLogKey<'a> = (&'a str, u32, u64);
/// Processor state changelog: (group, task partition, sequence) -> entry
/// (see `state.rs` for the encoding). Last write per key wins.
pub(crate) const STATE_LOG: TableDefinition<(&str, u32, u64), &[u8]> =
    TableDefinition::new("state_log");
/// Format-1 processor state: (group, task partition, key) -> value. Read
/// before the changelog by restores, emptied by their compactions.
pub(crate) const STATE: TableDefinition<(&str, u32, &[u8]), &[u8]> = TableDefinition::new("state");
/// Member epochs for fencing: (group, member) -> epoch.
pub(crate) const EPOCHS: TableDefinition<(&str, u32), u64> = TableDefinition::new("epochs");

/// Bookings by id (postcard of `BookingView`).
pub(crate) const BOOKINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/bookings");
/// (user, `!created_at`, booking id) -> status code: newest first per user.
pub(crate) const BOOKINGS_BY_USER: TableDefinition<(&str, i64, &str), u8> =
    TableDefinition::new("view/bookings_by_user");
/// (resource, start, booking id) -> end.
pub(crate) const BOOKINGS_BY_RESOURCE: TableDefinition<(&str, i64, &str), i64> =
    TableDefinition::new("view/bookings_by_resource");
/// (vendor, start, booking id) -> end.
pub(crate) const BOOKINGS_BY_VENDOR: TableDefinition<(&str, i64, &str), i64> =
    TableDefinition::new("view/bookings_by_vendor");
/// vendor -> the longest booking ever stored on any of its resources.
pub(crate) const VENDOR_SPAN: TableDefinition<&str, i64> = TableDefinition::new("view/vendor_span");
/// resource -> the longest booking (end - start) ever stored for it: how far
/// before `from` an overlap query has to look.
pub(crate) const BOOKING_SPAN: TableDefinition<&str, i64> =
    TableDefinition::new("view/booking_span");
/// Resources by id (postcard of `Resource`).
pub(crate) const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("view/resources");
/// (vendor, resource id) -> ().
pub(crate) const RESOURCES_BY_VENDOR: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("view/resources_by_vendor");
/// (kind, resource id) -> ().
pub(crate) const RESOURCES_BY_KIND: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("view/resources_by_kind");
/// Payments by id (postcard of `PaymentView`).
pub(crate) const PAYMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/payments");
/// Users by normalized email (postcard of `UserView`).
pub(crate) const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("view/users");

/// The topics the embedded log holds: every platform topic.
pub(crate) fn all_topics() -> &'static [TopicSpec] {
    &topics::ALL
}

/// Index of a topic in [`all_topics`], if it is one.
pub(crate) fn topic_index(name: &str) -> Option<usize> {
    all_topics().iter().position(|t| t.name == name)
}

/// Name of the log table of one topic.
pub(crate) fn log_table_name(topic: &str) -> String {
    format!("log/{topic}")
}

/// The definition of the log table named `name` (see [`log_table_name`]).
pub(crate) fn log_table(name: &str) -> TableDefinition<'_, LogKey, LogValue> {
    TableDefinition::new(name)
}

/// A stable one-byte code per booking status, for the by-user index.
pub(crate) fn status_code(status: BookingStatus) -> u8 {
    match status {
        BookingStatus::Pending => 0,
        BookingStatus::Confirmed => 1,
        BookingStatus::Failed => 2,
        BookingStatus::Expired => 3,
        BookingStatus::Cancelled => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_distinct() {
        let all = [
            BookingStatus::Pending,
            BookingStatus::Confirmed,
            BookingStatus::Failed,
            BookingStatus::Expired,
            BookingStatus::Cancelled,
        ];
        let mut codes: Vec<u8> = all.iter().map(|s| status_code(*s)).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn every_platform_topic_has_an_index() {
        for t in topics::ALL {
            assert_eq!(
                all_topics()[topic_index(t.name).expect("known")].name,
                t.name
            );
        }
        assert_eq!(topic_index("no.such.topic"), None);
    }
}
