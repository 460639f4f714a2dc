//! The distributed mode's read views: [`ScyllaViews`] implements the
//! runtime's [`ViewStore`] port on ScyllaDB (or Apache Cassandra, which
//! speaks the same CQL) through the `scylla` driver.
//!
//! It owns the view keyspace: one table per query (the `schema` module
//! documents the layout and why overlap queries are day-bucketed), written only by the
//! views processor through [`ViewStore::apply`] and read by the gateway.
//!
//! The invariant it keeps: **every write converges**. Each [`ViewWrite`] is
//! applied as "read the current row, write the query tables, write the row
//! last", so the main row is the commit point: a crash midway leaves the old
//! row in place and the redelivered write redoes the same steps, and a patch
//! of a row that does not exist writes nothing. Writes of one row run in
//! order; writes of different rows run concurrently (at most
//! [`APPLY_CONCURRENCY`]). The writer's statements carry monotonic client
//! timestamps so a delete and a later re-insert of the same key resolve in
//! the order they were issued.
//!
//! Production keyspaces should use `NetworkTopologyStrategy` (create the
//! keyspace yourself, e.g. `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`,
//! before `ensure_schema`, which then only adds the tables);
//! `ensure_schema` creates a missing keyspace with `SimpleStrategy` and
//! [`ScyllaOptions::replication_factor`].

mod error;
mod read;
mod rows;
mod schema;
mod statements;
mod write;

pub use error::ScyllaError;

use async_trait::async_trait;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::policies::timestamp_generator::MonotonicTimestampGenerator;
use scylla::statement::Consistency;
use slotstream_domain::booking::BookingStatus;
use slotstream_domain::resource::Resource;
use slotstream_domain::{BookingId, Millis, PaymentId, ResourceId, UserId};
use slotstream_runtime::{
    ApiKeyView, BookingView, EffectError, LoginLockView, Page, PaymentView, SentLedger, UserView,
    ViewError, ViewStore, ViewWrite, WebhookView,
};
use statements::Statements;
use std::sync::Arc;
use std::time::Duration;

/// Most writes of one `apply` batch in flight at once.
pub const APPLY_CONCURRENCY: usize = 64;
/// Bound on one request (each retry included) on the query path.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on one schema statement; DDL waits for the cluster to agree.
pub const SCHEMA_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound on opening the first connection to a node.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the views live and how to reach them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScyllaOptions {
    /// Contact points, `host:port`.
    pub nodes: Vec<String>,
    /// The keyspace holding the views (default `slotstream`; tests use their own).
    pub keyspace: String,
    /// `SimpleStrategy` replication factor `ensure_schema` creates a missing
    /// keyspace with (default 1). Production: create the keyspace with
    /// `NetworkTopologyStrategy` first.
    pub replication_factor: u32,
    /// The local datacenter: when set, requests go to its replicas only
    /// (token-aware within the DC, no failover to remote DCs).
    pub local_dc: Option<String>,
}

impl ScyllaOptions {
    /// Options for `nodes` with the defaults above.
    pub fn new(nodes: Vec<String>) -> Self {
        Self {
            nodes,
            keyspace: schema::PRODUCTION_KEYSPACE.to_owned(),
            replication_factor: 1,
            local_dc: None,
        }
    }

    fn check(&self) -> Result<(), ScyllaError> {
        if self.nodes.is_empty() {
            return Err(ScyllaError::InvalidOptions(
                "no nodes given: pass at least one host:port".into(),
            ));
        }
        if self.replication_factor == 0 {
            return Err(ScyllaError::InvalidOptions(
                "replication_factor must be at least 1".into(),
            ));
        }
        schema::check_keyspace(&self.keyspace)
    }

