//! The revenue flow in containers: `envoy/compose.yaml`, the very file
//! users get, brought up with the container engine `cargo xtask setup`
//! provides (podman and podman-compose here, Docker where a user has it),
//! one request sent through the gateway, and the one trace checked hop by
//! hop with the demo's own check.
//!
//! Every image is built locally first (`meshtrace_harness::container::
//! images`): Envoy and nats-server from the pinned binaries, the services
//! and `trace-viewer` from this crate's binaries. The user's file names
//! Jaeger as the backend, which cannot be built here: a small override
//! (written per run) puts `trace-viewer` under the same service name,
//! writing each trace as JSON lines into a directory the test reads.
//!
//! Each run is its own compose project (`-p mt-flow-<pid>-<n>`); the guard
//! removes its containers, networks and volumes, on failure too, and the
//! tests check that nothing is left.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use meshtrace_demo::check::{FLOW, check};
use meshtrace_demo::record::SpanRecord;
use meshtrace_harness::container::images::{self, Sources};
use meshtrace_harness::container::{self, ComposeProject, Engine};
use meshtrace_harness::tools;
use tokio::sync::Mutex;

const DEMO: &str = env!("CARGO_BIN_EXE_meshtrace-demo");
const TRACE_VIEWER: &str = env!("CARGO_BIN_EXE_trace-viewer");

/// The gateway's published edge port in `envoy/compose.yaml`.
const EDGE: &str = "http://127.0.0.1:10000/events";
/// The body and credentials the demo sends.
const REQUEST_BODY: &str = r#"{"account":"acme","amount_cents":4200}"#;
const BEARER: &str = "Bearer demo-token";

/// How long the flow may take to come up and to deliver its trace.
const UP: Duration = Duration::from_secs(90);
const TRACE: Duration = Duration::from_secs(60);
/// How long a run that is meant to fail waits for the span that never
/// comes (a good trace is complete within a few seconds).
const BROKEN_TRACE: Duration = Duration::from_secs(15);

/// One compose project at a time: the user's file publishes fixed ports.
static COMPOSE: Mutex<()> = Mutex::const_new(());

fn engine() -> Engine {
    Engine::from_env().unwrap_or_else(|e| panic!("the container suite needs an engine: {e}"))
}

/// Builds the images `envoy/compose.yaml` names (idempotent, cached by the
/// engine's layer cache).
fn build_images(engine: &Engine) {
    let envoy = tools::envoy_binary().unwrap_or_else(|e| panic!("{e}"));
    let nats_server = tools::nats_server_binary().unwrap_or_else(|e| panic!("{e}"));
    tools::filter_wasm().unwrap_or_else(|e| panic!("the compose file mounts the module: {e}"));
    // The file mounts `../target/...` from `envoy/`, whatever
    // `CARGO_TARGET_DIR` says; a missing source becomes an empty directory
    // under podman, and Envoy then fails to load the filter.
    let mounted =
        tools::workspace_root().join("target/wasm32-wasip1/wasm-release/meshtrace_filter.wasm");
    assert!(
        mounted.is_file(),
        "envoy/compose.yaml mounts {}; build it with `cargo xtask build-filter` \
         (with CARGO_TARGET_DIR unset)",
        mounted.display()
    );
    images::build_all(
        engine,
        Sources {
            envoy: &envoy,
            nats_server: &nats_server,
            demo: Path::new(DEMO),
            trace_viewer: Path::new(TRACE_VIEWER),
        },
    )
    .unwrap_or_else(|e| panic!("building the images: {e}"));
}

/// The shipped compose file.
fn compose_file() -> PathBuf {
    tools::workspace_root().join("envoy/compose.yaml")
}

/// The test override: `trace-viewer` in place of Jaeger, its traces in
/// `traces`; `extra` is appended under `services:`.
fn write_override(dir: &Path, traces: &Path, extra: &str) -> PathBuf {
    let path = dir.join("compose.test.yaml");
    let text = format!(
        "# Written by demo/tests/container_flow.rs: the project's receiver in\n\
         # place of Jaeger, which is not built here.\n\
         services:\n\
         \x20 jaeger:\n\
         \x20   image: meshtrace-demo:dev\n\
         \x20   command: [\"trace-viewer\", \"--listen\", \"0.0.0.0\", \"--json-dir\", \"/traces\", \"--idle-ms\", \"800\"]\n\
         \x20   volumes:\n\
         \x20     - {}:/traces\n{extra}",
        traces.display()
    );
    std::fs::write(&path, text).expect("write the override");
    path
}

fn project_name() -> String {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("mt-flow-{}-{n}", std::process::id())
}

