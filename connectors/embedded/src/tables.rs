//! The tables of one write transaction, each opened on first use.
//!
//! Opening a redb table costs a lookup in the table tree; a group commit
//! touches a few tables many times, so each is opened at most once per
//! transaction.

use crate::schema::{self, LogKey, LogValue};
use crate::store::Store;
use redb::{Key, Table, TableDefinition, Value, WriteTransaction};

fn lazy<'s, 't, K: Key + 'static, V: Value + 'static>(
    slot: &'s mut Option<Table<'t, K, V>>,
    txn: &'t WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<&'s mut Table<'t, K, V>, redb::Error> {
    let table = match slot.take() {
        Some(t) => t,
        None => txn.open_table(def)?,
    };
    Ok(slot.insert(table))
}

macro_rules! tables {
    ($( $(#[$doc:meta])* $field:ident : $def:path => ($k:ty, $v:ty); )*) => {
        /// Lazily opened tables of one write transaction.
        pub(crate) struct Tables<'t> {
            txn: &'t WriteTransaction,
            store: &'t Store,
            log: Vec<Option<Table<'t, LogKey, LogValue>>>,
            $( $field: Option<Table<'t, $k, $v>>, )*
        }

        impl<'t> Tables<'t> {
            /// No table open yet.
            pub(crate) fn new(txn: &'t WriteTransaction, store: &'t Store) -> Self {
                Self {
                    txn,
                    store,
                    log: store.log_tables.iter().map(|_| None).collect(),
                    $( $field: None, )*
                }
            }

            $(
                $(#[$doc])*
                pub(crate) fn $field(&mut self) -> Result<&mut Table<'t, $k, $v>, redb::Error> {
                    lazy(&mut self.$field, self.txn, $def)
                }
            )*
        }
    };
}

tables! {
    /// Committed offsets.
    offsets: schema::OFFSETS => ((&'static str, &'static str, u32), u64);
    /// Format-1 processor state.
    state: schema::STATE => ((&'static str, u32, &'static [u8]), &'static [u8]);
    /// Processor state changelog.
    state_log: schema::STATE_LOG => ((&'static str, u32, u64), &'static [u8]);
    /// Member epochs.
    epochs: schema::EPOCHS => ((&'static str, u32), u64);
    /// Bookings by id.
    bookings: schema::BOOKINGS => (&'static str, &'static [u8]);
    /// Bookings by user index.
    bookings_by_user: schema::BOOKINGS_BY_USER => ((&'static str, i64, &'static str), u8);
    /// Bookings by resource index.
    bookings_by_resource: schema::BOOKINGS_BY_RESOURCE => ((&'static str, i64, &'static str), i64);
    /// Longest booking per resource.
    booking_span: schema::BOOKING_SPAN => (&'static str, i64);
    /// Bookings by vendor index.
    bookings_by_vendor: schema::BOOKINGS_BY_VENDOR => ((&'static str, i64, &'static str), i64);
    /// Longest booking per vendor.
    vendor_span: schema::VENDOR_SPAN => (&'static str, i64);
    /// Resources by id.
    resources: schema::RESOURCES => (&'static str, &'static [u8]);
    /// Resources by vendor index.
    resources_by_vendor: schema::RESOURCES_BY_VENDOR => ((&'static str, &'static str), ());
    /// Resources by kind index.
    resources_by_kind: schema::RESOURCES_BY_KIND => ((&'static str, &'static str), ());
    /// Payments by id.
    payments: schema::PAYMENTS => (&'static str, &'static [u8]);
    /// Users by email.
    users: schema::USERS => (&'static str, &'static [u8]);
}

impl<'t> Tables<'t> {
    /// The log table of topic index `topic`.
    pub(crate) fn log(
        &mut self,
        topic: usize,
    ) -> Result<&mut Table<'t, LogKey, LogValue>, redb::Error> {
        let def = schema::log_table(&self.store.log_tables[topic]);
        lazy(&mut self.log[topic], self.txn, def)
    }
}
