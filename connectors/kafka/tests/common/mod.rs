//! Shared test setup: a fresh namespace on the real broker per test.

#![allow(dead_code)]

use slotstream_kafka::{KafkaBackend, KafkaOptions, delete_namespace, ensure_topics};
use slotstream_runtime::ViewStore;
use slotstream_testkit::contract::unique;
use std::future::Future;
use std::sync::Arc;

/// The broker of the test engine; panics (never skips) when it is not set.
pub fn brokers() -> String {
    std::env::var("SLOTSTREAM_TEST_KAFKA_BROKERS")
        .expect("start Kafka: eval \"$(scripts/engines/kafka.sh start)\"")
}

/// Options for a new, unique namespace on the test broker.
pub fn options() -> KafkaOptions {
    let mut opts = KafkaOptions::new(brokers());
    opts.namespace = unique("t");
    debug_clients(&mut opts);
    opts
}

/// With `SLOTSTREAM_TEST_RDKAFKA_DEBUG=<contexts>` (librdkafka's `debug`
/// list, e.g. `cgrp,fetch`), every client logs those contexts to stderr
/// through `tracing`: the way to see what a client did in a failed test.
fn debug_clients(opts: &mut KafkaOptions) {
    let Ok(contexts) = std::env::var("SLOTSTREAM_TEST_RDKAFKA_DEBUG") else {
        return;
    };
    opts.librdkafka.insert("debug".into(), contexts);
    opts.librdkafka.insert("log_level".into(), "7".into());
    // A second test in the same binary finds the subscriber already set.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("debug")
        .try_init();
}

/// Creates the namespace's topics, runs `body`, then deletes them, also
/// when `body` panics (the panic is re-raised afterwards).
pub async fn in_namespace<F, Fut>(opts: KafkaOptions, body: F)
where
    F: FnOnce(KafkaOptions) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // One test at a time per binary: group hand-overs wait for KIP-848
    // heartbeats (5 s apart on a default broker), and two cores shared by
    // parallel tests stretch those waits past the contract's patience.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = SERIAL.lock().await;
    ensure_topics(&opts).await.expect("ensure_topics");
    let outcome = tokio::spawn(body(opts.clone())).await;
    delete_namespace(&opts).await.expect("delete_namespace");
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("test task failed: {e}");
    }
}

/// A backend on `opts` with an optional view store.
pub async fn connect(opts: &KafkaOptions, views: Option<Arc<dyn ViewStore>>) -> Arc<KafkaBackend> {
    KafkaBackend::connect(opts.clone(), views)
        .await
        .expect("connect to the test broker")
}
