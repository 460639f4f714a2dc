//! What operators rely on: every process's `/metrics` after a workload
//! (each series there, with plausible values), `/readyz`, and the overlap
//! auditor, continuous and once over the whole log, on a clean workload
//! and on a log with an overlap planted by hand.

use crate::helpers::time::parse_time;
use crate::helpers::{
    MINUTE, PATIENCE, Role, TestApp, kafka_under_test, spawn_app_running_clock, test_settings,
    unique,
};
use bytes::Bytes;
use slotstream::Platform;
use slotstream_domain::booking::{BookingEvent, BookingHeld};
use slotstream_domain::{BookingId, CommandId, Millis, Money, PaymentId, ResourceId, UserId};
use slotstream_runtime::topics::{self, groups};
use slotstream_runtime::{Clock, OutRecord, SystemClock};
use slotstream_schemas::{Codec, Envelope};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One sample of the exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (enough of it for our own output).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value per line");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), BTreeMap::new()),
            Some((name, rest)) => {
                let inner = rest.strip_suffix('}').expect("labels close");
                let labels = inner
                    .split("\",")
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once("=\"").expect("k=\"v\"");
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    out
}

/// Every `slotstream_*` metric name an operating file's queries use (the
/// alert rules, the dashboard), with where it appears.
fn queried_metrics(file: &str) -> Vec<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let exprs: Vec<String> = if file.ends_with(".json") {
        let dash: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
        let panels = dash["panels"].as_array().expect("panels");
        assert!(!panels.is_empty(), "{file} has panels");
        panels
            .iter()
            .flat_map(|p| p["targets"].as_array().expect("targets").iter())
            .map(|t| t["expr"].as_str().expect("expr").to_owned())
            .collect()
    } else {
        vec![text]
    };
    let mut names = Vec::new();
    for expr in &exprs {
        let mut rest = expr.as_str();
        while let Some(at) = rest.find("slotstream_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(tail.len());
            names.push((tail[..end].to_owned(), file.to_owned()));
            rest = &tail[end..];
        }
    }
    assert!(!names.is_empty(), "{file} queries no metric");
    names
}

/// The samples of `name` whose labels include every one of `want`.
fn select<'a>(samples: &'a [Sample], name: &str, want: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
        })
        .collect()
}

/// The one value of `name` with exactly these labels (among others none).
#[track_caller]
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let found = select(samples, name, want);
    assert_eq!(found.len(), 1, "one {name}{want:?}, found {found:?}");
    found[0].value
}

/// The sum of every `name` sample matching `want`.
fn total(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    select(samples, name, want).iter().map(|s| s.value).sum()
}

