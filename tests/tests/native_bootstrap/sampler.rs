//! `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`: what is exported and
//! the sampled flag that is propagated.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

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
