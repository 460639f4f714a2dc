//! The keyspace and its tables: one table per query, all written by the
//! views processor alone (no materialized views, no secondary indexes, no
//! LWT), in CQL that both ScyllaDB and Apache Cassandra accept.
//!
//! Overlap queries ("bookings of a resource, or of a vendor, overlapping
//! `[from, to)`") read day-bucketed tables: partition `(owner, day of start)`,
//! clustered by `(starts_at, booking_id)`, so no partition grows without bound
//! (one day of one vendor at most). A booking can start before `from` and
//! still overlap, so the scan starts at `from - span`, where `span` is the
//! longest booking the owner has ever had (`booking_spans`, clustered
//! longest-first, insert-only so concurrent writers never race); the domain
//! caps a booking at one year, but a resource's real longest booking is
//! usually hours, so this reads one or two days instead of 366. To skip the
//! empty days of a wide window (the gateway's default window is 0..year 9999),
//! `booking_days` lists the days each owner has bookings on, and only those
//! buckets are read.

use crate::rows::{
    API_KEY_COLUMNS, BOOKING_COLUMNS, LOGIN_LOCK_COLUMNS, PAYMENT_COLUMNS, RESOURCE_COLUMNS,
    USER_COLUMNS, WEBHOOK_COLUMNS,
};
use crate::{ScyllaError, ScyllaOptions};
use scylla::client::session::Session;

/// Every table [`ScyllaViews`](crate::ScyllaViews) needs, by name.
pub(crate) const TABLES: &[&str] = &[
    "bookings",
    "bookings_by_user",
    "bookings_by_user_status",
    "bookings_by_resource_day",
    "bookings_by_vendor_day",
    "booking_spans",
    "booking_days",
    "resources",
    "resources_by_vendor",
    "resources_by_kind",
    "resource_catalog",
    "payments",
    "users_by_email",
    "login_locks",
    "emails_sent",
    "api_keys",
    "api_keys_by_owner",
    "webhooks_by_owner",
    "view_positions",
    "events_by_audience",
];

/// The production keyspace, which `drop_keyspace` refuses.
pub(crate) const PRODUCTION_KEYSPACE: &str = "slotstream";

/// Refuses keyspace names CQL would need quoting for (or reject): they are
/// spliced into statements, so only `[a-z][a-z0-9_]{0,47}` passes.
pub(crate) fn check_keyspace(name: &str) -> Result<(), ScyllaError> {
    let ok = (1..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ScyllaError::InvalidOptions(format!(
            "keyspace {name:?} must be 1 to 48 characters of [a-z0-9_], starting with a letter"
        )))
    }
}

