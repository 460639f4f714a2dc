//! Every statement the store runs, prepared once at connect (so each request
//! is routed to a replica of its partition by the token-aware policy).

use crate::ScyllaError;
use crate::rows::{
    API_KEY_COLUMNS, BOOKING_COLUMNS, LOGIN_LOCK_COLUMNS, PAYMENT_COLUMNS, RESOURCE_COLUMNS,
    USER_COLUMNS, WEBHOOK_COLUMNS,
};
use crate::schema::TABLES;
use scylla::client::session::Session;
use scylla::errors::{PrepareError, RequestAttemptError};
use scylla::statement::prepared::PreparedStatement;

/// The statements of one day-bucketed overlap table (by resource or vendor).
#[derive(Debug)]
pub(crate) struct DayTable {
    pub insert: PreparedStatement,
    pub delete: PreparedStatement,
    /// `(owner, day, start, id) > cursor` within the cursor's start instant.
    pub ties: PreparedStatement,
    /// `starts_at` in `(after, before)` within one day bucket.
    pub slice: PreparedStatement,
}

/// The statements of one newest-first user table (all, or one status).
#[derive(Debug)]
pub(crate) struct UserTable {
    pub insert: PreparedStatement,
    pub delete: PreparedStatement,
    pub first: PreparedStatement,
    /// Same `created_at` as the cursor, later id.
    pub ties: PreparedStatement,
    /// Older than the cursor.
    pub older: PreparedStatement,
}

/// The statements of one id-ordered resource listing.
#[derive(Debug)]
pub(crate) struct ResourceList {
    pub insert: PreparedStatement,
    pub delete: PreparedStatement,
    /// Ids after the given one, within the partition.
    pub after: PreparedStatement,
}

/// All prepared statements.
#[derive(Debug)]
pub(crate) struct Statements {
    pub get_booking: PreparedStatement,
    pub put_booking: PreparedStatement,
    pub by_user: UserTable,
    pub by_user_status: UserTable,
    pub by_resource: DayTable,
    pub by_vendor: DayTable,
    pub put_span: PreparedStatement,
    pub get_span: PreparedStatement,
    pub put_day: PreparedStatement,
    pub list_days: PreparedStatement,
    pub get_resource: PreparedStatement,
    pub put_resource: PreparedStatement,
    pub resources_by_vendor: ResourceList,
    pub resources_by_kind: ResourceList,
    pub catalog: ResourceList,
    pub get_sent: PreparedStatement,
    pub put_sent: PreparedStatement,
    pub get_payment: PreparedStatement,
    pub put_payment: PreparedStatement,
    pub get_user: PreparedStatement,
    pub put_user: PreparedStatement,
    pub get_lock: PreparedStatement,
    pub put_lock: PreparedStatement,
    pub get_api_key: PreparedStatement,
    pub put_api_key: PreparedStatement,
    pub api_keys_by_owner: PreparedStatement,
    pub put_api_key_by_owner: PreparedStatement,
    pub get_webhook: PreparedStatement,
    pub webhooks_by_owner: PreparedStatement,
    pub put_webhook: PreparedStatement,
    pub delete_webhook: PreparedStatement,
    pub get_applied: PreparedStatement,
    pub put_applied: PreparedStatement,
    pub events: PreparedStatement,
    pub put_event: PreparedStatement,
}

fn insert(ks: &str, table: &str, leading: &[&str], columns: &[&str]) -> String {
    let all: Vec<&str> = leading.iter().chain(columns).copied().collect();
    let marks = vec!["?"; all.len()].join(", ");
    format!(
        "INSERT INTO {ks}.{table} ({}) VALUES ({marks})",
        all.join(", ")
    )
}

fn select(ks: &str, table: &str, columns: &[&str], filter: &str) -> String {
    format!(
        "SELECT {} FROM {ks}.{table} WHERE {filter}",
        columns.join(", ")
    )
}

/// Prepares statements against one keyspace.
struct Preparer<'a> {
    session: &'a Session,
    ks: &'a str,
}

