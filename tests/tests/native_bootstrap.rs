//! `meshtrace::init()` against the real OTLP receiver, one child process per
//! scenario.
//!
//! The bootstrap reads `OTEL_*` variables and installs process-wide globals,
//! so every scenario runs in a child: the test re-runs this binary filtered
//! to the ignored [`child`] test, with the scenario's variables set on the
//! child's command (the test process's own environment is never changed).
//! The child calls `init()`, makes spans (plain API spans, a parent with
//! baggage, an `#[instrument]` span inside it), prints what the global
//! propagator injected, and drops the guard inside its runtime. The parent
//! asserts on the receiver and on the child's stdout and stderr.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::{FaultMode, OtlpReceiver, ReceivedSpan};
use meshtrace_tests::capture_server::CaptureServer;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, global};

// === The child ===

/// Set on the child's command: marks the process as a scenario child.
const CHILD: &str = "MESHTRACE_TEST_CHILD";
/// `current` (default), `multi` or `none`: the runtime the child runs in.
const CHILD_RUNTIME: &str = "MESHTRACE_TEST_CHILD_RUNTIME";
/// How many plain spans to make before the parent span (default 2).
const CHILD_SPANS: &str = "MESHTRACE_TEST_CHILD_SPANS";
/// The code-side service name (`Builder::with_service_name`).
const CHILD_SERVICE: &str = "MESHTRACE_TEST_CHILD_SERVICE";
/// A code-side exporter override: `otlp`, `console` or `none`.
const CHILD_EXPORTER: &str = "MESHTRACE_TEST_CHILD_EXPORTER";
/// A code-side protocol override: `grpc` or `http`.
const CHILD_PROTOCOL: &str = "MESHTRACE_TEST_CHILD_PROTOCOL";
/// A code-side endpoint override (`Builder::with_endpoint`).
const CHILD_ENDPOINT: &str = "MESHTRACE_TEST_CHILD_ENDPOINT";
/// When set, the child installs a global `tracing` subscriber before
/// `init()`.
const CHILD_PRESET_SUBSCRIBER: &str = "MESHTRACE_TEST_CHILD_PRESET_SUBSCRIBER";
/// When set, the child calls `with_tracing_subscriber(false)`.
const CHILD_NO_BRIDGE: &str = "MESHTRACE_TEST_CHILD_NO_BRIDGE";
/// `trace`, `debug`, ...: the child calls `with_tracing_level` with it.
const CHILD_TRACING_LEVEL: &str = "MESHTRACE_TEST_CHILD_TRACING_LEVEL";
/// When set (with [`CHILD_EXIT_AFTER_MS`]), the child calls
/// `TelemetryGuard::force_flush` before it sleeps and exits.
const CHILD_FLUSH: &str = "MESHTRACE_TEST_CHILD_FLUSH";
/// When set, the child sleeps this many milliseconds after its spans and
/// exits without dropping the guard (no shutdown flush).
const CHILD_EXIT_AFTER_MS: &str = "MESHTRACE_TEST_CHILD_EXIT_AFTER_MS";

/// The scenario child; does nothing unless [`CHILD`] is set.
#[test]
#[ignore = "run by the other tests of this suite in a child process"]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let flavour = std::env::var(CHILD_RUNTIME).unwrap_or_default();
    match flavour.as_str() {
        "none" => child_scenario(),
        "multi" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the child's runtime: {e}"))
            .block_on(async { child_scenario() }),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the child's runtime: {e}"))
            .block_on(async { child_scenario() }),
    }
}

