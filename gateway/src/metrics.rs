//! Prometheus metrics of one gateway, on its own recorder (no global: several
//! gateways in one test process never clash). Labels are bounded: route
//! templates, never ids.
//!
//! | metric | labels |
//! |---|---|
//! | `slotstream_http_request_duration_seconds` (histogram) | `route` (template), `method`, `status` (`2xx`..`5xx`) |
//! | `slotstream_gateway_decisions_total` (counter) | `command`, `outcome` (`held`, `slot_unavailable`, ..., `timeout`) |
//! | `slotstream_gateway_reply_wait_seconds` (histogram) | `command`, `outcome` (`replied`, `timeout`) |
//! | `slotstream_gateway_replies_pending` (gauge) | none |
//! | `slotstream_consumer_lag` (gauge): records not yet consumed and committed | `group`, `topic`, `partition` |

use metrics::Recorder;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

const BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The gateway's recorder and its renderer.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// A fresh recorder with latency buckets from 0.5 ms to 10 s.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(BUCKETS) {
            Ok(b) => b,
            // Only for an empty bucket list; summaries are then rendered instead.
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Self { recorder, handle }
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder as &dyn Recorder, f)
    }

    /// One HTTP request answered.
    pub fn http(&self, route: &str, method: &axum::http::Method, status: u16, secs: f64) {
        let route = route.to_owned();
        self.with(|| {
            metrics::histogram!(
                "slotstream_http_request_duration_seconds",
                "route" => route,
                "method" => method_label(method),
                "status" => status_class(status),
            )
            .record(secs);
        });
    }

    /// One command's decision as the client saw it.
    pub fn decision(&self, command: &'static str, outcome: &'static str) {
        self.with(|| {
            metrics::counter!("slotstream_gateway_decisions_total", "command" => command, "outcome" => outcome)
                .increment(1);
        });
    }

    /// How long a request waited for its reply.
    pub fn reply_wait(&self, command: &'static str, replied: bool, secs: f64) {
        let outcome = if replied { "replied" } else { "timeout" };
        self.with(|| {
            metrics::histogram!("slotstream_gateway_reply_wait_seconds", "command" => command, "outcome" => outcome)
                .record(secs);
        });
    }

    /// Records of `topic`/`partition` that `group` has not yet consumed
    /// and committed.
    pub fn lag(&self, group: &'static str, topic: &'static str, partition: u32, lag: u64) {
        self.with(|| {
            metrics::gauge!(
                "slotstream_consumer_lag",
                "group" => group,
                "topic" => topic,
                "partition" => partition.to_string()
            )
            .set(lag as f64)
        });
    }

    /// Number of commands waiting for a reply.
    pub fn pending(&self, n: usize) {
        self.with(|| metrics::gauge!("slotstream_gateway_replies_pending").set(n as f64));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Periodic maintenance of the histograms' storage.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition_with_bounded_labels() {
        let m = Metrics::new();
        m.http("/v1/bookings/{id}", &axum::http::Method::GET, 404, 0.003);
        m.decision("request_booking", "held");
        m.reply_wait("request_booking", true, 0.002);
        m.pending(3);
        let text = m.render();
        assert!(text.contains(r#"route="/v1/bookings/{id}""#), "{text}");
        assert!(text.contains(r#"status="4xx""#), "{text}");
        assert!(
            text.contains("slotstream_gateway_decisions_total"),
            "{text}"
        );
        assert!(
            text.contains("slotstream_gateway_reply_wait_seconds_bucket"),
            "{text}"
        );
        assert!(
            text.contains("slotstream_gateway_replies_pending 3"),
            "{text}"
        );
    }

    #[test]
    fn two_gateways_do_not_share_metrics() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.decision("cancel_booking", "cancelled");
        assert!(a.render().contains("cancel_booking"));
        assert!(!b.render().contains("cancel_booking"));
    }
}
