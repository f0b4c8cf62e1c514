//! Benchmarks of the NATS side's per-message work, each against a
//! baseline in the same run: injecting and extracting the W3C context over
//! NATS headers (baseline: building the same headers with no context), and
//! encoding/decoding a CloudEvent in binary and structured mode with the
//! creation-context extension (baseline: the same event without it).

use std::hint::black_box;

use async_nats::HeaderMap;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use criterion::{Criterion, criterion_main};
use meshtrace::nats::{
    HeaderInjector, MessageContext, decode, encode_binary, encode_structured,
    set_creation_context_if_absent,
};
use opentelemetry::Context;
use opentelemetry::global;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACESTATE: &str = "rojo=00f067aa0ba902b7";

fn context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap_or(TraceId::INVALID),
        SpanId::from_hex("00f067aa0ba902b7").unwrap_or(SpanId::INVALID),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("rojo", "00f067aa0ba902b7")]).unwrap_or_default(),
    ))
}

fn event(with_extension: bool) -> Option<Event> {
    let mut event = EventBuilderV10::new()
        .id("order-1")
        .source("/checkout")
        .ty("com.example.order.created")
        .subject("orders/1")
        .data(
            "application/json",
            serde_json::json!({"order": 1, "total": 42}),
        )
        .build()
        .ok()?;
    if with_extension {
        set_creation_context_if_absent(&mut event, TRACEPARENT, Some(TRACESTATE));
    }
    Some(event)
}

fn headers(c: &mut Criterion) {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let cx = context();
    let mut group = c.benchmark_group("nats_headers");
    group.bench_function("baseline_build_headers", |b| {
        b.iter(|| {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "application/json");
            black_box(headers)
        })
    });
    group.bench_function("inject", |b| {
        b.iter(|| {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", "application/json");
            TraceContextPropagator::new()
                .inject_context(black_box(&cx), &mut HeaderInjector(&mut headers));
            black_box(headers)
        })
    });
    let mut carried = HeaderMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(&mut carried));
    group.bench_function("extract", |b| {
        b.iter(|| MessageContext::extract(Some(black_box(&carried)), None).hop())
    });
    group.finish();
}

fn cloudevents(c: &mut Criterion) {
    let mut group = c.benchmark_group("cloudevents");
    for (name, with_extension) in [("baseline", false), ("traced", true)] {
        let Some(event) = event(with_extension) else {
            continue;
        };
        group.bench_function(format!("encode_binary_{name}"), |b| {
            b.iter(|| encode_binary(black_box(&event)))
        });
        group.bench_function(format!("encode_structured_{name}"), |b| {
            b.iter(|| encode_structured(black_box(&event)))
        });
        let (Ok((bin_headers, bin_payload)), Ok((st_headers, st_payload))) =
            (encode_binary(&event), encode_structured(&event))
        else {
            continue;
        };
        group.bench_function(format!("decode_binary_{name}"), |b| {
            b.iter(|| decode(Some(black_box(&bin_headers)), black_box(&bin_payload)))
        });
        group.bench_function(format!("decode_structured_{name}"), |b| {
            b.iter(|| decode(Some(black_box(&st_headers)), black_box(&st_payload)))
        });
        group.bench_function(format!("decode_and_extract_binary_{name}"), |b| {
            b.iter(|| {
                let event = decode(Some(&bin_headers), black_box(&bin_payload)).ok();
                MessageContext::extract(Some(&bin_headers), event.as_ref())
                    .creation()
                    .is_some()
            })
        });
    }
    group.finish();
}

/// The OpenTelemetry SDK's own cost for the two spans a traced message
/// makes (PRODUCER and CONSUMER, with the attributes meshtrace records),
/// recorded into memory: no encoding, no export. This is a floor for any
/// library on the SDK; `untraced_message_cpu` (the untraced benchmark's
/// encode + decode of one event) is the work it is compared with here, and
/// `cargo xtask bench nats` prints the whole untraced per-message cost.
fn sdk_floor(c: &mut Criterion) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{SpanKind, Tracer, TracerProvider as _};
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("meshtrace");
    let attributes = |operation: &'static str, kind: &'static str| {
        vec![
            KeyValue::new("messaging.system", "nats"),
            KeyValue::new("messaging.operation.type", kind),
            KeyValue::new("messaging.operation.name", operation),
            KeyValue::new("messaging.destination.name", "bench.subject".to_owned()),
            KeyValue::new("messaging.message.id", "order-1".to_owned()),
            KeyValue::new("cloudevents.event_id", "order-1".to_owned()),
            KeyValue::new("cloudevents.event_source", "/checkout".to_owned()),
            KeyValue::new(
                "cloudevents.event_type",
                "com.example.order.created".to_owned(),
            ),
            KeyValue::new("cloudevents.event_spec_version", "1.0"),
            KeyValue::new("server.address", "127.0.0.1".to_owned()),
            KeyValue::new("server.port", 4222i64),
            KeyValue::new("messaging.message.body.size", 256i64),
        ]
    };
    let mut group = c.benchmark_group("sdk_floor");
    if let Some(event) = event(false) {
        group.bench_function("untraced_message_cpu", |b| {
            b.iter(|| {
                let (headers, payload) = encode_binary(black_box(&event)).ok()?;
                decode(Some(&headers), &payload).ok()
            })
        });
    }
    group.bench_function("two_sdk_spans_in_memory", |b| {
        b.iter(|| {
            let producer = tracer
                .span_builder("send bench.subject")
                .with_kind(SpanKind::Producer)
                .with_attributes(attributes("send", "send"))
                .start(&tracer);
            let cx = Context::new().with_span(producer);
            let consumer = tracer
                .span_builder("process bench.subject")
                .with_kind(SpanKind::Consumer)
                .with_attributes(attributes("process", "process"))
                .start_with_context(&tracer, &cx);
            drop(consumer);
            cx.span().end();
            exporter.reset();
        })
    });
    group.finish();
}

/// Holds the group function `criterion_group!` generates, which is `pub`
/// and undocumented, out of the crate's public surface.
mod group {
    criterion::criterion_group!(
        benches,
        super::headers,
        super::cloudevents,
        super::sdk_floor
    );
}

criterion_main!(group::benches);