fn child_scenario() {
    let mut builder = meshtrace::Builder::new();
    if let Ok(name) = std::env::var(CHILD_SERVICE) {
        builder = builder.with_service_name(name);
    }
    if let Ok(exporter) = std::env::var(CHILD_EXPORTER) {
        builder = builder.with_exporter(match exporter.as_str() {
            "console" => meshtrace::bootstrap::ExporterKind::Console,
            "none" => meshtrace::bootstrap::ExporterKind::None,
            _ => meshtrace::bootstrap::ExporterKind::Otlp,
        });
    }
    if let Ok(protocol) = std::env::var(CHILD_PROTOCOL) {
        builder = builder.with_protocol(match protocol.as_str() {
            "grpc" => meshtrace::bootstrap::OtlpProtocol::Grpc,
            _ => meshtrace::bootstrap::OtlpProtocol::HttpProtobuf,
        });
    }
    if let Ok(endpoint) = std::env::var(CHILD_ENDPOINT) {
        builder = builder.with_endpoint(endpoint);
    }
    if std::env::var_os(CHILD_NO_BRIDGE).is_some() {
        builder = builder.with_tracing_subscriber(false);
    }
    if let Ok(level) = std::env::var(CHILD_TRACING_LEVEL) {
        let level = level
            .parse()
            .unwrap_or_else(|e| panic!("{CHILD_TRACING_LEVEL}={level}: {e}"));
        builder = builder.with_tracing_level(level);
    }
    if std::env::var_os(CHILD_PRESET_SUBSCRIBER).is_some() {
        tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())
            .unwrap_or_else(|e| panic!("cannot preset a subscriber: {e}"));
    }
    // The harness's `test child ... ` has no newline yet.
    println!();
    let guard = match builder.init() {
        Ok(guard) => guard,
        Err(e) => {
            println!("CHILD init_error={e}");
            return;
        }
    };
    println!("CHILD enabled={}", guard.is_enabled());

    let spans: usize = std::env::var(CHILD_SPANS)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let tracer = global::tracer("meshtrace-tests");
    for i in 0..spans {
        tracer.in_span(format!("work-{i}"), |_| {});
    }

    let cx = Context::current_with_baggage([KeyValue::new("tenant", "acme")]);
    let parent = tracer.start_with_context("parent", &cx);
    let cx = cx.with_span(parent);
    {
        let _attached = cx.clone().attach();
        bridged();
        debug_bridged();
        export_path_spans();
        let mut carrier = HashMap::new();
        global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
        for (key, value) in carrier.into_iter().collect::<BTreeMap<_, _>>() {
            println!("CHILD inject {key}={value}");
        }
        println!("CHILD parent_span={}", cx.span().span_context().span_id());
    }
    cx.span().end();

    if let Ok(ms) = std::env::var(CHILD_EXIT_AFTER_MS) {
        if std::env::var_os(CHILD_FLUSH).is_some() {
            let started = Instant::now();
            guard
                .force_flush()
                .unwrap_or_else(|e| panic!("force_flush failed: {e}"));
            println!("CHILD flush_ms={}", started.elapsed().as_millis());
        }
        let ms = ms.parse().unwrap_or(1_000);
        std::thread::sleep(Duration::from_millis(ms));
        println!("CHILD exit without shutdown");
        // Skips the guard's drop (and the test harness): no shutdown flush.
        std::process::exit(0);
    }

    let started = Instant::now();
    drop(guard);
    println!("CHILD drop_ms={}", started.elapsed().as_millis());
}

/// A `tracing` span; the bridge exports it as a child of the active span.
#[tracing::instrument]
fn bridged() {
    tracing::info!("inside the bridged span");
}

/// A debug-level `tracing` span: bridged only when the level allows.
#[tracing::instrument(level = "debug")]
fn debug_bridged() {}

/// Spans under the targets of the export path, as h2 (one per frame it
/// writes, at trace level), tonic and the SDK open them: never bridged.
fn export_path_spans() {
    tracing::trace_span!(target: "h2::codec::framed_write", "FramedWrite::buffer").in_scope(|| {});
    tracing::info_span!(target: "tonic::transport::channel", "tonic-export").in_scope(|| {});
    tracing::info_span!(target: "hyper_util::client::legacy", "hyper-connect").in_scope(|| {});
    tracing::info_span!(target: "opentelemetry_sdk::trace", "sdk-export").in_scope(|| {});
}

// === The parent's side ===

/// What a child printed.
#[derive(Debug)]
struct ChildRun {
    stdout: String,
    stderr: String,
}

// === impl ChildRun ===

