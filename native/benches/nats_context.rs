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

/// Holds the group function `criterion_group!` generates, which is `pub`
/// and undocumented, out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::headers, super::cloudevents);
}

criterion_main!(group::benches);