impl Preparer<'_> {
    async fn prepare(&self, cql: String) -> Result<PreparedStatement, ScyllaError> {
        let mut stmt = self
            .session
            .prepare(cql.clone())
            .await
            .map_err(|e| self.explain(&cql, &e))?;
        // Every statement is an idempotent upsert, delete or read, so the
        // driver may retry any of them after a timeout.
        stmt.set_is_idempotent(true);
        Ok(stmt)
    }

    /// A missing keyspace or table says how to create it; anything else is
    /// reported as it came.
    fn explain(&self, cql: &str, e: &PrepareError) -> ScyllaError {
        let db_invalid = match e {
            PrepareError::AllAttemptsFailed { first_attempt } => matches!(
                first_attempt,
                RequestAttemptError::DbError(scylla::errors::DbError::Invalid, _)
            ),
            _ => false,
        };
        let text = e.to_string();
        let lowered = text.to_ascii_lowercase();
        if db_invalid
            && (lowered.contains("unconfigured table")
                || lowered.contains("keyspace")
                || lowered.contains("does not exist"))
        {
            let table = TABLES
                .iter()
                .find(|t| cql.contains(&format!("{}.{t} ", self.ks)))
                .copied()
                .unwrap_or("?");
            ScyllaError::MissingSchema {
                keyspace: self.ks.to_owned(),
                missing: table.to_owned(),
            }
        } else {
            ScyllaError::Prepare {
                statement: cql.to_owned(),
                reason: text,
            }
        }
    }

    async fn user_table(&self, table: &str, partition: &str) -> Result<UserTable, ScyllaError> {
        let ks = self.ks;
        let leading: &[&str] = &[];
        Ok(UserTable {
            insert: self
                .prepare(insert(ks, table, leading, BOOKING_COLUMNS))
                .await?,
            delete: self
                .prepare(format!(
                    "DELETE FROM {ks}.{table} WHERE {partition} AND created_at = ? AND booking_id = ?"
                ))
                .await?,
            first: self
                .prepare(select(ks, table, BOOKING_COLUMNS, partition))
                .await?,
            ties: self
                .prepare(select(
                    ks,
                    table,
                    BOOKING_COLUMNS,
                    &format!("{partition} AND created_at = ? AND booking_id > ?"),
                ))
                .await?,
            older: self
                .prepare(select(
                    ks,
                    table,
                    BOOKING_COLUMNS,
                    &format!("{partition} AND created_at < ?"),
                ))
                .await?,
        })
    }

    async fn day_table(&self, table: &str, owner: &str) -> Result<DayTable, ScyllaError> {
        let ks = self.ks;
        let key = format!("{owner} = ? AND day = ?");
        Ok(DayTable {
            insert: self
                .prepare(insert(ks, table, &["day"], BOOKING_COLUMNS))
                .await?,
            delete: self
                .prepare(format!(
                    "DELETE FROM {ks}.{table} WHERE {key} AND starts_at = ? AND booking_id = ?"
                ))
                .await?,
            ties: self
                .prepare(select(
                    ks,
                    table,
                    BOOKING_COLUMNS,
                    &format!("{key} AND starts_at = ? AND booking_id > ?"),
                ))
                .await?,
            slice: self
                .prepare(select(
                    ks,
                    table,
                    BOOKING_COLUMNS,
                    &format!("{key} AND starts_at > ? AND starts_at < ?"),
                ))
                .await?,
        })
    }

    async fn resource_list(
        &self,
        table: &str,
        leading: &[&str],
        partition: &str,
    ) -> Result<ResourceList, ScyllaError> {
        let ks = self.ks;
        Ok(ResourceList {
            insert: self
                .prepare(insert(ks, table, leading, RESOURCE_COLUMNS))
                .await?,
            delete: self
                .prepare(format!(
                    "DELETE FROM {ks}.{table} WHERE {partition} AND resource_id = ?"
                ))
                .await?,
            after: self
                .prepare(select(
                    ks,
                    table,
                    RESOURCE_COLUMNS,
                    &format!("{partition} AND resource_id > ?"),
                ))
                .await?,
        })
    }
}

