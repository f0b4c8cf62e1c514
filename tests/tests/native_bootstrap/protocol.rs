//! Where and how the exporter reaches the collector:
//! `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`, `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`
//! and the code-side overrides.

use std::net::TcpListener;

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::{CHILD_ENDPOINT, CHILD_PROTOCOL};
use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

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
