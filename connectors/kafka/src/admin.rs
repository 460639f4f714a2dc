//! Topic administration: the platform's topics and changelogs with their
//! configs, created idempotently, and namespace clean-up for tests.

use crate::config::KafkaOptions;
use crate::errors::KafkaError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::Metadata;
use slotstream_runtime::LogError;
use slotstream_runtime::topics::{self, TopicSpec, groups};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bound on one admin or metadata call.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to look for newly created topics' leaders.
const METADATA_RETRY: Duration = Duration::from_millis(100);

/// What [`ensure_topics`] did, in on-wire names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicReport {
    /// Topics this call created.
    pub created: Vec<String>,
    /// Topics that already existed with the right partition count.
    pub existing: Vec<String>,
}

/// One topic to have, with its configs.
struct Wanted {
    name: String,
    partitions: u32,
    configs: Vec<(&'static str, String)>,
}

/// `retention.ms` of a platform topic: the shared policy
/// (`topics::retention`), -1 for "forever".
fn retention_ms(spec: &TopicSpec) -> i64 {
    topics::retention(spec).map_or(-1, |d| d.as_millis() as i64)
}

/// Configs every topic shares: `min.insync.replicas` is 2 where there are
/// replicas enough (an `acks=all` write survives one broker loss) and 1 on
/// a single broker; timestamps are the producer's event time (`CreateTime`),
/// which processors and data teams read as the event's time.
fn common(opts: &KafkaOptions) -> Vec<(&'static str, String)> {
    vec![
        (
            "min.insync.replicas",
            i16::min(2, opts.replication_factor).max(1).to_string(),
        ),
        ("message.timestamp.type", "CreateTime".to_owned()),
    ]
}

fn platform_topic(opts: &KafkaOptions, spec: &TopicSpec) -> Wanted {
    let mut configs = common(opts);
    let policy = if spec.compacted { "compact" } else { "delete" };
    configs.push(("cleanup.policy", policy.to_owned()));
    configs.push(("retention.ms", retention_ms(spec).to_string()));
    Wanted {
        name: opts.wire(spec.name),
        partitions: spec.partitions,
        configs,
    }
}

/// A group's state changelog: compacted (only the latest value per key
/// matters), one partition per task partition.
fn changelog_topic(opts: &KafkaOptions, name: &str, partitions: u32) -> Wanted {
    let mut configs = common(opts);
    configs.push(("cleanup.policy", "compact".to_owned()));
    Wanted {
        name: opts.wire(name),
        partitions,
        configs,
    }
}

type Admin = Arc<AdminClient<DefaultClientContext>>;

fn admin(opts: &KafkaOptions) -> Result<Admin, KafkaError> {
    opts.admin()
        .create()
        .map(Arc::new)
        .map_err(|e| KafkaError::Client(e.to_string()))
}

/// Every topic of the cluster: partition count and whether all have leaders.
async fn metadata(
    opts: &KafkaOptions,
    client: &Admin,
) -> Result<BTreeMap<String, (u32, bool)>, KafkaError> {
    let brokers = opts.brokers.clone();
    let client = Arc::clone(client);
    // A metadata call blocks; run it off the async workers.
    let fetched =
        tokio::task::spawn_blocking(move || client.inner().fetch_metadata(None, ADMIN_TIMEOUT))
            .await
            .map_err(|e| KafkaError::Admin {
                topic: "*".into(),
                reason: e.to_string(),
            })?;
    let md: Metadata = fetched.map_err(|e| KafkaError::Unreachable {
        brokers,
        reason: e.to_string(),
    })?;
    Ok(md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| {
            let ready = !t.partitions().is_empty()
                && t.partitions()
                    .iter()
                    .all(|p| p.leader() >= 0 && p.error().is_none());
            (t.name().to_owned(), (t.partitions().len() as u32, ready))
        })
        .collect())
}

