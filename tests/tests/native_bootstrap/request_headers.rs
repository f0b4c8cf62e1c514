//! What every export request carries: `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`
//! and the `content-encoding` of `OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION`.
//!
//! The OTLP receiver does not expose request headers and does not decode
//! gzip bodies, so these use a capture server that records each request.

use meshtrace_tests::capture_server::CaptureServer;

use crate::run::run_child;

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
