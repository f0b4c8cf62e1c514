//! Fail-open under collector faults, and several Envoy workers, with the
//! shipped sidecar config in a real Envoy 1.40.
//!
//! Each fault scenario sends 1,000 requests through the inbound listener
//! and checks that every one succeeds, that the filter's failure counters
//! rise, that no Wasm VM fails, and that Envoy's memory stays bounded by the
//! span queue cap (RSS before and after is printed: run with `--nocapture`).

use std::time::Duration;

use meshtrace_harness::envoy::shipped::SidecarPorts;
use meshtrace_harness::envoy::{EnvoyOptions, EnvoyProcess};
use meshtrace_harness::filter_config::FilterConfig;
use meshtrace_harness::http_client::HttpClient;
use meshtrace_harness::otlp::{FaultMode, OtlpReceiver};
use meshtrace_harness::ports::free_port;
use meshtrace_tests::mesh::{FilterTweaks, render_sidecar};
use meshtrace_tests::services::RecordingApp;
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

const REQUESTS: usize = 1_000;
const CONNECTIONS: usize = 8;

/// Small bounds so the queue cap is reached within 1,000 requests.
fn bounded(config: FilterConfig) -> FilterConfig {
    config
        .with_max_spans(50)
        .with_max_queued_spans(200)
        .with_max_in_flight(2)
        .with_flush_interval_ms(100)
}

/// The shipped collector cluster's endpoint, removed for "no endpoint".
const COLLECTOR_ENDPOINT: &str = "      cluster_name: otel_collector
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address: { address: 127.0.0.1, port_value: 4318 }";

struct Sidecar {
    envoy: EnvoyProcess,
    inbound: u16,
    _app: RecordingApp,
}

async fn sidecar(
    receiver: &OtlpReceiver,
    tweaks: &FilterTweaks,
    extra: &[(&str, String)],
    concurrency: u32,
) -> Sidecar {
    let app = RecordingApp::start("app", None).await;
    let inbound = free_port().expect("free port");
    let yaml = render_sidecar(
        "app",
        SidecarPorts {
            inbound,
            outbound: free_port().expect("free port"),
            app: app.port(),
            upstream: free_port().expect("free port"),
        },
        receiver,
        tweaks,
        extra,
    )
    .expect("render sidecar");
    let envoy = EnvoyProcess::start(&yaml, EnvoyOptions::default().with_concurrency(concurrency))
        .expect("sidecar starts");
    Sidecar {
        envoy,
        inbound,
        _app: app,
    }
}

/// Sends `n` GETs over `connections` keep-alive connections; returns the
/// statuses that were not 200.
async fn load(port: u16, n: usize, connections: usize) -> Vec<u16> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        tasks.push(tokio::spawn(async move {
            let client = HttpClient::new().with_timeout(Duration::from_secs(10));
            let mut bad = Vec::new();
            for i in (c..n).step_by(connections) {
                match client.get(port, &format!("/r{i}"), &[]).await {
                    Ok(resp) if resp.status == 200 => {}
                    Ok(resp) => bad.push(resp.status),
                    Err(_) => bad.push(0),
                }
            }
            bad
        }));
    }
    let mut bad = Vec::new();
    for t in tasks {
        bad.extend(t.await.expect("load task"));
    }
    bad
}

fn counter(envoy: &EnvoyProcess, name: &str) -> u64 {
    envoy
        .stat(&format!("wasmcustom.meshtrace.{name}"))
        .expect("stats")
        .unwrap_or(0)
}

