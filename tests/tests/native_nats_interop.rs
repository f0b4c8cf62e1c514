//! Interop of `meshtrace::nats` with clients no one here wrote: the Python
//! peer (`tests/python/nats_peer.py`, built only from nats-py, cloudevents
//! and opentelemetry-sdk from PyPI) against a real nats-server.
//!
//! - Python publisher (binary, structured, `Traceparent` capitalised as a Go
//!   carrier writes it, and evalops/cerebro's header-less JSON, over core
//!   NATS and JetStream) → `meshtrace` consumer: the CONSUMER span continues
//!   the Python PRODUCER span's trace, with its tracestate.
//! - `meshtrace` publisher (binary and structured) → Python consumer: OTel's
//!   own propagator extracts the PRODUCER span as parent, and the
//!   `cloudevents` SDK decodes the event with its creation context.
//!
//! The tracer provider is a process-wide global, so the tests take
//! [`GLOBALS`] for their whole run.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use cloudevents::AttributesReader;
use meshtrace::nats::{HandlerError, Mode, Publisher, Subscription};
use meshtrace_tests::messaging::{Traced, WAIT, fetch_one, next_delivery, one, order_event};
use meshtrace_tests::python::{self, PublishOptions, Published, PythonPeer};
use opentelemetry::trace::{
    FutureExt, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

static GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long the Python consumer waits for messages once subscribed.
const PY_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the Python publisher to completion off the runtime (exactly one
/// event).
async fn python_publish(url: String, subject: &str, mode: python::Mode) -> Published {
    let subject = subject.to_owned();
    tokio::task::spawn_blocking(move || PythonPeer::publish(&url, &subject, mode))
        .await
        .expect("python publish task")
        .unwrap_or_else(|e| panic!("python publisher ({mode:?}) failed: {e:#}"))
}

async fn python_publish_with(
    url: String,
    subject: &str,
    mode: python::Mode,
    opts: PublishOptions,
) -> Vec<Published> {
    let subject = subject.to_owned();
    tokio::task::spawn_blocking(move || PythonPeer::publish_with(&url, &subject, mode, &opts))
        .await
        .expect("python publish task")
        .unwrap_or_else(|e| panic!("python publisher ({mode:?}) failed: {e:#}"))
}

/// Python publishes one event in `mode` on core NATS; the `meshtrace`
/// subscription consumes it and its CONSUMER span must continue the
/// Python PRODUCER span.
async fn python_to_rust(mode: python::Mode) {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let subject = format!("interop.py.{}", mode.as_str());
    let mut subscription = Subscription::subscribe(&traced.client, subject.clone())
        .await
        .unwrap();
    traced.client.flush().await.unwrap();

    let sent = python_publish(traced.server.url(), &subject, mode).await;
    let delivery = next_delivery(&mut subscription).await;

    let event = delivery
        .event()
        .unwrap_or_else(|e| panic!("{mode:?}: the Python event did not decode: {e}"))
        .clone();
    assert_eq!(event.id(), sent.event_id, "{mode:?}");
    let context = delivery.context().clone();
    let hop = context.hop();
    match mode {
        // cerebro sends no trace header: only the creation context exists.
        python::Mode::Cerebro => assert!(hop.is_none(), "cerebro: no hop header"),
        _ => {
            let hop = hop.unwrap_or_else(|| {
                panic!(
                    "{mode:?}: NATS trace header not extracted: {:?}",
                    sent.headers
                )
            });
            assert_eq!(hop.trace_id().to_string(), sent.trace_id, "{mode:?}");
            assert_eq!(hop.span_id().to_string(), sent.span_id, "{mode:?}");
            assert_eq!(
                hop.trace_state().header(),
                sent.tracestate,
                "{mode:?}: tracestate from the header"
            );
        }
    }
    let creation = context
        .creation()
        .unwrap_or_else(|| panic!("{mode:?}: no creation context in the event"));
    assert_eq!(creation.span_id().to_string(), sent.span_id, "{mode:?}");

    delivery
        .process(|_event| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();
    let spans = traced.spans().await;
    let consumer = one(
        &spans,
        &sent.trace_id,
        &format!("process {subject}"),
        SpanKind::Consumer,
    );
    assert_eq!(consumer.parent_span_id(), sent.span_id, "{mode:?}");
    assert_eq!(
        consumer.str_attr("cloudevents.event_id").as_deref(),
        Some(sent.event_id.as_str()),
        "{mode:?}"
    );
    assert_eq!(
        consumer.span.trace_state, sent.tracestate,
        "{mode:?}: the consumer span keeps the Python tracestate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_binary_publisher_is_continued() {
    python_to_rust(python::Mode::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_structured_publisher_is_continued() {
    python_to_rust(python::Mode::Structured).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn python_capitalised_traceparent_is_continued() {
    python_to_rust(python::Mode::Capitalised).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cerebro_shaped_event_is_continued() {
    python_to_rust(python::Mode::Cerebro).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cerebro_shaped_event_over_jetstream_is_continued_and_acked() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let sent = python_publish_with(
        traced.server.url(),
        "evals.completed",
        python::Mode::Cerebro,
        PublishOptions::default().with_count(2).with_stream("EVALS"),
    )
    .await;

    let js = jetstream::new(traced.client.clone());
    let stream = js
        .get_stream("EVALS")
        .await
        .expect("Python made the stream");
    let consumer: jetstream::consumer::PullConsumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("meter".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    for sent in &sent {
        let delivery = fetch_one(&consumer).await;
        assert_eq!(delivery.event().unwrap().id(), sent.event_id);
        delivery
            .process(|_event| async { Ok::<_, HandlerError<std::io::Error>>(()) })
            .await
            .unwrap();
    }
    // Acks are fire-and-forget publishes: flush, then wait for the server
    // to have applied them.
    traced.client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let info = loop {
        let info = consumer.clone().info().await.unwrap().clone();
        if info.num_ack_pending == 0 || tokio::time::Instant::now() > deadline {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(info.num_ack_pending, 0, "both acked");
    assert_eq!(info.num_pending, 0, "nothing left");

    let spans = traced.spans().await;
    assert_ne!(sent[0].trace_id, sent[1].trace_id, "one trace per event");
    for sent in &sent {
        let consumer = one(
            &spans,
            &sent.trace_id,
            "process evals.completed",
            SpanKind::Consumer,
        );
        assert_eq!(consumer.parent_span_id(), sent.span_id);
        assert_eq!(
            consumer.int_attr("messaging.nats.message.delivery_count"),
            Some(1)
        );
    }
}

/// A remote parent with tracestate `rust=1`, as if this service had been
/// called with it.
fn remote_parent() -> (opentelemetry::Context, String) {
    let trace_id = TraceId::from_hex("5bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let span_context = SpanContext::new(
        trace_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("rust", "1")]).unwrap(),
    );
    (
        opentelemetry::Context::new().with_remote_span_context(span_context),
        trace_id.to_string(),
    )
}

/// `meshtrace` publishes two events in `mode`; the Python consumer's OTel
/// propagator must find the PRODUCER span as parent, and the `cloudevents`
/// SDK must decode the event with the creation context.
async fn rust_to_python(mode: Mode, wire_mode: &str) {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let subject = format!("interop.rust.{wire_mode}");
    let url = traced.server.url();
    let consumer = {
        let subject = subject.clone();
        tokio::task::spawn_blocking(move || PythonPeer::consume(&url, &subject, 2, PY_TIMEOUT))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("python consumer did not start: {e:#}"))
    };

    let publisher = Publisher::new(traced.client.clone()).with_mode(mode);
    let (cx, trace_id) = remote_parent();
    for id in ["r-1", "r-2"] {
        publisher
            .publish(subject.clone(), order_event(id))
            .with_context(cx.clone())
            .await
            .unwrap();
    }
    traced.client.flush().await.unwrap();
    let got = tokio::task::spawn_blocking(move || consumer.wait())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("python consumer failed: {e:#}"));

    let spans = traced.spans().await;
    let producers: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id() == trace_id && s.span.kind == SpanKind::Producer as i32)
        .collect();
    assert_eq!(producers.len(), 2, "{mode:?}: two PRODUCER spans");
    assert_eq!(got.len(), 2, "{mode:?}: {got:?}");
    for (got, id) in got.iter().zip(["r-1", "r-2"]) {
        let producer = producers
            .iter()
            .find(|s| s.str_attr("messaging.message.id").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no PRODUCER span for {id}"));
        assert_eq!(got.mode, wire_mode, "{mode:?}");
        assert_eq!(
            got.trace_id, trace_id,
            "{mode:?} {id}: same trace in Python"
        );
        assert_eq!(
            got.parent_span_id.as_deref(),
            Some(producer.span_id().as_str()),
            "{mode:?} {id}: Python's parent is the PRODUCER span"
        );
        assert_eq!(got.context_from.as_deref(), Some("headers"), "{mode:?}");
        assert!(got.sampled, "{mode:?}: sampled flag carried");
        assert_eq!(got.tracestate, "rust=1", "{mode:?}: tracestate carried");
        assert_eq!(got.decode_error, None, "{mode:?}: the SDK decodes it");
        assert_eq!(got.event_id.as_deref(), Some(id));
        assert_eq!(got.event_source.as_deref(), Some("/checkout"));
        assert_eq!(got.event_type.as_deref(), Some("com.example.order.created"));
        assert_eq!(
            got.ce_traceparent.as_deref(),
            Some(format!("00-{trace_id}-{}-01", producer.span_id()).as_str()),
            "{mode:?}: the creation context is the PRODUCER span"
        );
        assert_eq!(got.ce_tracestate.as_deref(), Some("rust=1"), "{mode:?}");
        assert_eq!(got.data["order"], id, "{mode:?}: data decoded");
        let traceparent = format!("00-{trace_id}-{}-01", producer.span_id());
        assert!(
            got.header("traceparent") == Some(traceparent.as_str())
                && got.header("Traceparent").is_none(),
            "{mode:?}: the header is written lowercase: {:?}",
            got.headers
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_binary_publisher_is_continued_in_python() {
    rust_to_python(Mode::Binary, "binary").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rust_structured_publisher_is_continued_in_python() {
    rust_to_python(Mode::Structured, "structured").await;
}