impl ChildRun {
    /// The headers the child's propagator injected.
    fn injected(&self) -> BTreeMap<String, String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("CHILD inject "))
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// A `CHILD key=value` line's value.
    fn value(&self, key: &str) -> Option<&str> {
        let prefix = format!("CHILD {key}=");
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    /// How long dropping the guard took, in milliseconds.
    fn drop_ms(&self) -> u128 {
        self.value("drop_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the child printed no drop time: {self:#?}"))
    }
}

/// Runs the scenario child with `vars` (and no inherited `OTEL_*`
/// variable); panics with its output if it failed.
fn run_child(vars: &[(&str, String)]) -> ChildRun {
    let exe =
        std::env::current_exe().unwrap_or_else(|e| panic!("cannot find the test binary: {e}"));
    let mut command = Command::new(exe);
    command.args([
        "--exact",
        "child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command.env(CHILD, "1");
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run the child: {e}"));
    let run = ChildRun {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success(),
        "the child failed ({}): {run:#?}",
        output.status
    );
    run
}

/// `vars` plus the endpoint of `receiver` for `protocol`.
fn to_receiver(
    receiver: &OtlpReceiver,
    protocol: Protocol,
    vars: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    let (name, endpoint) = match protocol {
        Protocol::HttpProtobuf => (
            "http/protobuf",
            format!("http://127.0.0.1:{}", receiver.http_port()),
        ),
        Protocol::Grpc => ("grpc", format!("http://127.0.0.1:{}", receiver.grpc_port())),
    };
    let mut all = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", name.to_owned()),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, (*v).to_owned())));
    all
}

/// The names of `spans`, sorted.
fn names(spans: &[ReceivedSpan]) -> Vec<String> {
    let mut names: Vec<_> = spans.iter().map(|s| s.span.name.clone()).collect();
    names.sort();
    names
}

/// The spans a default child makes: `work-0`, `work-1`, `parent`,
/// `bridged`.
const DEFAULT_SPANS: usize = 4;

// === OTEL_EXPORTER_OTLP_PROTOCOL ===

#[test]
fn otlp_protocol_picks_grpc_or_http() {
    for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
        let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
        let run = run_child(&to_receiver(&receiver, protocol, &[]));
        let spans = receiver.spans();
        assert_eq!(
            spans.len(),
            DEFAULT_SPANS,
            "{protocol:?}: {spans:#?} {run:#?}"
        );
        assert!(
            spans.iter().all(|s| s.protocol == protocol),
            "every export over {protocol:?}: {spans:#?}"
        );
    }
}

#[test]
fn otlp_protocol_defaults_to_http_protobuf_and_traces_variable_wins() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    // No protocol variable: OTLP/HTTP, the spec default.
    let endpoint = format!("http://127.0.0.1:{}", receiver.http_port());
    run_child(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.clone())]);
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "{:#?}",
        receiver.spans()
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|s| s.protocol == Protocol::HttpProtobuf)
    );

    // The traces variable wins over the generic one.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let grpc = format!("http://127.0.0.1:{}", receiver.grpc_port());
    run_child(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".to_owned()),
    ]);
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "{:#?}",
        receiver.spans()
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|s| s.protocol == Protocol::Grpc)
    );
}

#[test]
fn otlp_protocol_http_json_warns_and_uses_http_protobuf() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
    ));
    assert!(
        run.stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && run.stderr.contains("http/json"),
        "a warning naming the value: {run:#?}"
    );
    assert_eq!(receiver.span_count(), DEFAULT_SPANS, "{run:#?}");
}

#[test]
fn code_protocol_and_endpoint_beat_the_variables() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let grpc = format!("http://127.0.0.1:{}", receiver.grpc_port());
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_PROTOCOL, "grpc"), (CHILD_ENDPOINT, &grpc)],
    ));
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "{:#?}",
        receiver.spans()
    );
    assert!(
        receiver
            .spans()
            .iter()
            .all(|s| s.protocol == Protocol::Grpc)
    );
}

// === OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ===

