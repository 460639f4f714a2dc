//! The compiled-in contracts: the `.avsc` files, the top-level subject schemas
//! (parsed once, every reference resolved) and where schema ids come from.

use apache_avro::Schema;
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

/// Declares every `.avsc` file, embedded at compile time.
macro_rules! avsc {
    ($($name:literal),* $(,)?) => {
        [$((concat!($name, ".avsc"), include_str!(concat!("../avro/", $name, ".avsc")))),*]
    };
}

/// Every `.avsc` file in `schemas/avro/`: (file name, JSON). A test checks that
/// this list and the directory agree.
static AVSC_FILES: [(&str, &str); 81] = avsc![
    // shared records and enums
    "Money",
    "Price",
    "CancellationPolicy",
    "LocalRange",
    "DateException",
    "Schedule",
    "BookingRules",
    "Resource",
    "OtpIssue",
    "RejectionReason",
    "CancellationRejectionReason",
    "PaymentStatus",
    "CheckoutOutcome",
    "CheckoutRejectionReason",
    "Role",
    "RegistrationRejectionReason",
    "VerificationRejectionReason",
    "ResendRejectionReason",
    "LockReason",
    "UnlockRejectionReason",
    // booking
    "RegisterResource",
    "RequestBooking",
    "CancelBooking",
    "ResourceRegistered",
    "BookingHeld",
    "BookingRejected",
    "BookingConfirmed",
    "BookingFailed",
    "BookingExpired",
    "BookingCancelled",
    "CancellationRejected",
    "PaymentOrphaned",
    "BookingPaymentStarted",
    "BookingPaymentDelayed",
    // booking: scheduling
    "UpdateResourceSchedule",
    "ResourceScheduleChanged",
    // booking: rescheduling
    "RescheduleBooking",
    "BookingRescheduled",
    // payment
    "SubmitCheckout",
    "RecordProviderOutcome",
    "PaymentIntentCreated",
    "CheckoutSubmitted",
    "CheckoutRejected",
    "PaymentCompleted",
    "PaymentFailed",
    "PaymentCanceled",
    "PaymentRefunded",
    "PaymentStatusUnknown",
    "RefundUnconfirmed",
    "RefundConfirmed",
    "PaymentBookingRescheduled",
    // identity
    "RegisterUser",
    "VerifyEmail",
    "ResendOtp",
    "UserRegistered",
    "UserOTPGenerated",
    "EmailVerified",
    "RegistrationRejected",
    "VerificationRejected",
    "ResendRejected",
    // identity: login locks
    "LockAccount",
    "UnlockAccount",
    "AccountLocked",
    "AccountUnlocked",
    "UnlockRejected",
    // identity: API keys
    "CreateApiKey",
    "RevokeApiKey",
    "ApiKeyCreated",
    "ApiKeyRevoked",
    // identity: webhook subscriptions
    "CreateWebhook",
    "DeleteWebhook",
    "WebhookCreated",
    "WebhookDeleted",
    // top-level values, one per topic
    "BookingCommandEnvelope",
    "BookingEventEnvelope",
    "PaymentCommandEnvelope",
    "PaymentEventEnvelope",
    "IdentityCommandEnvelope",
    "IdentityEventEnvelope",
    "Reply",
    "DeadLetter",
];

/// Every `.avsc` file of the contracts as `(file name, JSON)`, for a schema
/// registry client and for documentation. Named types reference each other by
/// full name (`com.slotstream.v1.Money`) across files.
pub fn avsc_files() -> &'static [(&'static str, &'static str)] {
    &AVSC_FILES
}

/// Namespace of every contract type.
pub(crate) const NAMESPACE: &str = "com.slotstream.v1";

