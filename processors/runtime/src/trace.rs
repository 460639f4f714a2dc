//! Traces across the choreography (issue 14): a W3C trace context travels in
//! record headers (`traceparent`, `tracestate`) from the gateway's request
//! through every processor's consume → decide → produce, and on to the
//! effects (emails, provider calls), so one booking's path is one trace.
//!
//! Spans are `tracing` spans of one target, [`TARGET`]. The binary gives
//! that target to the OpenTelemetry layer only, and only when an OTLP
//! endpoint is configured; every other layer filters it out. With no
//! exporter the target is disabled at its call sites, so a span here costs
//! one cached interest check and returns [`Span::none`]: no span is built,
//! no field is formatted, no header is written.
//!
//! When spans are off, a process still passes on the trace context of what
//! it reads: the outputs of a record that carries a `traceparent` get the
//! same headers (two reference-counted byte copies, and only for records
//! that had them), so a process without an exporter between two with one
//! does not cut the trace; its own step is simply missing from it.

use crate::log::{ConsumedRecord, Headers, OutRecord};
use bytes::Bytes;
use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use std::str::FromStr as _;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `tracing` target of every span that belongs in a trace. A dotted
/// name, not a module path: filters match targets by prefix, and no
/// module's log events may fall under it.
pub const TARGET: &str = "slotstream.trace";

/// The W3C trace context header with the trace and parent span ids.
pub const TRACEPARENT: &str = "traceparent";

/// The W3C header with vendor-specific trace state.
pub const TRACESTATE: &str = "tracestate";

