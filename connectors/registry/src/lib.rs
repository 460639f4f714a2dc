//! # slotstream-registry: schema ids from a Confluent-compatible registry
//!
//! In distributed mode every record on every topic is framed with an id the
//! schema registry assigned, so any Confluent deserializer (kcat, a Java or
//! Python consumer) decodes it with the schema registered under that id. This
//! crate is the codec's [`SchemaResolver`] for that mode.
//!
//! What it keeps true:
//! - **every subject we write is registered before the first record**:
//!   [`RegistryResolver::connect`] sets the subject's compatibility level (BACKWARD
//!   by default) and registers our writer schema under the `TopicNameStrategy`
//!   subject `<wire topic>-value` (the topic name as it is on the wire, so a
//!   namespaced deployment has its own subjects). A schema the registry refuses
//!   as incompatible stops the process at start, with the registry's reason;
//!   it never writes records a data team's consumer could not read.
//! - **older (or newer) writer schemas decode**: every registered version of our
//!   subjects is fetched at start; an id seen later (a producer that started
//!   after us) is looked up on first sight and cached. Lookups that fail are
//!   retried at most once per [`MISS_RETRY`], so a poison record with a bogus id
//!   cannot hammer the registry.
//!
//! The registry client is `schema_registry_converter`'s blocking API. Its
//! calls run on a thread of their own (never on an async worker: reqwest's
//! blocking client must not live inside a runtime).

use apache_avro::Schema;
use schema_registry_converter::blocking::schema_registry::{
    SrSettings, get_all_versions, get_schema_by_id, perform_sr_call, post_schema,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SrCall, SuppliedSchema};
use slotstream_schemas::{CompiledSchemas, SchemaResolver, subject_json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// How long an id the registry did not know stays unknown before it is asked again.
pub const MISS_RETRY: Duration = Duration::from_secs(5);

/// Why the registry could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry did not answer or answered with an error.
    #[error("schema registry at {url}: {what}: {reason}; check that it runs and is reachable")]
    Unreachable {
        /// The registry URL.
        url: String,
        /// What was being done.
        what: String,
        /// The client's error.
        reason: String,
    },
    /// The registry refused our schema (incompatible with what is registered).
    #[error(
        "schema registry refused the schema of {subject}: {reason}; a BACKWARD-incompatible change needs a new topic"
    )]
    Refused {
        /// The subject.
        subject: String,
        /// The registry's reason.
        reason: String,
    },
    /// A schema stored in the registry is not Avro we can parse.
    #[error("schema {id} in the registry is not parseable Avro: {reason}")]
    BadSchema {
        /// Its id.
        id: u32,
        /// The parser's error.
        reason: String,
    },
}

/// The compatibility level set on every subject we register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// New schemas read data written with the previous one (Confluent's default).
    Backward,
    /// As `Backward`, checked against every earlier version.
    BackwardTransitive,
    /// Both directions with the previous version.
    Full,
}

impl Compatibility {
    fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Full => "FULL",
        }
    }
}

/// Where the registry is and how subjects are named.
#[derive(Clone, Debug)]
pub struct RegistryOptions {
    /// Base URL a Confluent client uses (`http://host:8081`, or an Apicurio
    /// `.../apis/ccompat/v7`).
    pub url: String,
    /// The deployment's topic prefix (`""` for none): subjects are
    /// `<namespace>.<topic>-value`, matching the topic names on the wire.
    pub namespace: String,
    /// Set on every subject before registering.
    pub compatibility: Compatibility,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl RegistryOptions {
    /// Options for `url`, no namespace, BACKWARD, 10 s timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into().trim_end_matches('/').to_owned(),
            namespace: String::new(),
            compatibility: Compatibility::Backward,
            timeout: Duration::from_secs(10),
        }
    }

    /// The registry subject of one of our subjects (`slotstream.booking-events-value`).
    pub fn wire_subject(&self, subject: &str) -> String {
        if self.namespace.is_empty() {
            subject.to_owned()
        } else {
            format!("{}.{subject}", self.namespace)
        }
    }
}