/// The subjects, sorted, with the compiled id of their current schema.
///
/// These ids are persisted inside every record the embedded backend writes, so
/// an id never changes meaning: a new subject is appended, and a new version
/// of a subject's schema takes the next free id while the version it replaces
/// keeps its id in [`RETIRED`] (as a schema registry would number them).
/// `tests/wire.rs` pins both tables.
const SUBJECTS: [(&str, &str, u32); 8] = [
    // 1 (retired): before UpdateResourceSchedule, RescheduleBooking and
    // resource schedules.
    (
        "slotstream.booking-commands-value",
        "BookingCommandEnvelope",
        20,
    ),
    // 2 (retired): before BookingPaymentStarted; 16 (retired): before
    // BookingPaymentDelayed, ResourceScheduleChanged, BookingRescheduled,
    // resource schedules and the scheduling and reschedule rejection reasons.
    (
        "slotstream.booking-events-value",
        "BookingEventEnvelope",
        17,
    ),
    ("slotstream.dead-letters-value", "DeadLetter", 3),
    // 4 (retired): before the login-lock commands; 11 (retired): before
    // the API-key commands; 21 (retired): before the webhook commands.
    (
        "slotstream.identity-commands-value",
        "IdentityCommandEnvelope",
        31,
    ),
    // 5 (retired): before the login-lock events; 12 (retired): before the
    // API-key events; 22 (retired): before the webhook events.
    (
        "slotstream.identity-events-value",
        "IdentityEventEnvelope",
        32,
    ),
    // 6 (retired): before SubmitCheckout.appended_at.
    (
        "slotstream.payment-commands-value",
        "PaymentCommandEnvelope",
        13,
    ),
    // 7 (retired): before PaymentIntentCreated.booking_start and
    // PaymentCompleted.recorded_at; 9 (retired): before
    // PaymentIntentCreated.hold_expires_at; 14 (retired): before
    // PaymentStatusUnknown, the refund checks and the UNKNOWN payment status.
    // 18 (retired): before PaymentBookingRescheduled.
    (
        "slotstream.payment-events-value",
        "PaymentEventEnvelope",
        27,
    ),
    // 8 (retired): the same two payment records, inside the replies; 10
    // (retired): before the hold deadline, the checkout's append instant and
    // BookingPaymentStarted; 15 (retired): before BookingPaymentDelayed,
    // PaymentStatusUnknown, the refund checks, ResourceScheduleChanged,
    // BookingRescheduled, the API-key events and resource schedules; 19
    // (retired): before PaymentBookingRescheduled and the webhook events;
    // 28 (retired): before the webhook events.
    ("slotstream.replies-value", "Reply", 34),
];

/// Earlier versions of subjects' schemas, still read under the compiled id
/// they were written with: `(id, subject, self-contained JSON)`. The embedded
/// backend's log keeps records of every version, so an entry is never
/// removed; the JSON is the version as it was published (`compat/`).
const RETIRED: [(u32, &str, &str); 19] = [
    (
        1,
        "slotstream.booking-commands-value",
        include_str!("../retired/1.slotstream.booking-commands-value.json"),
    ),
    (
        2,
        "slotstream.booking-events-value",
        include_str!("../retired/2.slotstream.booking-events-value.json"),
    ),
    (
        4,
        "slotstream.identity-commands-value",
        include_str!("../retired/4.slotstream.identity-commands-value.json"),
    ),
    (
        5,
        "slotstream.identity-events-value",
        include_str!("../retired/5.slotstream.identity-events-value.json"),
    ),
    (
        6,
        "slotstream.payment-commands-value",
        include_str!("../retired/6.slotstream.payment-commands-value.json"),
    ),
    (
        7,
        "slotstream.payment-events-value",
        include_str!("../retired/7.slotstream.payment-events-value.json"),
    ),
    (
        8,
        "slotstream.replies-value",
        include_str!("../retired/8.slotstream.replies-value.json"),
    ),
    (
        9,
        "slotstream.payment-events-value",
        include_str!("../retired/9.slotstream.payment-events-value.json"),
    ),
    (
        10,
        "slotstream.replies-value",
        include_str!("../retired/10.slotstream.replies-value.json"),
    ),
    (
        11,
        "slotstream.identity-commands-value",
        include_str!("../retired/11.slotstream.identity-commands-value.json"),
    ),
    (
        12,
        "slotstream.identity-events-value",
        include_str!("../retired/12.slotstream.identity-events-value.json"),
    ),
    (
        14,
        "slotstream.payment-events-value",
        include_str!("../retired/14.slotstream.payment-events-value.json"),
    ),
    (
        15,
        "slotstream.replies-value",
        include_str!("../retired/15.slotstream.replies-value.json"),
    ),
    (
        16,
        "slotstream.booking-events-value",
        include_str!("../retired/16.slotstream.booking-events-value.json"),
    ),
    (
        18,
        "slotstream.payment-events-value",
        include_str!("../retired/18.slotstream.payment-events-value.json"),
    ),
    (
        19,
        "slotstream.replies-value",
        include_str!("../retired/19.slotstream.replies-value.json"),
    ),
    (
        21,
        "slotstream.identity-commands-value",
        include_str!("../retired/21.slotstream.identity-commands-value.json"),
    ),
    (
        22,
        "slotstream.identity-events-value",
        include_str!("../retired/22.slotstream.identity-events-value.json"),
    ),
    (
        28,
        "slotstream.replies-value",
        include_str!("../retired/28.slotstream.replies-value.json"),
    ),
];

