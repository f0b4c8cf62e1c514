//! The real filter module per request in the wasmtime proxy-wasm host:
//! what the guest code plus this host's imports cost, without Envoy. Read
//! next to `cargo xtask bench envoy`, it splits the filter's cost in Envoy
//! into the module's own work and Envoy's side (V8 entries, host calls,
//! property evaluation).
//!
//! Baseline in the same run: an unsampled request (`flags 00`: read
//! `traceparent`/`tracestate`, write `traceparent`, record nothing). The
//! sampled request records a SERVER span and, every 256 requests, the
//! batch is flushed on a tick and the export call answered, so encoding
//! and export are amortised as in Envoy. Before measuring, each case prints
//! the host calls one request makes. The totals include this host's own
//! bookkeeping (every import call is recorded, stream properties are set
//! per request), which is most of them: read the guest's share from a
//! profile, not from the totals.
//!
//! Needs the built module (`cargo xtask build-filter`).

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_main};
use meshtrace_tests::filter_fixture::{FilterHarness, Request};

const CONFIG: &str = r#"{"direction": "inbound", "service_name": "bench"}"#;
const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
/// Requests between flushes.
const FLUSH_EVERY: u32 = 256;

struct Bench {
    harness: FilterHarness,
    request: Request,
    since_flush: u32,
}

// === impl Bench ===

impl Bench {
    fn new(traceparent: &str) -> Self {
        let harness = FilterHarness::new(CONFIG).unwrap_or_else(|e| {
            panic!("cannot load the filter (run `cargo xtask build-filter`): {e:#}")
        });
        Self {
            harness,
            request: Request::get("/api/orders/42").header("traceparent", traceparent),
            since_flush: 0,
        }
    }

    /// One request's lifecycle, and every [`FLUSH_EVERY`] requests a tick
    /// with the export calls answered 200.
    fn request(&mut self) {
        self.harness
            .send(&self.request)
            .unwrap_or_else(|e| panic!("request: {e:#}"));
        self.harness.host.clear_host_calls();
        self.since_flush += 1;
        if self.since_flush == FLUSH_EVERY {
            self.since_flush = 0;
            self.flush();
        }
    }

    /// Tick, and answer the export calls without decoding their bodies
    /// (`FilterHarness::answer_http_exports` decodes, too slow for the
    /// timed loop).
    fn flush(&mut self) {
        let host = &mut self.harness.host;
        host.tick().unwrap_or_else(|e| panic!("tick: {e:#}"));
        for call in host.take_http_callouts() {
            host.respond_http_call(call.token, &[(":status", "200")], b"")
                .unwrap_or_else(|e| panic!("export response: {e:#}"));
        }
        host.clear_host_calls();
    }

    /// The host calls of one request, by import name.
    fn host_calls_of_one_request(&mut self) -> BTreeMap<String, usize> {
        self.harness.host.clear_host_calls();
        self.harness
            .send(&self.request)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let mut calls = BTreeMap::new();
        for call in self.harness.host.host_calls() {
            *calls.entry(call.name.clone()).or_default() += 1;
        }
        self.harness.host.clear_host_calls();
        calls
    }

    fn dropped(&self) -> u64 {
        self.harness.counter("meshtrace.spans_dropped")
    }
}

fn per_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("filter_request");
    for (name, traceparent) in [("unsampled_baseline", UNSAMPLED), ("sampled", SAMPLED)] {
        let mut bench = Bench::new(traceparent);
        let calls = bench.host_calls_of_one_request();
        let total: usize = calls.values().sum();
        println!("{name}: {total} host calls per request: {calls:?}");
        group.bench_function(name, |b| b.iter(|| black_box(&mut bench).request()));
        bench.flush();
        assert_eq!(
            bench.dropped(),
            0,
            "{name}: spans were dropped; the figure does not count"
        );
    }
    group.finish();
}

/// Holds the group function `criterion_group!` generates, which is `pub`
/// and undocumented, out of the crate's public surface.
mod group {
    criterion::criterion_group!(benches, super::per_request);
}

criterion_main!(group::benches);