async fn fail_open(
    scenario: &str,
    mode: FaultMode,
    tweaks: FilterTweaks,
    extra: &[(&str, String)],
) {
    let _serial = SERIAL.lock().await;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    receiver.set_mode(mode);
    let side = sidecar(&receiver, &tweaks.with(bounded), extra, 1).await;
    let envoy = &side.envoy;

    // Warm up (VM, connections, allocator) before the baseline.
    assert!(
        load(side.inbound, 100, CONNECTIONS).await.is_empty(),
        "{scenario}: warm-up"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let vms_before = envoy
        .stat("wasm.envoy.wasm.runtime.v8.active")
        .expect("stats");
    let rss_before = envoy.rss_kib().expect("rss");

    let bad = load(side.inbound, REQUESTS, CONNECTIONS).await;
    assert!(
        bad.is_empty(),
        "{scenario}: every request succeeds, failures: {bad:?}"
    );

    // Let in-flight exports fail (timeouts are 200 ms here).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rss_after = envoy.rss_kib().expect("rss");
    let started = counter(envoy, "spans_started");
    let failures = counter(envoy, "export_failures");
    let dropped = counter(envoy, "spans_dropped");
    let exported = counter(envoy, "spans_exported");
    println!(
        "{scenario}: {REQUESTS} requests ok; spans started {started}, exported {exported}, \
         dropped {dropped}; export failures {failures}; Envoy RSS {rss_before} KiB before, \
         {rss_after} KiB after"
    );
    assert_eq!(
        started as usize,
        REQUESTS + 100,
        "{scenario}: one span per request"
    );
    assert!(failures > 0, "{scenario}: export failures are counted");
    assert!(dropped > 0, "{scenario}: lost spans are counted");
    assert_eq!(exported, 0, "{scenario}: nothing reached a collector");
    assert_eq!(
        envoy
            .stat("wasm.envoy.wasm.runtime.v8.active")
            .expect("stats"),
        vms_before,
        "{scenario}: no Wasm VM was lost"
    );
    let log = envoy.log();
    for sign in ["panicked", "Wasm VM failed", "wasm log meshtrace: critical"] {
        assert!(
            !log.contains(sign),
            "{scenario}: Envoy log shows {sign:?}:\n{log}"
        );
    }
    assert!(envoy.is_running(), "{scenario}: Envoy still runs");
    // The queue holds at most 200 spans of well under 1 KiB: growth beyond a
    // few MiB would mean the bound leaks.
    assert!(
        rss_after < rss_before + 16 * 1024,
        "{scenario}: RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_when_the_collector_cluster_has_no_endpoint() {
    let no_endpoint = [(
        COLLECTOR_ENDPOINT,
        // The comment keeps the port text the renderer substitutes.
        "      cluster_name: otel_collector\n      endpoints: [] # removed: address: 127.0.0.1, port_value: 4318 }"
            .to_owned(),
    )];
    fail_open(
        "no endpoint",
        FaultMode::Normal,
        FilterTweaks::http(),
        &no_endpoint,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_when_the_collector_answers_503() {
    fail_open(
        "collector 503",
        FaultMode::Unavailable,
        FilterTweaks::http(),
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_when_the_collector_stalls_past_the_timeout() {
    let tweaks = FilterTweaks::http().with(|c| c.with_collector_timeout_ms(200));
    fail_open(
        "collector stalls",
        FaultMode::Stall(Duration::from_secs(3)),
        tweaks,
        &[],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_both_workers_are_all_exported() {
    let _serial = SERIAL.lock().await;
    let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
    let side = sidecar(&receiver, &FilterTweaks::http(), &[], 2).await;
    let n = 400;
    // Many connections so the kernel spreads them over both workers.
    let bad = load(side.inbound, n, 32).await;
    assert!(bad.is_empty(), "failures: {bad:?}");
    let spans = receiver.wait_for_spans(n, Duration::from_secs(10)).await;
    assert_eq!(spans.len(), n, "every span exported");
    let mut ids: Vec<String> = spans.iter().map(|s| s.span_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "distinct spans");

    let stats = side.envoy.stats().expect("stats");
    let per_worker = |w: u32| -> u64 {
        stats
            .iter()
            .filter(|(k, _)| {
                k.starts_with("listener.127.0.0.1_")
                    && k.ends_with(&format!("worker_{w}.downstream_cx_total"))
            })
            .map(|(_, v)| *v)
            .sum()
    };
    let (w0, w1) = (per_worker(0), per_worker(1));
    println!("connections per worker: worker_0 {w0}, worker_1 {w1}");
    assert!(
        w0 > 0 && w1 > 0,
        "both workers handled traffic: {w0} / {w1}"
    );
    assert_eq!(counter(&side.envoy, "spans_exported") as usize, n);
}
