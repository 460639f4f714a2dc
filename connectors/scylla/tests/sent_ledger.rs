//! The shared SMTP sent-ledger against a real CQL node: what one instance
//! records, another instance (its own connection) sees.

mod common;

use slotstream_runtime::SentLedger;
use slotstream_scylla::ScyllaViews;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_recorded_by_one_instance_is_seen_by_another() {
    common::with_views("sent_ledger", |first, opts| async move {
        let second = ScyllaViews::connect(&opts)
            .await
            .expect("second connection");
        assert!(!first.is_sent("confirm/b1").await.expect("read"));
        assert!(!second.is_sent("confirm/b1").await.expect("read"));
        first.record_sent("confirm/b1").await.expect("record");
        second
            .record_sent("confirm/b1")
            .await
            .expect("recording again is fine");
        assert!(second.is_sent("confirm/b1").await.expect("read"));
        assert!(first.is_sent("confirm/b1").await.expect("read"));
        assert!(!second.is_sent("confirm/b2").await.expect("read"));
    })
    .await;
}
