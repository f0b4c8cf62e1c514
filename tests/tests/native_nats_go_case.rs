//! `HeaderCase::GoCanonical` against a real nats-server: the consumer on
//! the other side reads the propagation headers the way a Go service does
//! (`propagation.HeaderCarrier(http.Header(msg.Header))`: `http.Header.Get`
//! canonicalises the key, then looks up exactly that name in nats.go's
//! case-sensitive map). Here that consumer is a raw async-nats client
//! doing `headers.get("Traceparent")`, case-sensitively, for core publish,
//! JetStream publish, request-reply (both sides), and the default still
//! lowercase. Spans go through a real SDK pipeline to the OTLP receiver.
//!
//! The tracer provider and propagator are process-wide globals, so the
//! tests take [`GLOBALS`] for their whole run.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull, stream};
use cloudevents::AttributesReader;
use futures_util::StreamExt;
use meshtrace::nats::{HeaderCase, JetStreamPublisher, Publisher, Subscription, encode_binary};
use meshtrace_tests::messaging::{Traced, WAIT, next_delivery, one, order_event};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::trace::{
    FutureExt, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue, global};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

static GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The trace every test continues (a remote parent, as if from upstream).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The upstream span.
const UPSTREAM_SPAN: &str = "00f067aa0ba902b7";
/// What the producer span inherits and must propagate.
const TRACESTATE: &str = "vendor=v1";
const BAGGAGE: &str = "tenant=t1";

/// Starts the pipeline and swaps in W3C Trace Context + Baggage, so all
/// three propagation headers are written.
async fn start() -> Traced {
    let traced = Traced::start().await;
    global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
    traced
}

/// A sampled remote parent with `tracestate` and `baggage`.
fn upstream() -> Context {
    let span = SpanContext::new(
        TraceId::from_hex(TRACE_ID).unwrap(),
        SpanId::from_hex(UPSTREAM_SPAN).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "v1")]).unwrap(),
    );
    Context::new()
        .with_remote_span_context(span)
        .with_baggage([KeyValue::new("tenant", "t1")])
}