/// Schema ids from a registry; see the crate docs.
pub struct RegistryResolver {
    opts: RegistryOptions,
    settings: SrSettings,
    /// Our subject (unprefixed) → the id of our writer schema.
    ours: HashMap<&'static str, u32>,
    /// Every writer schema we know, by id.
    known: RwLock<HashMap<u32, Arc<Schema>>>,
    /// Ids the registry did not give us, and when we last asked.
    misses: Mutex<HashMap<u32, Instant>>,
}

impl std::fmt::Debug for RegistryResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryResolver")
            .field("url", &self.opts.url)
            .field("namespace", &self.opts.namespace)
            .field("ours", &self.ours)
            .finish_non_exhaustive()
    }
}

impl RegistryResolver {
    /// Sets compatibility on and registers every subject of the compiled-in
    /// contracts, then loads every registered version of them. Blocking (HTTP):
    /// call it from `spawn_blocking` in async code.
    ///
    /// # Errors
    /// [`RegistryError::Unreachable`] when the registry does not answer,
    /// [`RegistryError::Refused`] when it refuses one of our schemas.
    pub fn connect(opts: RegistryOptions) -> Result<Self, RegistryError> {
        let settings = SrSettings::new_builder(opts.url.clone())
            .set_timeout(opts.timeout)
            .build()
            .map_err(|e| unreachable(&opts, "building the HTTP client", &e))?;
        let mut ours = HashMap::new();
        let mut known = HashMap::new();
        for (subject, schema) in CompiledSchemas::subjects() {
            let wire = opts.wire_subject(subject);
            let json = subject_json(subject).unwrap_or_default();
            retry(
                || set_compatibility(&opts, &wire),
                |e| matches!(e, RegistryError::Unreachable { .. }),
            )?;
            let registered = retry(
                || {
                    post_schema(
                        &settings,
                        wire.clone(),
                        SuppliedSchema::new(None, SchemaType::Avro, json.to_owned()),
                    )
                },
                server_side,
            )
            .map_err(|e| {
                let text = describe(&e);
                if text.contains("409") || text.to_lowercase().contains("incompatible") {
                    RegistryError::Refused {
                        subject: wire.clone(),
                        reason: describe(&e),
                    }
                } else {
                    unreachable(&opts, &format!("registering {wire}"), &e)
                }
            })?;
            ours.insert(*subject, registered.id);
            known.insert(registered.id, Arc::new((*schema).clone()));
            // Earlier (or later) versions other producers may still write.
            let versions = retry(|| get_all_versions(&settings, wire.clone()), server_side)
                .map_err(|e| unreachable(&opts, &format!("listing versions of {wire}"), &e))?;
            for v in versions {
                let raw = retry(
                    || perform_sr_call(&settings, SrCall::GetBySubjectAndVersion(&wire, v)),
                    server_side,
                )
                .map_err(|e| unreachable(&opts, &format!("reading {wire} v{v}"), &e))?;
                let Some(id) = raw.id else { continue };
                if known.contains_key(&id) {
                    continue;
                }
                let text = raw.schema.unwrap_or_default();
                let parsed = Schema::parse_str(&text).map_err(|e| RegistryError::BadSchema {
                    id,
                    reason: e.to_string(),
                })?;
                known.insert(id, Arc::new(parsed));
            }
            tracing::info!(subject = %wire, id = registered.id, "schema registered");
        }
        Ok(Self {
            opts,
            settings,
            ours,
            known: RwLock::new(known),
            misses: Mutex::new(HashMap::new()),
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &RegistryOptions {
        &self.opts
    }

    /// Asks the registry for `id` on a thread of its own (see the crate docs).
    fn fetch(&self, id: u32) -> Option<Arc<Schema>> {
        {
            let mut misses = self.misses.lock().ok()?;
            if misses.get(&id).is_some_and(|at| at.elapsed() < MISS_RETRY) {
                return None;
            }
            misses.insert(id, Instant::now());
        }
        let settings = &self.settings;
        let fetched =
            std::thread::scope(|s| s.spawn(|| get_schema_by_id(id, settings)).join().ok())?;
        let schema = match fetched {
            Ok(raw) => match Schema::parse_str(&raw.schema) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::warn!(id, error = %e, "registry schema is not parseable Avro");
                    return None;
                }
            },
            Err(e) => {
                tracing::warn!(id, error = %describe(&e), "schema id not found in the registry");
                return None;
            }
        };
        if let Ok(mut known) = self.known.write() {
            known.insert(id, Arc::clone(&schema));
        }
        if let Ok(mut misses) = self.misses.lock() {
            misses.remove(&id);
        }
        Some(schema)
    }
}

impl SchemaResolver for RegistryResolver {
    fn id_for(&self, subject: &str) -> Option<u32> {
        self.ours.get(subject).copied()
    }