#[test]
fn otlp_endpoint_that_is_not_a_url_is_an_init_error() {
    let run = run_child(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url".to_owned())]);
    let error = run
        .value("init_error")
        .unwrap_or_else(|| panic!("{run:#?}"));
    assert!(
        error.contains("http/protobuf"),
        "names the exporter: {error}"
    );
    assert!(error.contains("not a url"), "and the value: {error}");
}

#[test]
fn otlp_endpoint_and_traces_endpoint_name_the_collector() {
    // The generic endpoint is a base URL: `/v1/traces` is appended.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        format!("http://127.0.0.1:{}", receiver.http_port()),
    )]);
    assert_eq!(receiver.span_count(), DEFAULT_SPANS);

    // The traces endpoint is used as is and wins over the generic one,
    // which here points at nothing.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let dead = TcpListener::bind("127.0.0.1:0").expect("bind a port to leave unserved");
    let dead_port = dead.local_addr().expect("its address").port();
    drop(dead);
    run_child(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{dead_port}"),
        ),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            format!("http://127.0.0.1:{}/v1/traces", receiver.http_port()),
        ),
    ]);
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "{:#?}",
        receiver.spans()
    );
}

// === OTEL_SDK_DISABLED ===

#[test]
fn sdk_disabled_exports_and_injects_nothing() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_SDK_DISABLED", "true")],
    ));
    assert_eq!(run.value("enabled"), Some("false"), "{run:#?}");
    assert!(run.injected().is_empty(), "nothing injected: {run:#?}");
    assert_eq!(
        receiver.span_count(),
        0,
        "nothing exported: {:#?}",
        receiver.spans()
    );

    // Any other value leaves the SDK on.
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_SDK_DISABLED", "false")],
    ));
    assert_eq!(run.value("enabled"), Some("true"), "{run:#?}");
    assert_eq!(receiver.span_count(), DEFAULT_SPANS);
}

// === OTEL_PROPAGATORS ===

#[test]
fn propagators_choose_what_is_injected() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    for (value, want, why) in [
        (
            None,
            &["baggage", "traceparent", "tracestate"][..],
            "default tracecontext,baggage",
        ),
        (
            Some("tracecontext,baggage"),
            &["baggage", "traceparent", "tracestate"],
            "both",
        ),
        (
            Some("tracecontext"),
            &["traceparent", "tracestate"],
            "trace context only",
        ),
        (Some("baggage"), &["baggage"], "baggage only"),
        (Some("none"), &[], "none injects nothing"),
    ] {
        let mut vars = vec![];
        if let Some(value) = value {
            vars.push(("OTEL_PROPAGATORS", value));
        }
        let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, &vars));
        let injected = run.injected();
        let keys: Vec<_> = injected.keys().map(String::as_str).collect();
        assert_eq!(keys, want, "{why}: {run:#?}");
        if let Some(baggage) = injected.get("baggage") {
            assert_eq!(baggage, "tenant=acme", "{why}");
        }
        if let Some(traceparent) = injected.get("traceparent") {
            let parent = run.value("parent_span").expect("the parent span id");
            assert!(
                traceparent.contains(parent),
                "{why}: {traceparent} carries {parent}"
            );
        }
    }
}

#[test]
fn propagators_unknown_name_is_a_warning_naming_it() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_PROPAGATORS", "b3multi,tracecontext")],
    ));
    assert!(
        run.stderr.contains("OTEL_PROPAGATORS") && run.stderr.contains("b3multi"),
        "warning on stderr: {run:#?}"
    );
    let keys: Vec<_> = run.injected().into_keys().collect();
    assert_eq!(
        keys,
        ["traceparent", "tracestate"],
        "the known one still applies: {run:#?}"
    );
}

// === OTEL_TRACES_EXPORTER ===

#[test]
fn traces_exporter_otlp_console_none() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_TRACES_EXPORTER", "otlp")],
    ));
    assert_eq!(receiver.span_count(), DEFAULT_SPANS, "otlp exports");

    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_TRACES_EXPORTER", "console")],
    ));
    assert_eq!(receiver.span_count(), 0, "console sends nothing over OTLP");
    for name in ["work-0", "parent", "bridged"] {
        assert!(run.stdout.contains(name), "console prints {name}: {run:#?}");
    }

    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_TRACES_EXPORTER", "none")],
    ));
    assert_eq!(receiver.span_count(), 0, "none exports nothing");
    assert!(
        run.injected().contains_key("traceparent"),
        "but still propagates: {run:#?}"
    );
    assert!(
        !run.stdout.contains("work-0"),
        "and prints nothing: {run:#?}"
    );
}

