//! The resource the collector sees: `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, the code-side service name and the code-side
//! attributes (`Builder::with_resource_attributes`).

use meshtrace_harness::Protocol;
use meshtrace_harness::otlp::{OtlpReceiver, ReceivedSpan};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use crate::child::{CHILD_RESOURCE, CHILD_SERVICE};
use crate::run::{DEFAULT_SPANS, run_child, to_receiver};

/// The spans a child run with `vars` exported over OTLP/HTTP, at least one.
fn exported(vars: &[(&'static str, &str)]) -> Vec<ReceivedSpan> {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(&receiver, Protocol::HttpProtobuf, vars));
    let spans = receiver.spans();
    assert!(!spans.is_empty(), "nothing exported: {run:#?}");
    spans
}

// === OTEL_SERVICE_NAME ===

#[test]
fn service_name_variable_wins_over_code() {
    let spans = exported(&[(CHILD_SERVICE, "from-code")]);
    assert!(
        spans.iter().all(|s| s.service_name == "from-code"),
        "code default: {spans:#?}"
    );

    let spans = exported(&[
        (CHILD_SERVICE, "from-code"),
        ("OTEL_SERVICE_NAME", "from-env"),
    ]);
    assert!(
        spans.iter().all(|s| s.service_name == "from-env"),
        "the variable wins: {spans:#?}"
    );
}

// === OTEL_RESOURCE_ATTRIBUTES ===

#[test]
fn resource_attributes_reach_the_collector() {
    let spans = exported(&[
        (CHILD_SERVICE, "from-code"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test,service.name=from-attributes",
        ),
    ]);
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

// === Builder::with_resource_attributes ===

/// The string value of the resource attribute `key` of `span`.
fn attribute(span: &ReceivedSpan, key: &str) -> Option<String> {
    span.resource_attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

#[test]
fn code_resource_attributes_merge_over_the_variable() {
    let receiver = OtlpReceiver::start_blocking().expect("OTLP receiver starts");
    let run = run_child(&to_receiver(
        &receiver,
        Protocol::HttpProtobuf,
        &[
            (
                CHILD_RESOURCE,
                "team=payments,deployment.environment.name=from-code",
            ),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=from-env,cloud.region=eu",
            ),
        ],
    ));
    let spans = receiver.spans();
    assert_eq!(spans.len(), DEFAULT_SPANS, "{run:#?}");
    for (key, want, why) in [
        ("team", "payments", "a code attribute arrives"),
        (
            "deployment.environment.name",
            "from-code",
            "code wins on a shared key (Resource SDK: the user's resource has higher priority)",
        ),
        ("cloud.region", "eu", "the variable's other keys are kept"),
    ] {
        for span in &spans {
            assert_eq!(
                attribute(span, key).as_deref(),
                Some(want),
                "{why}: {span:#?}"
            );
        }
    }
}

#[test]
fn service_name_among_code_attributes_is_a_default() {
    let spans = exported(&[(CHILD_RESOURCE, "service.name=from-attributes,team=payments")]);
    assert!(
        spans.iter().all(|s| s.service_name == "from-attributes"),
        "the code default: {spans:#?}"
    );

    let spans = exported(&[
        (CHILD_RESOURCE, "service.name=from-attributes,team=payments"),
        ("OTEL_SERVICE_NAME", "from-env"),
    ]);
    for span in &spans {
        assert_eq!(
            span.service_name, "from-env",
            "the variable wins: {span:#?}"
        );
        assert_eq!(
            attribute(span, "team").as_deref(),
            Some("payments"),
            "the other code attributes stay: {span:#?}"
        );
    }
}