/// Sends the demo's request until the flow answers 202; returns tap's trace
/// id.
async fn send_request(project: &ComposeProject) -> String {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + UP;
    let mut last = String::new();
    while Instant::now() < deadline {
        let response = client
            .post(EDGE)
            .header(reqwest::header::AUTHORIZATION, BEARER)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(REQUEST_BODY)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        match response {
            Ok(r) if r.status().as_u16() == 202 => {
                let bytes = r.bytes().await.expect("tap's answer");
                let body: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("tap answers JSON");
                let trace = body["trace_id"].as_str().unwrap_or_default().to_owned();
                assert_eq!(trace.len(), 32, "tap's answer names its trace: {body}");
                return trace;
            }
            Ok(r) => last = format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => last = error_chain(&e),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!(
        "the flow did not answer 202 within {UP:?} (last: {last})\n\
         NAT rules for the edge port (a stale one points at a dead container):\n{}\n{}",
        container::nat_rules_naming("--dport 10000").join("\n"),
        project.logs()
    );
}

/// `e` and its sources, so a failure says whether the edge port refused,
/// reset or timed out.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads trace `trace` from `traces` until the demo's check passes;
/// returns the spans, or the last check failure.
async fn wait_trace(
    traces: &Path,
    trace: &str,
    patience: Duration,
) -> Result<Vec<SpanRecord>, String> {
    let path = traces.join(format!("{trace}.json"));
    let deadline = Instant::now() + patience;
    let mut last = format!("no {} yet", path.display());
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(&path) {
            let spans = SpanRecord::all_from_json_lines(&text).map_err(|e| e.to_string())?;
            match check(&FLOW, trace, &spans) {
                Ok(_) => return Ok(spans),
                Err(errors) => {
                    last = errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(last)
}

fn assert_nothing_left(engine: &Engine, name: &str) {
    let left = engine.leftovers(name).expect("list what is left");
    assert!(left.is_empty(), "project {name} left {left:?}");
}

/// What one run of the flow produced.
struct Run {
    trace: String,
    /// The spans of the trace, or the broken hops and the logs.
    checked: Result<Vec<SpanRecord>, String>,
    seconds: f64,
}

/// Brings the shipped file up with the test override plus `extra` (YAML
/// under `services:`), sends a warm-up request and the checked one, and
/// takes everything down; asserts nothing is left.
async fn run_flow(engine: &Engine, extra: &str, patience: Duration) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let traces = dir.path().join("traces");
    std::fs::create_dir_all(&traces).expect("traces dir");
    let override_file = write_override(dir.path(), &traces, extra);
    let name = project_name();
    let started = Instant::now();
    let run = {
        let project = engine.compose_project(
            &name,
            &[&compose_file(), &override_file],
            &tools::workspace_root(),
        );
        project
            .up()
            .unwrap_or_else(|e| panic!("compose up: {e}\n{}", project.logs()));
        // A first request warms the flow up: the Envoys' STRICT_DNS
        // clusters resolve the other containers once they exist, and a
        // request before that is answered 503 and retried by JetStream,
        // which a trace shows as a second attempt.
        let warm_up = send_request(&project).await;
        let _ = wait_trace(&traces, &warm_up, patience).await;
        let trace = send_request(&project).await;
        let checked = wait_trace(&traces, &trace, patience)
            .await
            .map_err(|hops| format!("{hops}\n{}", project.logs()));
        Run {
            trace,
            checked,
            seconds: started.elapsed().as_secs_f64(),
        }
    };
    assert_nothing_left(engine, &name);
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_compose_file_runs_the_revenue_flow_as_one_trace() {
    let _one = COMPOSE.lock().await;
    let engine = engine();
    build_images(&engine);
    let run = run_flow(&engine, "", TRACE).await;
    let trace = &run.trace;
    let spans = run
        .checked
        .unwrap_or_else(|hops| panic!("trace {trace} is broken:\n{hops}"));
    let in_trace: Vec<&SpanRecord> = spans.iter().filter(|s| &s.trace_id == trace).collect();
    let mut services: Vec<&str> = in_trace.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    assert!(
        in_trace.len() >= 16 && services.len() >= 8,
        "one trace of at least 16 spans over 8 services, got {} over {services:?}",
        in_trace.len()
    );
    assert!(
        services.contains(&"llm-provider"),
        "the LLM provider is in the trace: {services:?}"
    );
    println!(
        "container flow: trace {trace}, {} spans over {} services ({}), {:.1} s up to down",
        in_trace.len(),
        services.len(),
        services.join(", "),
        run.seconds
    );
}

/// A container whose spans never arrive (llm-provider with its SDK off)
/// fails the check, naming its hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_container_span_fails_naming_the_hop() {
    let _one = COMPOSE.lock().await;
    let engine = engine();
    build_images(&engine);
    let run = run_flow(
        &engine,
        "\x20 llm-provider:\n\x20   environment:\n\x20     OTEL_SDK_DISABLED: \"true\"\n",
        BROKEN_TRACE,
    )
    .await;
    let hops = match run.checked {
        Ok(_) => panic!("the check passed without llm-provider's span"),
        Err(hops) => hops,
    };
    assert!(
        hops.contains("hop llm-gateway sidecar → llm-provider (HTTP, outside the mesh)"),
        "the failure names the provider's hop:\n{hops}"
    );
}

/// A run that fails half way (here: a panic right after `up`) still takes
/// everything down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_leaves_nothing_behind() {
    let _one = COMPOSE.lock().await;
    let engine = engine();
    build_images(&engine);
    let dir = tempfile::tempdir().expect("temp dir");
    let traces = dir.path().join("traces");
    std::fs::create_dir_all(&traces).expect("traces dir");
    let override_file = write_override(dir.path(), &traces, "");
    let name = project_name();
    let files = [compose_file(), override_file];
    let root = tools::workspace_root();
    let outcome = std::panic::catch_unwind(|| {
        let project =
            engine.compose_project(&name, &[files[0].as_path(), files[1].as_path()], &root);
        project.up().expect("compose up");
        let left = engine.leftovers(&name).expect("list");
        assert!(!left.containers.is_empty(), "the project is up");
        panic!("a test failing with the project up");
    });
    assert!(outcome.is_err(), "the run failed");
    assert_nothing_left(&engine, &name);
}