    /// A session with token-aware (and DC-aware, with `local_dc`) routing,
    /// bounded timeouts and monotonic client timestamps.
    async fn session(&self, request_timeout: Duration) -> Result<Session, ScyllaError> {
        self.check()?;
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &self.local_dc {
            policy = policy
                .prefer_datacenter(dc.clone())
                .permit_dc_failover(false);
        }
        let profile = ExecutionProfile::builder()
            .load_balancing_policy(policy.build())
            .consistency(Consistency::LocalQuorum)
            .request_timeout(Some(request_timeout))
            .build();
        SessionBuilder::new()
            .known_nodes(&self.nodes)
            .connection_timeout(CONNECT_TIMEOUT)
            .default_execution_profile_handle(profile.into_handle())
            .timestamp_generator(Arc::new(MonotonicTimestampGenerator::new()))
            .schema_agreement_timeout(SCHEMA_TIMEOUT)
            .keyspaces_to_fetch([self.keyspace.clone()])
            .build()
            .await
            .map_err(|e| ScyllaError::Connect {
                nodes: self.nodes.join(","),
                reason: e.to_string(),
            })
    }
}

/// The read views on ScyllaDB: one session, every statement prepared.
#[derive(Debug)]
pub struct ScyllaViews {
    session: Session,
    st: Statements,
}

impl ScyllaViews {
    /// Creates the keyspace and every table if missing (idempotent), waits
    /// for schema agreement.
    pub async fn ensure_schema(opts: &ScyllaOptions) -> Result<(), ScyllaError> {
        let session = opts.session(SCHEMA_TIMEOUT).await?;
        schema::ensure(&session, opts).await
    }

    /// Connects, adds the columns a later release added to existing tables
    /// (idempotent, see `schema::add_columns`) and prepares every
    /// statement; a missing keyspace or table is
    /// [`ScyllaError::MissingSchema`] ("run `slotstream init`").
    pub async fn connect(opts: &ScyllaOptions) -> Result<Arc<Self>, ScyllaError> {
        let session = opts.session(REQUEST_TIMEOUT).await?;
        let present = schema::existing_tables(&session, &opts.keyspace).await?;
        let missing: Vec<&str> = schema::TABLES
            .iter()
            .copied()
            .filter(|t| !present.iter().any(|p| p == t))
            .collect();
        if !missing.is_empty() {
            return Err(ScyllaError::MissingSchema {
                keyspace: opts.keyspace.clone(),
                missing: missing.join(", "),
            });
        }
        // Columns added by a later release (a booking's moves) are added at
        // open, so a keyspace made by the previous release works without
        // another `slotstream init`; old rows read them as null.
        if !schema::missing_columns(&session, &opts.keyspace, &present)
            .await?
            .is_empty()
        {
            let ddl = opts.session(SCHEMA_TIMEOUT).await?;
            schema::add_columns(&ddl, &opts.keyspace, &present).await?;
            ddl.await_schema_agreement()
                .await
                .map_err(|e| ScyllaError::Schema {
                    statement: "schema agreement".into(),
                    reason: e.to_string(),
                })?;
        }
        let st = Statements::prepare(&session, &opts.keyspace).await?;
        Ok(Arc::new(Self { session, st }))
    }

    /// Drops the keyspace (tests clean up). Refuses `slotstream`.
    pub async fn drop_keyspace(opts: &ScyllaOptions) -> Result<(), ScyllaError> {
        if opts.keyspace == schema::PRODUCTION_KEYSPACE {
            return Err(ScyllaError::RefusedDrop(opts.keyspace.clone()));
        }
        let session = opts.session(SCHEMA_TIMEOUT).await?;
        schema::run_ddl(
            &session,
            &format!("DROP KEYSPACE IF EXISTS {}", opts.keyspace),
        )
        .await
    }
}