#[test]
fn traces_exporter_code_override_beats_the_variable() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_TRACES_EXPORTER", "otlp"), (CHILD_EXPORTER, "none")],
    ));
    assert_eq!(receiver.span_count(), 0, "with_exporter(None) wins");
}

// === OTEL_SERVICE_NAME ===

#[test]
fn service_name_variable_wins_over_code() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_SERVICE, "from-code")],
    ));
    let spans = receiver.spans();
    assert!(!spans.is_empty());
    assert!(
        spans.iter().all(|s| s.service_name == "from-code"),
        "code default: {spans:#?}"
    );

    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            (CHILD_SERVICE, "from-code"),
            ("OTEL_SERVICE_NAME", "from-env"),
        ],
    ));
    let spans = receiver.spans();
    assert!(!spans.is_empty());
    assert!(
        spans.iter().all(|s| s.service_name == "from-env"),
        "the variable wins: {spans:#?}"
    );
}

// === OTEL_RESOURCE_ATTRIBUTES ===

#[test]
fn resource_attributes_reach_the_collector() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            (CHILD_SERVICE, "from-code"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test,service.name=from-attributes",
            ),
        ],
    ));
    let spans = receiver.spans();
    assert!(!spans.is_empty());
    for span in &spans {
        let env = span
            .resource_attributes
            .iter()
            .find(|kv| kv.key == "deployment.environment.name")
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value));
        assert_eq!(
            env.as_deref(),
            Some("Some(StringValue(\"test\"))"),
            "{span:#?}"
        );
        assert_eq!(
            span.service_name, "from-attributes",
            "service.name there also wins over code"
        );
    }
}

// === OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG ===

#[test]
fn sampler_variables_change_what_is_exported() {
    for (sampler, arg, want, flags, why) in [
        (
            "always_on",
            None,
            DEFAULT_SPANS,
            "01",
            "always_on exports all",
        ),
        ("always_off", None, 0, "00", "always_off exports nothing"),
        (
            "traceidratio",
            Some("0.0"),
            0,
            "00",
            "ratio 0 exports nothing",
        ),
        (
            "traceidratio",
            Some("1.0"),
            DEFAULT_SPANS,
            "01",
            "ratio 1 exports all",
        ),
        ("parentbased_always_off", None, 0, "00", "no parent: off"),
    ] {
        let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
        let mut vars = vec![("OTEL_TRACES_SAMPLER", sampler)];
        if let Some(arg) = arg {
            vars.push(("OTEL_TRACES_SAMPLER_ARG", arg));
        }
        let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, &vars));
        assert_eq!(
            receiver.span_count(),
            want,
            "{why}: {:#?}",
            receiver.spans()
        );
        let traceparent = run.injected().remove("traceparent").unwrap_or_default();
        assert!(
            traceparent.ends_with(flags),
            "{why}: sampled flag of {traceparent:?}"
        );
    }
}

// === OTEL_BSP_* ===

#[test]
fn bsp_schedule_delay_exports_before_shutdown() {
    // The child exits 1.5 s after its spans without a shutdown flush: only
    // a scheduled export gets them out.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            (CHILD_EXIT_AFTER_MS, "1500"),
        ],
    ));
    assert_eq!(
        receiver.span_count(),
        DEFAULT_SPANS,
        "100 ms delay: exported while running"
    );

    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_EXIT_AFTER_MS, "1500"),
        ],
    ));
    assert_eq!(
        receiver.span_count(),
        0,
        "60 s delay: nothing exported before the exit"
    );
}

#[test]
fn bsp_max_queue_size_drops_the_overflow() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "5"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_SPANS, "100"),
        ],
    ));
    // 5 queued plus what the processor exported while the loop ran (one
    // batch of 5 here); the rest is dropped.
    let got = receiver.span_count();
    assert!(
        (5..=50).contains(&got),
        "a queue of 5 keeps few of 102 spans, got {got}"
    );

    // The default queue (2048) keeps them all.
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[("OTEL_BSP_SCHEDULE_DELAY", "60000"), (CHILD_SPANS, "100")],
    ));
    assert_eq!(receiver.span_count(), 102);
}