/// Creates what is missing of `wanted`, checks what exists, and waits until
/// every wanted topic has leaders.
async fn ensure(opts: &KafkaOptions, wanted: Vec<Wanted>) -> Result<TopicReport, KafkaError> {
    let client = admin(opts)?;
    let have = metadata(opts, &client).await?;
    let mut report = TopicReport::default();
    let mut missing = Vec::new();
    for w in &wanted {
        match have.get(&w.name) {
            Some(&(found, _)) if found != w.partitions => {
                return Err(KafkaError::PartitionMismatch {
                    topic: w.name.clone(),
                    found,
                    expected: w.partitions,
                });
            }
            Some(_) => report.existing.push(w.name.clone()),
            None => missing.push(w),
        }
    }
    if !missing.is_empty() {
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|w| {
                w.configs.iter().fold(
                    NewTopic::new(
                        &w.name,
                        w.partitions as i32,
                        TopicReplication::Fixed(i32::from(opts.replication_factor)),
                    ),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let results =
            client
                .create_topics(&new, &options)
                .await
                .map_err(|e| KafkaError::Admin {
                    topic: "*".into(),
                    reason: e.to_string(),
                })?;
        for result in results {
            match result {
                Ok(name) => report.created.push(name),
                // Someone else created it meanwhile: checked below.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => report.existing.push(name),
                Err((name, code)) => {
                    return Err(KafkaError::Admin {
                        topic: name,
                        reason: code.to_string(),
                    });
                }
            }
        }
    }
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    loop {
        let have = metadata(opts, &client).await?;
        let mut pending = None;
        for w in &wanted {
            match have.get(&w.name) {
                Some(&(found, _)) if found != w.partitions => {
                    return Err(KafkaError::PartitionMismatch {
                        topic: w.name.clone(),
                        found,
                        expected: w.partitions,
                    });
                }
                Some(&(_, true)) => {}
                _ => pending = Some(w.name.clone()),
            }
        }
        match pending {
            None => break,
            Some(topic) if Instant::now() >= deadline => {
                return Err(KafkaError::Admin {
                    topic,
                    reason: "no partition leaders 30 s after creation".into(),
                });
            }
            // Topic creation propagates asynchronously; metadata is the
            // only way to see it finish.
            Some(_) => tokio::time::sleep(METADATA_RETRY).await,
        }
    }
    report.created.sort();
    report.existing.sort();
    Ok(report)
}

/// Creates every platform topic (`topics::ALL`) and one compacted changelog
/// per consumer group in `topics::groups::ALL` (`"{group}-changelog"`, as
/// many partitions as the group's inputs), in the namespace, with their
/// cleanup policies and configs. Idempotent: existing topics are checked,
/// and a partition-count mismatch is an error that says what to do.
pub async fn ensure_topics(opts: &KafkaOptions) -> Result<TopicReport, KafkaError> {
    let mut wanted: Vec<Wanted> = topics::ALL
        .iter()
        .map(|s| platform_topic(opts, s))
        .collect();
    for g in groups::ALL {
        let partitions = g.inputs.first().map_or(1, |t| t.partitions);
        wanted.push(changelog_topic(
            opts,
            &KafkaOptions::changelog(g.name),
            partitions,
        ));
    }
    ensure(opts, wanted).await
}

/// The changelog of one (possibly ad-hoc) group, created when missing.
pub(crate) async fn ensure_changelog(
    opts: &KafkaOptions,
    name: &str,
    partitions: u32,
) -> Result<(), LogError> {
    ensure(opts, vec![changelog_topic(opts, name, partitions)])
        .await
        .map(|_| ())
        .map_err(|e| match e {
            KafkaError::PartitionMismatch { .. } => LogError::Invalid(e.to_string()),
            other => LogError::Transient(other.to_string()),
        })
}

/// Deletes every topic of the namespace (tests clean up after themselves).
/// Refuses the empty namespace.
pub async fn delete_namespace(opts: &KafkaOptions) -> Result<(), KafkaError> {
    if opts.namespace.is_empty() {
        return Err(KafkaError::EmptyNamespace);
    }
    let client = admin(opts)?;
    let have = metadata(opts, &client).await?;
    let names: Vec<&str> = have
        .keys()
        .filter(|n| opts.unwire(n).is_some())
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = client
        .delete_topics(&names, &options)
        .await
        .map_err(|e| KafkaError::Admin {
            topic: "*".into(),
            reason: e.to_string(),
        })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::Admin {
                    topic,
                    reason: code.to_string(),
                });
            }
        }
    }
    Ok(())
}
