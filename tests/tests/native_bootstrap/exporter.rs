//! Whether and where spans are exported: `OTEL_SDK_DISABLED`,
//! `OTEL_TRACES_EXPORTER` and the code-side exporter override.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::CHILD_EXPORTER;
use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

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
