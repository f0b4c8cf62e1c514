//! The scenario child: what runs in the child process, configured by the
//! `MESHTRACE_TEST_CHILD_*` variables the parent sets on its command.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, global};

use crate::custom::{DropNamed, Recorded, Recorder};

/// Set on the child's command: marks the process as a scenario child.
pub(crate) const CHILD: &str = "MESHTRACE_TEST_CHILD";
/// `current` (default), `multi` or `none`: the runtime the child runs in.
pub(crate) const CHILD_RUNTIME: &str = "MESHTRACE_TEST_CHILD_RUNTIME";
/// How many plain spans to make before the parent span (default 2).
pub(crate) const CHILD_SPANS: &str = "MESHTRACE_TEST_CHILD_SPANS";
/// The code-side service name (`Builder::with_service_name`).
pub(crate) const CHILD_SERVICE: &str = "MESHTRACE_TEST_CHILD_SERVICE";
/// A code-side exporter override: `otlp`, `console` or `none`.
pub(crate) const CHILD_EXPORTER: &str = "MESHTRACE_TEST_CHILD_EXPORTER";
/// A code-side protocol override: `grpc` or `http`.
pub(crate) const CHILD_PROTOCOL: &str = "MESHTRACE_TEST_CHILD_PROTOCOL";
/// A code-side endpoint override (`Builder::with_endpoint`).
pub(crate) const CHILD_ENDPOINT: &str = "MESHTRACE_TEST_CHILD_ENDPOINT";
/// A span name: the child calls `with_sampler` with a [`DropNamed`]
/// sampler that drops spans of that name.
pub(crate) const CHILD_SAMPLER_DROP: &str = "MESHTRACE_TEST_CHILD_SAMPLER_DROP";
/// `key=value,...`: the child calls `with_resource_attributes` with them.
pub(crate) const CHILD_RESOURCE: &str = "MESHTRACE_TEST_CHILD_RESOURCE";
/// When set, the child calls `with_span_processor` with a [`Recorder`] and
/// prints what it recorded after dropping the guard (`processor_started`,
/// `processor_ended`, `processor_service`, `processor_shut_down`).
pub(crate) const CHILD_PROCESSOR: &str = "MESHTRACE_TEST_CHILD_PROCESSOR";
/// When set, the child installs a global `tracing` subscriber before
/// `init()`.
pub(crate) const CHILD_PRESET_SUBSCRIBER: &str = "MESHTRACE_TEST_CHILD_PRESET_SUBSCRIBER";
/// When set, the child calls `with_tracing_subscriber(false)`.
pub(crate) const CHILD_NO_BRIDGE: &str = "MESHTRACE_TEST_CHILD_NO_BRIDGE";
/// `trace`, `debug`, ...: the child calls `with_tracing_level` with it.
pub(crate) const CHILD_TRACING_LEVEL: &str = "MESHTRACE_TEST_CHILD_TRACING_LEVEL";
/// When set (with [`CHILD_EXIT_AFTER_MS`]), the child calls
/// `TelemetryGuard::force_flush` before it sleeps and exits.
pub(crate) const CHILD_FLUSH: &str = "MESHTRACE_TEST_CHILD_FLUSH";
/// When set, the child sleeps this many milliseconds after its spans and
/// exits without dropping the guard (no shutdown flush).
pub(crate) const CHILD_EXIT_AFTER_MS: &str = "MESHTRACE_TEST_CHILD_EXIT_AFTER_MS";

/// The harness name of [`child`], which the parent runs with `--exact`.
pub(crate) const CHILD_TEST: &str = "child::child";

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
    if let Ok(name) = std::env::var(CHILD_SAMPLER_DROP) {
        builder = builder.with_sampler(DropNamed(name));
    }
    if let Ok(attributes) = std::env::var(CHILD_RESOURCE) {
        builder = builder.with_resource_attributes(
            attributes
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| KeyValue::new(k.to_owned(), v.to_owned())),
        );
    }
    let recorded = Arc::new(Mutex::new(Recorded::default()));
    if std::env::var_os(CHILD_PROCESSOR).is_some() {
        builder = builder.with_span_processor(Recorder(recorded.clone()));
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
    // The harness's `test child::child ... ` has no newline yet.
    println!();
    let guard = match builder.init() {
        Ok(guard) => guard,
        Err(e) => {
            println!("CHILD init_error={e}");
            return;
        }
    };
    if std::env::var_os(CHILD_PROCESSOR).is_some() {
        // The pipeline holds the recorder now, unless the SDK is disabled
        // and init dropped it.
        println!(
            "CHILD processor_installed={}",
            Arc::strong_count(&recorded) > 1
        );
    }
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
        // What a receiver with the same propagators reads back.
        let extracted = global::get_text_map_propagator(|p| p.extract(&carrier));
        println!(
            "CHILD extracted_span={}",
            extracted.span().span_context().span_id()
        );
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
    if std::env::var_os(CHILD_PROCESSOR).is_some() {
        let recorded = recorded.lock().unwrap_or_else(|e| e.into_inner());
        println!("CHILD processor_started={}", recorded.started);
        println!("CHILD processor_ended={}", recorded.ended.join(","));
        println!(
            "CHILD processor_service={}",
            recorded.service.as_deref().unwrap_or("")
        );
        println!("CHILD processor_shut_down={}", recorded.shut_down);
    }
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