/// Whether this process makes spans (an exporter is installed). A cached
/// check of one call site: the driver asks once per batch and, when off,
/// opens no span for any record of it.
pub fn enabled() -> bool {
    tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// The parent a `traceparent` (and optional `tracestate`) names, as a
/// remote span context; `None` when the header is absent or malformed
/// (a malformed one is ignored, as W3C asks: the step starts a new trace).
pub fn remote_parent(traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<Context> {
    let sc = parse_traceparent(traceparent?, tracestate)?;
    Some(Context::new().with_remote_span_context(sc))
}

/// Parses version 00 of `traceparent` (and future versions' first four
/// fields, as the spec allows).
fn parse_traceparent(raw: &[u8], state: Option<&[u8]>) -> Option<SpanContext> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let mut parts = text.split('-');
    let version = parts.next()?;
    let trace = parts.next()?;
    let span = parts.next()?;
    let flags = parts.next()?;
    let hex = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if version.len() != 2 || !hex(version) || version == "ff" {
        return None;
    }
    if (version == "00" && parts.next().is_some())
        || trace.len() != 32
        || span.len() != 16
        || flags.len() != 2
        || ![trace, span, flags].into_iter().all(hex)
    {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    let flags = u8::from_str_radix(flags, 16).ok()? & TraceFlags::SAMPLED.to_u8();
    let state = state
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| TraceState::from_str(s).ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

/// The `traceparent` and `tracestate` values of `span`, when it is a live
/// span of an exported trace.
pub fn context_of(span: &Span) -> Option<(String, Option<String>)> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    let parent = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    let state = sc.trace_state().header();
    Some((parent, (!state.is_empty()).then_some(state)))
}

/// Writes the trace context of `span` into `headers`; false (and nothing
/// written) when the span is off.
pub fn inject(span: &Span, headers: &mut Headers) -> bool {
    let Some((parent, state)) = context_of(span) else {
        return false;
    };
    headers.set(TRACEPARENT, parent);
    if let Some(state) = state {
        headers.set(TRACESTATE, state);
    }
    true
}

/// Opens the span of one consumed record: `process <topic>`, a child of the
/// record's `traceparent` (a new trace when it has none). Disabled, and
/// free, when spans are off.
pub fn record_span(group: &'static str, r: &ConsumedRecord) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "process",
        otel.name = %format_args!("process {}", r.topic),
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.consumer.group.name = group,
        messaging.destination.name = %r.topic,
        messaging.destination.partition.id = r.partition,
        messaging.kafka.offset = r.offset,
    );
    adopt(
        &span,
        r.headers.get(TRACEPARENT).map(|v| &v[..]),
        r.headers.get(TRACESTATE).map(|v| &v[..]),
    );
    span
}

/// Makes a new, live `span` the child of the remote parent a
/// `traceparent` names (nothing when the span is off or the header absent
/// or malformed: the span then starts a trace of its own, or stays a child
/// of the current span).
pub fn adopt(span: &Span, traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) {
    if span.is_disabled() {
        return;
    }
    if let Some(parent) = remote_parent(traceparent, tracestate) {
        // Fails only for a span already started, which a new one is not.
        let _ = span.set_parent(parent);
    }
}

/// Opens the root span of a timer firing (a hold's expiry): the events it
/// decides start a trace of their own, since no request is waiting on them
/// and the request that made the hold may be minutes old.
pub fn timer_span(group: &'static str, partition: u32) -> Span {
    tracing::info_span!(
        target: TARGET,
        "timer",
        otel.name = %format_args!("timer {group}"),
        otel.kind = "internal",
        messaging.consumer.group.name = group,
        messaging.destination.partition.id = partition,
    )
}

/// The span of one effect (an email, a provider call), a child of the step
/// that asked for it.
pub fn effect_span(parent: &Span, kind: &'static str) -> Span {
    tracing::info_span!(
        target: TARGET,
        parent: parent,
        "effect",
        otel.name = %format_args!("effect {kind}"),
        otel.kind = "client",
        slotstream.effect = kind,
    )
}

/// Gives `outputs` (what the step of `span` produced for `input`) the trace
/// context: the span's own when it is live; else, passed through, the
/// input's headers of the trace context, if it had any.
pub fn stamp(span: &Span, input: &Headers, outputs: &mut [OutRecord]) {
    if outputs.is_empty() {
        return;
    }
    if let Some((parent, state)) = context_of(span) {
        let parent = Bytes::from(parent);
        let state = state.map(Bytes::from);
        for o in outputs {
            o.headers.set(TRACEPARENT, parent.clone());
            if let Some(s) = &state {
                o.headers.set(TRACESTATE, s.clone());
            }
        }
        return;
    }
    let Some(parent) = input.get(TRACEPARENT) else {
        return;
    };
    let state = input.get(TRACESTATE);
    for o in outputs {
        o.headers.set(TRACEPARENT, parent.clone());
        if let Some(s) = state {
            o.headers.set(TRACESTATE, s.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &[u8] = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_names_a_remote_sampled_parent() {
        let sc = parse_traceparent(PARENT, Some(b"congo=t61rcWkgMzE")).expect("valid");
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").expect("hex")
        );
        assert_eq!(
            sc.span_id(),
            SpanId::from_hex("b7ad6b7169203331").expect("hex")
        );
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
        assert_eq!(sc.trace_state().get("congo"), Some("t61rcWkgMzE"));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            &b""[..],
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            b"0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(
                parse_traceparent(bad, None).is_none(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A later version may add fields after the flags.
        assert!(
            parse_traceparent(
                b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00-more",
                None
            )
            .is_some()
        );
    }

    #[test]
    fn with_spans_off_outputs_carry_the_inputs_context_unchanged() {
        let mut input = Headers::new();
        input.push(TRACEPARENT, Bytes::from_static(PARENT));
        input.push(TRACESTATE, Bytes::from_static(b"a=b"));
        input.push("other", Bytes::from_static(b"x"));
        let record = |headers| OutRecord {
            topic: "t",
            partition: None,
            key: Bytes::new(),
            value: Bytes::new(),
            timestamp: 0,
            headers,
        };
        let mut outs = vec![record(Headers::new()), record(Headers::new())];
        stamp(&Span::none(), &input, &mut outs);
        for o in &outs {
            assert_eq!(o.headers.get(TRACEPARENT).map(|v| &v[..]), Some(PARENT));
            assert_eq!(o.headers.get(TRACESTATE).map(|v| &v[..]), Some(&b"a=b"[..]));
            assert_eq!(o.headers.get("other"), None, "only the trace context");
        }
        let mut untouched = vec![record(Headers::new())];
        stamp(&Span::none(), &Headers::new(), &mut untouched);
        assert!(untouched[0].headers.is_empty());
    }
}