fn columns(names: &[&str], types: &dyn Fn(&str) -> &'static str) -> String {
    names
        .iter()
        .map(|c| format!("{c} {}", types(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn booking_type(c: &str) -> &'static str {
    match c {
        "starts_at" | "ends_at" | "hold_expires_at" | "created_at" | "updated_at" => "timestamp",
        "amount" | "refund_amount" => "bigint",
        _ => "text",
    }
}

fn resource_type(c: &str) -> &'static str {
    match c {
        "price_amount" => "bigint",
        "created_at" => "timestamp",
        "scheduling" => "text",
        "price_unit_minutes"
        | "slot_minutes"
        | "min_minutes"
        | "max_minutes"
        | "full_refund_hours"
        | "partial_refund_hours"
        | "partial_refund_percent" => "int",
        _ => "text",
    }
}

/// The `CREATE TABLE IF NOT EXISTS` statement of each table in [`TABLES`].
pub(crate) fn create_tables(ks: &str) -> Vec<(&'static str, String)> {
    let booking = columns(BOOKING_COLUMNS, &booking_type);
    let resource = columns(RESOURCE_COLUMNS, &resource_type);
    let payment = columns(PAYMENT_COLUMNS, &|c| match c {
        "amount" | "refunded_amount" => "bigint",
        "updated_at" => "timestamp",
        _ => "text",
    });
    let user = columns(USER_COLUMNS, &|c| match c {
        "verified" => "boolean",
        "created_at" => "timestamp",
        _ => "text",
    });
    let lock = columns(LOGIN_LOCK_COLUMNS, &|c| match c {
        "email" => "text",
        _ => "timestamp",
    });
    let api_key = columns(API_KEY_COLUMNS, &|c| match c {
        "scopes" => "list<text>",
        "expires_at" | "created_at" | "revoked_at" => "timestamp",
        "rate_per_second" | "burst" => "int",
        _ => "text",
    });
    let webhook = columns(WEBHOOK_COLUMNS, &|c| match c {
        "events" => "list<text>",
        "created_at" => "timestamp",
        _ => "text",
    });
    let newest_first = "WITH CLUSTERING ORDER BY (created_at DESC, booking_id ASC)";
    let ordered = |name: &'static str, body: String, options: &str| {
        let ddl = format!("CREATE TABLE IF NOT EXISTS {ks}.{name} ({body}) {options}");
        (name, ddl.trim_end().to_owned())
    };
    let table = |name: &'static str, body: String| ordered(name, body, "");
    vec![
        table("bookings", format!("{booking}, PRIMARY KEY (booking_id)")),
        ordered(
            "bookings_by_user",
            format!("{booking}, PRIMARY KEY ((user_id), created_at, booking_id)"),
            newest_first,
        ),
        ordered(
            "bookings_by_user_status",
            format!("{booking}, PRIMARY KEY ((user_id, status), created_at, booking_id)"),
            newest_first,
        ),
        table(
            "bookings_by_resource_day",
            format!("day date, {booking}, PRIMARY KEY ((resource_id, day), starts_at, booking_id)"),
        ),
        table(
            "bookings_by_vendor_day",
            format!("day date, {booking}, PRIMARY KEY ((vendor_id, day), starts_at, booking_id)"),
        ),
        ordered(
            "booking_spans",
            "scope text, owner_id text, span_ms bigint, PRIMARY KEY ((scope, owner_id), span_ms)"
                .to_owned(),
            "WITH CLUSTERING ORDER BY (span_ms DESC)",
        ),
        table(
            "booking_days",
            "scope text, owner_id text, day date, PRIMARY KEY ((scope, owner_id), day)".to_owned(),
        ),
        table(
            "resources",
            format!("{resource}, PRIMARY KEY (resource_id)"),
        ),
        table(
            "resources_by_vendor",
            format!("{resource}, PRIMARY KEY ((vendor_id), resource_id)"),
        ),
        table(
            "resources_by_kind",
            format!("{resource}, PRIMARY KEY ((kind), resource_id)"),
        ),
        // One partition for the whole catalog: the only way to list every
        // resource in id order without a scatter-gather. A catalog is
        // thousands of rows, far from a partition's comfortable limit.
        table(
            "resource_catalog",
            format!("catalog int, {resource}, PRIMARY KEY ((catalog), resource_id)"),
        ),
        table("payments", format!("{payment}, PRIMARY KEY (payment_id)")),
        table("users_by_email", format!("{user}, PRIMARY KEY (email)")),
        // Added after the first release: `slotstream init` creates it in an
        // existing keyspace (no lock existed before it).
        table("login_locks", format!("{lock}, PRIMARY KEY (email)")),
        // The notification processors' shared SMTP sent-ledger (not a view):
        // whichever instance owns a partition skips what any instance sent.
        table(
            "emails_sent",
            "email_id text, sent_at timestamp, PRIMARY KEY (email_id)".to_owned(),
        ),
        // Added with API keys: `slotstream init` creates them in an
        // existing keyspace (no key existed before them).
        table("api_keys", format!("{api_key}, PRIMARY KEY (key_id)")),
        table(
            "api_keys_by_owner",
            format!("{api_key}, PRIMARY KEY ((owner_id), key_id)"),
        ),
        // Added with webhook subscriptions: `slotstream init` creates it in
        // an existing keyspace (no subscription existed before it).
        table(
            "webhooks_by_owner",
            format!("{webhook}, PRIMARY KEY ((owner_id), webhook_id)"),
        ),
        // Added with consistency tokens: per topic partition, the next
        // offset the views apply (written after the rows of a commit).
        table(
            "view_positions",
            "topic text, partition int, next_offset bigint, PRIMARY KEY ((topic, partition))"
                .to_owned(),
        ),
        // Added with the events API: one partition per audience (vendor or
        // customer) and topic partition, clustered by offset; the event is
        // its JSON row.
        table(
            "events_by_audience",
            "audience text, topic text, partition int, offset bigint, event text, \
             PRIMARY KEY ((audience, topic, partition), offset)"
                .to_owned(),
        ),
    ]
}

/// Creates the keyspace, then the tables it lacks, concurrently: each DDL
/// goes through the same session, the driver awaits schema agreement after
/// each, and `IF NOT EXISTS` makes a lost race harmless.
pub(crate) async fn ensure(session: &Session, opts: &ScyllaOptions) -> Result<(), ScyllaError> {
    let ks = opts.keyspace.as_str();
    let create_ks = format!(
        "CREATE KEYSPACE IF NOT EXISTS {ks} WITH replication = \
         {{'class': 'SimpleStrategy', 'replication_factor': {}}}",
        opts.replication_factor
    );
    run_ddl(session, &create_ks).await?;
    let present = existing_tables(session, ks).await?;
    let missing = create_tables(ks)
        .into_iter()
        .filter(|(name, _)| !present.iter().any(|p| p == name));
    let runs = missing.map(|(_, ddl)| async move { run_ddl(session, &ddl).await });
    futures_util::future::try_join_all(runs).await?;
    add_columns(session, ks, &present).await?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| ScyllaError::Schema {
            statement: "schema agreement".into(),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Columns added after their table's first release: `(table, column,
/// CQL type)`. A table created now has them; one created before gets them
/// with `ALTER TABLE ... ADD` (its old rows read them as null).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("resources", "scheduling", "text"),
    ("resources_by_vendor", "scheduling", "text"),
    ("resources_by_kind", "scheduling", "text"),
    ("resource_catalog", "scheduling", "text"),
    ("bookings", "reschedules", "text"),
    ("bookings_by_user", "reschedules", "text"),
    ("bookings_by_user_status", "reschedules", "text"),
    ("bookings_by_resource_day", "reschedules", "text"),
    ("bookings_by_vendor_day", "reschedules", "text"),
];

/// Whether `table` in `ks` has `column`.
async fn has_column(
    session: &Session,
    ks: &str,
    table: &str,
    column: &str,
) -> Result<bool, ScyllaError> {
    let query = "SELECT column_name FROM system_schema.columns \
                 WHERE keyspace_name = ? AND table_name = ?";
    let failed = |reason: String| ScyllaError::Schema {
        statement: query.into(),
        reason,
    };
    let rows = session
        .query_unpaged(query, (ks, table))
        .await
        .map_err(|e| failed(e.to_string()))?
        .into_rows_result()
        .map_err(|e| failed(e.to_string()))?;
    Ok(rows
        .rows::<(String,)>()
        .map_err(|e| failed(e.to_string()))?
        .any(|r| r.is_ok_and(|(c,)| c == column)))
}

/// The [`ADDED_COLUMNS`] missing from the tables that already exist
/// (`present`).
pub(crate) async fn missing_columns(
    session: &Session,
    ks: &str,
    present: &[String],
) -> Result<Vec<(&'static str, &'static str, &'static str)>, ScyllaError> {
    let mut missing = Vec::new();
    for &(table, column, cql) in ADDED_COLUMNS {
        if present.iter().any(|p| p == table) && !has_column(session, ks, table, column).await? {
            missing.push((table, column, cql));
        }
    }
    Ok(missing)
}

/// Adds the [`ADDED_COLUMNS`] missing from the tables that already existed
/// (`present`) before this open. Each `ALTER TABLE ... ADD` is one schema
/// change, so a crash leaves every column either added or not, and the
/// next open adds what is left. Two processes opening at once may both try
/// one: the loser's statement fails, and it then finds the column there.
pub(crate) async fn add_columns(
    session: &Session,
    ks: &str,
    present: &[String],
) -> Result<(), ScyllaError> {
    for (table, column, cql) in missing_columns(session, ks, present).await? {
        let added = run_ddl(
            session,
            &format!("ALTER TABLE {ks}.{table} ADD {column} {cql}"),
        )
        .await;
        if let Err(e) = added
            && !has_column(session, ks, table, column).await?
        {
            return Err(e);
        }
    }
    Ok(())
}

/// The tables that exist in keyspace `ks`.
pub(crate) async fn existing_tables(
    session: &Session,
    ks: &str,
) -> Result<Vec<String>, ScyllaError> {
    let query = "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?";
    let failed = |reason: String| ScyllaError::Schema {
        statement: query.into(),
        reason,
    };
    let rows = session
        .query_unpaged(query, (ks,))
        .await
        .map_err(|e| failed(e.to_string()))?
        .into_rows_result()
        .map_err(|e| failed(e.to_string()))?;
    rows.rows::<(String,)>()
        .map_err(|e| failed(e.to_string()))?
        .map(|r| r.map(|(t,)| t).map_err(|e| failed(e.to_string())))
        .collect()
}

/// Runs one schema statement.
pub(crate) async fn run_ddl(session: &Session, ddl: &str) -> Result<(), ScyllaError> {
    session
        .query_unpaged(ddl, ())
        .await
        .map(|_| ())
        .map_err(|e| ScyllaError::Schema {
            statement: ddl.chars().take(120).collect(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_names_that_need_quoting_are_refused() {
        for good in ["slotstream", "t_0a", &"k".repeat(48)] {
            assert!(check_keyspace(good).is_ok(), "{good}");
        }
        for bad in ["", "0abc", "Slot", "a-b", "a;drop", &"k".repeat(49)] {
            assert!(check_keyspace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn there_is_one_create_statement_per_table() {
        let names: Vec<&str> = create_tables("ks").iter().map(|(n, _)| *n).collect();
        assert_eq!(names, TABLES);
    }
}
