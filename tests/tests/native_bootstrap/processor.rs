//! A code-side span processor (`Builder::with_span_processor`) beside the
//! exporter's, and `OTEL_SDK_DISABLED` turning it off.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::{CHILD_PROCESSOR, CHILD_RESOURCE, CHILD_SAMPLER_DROP, CHILD_SERVICE};
use crate::run::{ChildRun, DEFAULT_SPANS, names, run_child, to_receiver};

/// The names of the spans the child's recorder saw end, sorted.
fn recorded_names(run: &ChildRun) -> Vec<String> {
    let mut names: Vec<_> = run
        .value("processor_ended")
        .unwrap_or_else(|| panic!("the child printed no recorder: {run:#?}"))
        .split(',')
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[test]
fn code_span_processor_sees_every_span_while_otlp_still_exports() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_PROCESSOR, "1"), (CHILD_SERVICE, "from-code")],
    ));
    let exported = names(&receiver.spans());
    assert_eq!(exported.len(), DEFAULT_SPANS, "still exported: {run:#?}");
    assert_eq!(recorded_names(&run), exported, "the same spans: {run:#?}");
    assert_eq!(
        run.value("processor_started"),
        Some(DEFAULT_SPANS.to_string().as_str()),
        "{run:#?}"
    );
    assert_eq!(
        run.value("processor_service"),
        Some("from-code"),
        "it got the pipeline's resource: {run:#?}"
    );
    assert_eq!(
        run.value("processor_shut_down"),
        Some("true"),
        "the guard shut it down: {run:#?}"
    );
}

#[test]
fn code_span_processor_alone_with_traces_exporter_none() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_PROCESSOR, "1"), ("OTEL_TRACES_EXPORTER", "none")],
    ));
    assert_eq!(receiver.span_count(), 0, "no exporter: {run:#?}");
    assert_eq!(
        recorded_names(&run),
        ["bridged", "parent", "work-0", "work-1"],
        "the processor still sees every span: {run:#?}"
    );
}

#[test]
fn sdk_disabled_turns_off_the_code_processor_sampler_and_attributes() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            ("OTEL_SDK_DISABLED", "true"),
            (CHILD_PROCESSOR, "1"),
            (CHILD_SAMPLER_DROP, "work-1"),
            (CHILD_RESOURCE, "team=payments"),
        ],
    ));
    assert_eq!(run.value("enabled"), Some("false"), "{run:#?}");
    assert_eq!(
        run.value("processor_installed"),
        Some("false"),
        "dropped by init: {run:#?}"
    );
    assert_eq!(run.value("processor_started"), Some("0"), "{run:#?}");
    assert!(recorded_names(&run).is_empty(), "{run:#?}");
    assert!(run.injected().is_empty(), "nothing injected: {run:#?}");
    assert_eq!(receiver.span_count(), 0, "nothing exported");
}