#[test]
fn bsp_max_export_batch_size_caps_each_export() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
            ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
            (CHILD_SPANS, "100"),
        ],
    ));
    let sizes: Vec<usize> = receiver
        .requests()
        .iter()
        .map(|r| {
            r.request
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum()
        })
        .collect();
    assert_eq!(
        sizes.iter().sum::<usize>(),
        102,
        "every span exported: {sizes:?}"
    );
    assert!(
        sizes.iter().all(|n| *n <= 10),
        "batches of at most 10: {sizes:?}"
    );
    assert!(sizes.len() >= 11, "102 spans need 11 batches: {sizes:?}");
}

// === OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_COMPRESSION ===
//
// The OTLP receiver does not expose request headers and does not decode
// gzip bodies, so these use a capture server that records each request.

#[test]
fn otlp_headers_are_sent_with_every_export() {
    let capture = CaptureServer::start();
    run_child(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-api-key=secret,x-tenant=acme".to_owned(),
        ),
    ]);
    capture.assert_every_request_has(&[("x-api-key", "secret"), ("x-tenant", "acme")]);
}

#[test]
fn otlp_compression_gzip_compresses_the_body() {
    let capture = CaptureServer::start();
    run_child(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
    ]);
    for request in capture.assert_every_request_has(&[("content-encoding", "gzip")]) {
        assert!(request.body.starts_with(&[0x1f, 0x8b]), "a gzip stream");
    }

    let capture = CaptureServer::start();
    run_child(&[("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url())]);
    let requests = capture.requests();
    assert!(!requests.is_empty());
    assert!(
        requests
            .iter()
            .all(|r| !r.headers.contains_key("content-encoding")),
        "uncompressed by default"
    );
}

#[test]
fn traces_specific_headers_and_compression_variables_apply() {
    let capture = CaptureServer::start();
    run_child(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", capture.url()),
        (
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "x-trace-key=t1".to_owned(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip".to_owned()),
    ]);
    capture.assert_every_request_has(&[("x-trace-key", "t1"), ("content-encoding", "gzip")]);
}

// === OTEL_EXPORTER_OTLP_TIMEOUT ===

/// Runs a child against a receiver that stalls every export for 30 s and
/// returns how long dropping the guard took; asserts the export reached it.
fn drop_ms_against_stalled_collector(vars: &[(&'static str, &str)]) -> u128 {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    receiver.set_mode(FaultMode::Stall(Duration::from_secs(30)));
    let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, vars));
    assert!(
        receiver.export_attempts().stalled >= 1,
        "the export reached the receiver"
    );
    run.drop_ms()
}

#[test]
fn otlp_timeout_bounds_an_export_to_a_stalled_collector() {
    let ms = drop_ms_against_stalled_collector(&[("OTEL_EXPORTER_OTLP_TIMEOUT", "300")]);
    assert!(ms < 3_000, "300 ms export timeout, drop took {ms} ms");

    // The traces-specific variable does the same.
    let ms = drop_ms_against_stalled_collector(&[("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300")]);
    assert!(
        ms < 3_000,
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=300, drop took {ms} ms"
    );

    // Without it the export waits (default 10 s) until the guard's 5 s
    // shutdown bound gives up.
    let ms = drop_ms_against_stalled_collector(&[]);
    assert!(
        (4_000..8_000).contains(&ms),
        "bounded by the 5 s shutdown timeout, drop took {ms} ms"
    );
}

// === OTEL_BSP_EXPORT_TIMEOUT ===

#[test]
fn bsp_export_timeout_bounds_one_export() {
    // The OTLP exporter's own timeout is long (10 s); the batch export
    // timeout of 300 ms ends the stalled export first.
    let ms = drop_ms_against_stalled_collector(&[("OTEL_BSP_EXPORT_TIMEOUT", "300")]);
    assert!(ms < 3_000, "300 ms batch export timeout, drop took {ms} ms");
}

// === Shutdown ===

#[test]
fn shutdown_flushes_every_span_on_both_runtime_flavours() {
    for flavour in ["current", "multi", "none"] {
        for protocol in [Protocol::Grpc, Protocol::HttpProtobuf] {
            let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
            // The default 5 s schedule delay: only the drop's flush exports.
            let run = run_child(&to_receiver(
                &receiver,
                protocol,
                &[(CHILD_RUNTIME, flavour), (CHILD_SPANS, "50")],
            ));
            let why = format!("{flavour} runtime, {protocol:?}");
            assert_eq!(receiver.span_count(), 52, "{why}: {run:#?}");
            assert!(
                run.drop_ms() < 5_000,
                "{why}: the drop took {} ms",
                run.drop_ms()
            );
        }
    }
}

#[test]
fn force_flush_exports_without_shutdown_on_both_runtime_flavours() {
    for flavour in ["current", "multi"] {
        let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
        // A 60 s schedule delay and an exit without the guard's drop: only
        // the explicit flush exports.
        let run = run_child(&to_receiver(
            &receiver,
            Protocol::Grpc,
            &[
                (CHILD_RUNTIME, flavour),
                ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
                (CHILD_FLUSH, "1"),
                (CHILD_EXIT_AFTER_MS, "0"),
            ],
        ));
        assert_eq!(receiver.span_count(), DEFAULT_SPANS, "{flavour}: {run:#?}");
    }
}

#[test]
fn tracing_bridge_can_be_turned_off() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_NO_BRIDGE, "1")],
    ));
    assert_eq!(names(&receiver.spans()), ["parent", "work-0", "work-1"]);
}

