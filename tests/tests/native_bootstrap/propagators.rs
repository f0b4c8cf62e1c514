//! `OTEL_PROPAGATORS`: what the global propagator injects.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::run::{run_child, to_receiver};

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
        (Some("b3"), &["b3"], "B3 single header"),
        (
            Some("b3multi"),
            &["x-b3-sampled", "x-b3-spanid", "x-b3-traceid"],
            "B3 multiple headers",
        ),
        (
            Some("tracecontext,b3multi"),
            &[
                "traceparent",
                "tracestate",
                "x-b3-sampled",
                "x-b3-spanid",
                "x-b3-traceid",
            ],
            "W3C and B3 together",
        ),
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
        let parent = run.value("parent_span").expect("the parent span id");
        if let Some(traceparent) = injected.get("traceparent") {
            assert!(
                traceparent.contains(parent),
                "{why}: {traceparent} carries {parent}"
            );
        }
        if let Some(b3) = injected.get("b3") {
            assert!(b3.contains(&format!("-{parent}-1")), "{why}: {b3}");
        }
        if let Some(span) = injected.get("x-b3-spanid") {
            assert_eq!(span, parent, "{why}");
            assert_eq!(injected.get("x-b3-sampled").map(String::as_str), Some("1"));
        }
        if !want.is_empty() && want != ["baggage"] {
            assert_eq!(
                run.value("extracted_span"),
                Some(parent),
                "{why}: the same propagators read it back"
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
        &[("OTEL_PROPAGATORS", "xray,tracecontext")],
    ));
    assert!(
        run.stderr.contains("OTEL_PROPAGATORS") && run.stderr.contains("xray"),
        "warning on stderr: {run:#?}"
    );
    let keys: Vec<_> = run.injected().into_keys().collect();
    assert_eq!(
        keys,
        ["traceparent", "tracestate"],
        "the known one still applies: {run:#?}"
    );
}
