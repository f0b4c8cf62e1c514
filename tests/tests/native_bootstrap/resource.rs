//! The resource the collector sees: `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES` and the code-side service name.

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::OtlpReceiver;

use crate::child::CHILD_SERVICE;
use crate::run::{run_child, to_receiver};

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