impl Statements {
    /// Prepares everything; a missing table is [`ScyllaError::MissingSchema`].
    pub(crate) async fn prepare(session: &Session, ks: &str) -> Result<Self, ScyllaError> {
        let p = Preparer { session, ks };
        let none: &[&str] = &[];
        let spans = "scope = ? AND owner_id = ?";
        Ok(Self {
            get_booking: p
                .prepare(select(ks, "bookings", BOOKING_COLUMNS, "booking_id = ?"))
                .await?,
            put_booking: p
                .prepare(insert(ks, "bookings", none, BOOKING_COLUMNS))
                .await?,
            by_user: p.user_table("bookings_by_user", "user_id = ?").await?,
            by_user_status: p
                .user_table("bookings_by_user_status", "user_id = ? AND status = ?")
                .await?,
            by_resource: p
                .day_table("bookings_by_resource_day", "resource_id")
                .await?,
            by_vendor: p.day_table("bookings_by_vendor_day", "vendor_id").await?,
            put_span: p
                .prepare(insert(
                    ks,
                    "booking_spans",
                    &["scope", "owner_id", "span_ms"],
                    none,
                ))
                .await?,
            get_span: p
                .prepare(format!(
                    "SELECT span_ms FROM {ks}.booking_spans WHERE {spans} LIMIT 1"
                ))
                .await?,
            put_day: p
                .prepare(insert(
                    ks,
                    "booking_days",
                    &["scope", "owner_id", "day"],
                    none,
                ))
                .await?,
            list_days: p
                .prepare(format!(
                    "SELECT day FROM {ks}.booking_days WHERE {spans} AND day >= ? AND day <= ?"
                ))
                .await?,
            get_resource: p
                .prepare(select(ks, "resources", RESOURCE_COLUMNS, "resource_id = ?"))
                .await?,
            put_resource: p
                .prepare(insert(ks, "resources", none, RESOURCE_COLUMNS))
                .await?,
            resources_by_vendor: p
                .resource_list("resources_by_vendor", none, "vendor_id = ?")
                .await?,
            resources_by_kind: p
                .resource_list("resources_by_kind", none, "kind = ?")
                .await?,
            catalog: p
                .resource_list("resource_catalog", &["catalog"], "catalog = ?")
                .await?,
            get_payment: p
                .prepare(select(ks, "payments", PAYMENT_COLUMNS, "payment_id = ?"))
                .await?,
            put_payment: p
                .prepare(insert(ks, "payments", none, PAYMENT_COLUMNS))
                .await?,
            get_user: p
                .prepare(select(ks, "users_by_email", USER_COLUMNS, "email = ?"))
                .await?,
            put_user: p
                .prepare(insert(ks, "users_by_email", none, USER_COLUMNS))
                .await?,
            get_lock: p
                .prepare(select(ks, "login_locks", LOGIN_LOCK_COLUMNS, "email = ?"))
                .await?,
            put_lock: p
                .prepare(insert(ks, "login_locks", none, LOGIN_LOCK_COLUMNS))
                .await?,
            get_api_key: p
                .prepare(select(ks, "api_keys", API_KEY_COLUMNS, "key_id = ?"))
                .await?,
            put_api_key: p
                .prepare(insert(ks, "api_keys", none, API_KEY_COLUMNS))
                .await?,
            api_keys_by_owner: p
                .prepare(format!(
                    "{} LIMIT ?",
                    select(ks, "api_keys_by_owner", API_KEY_COLUMNS, "owner_id = ?")
                ))
                .await?,
            put_api_key_by_owner: p
                .prepare(insert(ks, "api_keys_by_owner", none, API_KEY_COLUMNS))
                .await?,
            get_webhook: p
                .prepare(select(
                    ks,
                    "webhooks_by_owner",
                    WEBHOOK_COLUMNS,
                    "owner_id = ? AND webhook_id = ?",
                ))
                .await?,
            webhooks_by_owner: p
                .prepare(format!(
                    "{} LIMIT ?",
                    select(ks, "webhooks_by_owner", WEBHOOK_COLUMNS, "owner_id = ?")
                ))
                .await?,
            put_webhook: p
                .prepare(insert(ks, "webhooks_by_owner", none, WEBHOOK_COLUMNS))
                .await?,
            delete_webhook: p
                .prepare(format!(
                    "DELETE FROM {ks}.webhooks_by_owner WHERE owner_id = ? AND webhook_id = ?"
                ))
                .await?,
            get_applied: p
                .prepare(format!(
                    "SELECT next_offset FROM {ks}.view_positions WHERE topic = ? AND partition = ?"
                ))
                .await?,
            put_applied: p
                .prepare(format!(
                    "INSERT INTO {ks}.view_positions (topic, partition, next_offset) VALUES (?, ?, ?)"
                ))
                .await?,
            events: p
                .prepare(format!(
                    "SELECT event FROM {ks}.events_by_audience WHERE audience = ? AND topic = ? \
                     AND partition = ? AND offset > ? LIMIT ?"
                ))
                .await?,
            put_event: p
                .prepare(format!(
                    "INSERT INTO {ks}.events_by_audience (audience, topic, partition, offset, event) \
                     VALUES (?, ?, ?, ?, ?)"
                ))
                .await?,
            get_sent: p
                .prepare(format!(
                    "SELECT email_id FROM {ks}.emails_sent WHERE email_id = ?"
                ))
                .await?,
            put_sent: p
                .prepare(format!(
                    "INSERT INTO {ks}.emails_sent (email_id, sent_at) VALUES (?, ?)"
                ))
                .await?,
        })
    }
}
