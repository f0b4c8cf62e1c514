//! Benchmarks of OTLP encoding in the filter core: one SERVER span with the
//! attributes a typical proxied request has (encoded and framed, as the
//! batcher does per finished span), a batch of 100 (encoding plus the
//! `ExportTraceServiceRequest` around them), and the batcher's push path.
//!
//! Baseline in the same run: `prost` encoding of the equivalent
//! `opentelemetry-proto` span, built beforehand (serialization only; the
//! meshtrace figures also derive the semantic-convention attributes from
//! the raw observation).

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_main};
use meshtrace_filter::config::BatchConfig;
use meshtrace_filter::export::batch::Batcher;
use meshtrace_filter::export::otlp::{RequestEncoder, encode_span, frame_span};
use meshtrace_filter::span::{HttpObservation, SpanKind, SpanRecord};
use meshtrace_filter::traceparent::{SpanId, TraceFlags, TraceId};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;

/// A SERVER span as the filter records one for `GET /api/orders/42?page=2`
/// with a sampled incoming `traceparent` and a `tracestate`.
fn server_span() -> SpanRecord {
    SpanRecord {
        trace_id: TraceId::from_bytes([0x4b; 16]),
        span_id: SpanId::from_bytes([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]),
        parent_span_id: Some(SpanId::from_bytes([0x11; 8])),
        flags: TraceFlags::from_u8(0x01),
        trace_state: Some("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into()),
        link: None,
        kind: SpanKind::Server,
        start_unix_nanos: 1_700_000_000_000_000_000,
        end_unix_nanos: 1_700_000_000_000_350_000,
        capture_query: false,
        http: HttpObservation {
            method: Some("GET".into()),
            path: Some("/api/orders/42?page=2".into()),
            scheme: Some("http".into()),
            authority: Some("orders.default.svc:8080".into()),
            user_agent: Some("curl/8.5.0".into()),
            request_id: Some("9f1c2a4e-5b6d-4e8f-a0b1-c2d3e4f5a6b7".into()),
            protocol: Some("HTTP/1.1".into()),
            source_address: Some("10.0.3.17:53122".into()),
            status_code: Some(200),
            response_flags: 0,
            upstream_cluster: Some("local_app".into()),
            route: None,
        },
    }
}

/// The same span as `opentelemetry-proto` builds it.
fn prost_span() -> Span {
    let s = |k: &str, v: &str| KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..KeyValue::default()
    };
    let i = |k: &str, v: i64| KeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..KeyValue::default()
    };
    let request_id = KeyValue {
        key: "http.request.header.x-request-id".to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(any_value::Value::StringValue(
                        "9f1c2a4e-5b6d-4e8f-a0b1-c2d3e4f5a6b7".to_owned(),
                    )),
                }],
            })),
        }),
        ..KeyValue::default()
    };
    Span {
        trace_id: vec![0x4b; 16],
        span_id: vec![0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
        parent_span_id: vec![0x11; 8],
        trace_state: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned(),
        name: "GET".to_owned(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_000_350_000,
        attributes: vec![
            s("http.request.method", "GET"),
            s("url.path", "/api/orders/42"),
            s("url.scheme", "http"),
            s("server.address", "orders.default.svc"),
            i("server.port", 8080),
            s("client.address", "10.0.3.17"),
            s("network.protocol.version", "1.1"),
            s("user_agent.original", "curl/8.5.0"),
            i("http.response.status_code", 200),
            s("envoy.upstream.cluster", "local_app"),
            request_id,
        ],
        flags: 0x301,
        ..Span::default()
    }
}

fn encoder() -> RequestEncoder {
    RequestEncoder::new("orders", &[], "meshtrace-filter", "0.1.0")
}

fn per_span(c: &mut Criterion) {
    let span = server_span();
    let mut group = c.benchmark_group("otlp_span");
    group.throughput(Throughput::Elements(1));
    group.bench_function("meshtrace_encode_and_frame", |b| {
        let (mut body, mut framed) = (Vec::with_capacity(1024), Vec::with_capacity(1024));
        b.iter(|| {
            body.clear();
            framed.clear();
            encode_span(black_box(&span), &mut body);
            frame_span(&body, &mut framed);
            framed.len()
        })
    });
    let prebuilt = prost_span();
    group.bench_function("prost_encode_prebuilt_baseline", |b| {
        let mut out = Vec::with_capacity(1024);
        b.iter(|| {
            out.clear();
            black_box(&prebuilt).encode(&mut out).map(|()| out.len())
        })
    });
    group.finish();
}

fn per_batch(c: &mut Criterion) {
    let spans: Vec<SpanRecord> = (0..100).map(|_| server_span()).collect();
    let encoder = encoder();
    let mut group = c.benchmark_group("otlp_batch_100");
    group.throughput(Throughput::Elements(100));
    group.bench_function("meshtrace_encode_request", |b| {
        let (mut body, mut framed) = (Vec::with_capacity(1024), Vec::with_capacity(64 * 1024));
        b.iter(|| {
            framed.clear();
            for span in black_box(&spans) {
                body.clear();
                encode_span(span, &mut body);
                frame_span(&body, &mut framed);
            }
            encoder.encode(&framed).len()
        })
    });
    group.bench_function("meshtrace_batcher_push_and_flush", |b| {
        let config = BatchConfig {
            max_spans: 100,
            ..BatchConfig::default()
        };
        b.iter_batched_ref(
            || Batcher::new(&config),
            |batcher| {
                for span in black_box(&spans) {
                    batcher.push(span);
                }
                batcher.next_batch(&encoder).map(|batch| batch.body.len())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// Holds the group function `criterion_group!` generates, which is `pub`
/// and undocumented, out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::per_span, super::per_batch);
}

criterion_main!(group::benches);
