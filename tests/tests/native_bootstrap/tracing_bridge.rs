//! The `tracing` bridge: on by default at `INFO`, its level, turned off,
//! kept out of the export path, and an existing subscriber left in place.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::{CHILD_NO_BRIDGE, CHILD_PRESET_SUBSCRIBER, CHILD_SPANS, CHILD_TRACING_LEVEL};
use crate::run::{names, run_child, to_receiver};

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