/// The exact spelling a consumer must find, and the one it must not,
/// per propagation field.
fn spellings(case: HeaderCase) -> [(&'static str, &'static str, &'static str); 3] {
    // (field, written, absent): spelled out, not computed, so the test
    // does not trust the canonicalisation it checks.
    match case {
        HeaderCase::GoCanonical => [
            ("traceparent", "Traceparent", "traceparent"),
            ("tracestate", "Tracestate", "tracestate"),
            ("baggage", "Baggage", "baggage"),
        ],
        _ => [
            ("traceparent", "traceparent", "Traceparent"),
            ("tracestate", "tracestate", "Tracestate"),
            ("baggage", "baggage", "Baggage"),
        ],
    }
}

/// Reads `headers` as a case-sensitive consumer (nats.go's `Header.Get`,
/// which is what `http.Header.Get` comes down to after canonicalising):
/// each field under exactly its spelling for `case`, never under the
/// other, and no third spelling. Returns the `traceparent` value.
fn read_case_sensitively(headers: Option<&HeaderMap>, case: HeaderCase, what: &str) -> String {
    let headers = headers.unwrap_or_else(|| panic!("{what}: no headers"));
    for (field, written, absent) in spellings(case) {
        assert!(
            headers.get(written).is_some(),
            "{what} {case:?}: `{written}` present"
        );
        assert!(
            headers.get(absent).is_none(),
            "{what} {case:?}: no `{absent}` duplicate"
        );
        let spellings = headers
            .iter()
            .filter(|(name, _)| AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(field))
            .count();
        assert_eq!(spellings, 1, "{what} {case:?}: one `{field}` header");
    }
    let [(_, traceparent, _), (_, tracestate, _), (_, baggage, _)] = spellings(case);
    assert_eq!(
        headers.get(tracestate).map(|v| v.as_str()),
        Some(TRACESTATE),
        "{what} {case:?}"
    );
    assert_eq!(
        headers.get(baggage).map(|v| v.as_str()),
        Some(BAGGAGE),
        "{what} {case:?}"
    );
    headers
        .get(traceparent)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// `traceparent` for `span_id` in the test trace.
fn traceparent(span_id: &str) -> String {
    format!("00-{TRACE_ID}-{span_id}-01")
}

/// Core publish in `case`: the raw subscriber finds the PRODUCER span
/// under the expected spelling, and a meshtrace consumer of the same
/// message still continues the trace.
async fn core_publish(case: HeaderCase) {
    let _globals = GLOBALS.lock().await;
    let mut traced = start().await;
    let mut raw = traced.client.subscribe("orders.go").await.unwrap();
    let mut orders = Subscription::subscribe(&traced.client, "orders.go")
        .await
        .unwrap();
    traced.client.flush().await.unwrap();

    Publisher::new(traced.client.clone())
        .with_header_case(case)
        .publish("orders.go", order_event("o-1"))
        .with_context(upstream())
        .await
        .unwrap();

    let wire = tokio::time::timeout(WAIT, raw.next())
        .await
        .unwrap()
        .unwrap();
    let found = read_case_sensitively(wire.headers.as_ref(), case, "core publish");
    next_delivery(&mut orders)
        .await
        .process(|_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();

    let spans = traced.spans().await;
    let producer = one(&spans, TRACE_ID, "send orders.go", SpanKind::Producer);
    let consumer = one(&spans, TRACE_ID, "process orders.go", SpanKind::Consumer);
    assert_eq!(found, traceparent(&producer.span_id()), "{case:?}");
    assert_eq!(
        consumer.parent_span_id(),
        producer.span_id(),
        "{case:?}: meshtrace consumers read either case"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn core_publish_go_canonical_is_read_by_a_case_sensitive_consumer() {
    core_publish(HeaderCase::GoCanonical).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn core_publish_default_stays_lowercase() {
    core_publish(HeaderCase::default()).await;
}

/// JetStream publish in `case`, read back by a raw pull consumer.
async fn jetstream_publish(case: HeaderCase) {
    let _globals = GLOBALS.lock().await;
    let mut traced = start().await;
    let js = jetstream::new(traced.client.clone());
    let consumer = js
        .create_stream(stream::Config {
            name: "GOJOBS".to_owned(),
            subjects: vec!["gojobs.>".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap()
        .create_consumer(pull::Config {
            durable_name: Some("go-workers".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();

    JetStreamPublisher::new(js)
        .with_header_case(case)
        .publish("gojobs.render", order_event("j-1"))
        .with_context(upstream())
        .await
        .unwrap();

    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(WAIT)
        .messages()
        .await
        .unwrap();
    let message = tokio::time::timeout(WAIT, batch.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let found = read_case_sensitively(message.headers.as_ref(), case, "JetStream publish");
    message.ack().await.unwrap();

    let spans = traced.spans().await;
    let producer = one(&spans, TRACE_ID, "send gojobs.render", SpanKind::Producer);
    assert_eq!(found, traceparent(&producer.span_id()), "{case:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jetstream_publish_go_canonical_is_read_by_a_case_sensitive_consumer() {
    jetstream_publish(HeaderCase::GoCanonical).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jetstream_publish_default_stays_lowercase() {
    jetstream_publish(HeaderCase::default()).await;
}

/// A Go-style responder's span, carried back in its reply.
const RESPONDER_SPAN: &str = "1111111111111111";

/// `Publisher::request` in `case` to a raw responder that reads the
/// request case-sensitively and answers, Go-style, with `Traceparent`.
async fn request(case: HeaderCase) {
    let _globals = GLOBALS.lock().await;
    let mut traced = start().await;
    let mut raw = traced.client.subscribe("quote.go").await.unwrap();
    traced.client.flush().await.unwrap();
    let responder_client = traced.client.clone();
    let responder = tokio::spawn(async move {
        let request = tokio::time::timeout(WAIT, raw.next())
            .await
            .unwrap()
            .unwrap();
        let found = read_case_sensitively(request.headers.as_ref(), case, "request");
        let (mut headers, payload) = encode_binary(&order_event("quote-1")).unwrap();
        headers.insert("Traceparent", traceparent(RESPONDER_SPAN).as_str());
        responder_client
            .publish_with_headers(request.reply.unwrap(), headers, payload)
            .await
            .unwrap();
        found
    });

    let reply = Publisher::new(traced.client.clone())
        .with_header_case(case)
        .request("quote.go", order_event("o-2"))
        .with_context(upstream())
        .await
        .unwrap();
    let found = responder.await.unwrap();
    assert_eq!(reply.event().unwrap().id(), "quote-1");
    assert_eq!(
        reply.context().hop().map(|s| s.span_id().to_string()),
        Some(RESPONDER_SPAN.to_owned()),
        "{case:?}: the requester reads the Go responder's `Traceparent`"
    );

    let spans = traced.spans().await;
    let client = one(&spans, TRACE_ID, "request quote.go", SpanKind::Client);
    assert_eq!(found, traceparent(&client.span_id()), "{case:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_go_canonical_is_read_by_a_case_sensitive_responder() {
    request(HeaderCase::GoCanonical).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_default_stays_lowercase() {
    request(HeaderCase::default()).await;
}

/// A Go-style requester's span.
const REQUESTER_SPAN: &str = "2222222222222222";

/// A meshtrace responder in `case` answering a raw requester that sends
/// Go's spelling (which the responder reads, baggage included) and reads
/// the reply case-sensitively.
async fn respond(case: HeaderCase) {
    let _globals = GLOBALS.lock().await;
    let mut traced = start().await;
    let mut quotes = Subscription::subscribe(&traced.client, "quote.go")
        .await
        .unwrap()
        .with_header_case(case);
    traced.client.flush().await.unwrap();
    let responder_client = traced.client.clone();
    let responder = tokio::spawn(async move {
        next_delivery(&mut quotes)
            .await
            .respond(&responder_client, |_| async {
                Ok::<_, std::io::Error>(order_event("quote-2"))
            })
            .await
    });

    let (mut headers, payload) = encode_binary(&order_event("o-3")).unwrap();
    headers.insert("Traceparent", traceparent(REQUESTER_SPAN).as_str());
    headers.insert("Tracestate", TRACESTATE);
    headers.insert("Baggage", BAGGAGE);
    let reply = traced
        .client
        .request_with_headers("quote.go", headers, payload)
        .await
        .unwrap();
    responder.await.unwrap().unwrap();
    let found = read_case_sensitively(reply.headers.as_ref(), case, "reply");

    let spans = traced.spans().await;
    let consumer = one(&spans, TRACE_ID, "process quote.go", SpanKind::Consumer);
    assert_eq!(
        consumer.parent_span_id(),
        REQUESTER_SPAN,
        "{case:?}: the responder reads the Go requester's `Traceparent`"
    );
    assert_eq!(found, traceparent(&consumer.span_id()), "{case:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn respond_go_canonical_is_read_by_a_case_sensitive_requester() {
    respond(HeaderCase::GoCanonical).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn respond_default_stays_lowercase() {
    respond(HeaderCase::default()).await;
}
