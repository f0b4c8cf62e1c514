//! Unit-test support: one global in-memory pipeline per test process.
//!
//! The module's code reads the global provider and propagator, so every
//! unit test shares them; tests tell their spans apart by trace id.

use std::sync::OnceLock;

use opentelemetry::global;
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, Sampler, SdkTracerProvider, SpanData};

/// Installs (once) an always-on provider exporting synchronously to memory
/// and the W3C propagator, and returns the exporter.
pub(crate) fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_simple_exporter(exporter.clone())
            .build();
        global::set_tracer_provider(provider);
        global::set_text_map_propagator(TraceContextPropagator::new());
        exporter
    })
}

/// The finished spans of trace `trace_id` (lowercase hex).
pub(crate) fn spans_of(trace_id: &str) -> Vec<SpanData> {
    let wanted = TraceId::from_hex(trace_id).unwrap_or(TraceId::INVALID);
    exporter()
        .get_finished_spans()
        .unwrap_or_default()
        .into_iter()
        .filter(|span| span.span_context.trace_id() == wanted)
        .collect()
}

/// A string or integer attribute of `span`, rendered as a string.
pub(crate) fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}