/// [`RETIRED`], parsed: `(id, subject, schema)`. The files are compiled in and
/// `tests/wire.rs` reads records through every one, so a failure here is a
/// build defect, never a run-time condition.
static RETIRED_SCHEMAS: LazyLock<Vec<(u32, &'static str, Arc<Schema>)>> = LazyLock::new(|| {
    RETIRED
        .iter()
        .map(|(id, subject, json)| match Schema::parse_str(json) {
            Ok(schema) => (*id, *subject, Arc::new(schema)),
            Err(e) => panic!("the retired schema {id} of {subject} does not parse: {e}"),
        })
        .collect()
});

/// Index of a subject in [`SUBJECTS`], for the [`crate::Contract`] impls.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SubjectIdx {
    BookingCommands = 0,
    BookingEvents = 1,
    DeadLetters = 2,
    IdentityCommands = 3,
    IdentityEvents = 4,
    PaymentCommands = 5,
    PaymentEvents = 6,
    Replies = 7,
}

impl SubjectIdx {
    /// The subject's name.
    pub(crate) const fn subject(self) -> &'static str {
        SUBJECTS[self as usize].0
    }

    /// The subject's compiled schema.
    pub(crate) fn schema(self) -> &'static Schema {
        &COMPILED[self as usize].schema
    }
}

/// One top-level subject, compiled.
struct Compiled {
    /// Self-contained JSON: every referenced named type inlined at first use.
    json: String,
    /// Parsed from `json`.
    schema: Arc<Schema>,
}

/// The top-level schemas in [`SUBJECTS`] order. The `.avsc` files are compiled
/// into the binary and `tests/contracts.rs` parses every one of them, so a
/// failure here is a build defect, never a run-time condition.
static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| match compile() {
    Ok(compiled) => compiled,
    Err(e) => panic!(
        "the embedded .avsc files are inconsistent (run cargo test -p slotstream-schemas): {e}"
    ),
});

/// Every compiled top-level schema, in id order.
pub(crate) fn compiled_schemas() -> impl Iterator<Item = &'static Schema> {
    COMPILED.iter().map(|c| &*c.schema)
}

/// `(subject, schema)` pairs borrowed from [`COMPILED`].
static SUBJECT_TABLE: LazyLock<Vec<(&'static str, &'static Schema)>> = LazyLock::new(|| {
    SUBJECTS
        .iter()
        .zip(COMPILED.iter())
        .map(|((subject, _, _), c)| (*subject, &*c.schema))
        .collect()
});

