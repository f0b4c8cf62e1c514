//! The demo in quick mode, end to end: real nats-server, real Envoys with
//! the built filter, the seven service processes. CI fails when any hop of
//! the revenue flow breaks.
//!
//! Needs the tools `cargo xtask test` provides (MESHTRACE_ENVOY,
//! MESHTRACE_NATS_SERVER, MESHTRACE_FILTER_WASM, or the `.tools/` and
//! `target/` defaults); a missing one panics with the fix, never skips.

use std::path::PathBuf;
use std::process::Command;

use meshtrace_demo::check::FLOW;
use meshtrace_demo::record::Kind;
use meshtrace_demo::services::Service;
use meshtrace_demo::{DemoOptions, run};

const BINARY: &str = env!("CARGO_BIN_EXE_meshtrace-demo");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_demo_is_one_trace_through_every_hop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let svg_path = dir.path().join("trace.svg");
    let options = DemoOptions {
        quick: true,
        svg: Some(svg_path.clone()),
        service_binary: PathBuf::from(BINARY),
        color: false,
    };
    let report = run(&options)
        .await
        .unwrap_or_else(|e| panic!("the demo failed: {e}"));

    let verified = report.verified.expect("checked at the embedded receiver");
    assert_eq!(verified.trace_id, report.trace_id);
    assert_eq!(verified.spans.len(), FLOW.len(), "every expected hop");
    let span_of = |id: &str| {
        verified
            .spans
            .iter()
            .find(|(e, _)| e.id == id)
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no {id} span"))
    };
    // The async hops, spelled out: each consumer is its producer's child;
    // and the LLM provider hop: llm-gateway's TracedClient → its outbound
    // sidecar → llm-provider.
    for (child, parent) in [
        ("pipeline", "tap-send"),
        ("ensemble", "pipeline-send"),
        ("meter", "usage-send"),
        ("llm-sidecar", "ensemble-sidecar"),
        ("identity", "gateway"),
        ("llm-gateway-call", "llm-gateway"),
        ("llm-gateway-sidecar-out", "llm-gateway-call"),
        ("llm-provider", "llm-gateway-sidecar-out"),
    ] {
        assert_eq!(
            span_of(child).parent_span_id,
            span_of(parent).span_id,
            "{child} is a child of {parent}"
        );
    }
    assert!(
        span_of("gateway").parent_span_id.is_empty(),
        "the gateway starts the trace"
    );
    assert_eq!(span_of("meter").kind, Kind::Consumer);
    assert_eq!(span_of("llm-provider").kind, Kind::Server);
    assert!(
        span_of("llm-gateway-sidecar-out").proxy,
        "the outbound sidecar's span"
    );

    let tree = report.tree.expect("drawn");
    assert!(tree.rows.iter().all(|r| r.span.trace_id == report.trace_id));
    assert!(
        tree.rows.iter().all(|r| !r.orphan),
        "no span lost its parent"
    );
    // The services that report spans themselves (with the `meshtrace`
    // crate), and the gateway's Envoy.
    let own = Service::ALL.map(Service::name);
    let services = tree.services();
    for service in own.iter().chain(&["gateway"]) {
        assert!(services.contains(service), "{service} in {services:?}");
    }
    assert!(report.tokens > 0, "meter recorded the usage");

    let svg = std::fs::read_to_string(&svg_path).expect("the SVG was written");
    assert!(svg.starts_with("<svg"), "an SVG document");
    for service in own {
        assert!(svg.contains(service), "{service} drawn in the SVG");
    }
    assert_eq!(
        svg.matches("<title>").count(),
        tree.rows.len(),
        "one bar per span"
    );
}

#[test]
fn bad_command_lines_exit_2_with_the_usage() {
    let out = Command::new(BINARY).arg("--fast").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unexpected argument `--fast`"), "{stderr}");
    assert!(stderr.contains("usage: meshtrace-demo"), "{stderr}");
}