/// Bounded poll of `/metrics` until `done` holds; returns the samples.
async fn scrape_until(app: &TestApp, mut done: impl FnMut(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + PATIENCE * 3;
    loop {
        let r = app.get("/metrics", None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let samples = parse(&r.text);
        if done(&samples) {
            return samples;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics never reached the awaited state; last scrape:\n{}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Records in each partition of `topic` (data records: Kafka's offsets
/// also count transaction markers).
async fn records_in(app: &TestApp, topic: slotstream_runtime::TopicSpec) -> Vec<u64> {
    let reader = app.app.platform.backend().reader();
    let mut counts = Vec::new();
    for p in 0..topic.partitions {
        let tp = slotstream_runtime::TopicPartition::new(topic.name, p);
        let (mut from, mut n) = (0, 0u64);
        loop {
            let got = reader
                .read(&tp, from, 10_000, Duration::ZERO)
                .await
                .expect("readable");
            let Some(last) = got.last() else { break };
            from = last.offset + 1;
            n += got.len() as u64;
        }
        counts.push(n);
    }
    counts
}

/// Bounded wait until every group has processed and committed every record
/// of every input partition (its processed counter equals the records
/// there): nothing is in flight.
async fn quiesce(app: &TestApp) {
    let deadline = Instant::now() + PATIENCE * 3;
    loop {
        let mut logged = BTreeMap::new();
        for g in groups::ALL {
            for t in g.inputs {
                if !logged.contains_key(t.name) {
                    logged.insert(t.name, records_in(app, *t).await);
                }
            }
        }
        let s = parse(&app.get("/metrics", None).await.text);
        let behind: Vec<String> = groups::ALL
            .iter()
            .flat_map(|g| g.inputs.iter().map(move |t| (g, t)))
            .flat_map(|(g, t)| {
                let counts = &logged[t.name];
                let s = &s;
                (0..t.partitions).filter_map(move |p| {
                    let part = p.to_string();
                    let done = total(
                        s,
                        "slotstream_records_processed_total",
                        &[("group", g.name), ("topic", t.name), ("partition", &part)],
                    );
                    (done as u64 != counts[p as usize]).then(|| {
                        format!(
                            "{} {}[{p}]: {done} of {}",
                            g.name, t.name, counts[p as usize]
                        )
                    })
                })
            })
            .collect();
        if behind.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still in flight: {behind:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every lag series is 0 and every processor ready.
fn caught_up(s: &[Sample]) -> bool {
    let lags = select(s, "slotstream_consumer_lag", &[]);
    let ready = select(s, "slotstream_processor_ready", &[]);
    !lags.is_empty()
        && lags.iter().all(|l| l.value == 0.0)
        && ready.len() == groups::ALL.len()
        && ready.iter().all(|r| r.value == 1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_workload_every_metric_is_served_with_plausible_values() {
    let app = spawn_app_running_clock().await;
    let kafka = kafka_under_test();
    let vendor = app.register_and_login(Role::Vendor).await;
    let customer = app.register_and_login(Role::Customer).await;
    let room = app.create_room(&vendor.token).await;
    let start = app.slot_after(120);
    app.book_and_pay(&customer.token, &room, start, start + 60 * MINUTE)
        .await;
    let held = app
        .book_ok(
            &customer.token,
            &room,
            start + 60 * MINUTE,
            start + 120 * MINUTE,
        )
        .await;
    let refused = app
        .book(
            &customer.token,
            &unique("k"),
            &room,
            start,
            start + 30 * MINUTE,
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);

    // Everything so far is processed and committed before the clock jumps
    // (an event stamped before the jump and committed after it would show
    // the jump as lag).
    quiesce(&app).await;
    // The unpaid hold expires: move the clock to its release (its deadline
    // plus the checkout grace, no checkout having been seen), so its timer
    // fires at once and its lateness is only the driver's reaction time.
    let grace = i64::try_from(app.settings.checkout_grace.as_millis()).expect("a grace in ms");
    let deadline = parse_time(held["hold_expires_at"].as_str().expect("hold_expires_at")) + grace;
    let to_go = deadline - app.platform_clock.now();
    app.advance(Duration::from_millis(u64::try_from(to_go).unwrap_or(0)));
    let id = held["id"].as_str().expect("id");
    // The token issued before the jump may have run out on the moved clock.
    let token = app.login(&customer.email).await;
    app.await_booking_status(&token, id, "expired").await;

    // Caught up everywhere again: every lag series back to 0.
    quiesce(&app).await;
    let s = scrape_until(&app, |s| {
        caught_up(s) && total(s, "slotstream_timer_lateness_seconds_count", &[]) >= 1.0
    })
    .await;

    for g in groups::ALL {
        let group = ("group", g.name);
        let partitions = g.inputs[0].partitions;
        // One restore per partition, with its duration and size.
        for p in 0..partitions {
            let p = p.to_string();
            let part = ("partition", p.as_str());
            assert_eq!(
                value(&s, "slotstream_restores_total", &[group, part]),
                1.0,
                "{} partition {p}",
                g.name
            );
            let took = value(&s, "slotstream_restore_duration_seconds", &[group, part]);
            assert!(
                (0.0..30.0).contains(&took),
                "{} restore took {took}s",
                g.name
            );
            assert_eq!(
                select(&s, "slotstream_restored_records", &[group, part]).len(),
                1
            );
            for t in g.inputs {
                assert_eq!(
                    value(
                        &s,
                        "slotstream_consumer_lag",
                        &[group, ("topic", t.name), part]
                    ),
                    0.0
                );
            }
        }
        assert_eq!(
            value(&s, "slotstream_processor_ready", &[group]),
            1.0,
            "{}",
            g.name
        );
        // Each group committed something; nothing was dead-lettered.
        assert!(
            total(&s, "slotstream_commit_duration_seconds_count", &[group]) >= 1.0,
            "{} committed",
            g.name
        );
        assert_eq!(
            total(&s, "slotstream_dead_letters_total", &[group]),
            0.0,
            "{}",
            g.name
        );
        assert_eq!(
            total(
                &s,
                "slotstream_effects_total",
                &[group, ("outcome", "failed")]
            ),
            0.0
        );
        if !kafka {
            // On Kafka a broker hiccup may abort a transaction legitimately.
            assert_eq!(
                total(&s, "slotstream_transactions_aborted_total", &[group]),
                0.0,
                "{}",
                g.name
            );
        }
    }

    let booking = ("group", groups::BOOKING.name);
    let commands = ("topic", topics::BOOKING_COMMANDS.name);
    // A resource and three booking requests, each processed and decided.
    let processed = total(
        &s,
        "slotstream_records_processed_total",
        &[booking, commands],
    );
    assert!(processed >= 4.0, "booking commands processed: {processed}");
    let n = value(
        &s,
        "slotstream_decision_latency_seconds_count",
        &[booking, commands],
    );
    let sum = value(
        &s,
        "slotstream_decision_latency_seconds_sum",
        &[booking, commands],
    );
    assert!(n >= 4.0, "decisions timed: {n}");
    assert!(sum > 0.0, "decision latency is measured: {sum}");
    assert!(sum / n < 5.0, "mean decision latency {}s", sum / n);
    assert!(value(&s, "slotstream_commit_batch_records_count", &[booking]) >= 1.0);
    assert!(
        value(
            &s,
            "slotstream_decision_latency_seconds_count",
            &[
                ("group", groups::PAYMENT.name),
                ("topic", topics::PAYMENT_COMMANDS.name)
            ]
        ) >= 2.0,
        "checkout and the provider's outcome"
    );
    // The hold expired close to its deadline.
    let late_n = value(&s, "slotstream_timer_lateness_seconds_count", &[booking]);
    let late = value(&s, "slotstream_timer_lateness_seconds_sum", &[booking]);
    assert!(late_n >= 1.0);
    assert!(
        (0.0..5.0).contains(&(late / late_n)),
        "mean hold lateness {}s",
        late / late_n
    );
    // The views trail the events they project by little.
    let views = ("group", groups::VIEWS_BOOKING.name);
    let vn = value(
        &s,
        "slotstream_event_lag_seconds_count",
        &[views, ("topic", topics::BOOKING_EVENTS.name)],
    );
    let vs = value(
        &s,
        "slotstream_event_lag_seconds_sum",
        &[views, ("topic", topics::BOOKING_EVENTS.name)],
    );
    assert!(
        vn >= 1.0 && vs / vn < 5.0,
        "views lag {vs}s over {vn} commits"
    );
    // Effects: the verification emails and the checkout.
    assert!(
        value(
            &s,
            "slotstream_effects_total",
            &[
                ("group", groups::NOTIFICATION_IDENTITY.name),
                ("kind", "email"),
                ("outcome", "performed")
            ]
        ) >= 2.0
    );
    assert!(
        value(
            &s,
            "slotstream_effects_total",
            &[
                ("group", groups::PAYMENT.name),
                ("kind", "checkout"),
                ("outcome", "performed")
            ]
        ) >= 1.0
    );
    // End to end: POST /v1/bookings answered 201.
    assert!(
        value(
            &s,
            "slotstream_http_request_duration_seconds_count",
            &[
                ("route", "/v1/bookings"),
                ("method", "POST"),
                ("status", "2xx")
            ]
        ) >= 2.0
    );
    // The auditor ran over all of it and found nothing; every kind shows.
    for kind in slotstream_audit::Kind::labels() {
        assert_eq!(
            value(&s, "slotstream_audit_violations_total", &[("kind", kind)]),
            0.0,
            "{kind}"
        );
    }
    // No id ever becomes a label value.
    for sample in &s {
        for v in sample.labels.values() {
            assert!(
                !v.contains(&room) && !v.contains(id) && !v.contains(&customer.id),
                "an id in {sample:?}"
            );
        }
    }

    // The alert rules and the dashboard query only series that exist.
    let served: std::collections::BTreeSet<&str> = s.iter().map(|x| x.name.as_str()).collect();
    for file in ["ops/prometheus-rules.yml", "ops/grafana-dashboard.json"] {
        for (name, file) in queried_metrics(file) {
            assert!(
                served.contains(name.as_str()),
                "{file} queries {name}, which /metrics does not serve"
            );
        }
    }

    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let members = ready.body["processors"].as_array().expect("processors");
    assert_eq!(members.len(), groups::ALL.len(), "{}", ready.text);
    assert!(members.iter().all(|m| m["ready"] == true), "{}", ready.text);

    // Once over the whole log, after the platform stopped: clean too.
    let now = app.platform_clock.now();
    let TestApp {
        app: running,
        settings,
        data_dir,
        ..
    } = app;
    running.stop().await.expect("clean stop");
    let report = slotstream::ops::audit_once(&settings, now, |v| panic!("violation: {v}"))
        .await
        .expect("the log is readable");
    assert!(report.records >= 8, "{report:?}");
    assert!(report.is_clean(), "{report:?}");
    if kafka {
        slotstream::storage::destroy(&settings)
            .await
            .expect("namespace removed");
    }
    drop(data_dir);
}

/// A `BookingHeld` of `resource` for `[start, end)`, held now.
fn held(
    id: &str,
    resource: &str,
    start: Millis,
    end: Millis,
    now: Millis,
) -> Envelope<BookingEvent> {
    Envelope {
        event_id: format!("evt-{id}"),
        occurred_at: now,
        reply_to: None,
        payload: BookingEvent::BookingHeld(BookingHeld {
            command_id: CommandId::new(format!("cmd-{id}")),
            request_hash: "planted".into(),
            booking_id: BookingId::new(id),
            resource_id: ResourceId::new(resource),
            vendor_id: UserId::new("vendor"),
            user_id: UserId::new("customer"),
            user_email: "customer@example.com".into(),
            start,
            end,
            amount: Money::new(2000, "EUR"),
            payment_id: PaymentId::new(format!("pay-{id}")),
            hold_expires_at: now + 15 * MINUTE,
            held_at: now,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_finds_an_overlap_planted_in_a_hand_written_log() {
    let dir = tempfile::tempdir().expect("a data dir");
    let settings = test_settings(dir.path(), "15m", false);
    let now = SystemClock.now();
    let start = now + 24 * 60 * MINUTE;
    {
        // Two overlapping holds of one resource and one of another,
        // written straight through the log port: no processor decided them.
        let storage = slotstream::storage::Storage::open(&settings)
            .await
            .expect("the embedded log opens");
        let codec = Codec::embedded();
        let records = [
            held("planted-1", "court-7", start, start + 60 * MINUTE, now),
            held(
                "planted-2",
                "court-7",
                start + 30 * MINUTE,
                start + 90 * MINUTE,
                now,
            ),
            held("other", "court-8", start, start + 60 * MINUTE, now),
        ]
        .iter()
        .map(|env| {
            let BookingEvent::BookingHeld(h) = &env.payload else {
                unreachable!()
            };
            OutRecord {
                topic: topics::BOOKING_EVENTS.name,
                partition: None,
                key: Bytes::copy_from_slice(h.resource_id.as_str().as_bytes()),
                value: codec.encode(env).expect("encodes"),
                timestamp: now,
                headers: slotstream_runtime::Headers::new(),
            }
        })
        .collect();
        let at = storage
            .backend
            .producer()
            .send(records)
            .await
            .expect("appended");
        assert_eq!(
            at[0].partition, at[1].partition,
            "one resource, one partition"
        );
    }

    // Once over the log, as the library does it...
    let report = slotstream::ops::audit_once(&settings, now, |_| {})
        .await
        .expect("the log is readable");
    assert_eq!(report.records, 3);
    assert_eq!(report.violations.len(), 1, "{report:?}");
    let v = &report.violations[0];
    assert_eq!(v.kind, slotstream_audit::Kind::Overlap);
    let second = v.second.expect("both records' positions");
    assert_eq!(
        (v.first.offset + 1, v.first.partition),
        (second.offset, second.partition)
    );
    assert!(
        v.detail.contains("planted-1") && v.detail.contains("planted-2"),
        "{v}"
    );

    // ...and as an operator runs it: a summary and exit status 1.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slotstream"))
        .args(["audit", "--from-beginning", "--data-dir"])
        .arg(dir.path())
        .env("SLOTSTREAM_BACKEND", "embedded")
        .env("SLOTSTREAM_LOG", "error")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("overlap: bookings planted-1"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().eq(["overlap", "1"])),
        "{stdout}"
    );
    assert!(stdout.contains("VIOLATIONS FOUND"), "{stdout}");

    // Continuously: the audit role reads the log, counts the overlap once.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let platform =
        Platform::start_roles(&settings, clock.clone(), None, &[slotstream::Role::Audit])
            .await
            .expect("the auditor starts");
    let overlap = r#"slotstream_audit_violations_total{kind="overlap"} 1"#;
    await_rendered(&platform, &[overlap]).await;
    platform.stop().await.expect("clean stop");

    // It resumes where it stopped (its state and offsets are committed):
    // nothing is reported again.
    let platform = Platform::start_roles(&settings, clock, None, &[slotstream::Role::Audit])
        .await
        .expect("the auditor starts again");
    let text = await_rendered(
        &platform,
        &[r#"slotstream_processor_ready{group="slotstream.audit",member="0"} 1"#],
    )
    .await;
    assert!(
        text.contains(r#"slotstream_audit_violations_total{kind="overlap"} 0"#),
        "{text}"
    );
    platform.stop().await.expect("clean stop");
}

/// Bounded wait until the platform's exposition has every line of `want`.
async fn await_rendered(platform: &Platform, want: &[&str]) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = platform.telemetry.render();
        if want.iter().all(|w| text.lines().any(|l| l == *w)) {
            return text;
        }
        assert!(Instant::now() < deadline, "{want:?} not in\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_process_serves_its_own_health_readiness_and_metrics() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("a data dir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_slotstream"))
        .args([
            "processor",
            "booking",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("SLOTSTREAM_BACKEND", "embedded")
        .env("SLOTSTREAM_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    // It prints where it serves (port 0 was asked for).
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
    });
    let line = tokio::time::timeout(PATIENCE, line)
        .await
        .expect("a start line within the patience")
        .expect("no panic")
        .expect("stdout readable");
    let base = line
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/healthz,"))
        .unwrap_or_else(|| panic!("an address in {line:?}"))
        .to_owned();
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let health = get("/healthz").await.expect("answers");
    assert_eq!(health.status(), 200);
    let deadline = Instant::now() + PATIENCE;
    let ready = loop {
        let r = get("/readyz").await.expect("answers");
        if r.status() == 200 {
            break r.json::<serde_json::Value>().await.expect("json");
        }
        assert_eq!(r.status(), 503, "not ready yet is 503");
        assert!(Instant::now() < deadline, "not ready within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(
        ready["processors"][0]["group"],
        groups::BOOKING.name,
        "{ready}"
    );
    let text = get("/metrics")
        .await
        .expect("answers")
        .text()
        .await
        .expect("text");
    let s = parse(&text);
    let booking = ("group", groups::BOOKING.name);
    for p in 0..topics::RESOURCE_PARTITIONS {
        let p = p.to_string();
        assert_eq!(
            value(
                &s,
                "slotstream_restores_total",
                &[booking, ("partition", &p)]
            ),
            1.0
        );
    }
    assert!(
        select(&s, "slotstream_http_request_duration_seconds_count", &[]).is_empty(),
        "a processor process has no gateway"
    );
    assert!(
        select(
            &s,
            "slotstream_restores_total",
            &[("group", groups::PAYMENT.name)]
        )
        .is_empty(),
        "only its own processors"
    );
    child.kill().expect("the child we started stops");
    child.wait().expect("reaped");
}
