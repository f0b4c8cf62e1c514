//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` and the code-side
//! sampler (`Builder::with_sampler`, which wins): what is exported, and the
//! sampled flag and `tracestate` that are propagated.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::CHILD_SAMPLER_DROP;
use crate::custom::ROOT_MEMBER;
use crate::run::{DEFAULT_SPANS, names, run_child, to_receiver};

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

// === Builder::with_sampler ===

#[test]
fn code_sampler_drops_what_it_decides_and_writes_tracestate_on_roots() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[(CHILD_SAMPLER_DROP, "work-1")],
    ));
    let spans = receiver.spans();
    assert_eq!(
        names(&spans),
        ["bridged", "parent", "work-0"],
        "work-1 dropped by the code sampler: {run:#?}"
    );
    let member = format!("{}={}", ROOT_MEMBER.0, ROOT_MEMBER.1);
    for span in &spans {
        assert_eq!(
            span.span.trace_state, member,
            "roots get the entry, the bridged child inherits it: {span:#?}"
        );
    }
    assert_eq!(
        run.injected().get("tracestate"),
        Some(&member),
        "and it is propagated: {run:#?}"
    );
}

#[test]
fn code_sampler_beats_the_sampler_variables_with_a_warning() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            (CHILD_SAMPLER_DROP, "work-1"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.0"),
        ],
    ));
    assert_eq!(
        names(&receiver.spans()),
        ["bridged", "parent", "work-0"],
        "the code sampler decided, not ratio 0: {run:#?}"
    );
    for variable in ["OTEL_TRACES_SAMPLER=", "OTEL_TRACES_SAMPLER_ARG="] {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(variable) && l.contains("is ignored")),
            "a warning that {variable} is ignored: {run:#?}"
        );
    }
}