fn compile() -> Result<Vec<Compiled>, String> {
    // parse_list checks the named types as one set: every cross-file reference
    // resolves and no name is defined twice. Its output names each file's type.
    let parsed = Schema::parse_list(AVSC_FILES.iter().map(|(_, json)| *json))
        .map_err(|e| format!("parse_list: {e}"))?;
    let mut defs: HashMap<String, Json> = HashMap::with_capacity(parsed.len());
    for (schema, (file, json)) in parsed.iter().zip(AVSC_FILES.iter()) {
        let name = schema
            .name()
            .ok_or_else(|| format!("{file}: not a named type"))?
            .fullname(None);
        let json = serde_json::from_str(json).map_err(|e| format!("{file}: {e}"))?;
        defs.insert(name, json);
    }
    SUBJECTS
        .iter()
        .map(|(subject, root, _)| {
            let json = resolve_json(&format!("{NAMESPACE}.{root}"), &defs)?;
            let json = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
            let schema = Schema::parse_str(&json).map_err(|e| format!("{subject}: {e}"))?;
            Ok(Compiled {
                json,
                schema: Arc::new(schema),
            })
        })
        .collect()
}

/// The self-contained JSON of the named type `root`: each referenced named type
/// is inlined where it is first used (Avro allows one definition per name) and
/// referenced by full name afterwards.
fn resolve_json(root: &str, defs: &HashMap<String, Json>) -> Result<Json, String> {
    let mut defined = HashSet::new();
    inline_type(
        &Json::String(root.to_owned()),
        defs,
        &mut defined,
        NAMESPACE,
    )
}

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

fn inline_type(
    node: &Json,
    defs: &HashMap<String, Json>,
    defined: &mut HashSet<String>,
    namespace: &str,
) -> Result<Json, String> {
    match node {
        Json::String(name) if PRIMITIVES.contains(&name.as_str()) => Ok(node.clone()),
        Json::String(name) => {
            let full = full_name(name, namespace);
            if defined.contains(&full) {
                return Ok(Json::String(full));
            }
            let def = defs
                .get(&full)
                .ok_or_else(|| format!("unknown type {full}"))?;
            inline_type(def, defs, defined, namespace)
        }
        Json::Array(branches) => branches
            .iter()
            .map(|b| inline_type(b, defs, defined, namespace))
            .collect::<Result<Vec<_>, _>>()
            .map(Json::Array),
        Json::Object(obj) => inline_object(obj, defs, defined, namespace),
        other => Err(format!("not a schema: {other}")),
    }
}

fn inline_object(
    obj: &Map<String, Json>,
    defs: &HashMap<String, Json>,
    defined: &mut HashSet<String>,
    namespace: &str,
) -> Result<Json, String> {
    let kind = obj.get("type").and_then(Json::as_str).unwrap_or_default();
    let mut out = obj.clone();
    match kind {
        "record" | "enum" | "fixed" => {
            let name = obj
                .get("name")
                .and_then(Json::as_str)
                .ok_or("a named type without a name")?;
            let ns = obj
                .get("namespace")
                .and_then(Json::as_str)
                .unwrap_or(namespace);
            let full = full_name(name, ns);
            let own_ns = full.rsplit_once('.').map_or(ns, |(n, _)| n).to_owned();
            if !defined.insert(full.clone()) {
                return Err(format!("{full} is defined twice"));
            }
            if let Some(Json::Array(fields)) = obj.get("fields") {
                let mut resolved = Vec::with_capacity(fields.len());
                for field in fields {
                    let mut field = field.clone();
                    if let Json::Object(f) = &mut field
                        && let Some(t) = f.get("type")
                    {
                        let t = inline_type(t, defs, defined, &own_ns)?;
                        f.insert("type".into(), t);
                    }
                    resolved.push(field);
                }
                out.insert("fields".into(), Json::Array(resolved));
            }
        }
        "array" => {
            if let Some(items) = obj.get("items") {
                out.insert(
                    "items".into(),
                    inline_type(items, defs, defined, namespace)?,
                );
            }
        }
        "map" => {
            if let Some(values) = obj.get("values") {
                out.insert(
                    "values".into(),
                    inline_type(values, defs, defined, namespace)?,
                );
            }
        }
        // A primitive with attributes, e.g. {"type": "long", "logicalType": ...}.
        _ => {}
    }
    Ok(Json::Object(out))
}