#[test]
fn tracing_bridge_exports_info_spans_by_default_and_more_when_asked() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, &[]));
    assert_eq!(
        names(&receiver.spans()),
        ["bridged", "parent", "work-0", "work-1"],
        "debug spans stay out by default"
    );

    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_TRACING_LEVEL, "debug")],
    ));
    assert_eq!(
        names(&receiver.spans()),
        ["bridged", "debug_bridged", "parent", "work-0", "work-1"]
    );
}

/// At `trace`, the export path's own `tracing` spans (h2 opens one per
/// frame) must not be bridged: in a process that also serves gRPC or
/// HTTP/2, each export would make more of them, without end. Small
/// batches make many exports while the child still has spans to send.
#[test]
fn tracing_bridge_never_exports_the_export_path_itself() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::Grpc,
        &[
            (CHILD_TRACING_LEVEL, "trace"),
            (CHILD_SPANS, "400"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
            ("OTEL_BSP_SCHEDULE_DELAY", "5"),
        ],
    ));
    let spans = receiver.spans();
    let foreign: Vec<_> = names(&spans)
        .into_iter()
        .filter(|n| {
            !n.starts_with("work-") && !["parent", "bridged", "debug_bridged"].contains(&n.as_str())
        })
        .collect();
    assert!(
        foreign.is_empty(),
        "spans from the export path: {foreign:?} {run:#?}"
    );
    assert_eq!(spans.len(), 400 + 3, "every span of the child, once");
}

#[test]
fn existing_tracing_subscriber_is_kept_with_a_warning() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_PRESET_SUBSCRIBER, "1")],
    ));
    assert!(
        run.stderr.contains("subscriber is already set"),
        "warned: {run:#?}"
    );
    assert_eq!(
        names(&receiver.spans()),
        ["parent", "work-0", "work-1"],
        "the API spans still export"
    );
}

#[test]
fn instrument_spans_join_the_trace() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, &[]));
    let spans = receiver.spans();
    assert_eq!(
        names(&spans),
        ["bridged", "parent", "work-0", "work-1"],
        "{run:#?}"
    );
    let parent = spans
        .iter()
        .find(|s| s.span.name == "parent")
        .expect("parent");
    let bridged = spans
        .iter()
        .find(|s| s.span.name == "bridged")
        .expect("bridged");
    assert_eq!(bridged.trace_id(), parent.trace_id(), "same trace");
    assert_eq!(
        bridged.parent_span_id(),
        parent.span_id(),
        "child of the active span"
    );
}
