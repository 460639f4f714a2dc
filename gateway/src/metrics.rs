//! Prometheus metrics of one gateway, recorded into the process's
//! [`Telemetry`] (no global recorder: several gateways in one test process
//! never clash; in `slotstream up` the processors record into the same one,
//! so `/metrics` shows the whole process). Labels are bounded: route
//! templates, never ids.
//!
//! The end-to-end latency of a booking (`POST` to `201`) is
//! `slotstream_http_request_duration_seconds{route="/v1/bookings",method="POST",status="2xx"}`.
//! Consumer lag and the processors' own metrics are reported by each
//! processor (`slotstream_runtime::internal_events`).
//!
//! | metric | labels |
//! |---|---|
//! | `slotstream_http_request_duration_seconds` (histogram) | `route` (template), `method`, `status` (`2xx`..`5xx`) |
//! | `slotstream_gateway_decisions_total` (counter) | `command`, `outcome` (`held`, `slot_unavailable`, ..., `timeout`) |
//! | `slotstream_gateway_reply_wait_seconds` (histogram) | `command`, `outcome` (`replied`, `timeout`) |
//! | `slotstream_gateway_consistency_wait_seconds` (histogram) | `outcome` (`applied`, `timeout`): reads that sent a consistency token, and how long they waited for the views |
//! | `slotstream_gateway_replies_pending` (gauge) | none |

use slotstream_runtime::Telemetry;

/// The gateway's view of the process's recorder.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    telemetry: Telemetry,
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
    /// Records into `telemetry` (latency buckets from 0.5 ms,
    /// [`slotstream_runtime::telemetry::SECONDS_BUCKETS`]).
    pub fn new(telemetry: Telemetry) -> Self {
        Self { telemetry }
    }

    /// The process's telemetry (readiness, rendering).
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        self.telemetry.with(f)
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

    /// A read with a consistency token waited `secs` for the views, and
    /// they caught up (`applied`) or the bound passed (`timeout`).
    pub fn consistency_wait(&self, outcome: &'static str, secs: f64) {
        self.with(|| {
            metrics::histogram!("slotstream_gateway_consistency_wait_seconds", "outcome" => outcome)
                .record(secs);
        });
    }

    /// Number of commands waiting for a reply.
    pub fn pending(&self, n: usize) {
        self.with(|| metrics::gauge!("slotstream_gateway_replies_pending").set(n as f64));
    }

    /// The Prometheus text exposition (of the whole process's recorder).
    pub fn render(&self) -> String {
        self.telemetry.render()
    }

    /// Periodic maintenance of the histograms' storage.
    pub fn upkeep(&self) {
        self.telemetry.upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_appear_in_the_exposition_with_bounded_labels() {
        let m = Metrics::default();
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
        let a = Metrics::default();
        let b = Metrics::default();
        a.decision("cancel_booking", "cancelled");
        assert!(a.render().contains("cancel_booking"));
        assert!(!b.render().contains("cancel_booking"));
    }
}
