//! Benchmarks of the W3C Trace Context hot path: `traceparent` parse and
//! format, and `tracestate` validation of typical (3-member) and maximal
//! (32-member) headers.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_main};
use meshtrace_filter::traceparent::{TRACEPARENT_LEN, TraceParent};
use meshtrace_filter::tracestate;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn traceparent(c: &mut Criterion) {
    let mut group = c.benchmark_group("traceparent");
    group.throughput(Throughput::Bytes(TRACEPARENT.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| TraceParent::parse(black_box(TRACEPARENT.as_bytes())))
    });
    group.bench_function("parse_invalid_uppercase", |b| {
        let input = TRACEPARENT.to_uppercase();
        b.iter(|| TraceParent::parse(black_box(input.as_bytes())))
    });
    if let Ok(parsed) = TraceParent::parse(TRACEPARENT.as_bytes()) {
        group.bench_function("format", |b| {
            let mut buf = [0u8; TRACEPARENT_LEN];
            b.iter(|| black_box(black_box(&parsed).format(&mut buf).len()))
        });
    }
    group.finish();
}

fn tracestate(c: &mut Criterion) {
    let three = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE,fw529a3039@dt=ZGQ4OTkzMGQ";
    let thirty_two = (0..32)
        .map(|i| format!("vendor{i}=value{i:04}-00f067aa0ba902b7"))
        .collect::<Vec<_>>()
        .join(",");

    let mut group = c.benchmark_group("tracestate");
    for (name, input) in [("validate_3", three), ("validate_32", thirty_two.as_str())] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                tracestate::validate(black_box(input.as_bytes()))
                    .map(|state| state.members().count())
            })
        });
    }
    group.finish();
}

/// Holds the group function `criterion_group!` generates, which is `pub`
/// and undocumented, out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::traceparent, super::tracestate);
}

criterion_main!(group::benches);