    fn schema_for(&self, id: u32) -> Option<Arc<Schema>> {
        if let Some(s) = self.known.read().ok()?.get(&id) {
            return Some(Arc::clone(s));
        }
        self.fetch(id)
    }
}

/// `PUT /config/{subject}`: not in the client crate's API, so a plain request
/// through `schema_registry_converter`'s own HTTP client stack.
fn set_compatibility(opts: &RegistryOptions, subject: &str) -> Result<(), RegistryError> {
    let url = format!("{}/config/{}", opts.url, encode_path(subject));
    let body = serde_json::json!({ "compatibility": opts.compatibility.as_str() }).to_string();
    let response = http()
        .put(&url)
        .timeout(opts.timeout)
        .header("Content-Type", "application/vnd.schemaregistry.v1+json")
        .body(body)
        .send()
        .map_err(|e| RegistryError::Unreachable {
            url: opts.url.clone(),
            what: format!("setting compatibility of {subject}"),
            reason: e.to_string(),
        })?;
    if !response.status().is_success() {
        return Err(RegistryError::Unreachable {
            url: opts.url.clone(),
            what: format!("setting compatibility of {subject}"),
            reason: format!(
                "HTTP {}: {}",
                response.status(),
                response.text().unwrap_or_default()
            ),
        });
    }
    Ok(())
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// Subjects are path segments: escape what a URL path cannot carry raw.
fn encode_path(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Attempts of a registry call that failed on the server's side before giving up.
const ATTEMPTS: u32 = 6;

/// Runs `call` until it succeeds, fails in a way `again` says is final, or
/// [`ATTEMPTS`] are spent, backing off 100 ms, 200 ms, … between tries.
/// Registries fail transiently under concurrent registration (Apicurio on its
/// embedded database answers 500 on a lock timeout), and several processes
/// register at once when a deployment starts.
fn retry<T, E: std::fmt::Display>(
    mut call: impl FnMut() -> Result<T, E>,
    again: impl Fn(&E) -> bool,
) -> Result<T, E> {
    let mut pause = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        match call() {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && again(&e) => {
                tracing::warn!(attempt, error = %e, "schema registry call failed; retrying");
                std::thread::sleep(pause);
                pause *= 2;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// A failure the same request may not meet again: the server erred (5xx) or
/// the connection did.
/// Apicurio may also answer a registration racing another (or retried after
/// a 500 that did store it) with 409 "already exists"; asked again it
/// answers with the id.
fn server_side(e: &SRCError) -> bool {
    let text = describe(e);
    e.retriable
        || text.contains("status 5")
        || text.contains("failed to send")
        || text.contains("already exists")
}

fn describe(e: &SRCError) -> String {
    match &e.cause {
        Some(c) => format!("{} ({c})", e.error),
        None => e.error.clone(),
    }
}

fn unreachable(opts: &RegistryOptions, what: &str, e: &SRCError) -> RegistryError {
    RegistryError::Unreachable {
        url: opts.url.clone(),
        what: what.to_owned(),
        reason: describe(e),
    }
}
