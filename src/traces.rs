//! The process's log output and, when `SLOTSTREAM_OTLP_ENDPOINT` is set,
//! its trace export (ARCHITECTURE.md, "Traces").
//!
//! Spans of the platform's trace target ([`slotstream_runtime::trace::TARGET`])
//! go to the OpenTelemetry layer only; the log layer never sees them. So
//! with no endpoint no layer wants that target, its call sites are disabled
//! once and for all, and tracing costs a cached check per record.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use slotstream_runtime::trace::TARGET;
use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::{Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;

/// What must outlive the process's work: the tracer provider, whose batch
/// processor is flushed on [`Traces::shutdown`].
#[derive(Debug, Default)]
pub struct Traces {
    provider: Option<SdkTracerProvider>,
}

impl Traces {
    /// Exports the spans still queued and stops the exporter (bounded by
    /// the SDK's export timeout). Nothing to do without an endpoint.
    pub fn shutdown(self) {
        if let Some(p) = self.provider
            && let Err(e) = p.shutdown()
        {
            tracing::warn!(error = %e, "flushing the last spans failed");
        }
    }
}

/// The OTLP/HTTP traces URL for `endpoint`: `/v1/traces` is added to a base
/// URL, as OpenTelemetry's own `OTEL_EXPORTER_OTLP_ENDPOINT` does.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// A tracer provider exporting to `endpoint` in batches, from the SDK's own
/// thread (a full queue drops spans rather than wait: the hot path never
/// blocks on a collector).
pub fn otlp_provider(endpoint: &str, role: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(traces_url(endpoint))
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(role))
        .build())
}

/// The resource every span of this process names: the service and the
/// command it runs (`up`, `gateway`, `processor booking`, ...).
pub fn resource(role: &str) -> Resource {
    Resource::builder()
        .with_service_name("slotstream")
        .with_attribute(opentelemetry::KeyValue::new(
            "slotstream.process",
            role.to_owned(),
        ))
        .build()
}

/// The layer turning the platform's spans into OpenTelemetry spans of
/// `provider`, and nothing else (log events and other spans stay out).
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("slotstream"))
        // No source file and line attributes on every span: smaller exports.
        .with_location(false)
        .with_filter(Targets::new().with_target(TARGET, Level::INFO))
}

/// Installs the process's subscriber: logs to stderr filtered by
/// `SLOTSTREAM_LOG` (default `info`), and spans over OTLP when `endpoint`
/// is set.
pub fn init(endpoint: Option<&str>, role: &str) -> anyhow::Result<Traces> {
    let filter = EnvFilter::try_from_env("SLOTSTREAM_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // The trace target is for the exporter only.
        .add_directive(format!("{TARGET}=off").parse()?);
    let logs = tracing_subscriber::fmt::layer().with_filter(filter);
    let Some(endpoint) = endpoint else {
        // No OpenTelemetry layer at all (not an empty `Option` layer, which
        // would claim interest in every call site): the trace target's
        // call sites are disabled for good.
        tracing_subscriber::registry().with(logs).init();
        return Ok(Traces::default());
    };
    let provider = otlp_provider(endpoint, role)?;
    tracing_subscriber::registry()
        .with(logs)
        .with(otel_layer(&provider))
        .init();
    tracing::info!(endpoint = %traces_url(endpoint), "exporting spans over OTLP");
    Ok(Traces {
        provider: Some(provider),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Span as _, Tracer as _};
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};

    /// A one-request OTLP/HTTP collector: answers 200 and hands back the
    /// request line, the content type and the body's length.
    fn collector() -> (String, std::thread::JoinHandle<(String, String, usize)>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("the exporter connects");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            let (mut kind, mut len) = (String::new(), 0);
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).expect("header");
                let h = h.trim_end().to_ascii_lowercase();
                if h.is_empty() {
                    break;
                }
                if let Some(v) = h.strip_prefix("content-type:") {
                    kind = v.trim().to_owned();
                }
                if let Some(v) = h.strip_prefix("content-length:") {
                    len = v.trim().parse().expect("length");
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            let mut stream = stream;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .expect("answer");
            (line.trim_end().to_owned(), kind, body.len())
        });
        (url, seen)
    }

    #[test]
    fn spans_reach_an_otlp_collector_over_http_protobuf() {
        let (url, seen) = collector();
        let provider = otlp_provider(&url, "test").expect("provider");
        let mut span = provider.tracer("test").start("one span");
        span.end();
        provider.force_flush().expect("flushed to the collector");
        let (line, kind, len) = seen.join().expect("collector");
        assert_eq!(line, "POST /v1/traces HTTP/1.1");
        assert_eq!(kind, "application/x-protobuf");
        assert!(len > 0, "an export request with spans");
        provider.shutdown().expect("shutdown");
    }

    #[test]
    fn the_trace_target_is_off_for_logs_and_nothing_else() {
        let filter = EnvFilter::new("info")
            .add_directive(format!("{TARGET}=off").parse().expect("directive"));
        let shown = filter.to_string();
        assert!(shown.contains(&format!("{TARGET}=off")), "{shown}");
        // A module path never starts with the dotted target.
        assert!(!module_path!().starts_with(TARGET));
        assert!(!"slotstream_runtime::trace".starts_with(TARGET));
    }

    #[test]
    fn the_traces_path_is_added_to_a_base_url_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