/// The self-contained JSON of a subject's current schema (every named type
/// inlined), as it is registered in a schema registry and written to
/// `schemas/compat/`; `None` for a subject this crate does not define.
pub fn subject_json(subject: &str) -> Option<&'static str> {
    let i = SUBJECTS.iter().position(|(s, _, _)| *s == subject)?;
    Some(COMPILED[i].json.as_str())
}

/// Where schema ids come from: compiled in (embedded mode) or a schema registry
/// (distributed mode).
pub trait SchemaResolver: Send + Sync + std::fmt::Debug {
    /// The id our writer schema for `subject` has; `None` when it has none (the
    /// subject is unknown or not registered yet).
    fn id_for(&self, subject: &str) -> Option<u32>;
    /// Any writer schema by id, so records written by other versions decode.
    fn schema_for(&self, id: u32) -> Option<Arc<Schema>>;
}

/// The compiled-in schemas as a [`SchemaResolver`]: one id per version of a
/// subject's schema, never renumbered (new subjects and new versions take the
/// next id; the versions they replace stay readable under theirs):
///
/// | subject | current id | earlier ids, still read ([`RETIRED`]) |
/// |---|---:|---|
/// | `slotstream.booking-commands-value` | 20 | 1 |
/// | `slotstream.booking-events-value` | 17 | 2, 16 |
/// | `slotstream.payment-commands-value` | 13 | 6 |
/// | `slotstream.payment-events-value` | 27 | 7, 9, 14, 18 |
/// | `slotstream.identity-commands-value` | 31 | 4, 11, 21 |
/// | `slotstream.identity-events-value` | 32 | 5, 12, 22 |
/// | `slotstream.replies-value` | 34 | 8, 10, 15, 19, 28 |
/// | `slotstream.dead-letters-value` | 3 | |
///
/// (23 to 26, 29, 30 and 33 were never used; `tests/wire.rs` pins the
/// current and retired ids.)
#[derive(Clone, Copy, Debug, Default)]
pub struct CompiledSchemas;

impl CompiledSchemas {
    /// The resolver (it holds nothing: the schemas are process-wide statics).
    pub fn new() -> Self {
        Self
    }

    /// Every subject with its current top-level schema, in table order (see
    /// [`SchemaResolver::id_for`] for its id).
    pub fn subjects() -> &'static [(&'static str, &'static Schema)] {
        &SUBJECT_TABLE
    }

    /// The retired versions, still read: `(id, subject, schema)`.
    pub fn retired() -> impl Iterator<Item = (u32, &'static str, &'static Schema)> {
        RETIRED_SCHEMAS
            .iter()
            .map(|(id, subject, schema)| (*id, *subject, &**schema))
    }
}

impl SchemaResolver for CompiledSchemas {
    fn id_for(&self, subject: &str) -> Option<u32> {
        SUBJECTS
            .iter()
            .find(|(s, _, _)| *s == subject)
            .map(|(_, _, id)| *id)
    }

    fn schema_for(&self, id: u32) -> Option<Arc<Schema>> {
        if let Some(i) = SUBJECTS.iter().position(|(_, _, current)| *current == id) {
            return COMPILED.get(i).map(|c| Arc::clone(&c.schema));
        }
        RETIRED_SCHEMAS
            .iter()
            .find(|(retired, _, _)| *retired == id)
            .map(|(_, _, schema)| Arc::clone(schema))
    }
}