/// The shared SMTP sent-ledger (table `emails_sent`), read and written at
/// `LOCAL_QUORUM` like the views: a notification processor that takes a
/// partition over sees every email its predecessor had recorded. Failures are
/// transient (the driver retries; nothing is sent while the ledger is down).
#[async_trait]
impl SentLedger for ScyllaViews {
    async fn is_sent(&self, email_id: &str) -> Result<bool, EffectError> {
        let result = self
            .session
            .execute_unpaged(&self.st.get_sent, (email_id,))
            .await
            .map_err(|e| ledger_error(error::execution(e)))?
            .into_rows_result()
            .map_err(|e| ledger_error(error::undecodable(e)))?;
        Ok(result.rows_num() > 0)
    }

    async fn record_sent(&self, email_id: &str) -> Result<(), EffectError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.session
            .execute_unpaged(
                &self.st.put_sent,
                (email_id, scylla::value::CqlTimestamp(now)),
            )
            .await
            .map_err(|e| ledger_error(error::execution(e)))?;
        Ok(())
    }
}

fn ledger_error(e: ViewError) -> EffectError {
    EffectError::Transient(format!("the shared sent-ledger: {e}"))
}

#[async_trait]
impl ViewStore for ScyllaViews {
    async fn apply(&self, writes: &[ViewWrite]) -> Result<(), ViewError> {
        write::apply(&self.session, &self.st, writes).await
    }

    async fn booking(&self, id: &BookingId) -> Result<Option<BookingView>, ViewError> {
        read::booking(&self.session, &self.st, id.as_str()).await
    }

    async fn bookings_by_user(
        &self,
        user: &UserId,
        status: Option<BookingStatus>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        read::bookings_by_user(&self.session, &self.st, user, status, limit, cursor).await
    }

    async fn bookings_by_resource(
        &self,
        resource: &ResourceId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        let owner = read::Owner::Resource(resource.as_str());
        read::overlapping(&self.session, &self.st, owner, (from, to), limit, cursor).await
    }

    async fn bookings_by_vendor(
        &self,
        vendor: &UserId,
        from: Millis,
        to: Millis,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<BookingView>, ViewError> {
        let owner = read::Owner::Vendor(vendor.as_str());
        read::overlapping(&self.session, &self.st, owner, (from, to), limit, cursor).await
    }

    async fn resource(&self, id: &ResourceId) -> Result<Option<Resource>, ViewError> {
        read::resource(&self.session, &self.st, id.as_str()).await
    }

    async fn resources(
        &self,
        vendor: Option<&UserId>,
        kind: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Resource>, ViewError> {
        read::resources(&self.session, &self.st, vendor, kind, limit, cursor).await
    }

    async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentView>, ViewError> {
        read::payment(&self.session, &self.st, id.as_str()).await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserView>, ViewError> {
        read::user(&self.session, &self.st, email).await
    }

    async fn login_lock(&self, email: &str) -> Result<Option<LoginLockView>, ViewError> {
        read::login_lock(&self.session, &self.st, email).await
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyView>, ViewError> {
        read::api_key(&self.session, &self.st, key_id).await
    }

    async fn api_keys_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<ApiKeyView>, ViewError> {
        read::api_keys_by_owner(&self.session, &self.st, owner, limit).await
    }

    async fn webhook(
        &self,
        owner: &UserId,
        webhook_id: &str,
    ) -> Result<Option<WebhookView>, ViewError> {
        read::webhook(&self.session, &self.st, owner, webhook_id).await
    }

    async fn webhooks_by_owner(
        &self,
        owner: &UserId,
        limit: usize,
    ) -> Result<Vec<WebhookView>, ViewError> {
        read::webhooks_by_owner(&self.session, &self.st, owner, limit).await
    }

    async fn applied(&self, topic: &str, partition: u32) -> Result<u64, ViewError> {
        read::applied(&self.session, &self.st, topic, partition).await
    }

    async fn events(
        &self,
        audience: &UserId,
        topic: &str,
        partition: u32,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<slotstream_runtime::EventView>, ViewError> {
        read::events(
            &self.session,
            &self.st,
            audience,
            topic,
            partition,
            after,
            limit,
        )
        .await
    }
}
