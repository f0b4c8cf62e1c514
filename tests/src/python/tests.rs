use async_nats::HeaderMap;

use super::*;
use meshtrace_harness::nats::NatsServer;

/// How long a consumer waits for its messages.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A context a Rust publisher would send (W3C Trace Context example).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// Python publishes one event in `mode`; Python consumes it with `opts`.
fn python_round_trip(mode: Mode, opts: ConsumeOptions) -> (Published, Consumed) {
    let server = NatsServer::start().unwrap();
    let subject = format!("orders.{}", mode.as_str());
    let consumer = PythonPeer::consume_with(&server.url(), &subject, &opts)
        .unwrap_or_else(|e| panic!("consumer did not start: {e:#}"));
    let sent = PythonPeer::publish(&server.url(), &subject, mode)
        .unwrap_or_else(|e| panic!("{} publish failed: {e:#}", mode.as_str()));
    let mut received = consumer
        .wait()
        .unwrap_or_else(|e| panic!("consumer failed: {e:#}"));
    assert_eq!(received.len(), 1, "one message expected: {received:?}");
    (sent, received.remove(0))
}

fn consume_one(mode: Mode) -> (Published, Consumed) {
    python_round_trip(mode, ConsumeOptions::default().with_timeout(TIMEOUT))
}

/// The consumer span continues the publisher's and the event decoded.
fn assert_continued(sent: &Published, got: &Consumed) {
    assert_eq!(got.trace_id, sent.trace_id, "same trace: {got:?}");
    assert_eq!(got.parent_span_id.as_deref(), Some(sent.span_id.as_str()));
    assert_ne!(got.span_id, sent.span_id, "the consumer has its own span");
    assert!(got.sampled, "the publisher's span is sampled: {got:?}");
    assert_eq!(got.event_id.as_deref(), Some(sent.event_id.as_str()));
    assert_eq!(got.event_type.as_deref(), Some("com.example.order.created"));
    assert_eq!(
        got.ce_traceparent.as_deref(),
        Some(sent.traceparent.as_str())
    );
    assert_eq!(got.decode_error, None);
    let prefix = format!("00-{}-{}-", sent.trace_id, sent.span_id);
    assert!(sent.traceparent.starts_with(&prefix), "{sent:?}");
}

#[test]
fn binary_event_is_continued_from_the_headers() {
    let (sent, got) = consume_one(Mode::Binary);

    assert_continued(&sent, &got);
    assert_eq!(got.mode, "binary");
    assert_eq!(got.context_from.as_deref(), Some("headers"));
    assert_eq!(got.tracestate, "py=1");
    assert_eq!(got.ce_tracestate.as_deref(), Some("py=1"));
    assert_eq!(got.header("traceparent"), Some(sent.traceparent.as_str()));
    assert_eq!(
        got.header("ce-traceparent"),
        Some(sent.traceparent.as_str())
    );
    assert_eq!(got.header("ce-specversion"), Some("1.0"));
    assert_eq!(got.data["mode"], "binary");
}

#[test]
fn structured_event_is_continued_from_the_headers() {
    let (sent, got) = consume_one(Mode::Structured);

    assert_continued(&sent, &got);
    assert_eq!(got.mode, "structured");
    assert_eq!(got.context_from.as_deref(), Some("headers"));
    assert_eq!(got.tracestate, "py=1");
    assert_eq!(
        got.header("content-type"),
        Some("application/cloudevents+json")
    );
    assert!(
        got.headers.iter().all(|(name, _)| !name.starts_with("ce-")),
        "no ce- headers in structured mode: {:?}",
        got.headers
    );
    assert_eq!(got.data["mode"], "structured");
}

#[test]
fn capitalised_traceparent_is_continued() {
    let (sent, got) = consume_one(Mode::Capitalised);

    assert_continued(&sent, &got);
    assert_eq!(got.context_from.as_deref(), Some("headers"));
    assert_eq!(got.header("Traceparent"), Some(sent.traceparent.as_str()));
    assert_eq!(got.header("Tracestate"), Some("py=1"));
    assert_eq!(got.header("traceparent"), None, "only the Go spelling");
    assert_eq!(got.tracestate, "py=1");
}

#[test]
fn otel_default_getter_misses_a_capitalised_traceparent() {
    let opts = ConsumeOptions::default()
        .with_timeout(TIMEOUT)
        .with_case_sensitive(true);
    let (sent, got) = python_round_trip(Mode::Capitalised, opts);

    // The headers gave nothing; the event's extension still did.
    assert_eq!(got.context_from.as_deref(), Some("event"));
    assert_continued(&sent, &got);
}

#[test]
fn cerebro_event_is_continued_from_its_top_level_traceparent() {
    let (sent, got) = consume_one(Mode::Cerebro);

    assert_continued(&sent, &got);
    assert_eq!(got.mode, "structured");
    assert_eq!(got.context_from.as_deref(), Some("event"));
    assert_eq!(
        got.headers,
        vec![("Nats-Msg-Id".to_owned(), sent.event_id.clone())],
        "no trace headers, only JetStream's dedup id"
    );
    assert_eq!(sent.tracestate, "");
    assert_eq!(got.tracestate, "");
    assert_eq!(got.event_source.as_deref(), Some("cerebro"));
    assert_eq!(got.dropped_attributes, ["schema_version", "tenant_id"]);
    assert_eq!(got.data["traceparent"], sent.traceparent.as_str());
}

#[test]
fn cerebro_event_published_through_jetstream_is_continued() {
    let server = NatsServer::start().unwrap();
    let consumer = PythonPeer::consume(&server.url(), "cerebro.finding.created", 2, TIMEOUT)
        .unwrap_or_else(|e| panic!("consumer did not start: {e:#}"));
    let opts = PublishOptions::default()
        .with_count(2)
        .with_stream("CEREBRO");
    let sent = PythonPeer::publish_with(
        &server.url(),
        "cerebro.finding.created",
        Mode::Cerebro,
        &opts,
    )
    .unwrap_or_else(|e| panic!("publish failed: {e:#}"));
    let got = consumer
        .wait()
        .unwrap_or_else(|e| panic!("consumer failed: {e:#}"));

    assert_eq!(sent.len(), 2);
    assert_eq!(got.len(), 2, "both consumed: {got:?}");
    assert_ne!(sent[0].trace_id, sent[1].trace_id, "one span per event");
    for (sent, got) in sent.iter().zip(&got) {
        assert_continued(sent, got);
    }
}

#[test]
fn extracts_a_binary_event_published_by_async_nats() {
    let server = NatsServer::start().unwrap();
    let consumer = PythonPeer::consume(&server.url(), "orders.rust", 2, TIMEOUT)
        .unwrap_or_else(|e| panic!("consumer did not start: {e:#}"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(server.url()).await.unwrap();
        for (id, flags) in [("order-1", "01"), ("order-2", "00")] {
            let traceparent = format!("00-{TRACE_ID}-{SPAN_ID}-{flags}");
            let mut headers = HeaderMap::new();
            headers.insert("ce-specversion", "1.0");
            headers.insert("ce-id", id);
            headers.insert("ce-source", "/meshtrace/rust");
            headers.insert("ce-type", "com.example.order.created");
            headers.insert("ce-datacontenttype", "application/json");
            headers.insert("content-type", "application/json");
            headers.insert("ce-traceparent", traceparent.as_str());
            headers.insert("traceparent", traceparent.as_str());
            headers.insert("tracestate", "rust=1,py=0");
            let body = format!(r#"{{"sku":"{id}","note":"Euro € 😀"}}"#);
            client
                .publish_with_headers("orders.rust", headers, body.into())
                .await
                .unwrap();
        }
        client.flush().await.unwrap();
    });
    let got = consumer
        .wait()
        .unwrap_or_else(|e| panic!("consumer failed: {e:#}"));

    assert_eq!(got.len(), 2, "{got:?}");
    for (got, sampled) in got.iter().zip([true, false]) {
        assert_eq!(got.trace_id, TRACE_ID);
        assert_eq!(got.parent_span_id.as_deref(), Some(SPAN_ID));
        assert_eq!(got.context_from.as_deref(), Some("headers"));
        assert_eq!(got.sampled, sampled, "follows the flags: {got:?}");
        assert_eq!(got.tracestate, "rust=1,py=0");
        assert_eq!(got.mode, "binary");
        assert_eq!(got.event_source.as_deref(), Some("/meshtrace/rust"));
        assert_eq!(got.data["note"], "Euro € 😀");
    }
    assert_eq!(got[0].event_id.as_deref(), Some("order-1"));
    assert_eq!(got[1].event_id.as_deref(), Some("order-2"));
}

#[test]
fn consumer_times_out_with_a_message_when_nothing_arrives() {
    let server = NatsServer::start().unwrap();
    let consumer =
        PythonPeer::consume(&server.url(), "orders.none", 1, Duration::from_millis(300)).unwrap();

    let err = consumer.wait().expect_err("nothing was published");

    let message = format!("{err:#}");
    assert!(message.contains("timed out"), "{message}");
    assert!(!message.contains("Traceback"), "{message}");
}

#[test]
fn publish_reports_an_unreachable_server() {
    let port = meshtrace_harness::ports::free_port().expect("free port");
    let url = format!("nats://127.0.0.1:{port}");

    let err = PythonPeer::publish(&url, "orders", Mode::Binary).expect_err("no server");

    let message = format!("{err:#}");
    assert!(message.contains("cannot connect"), "{message}");
}

#[test]
fn parse_names_the_bad_field() {
    let good = serde_json::json!({
        "trace_id": TRACE_ID, "span_id": SPAN_ID,
        "traceparent": format!("00-{TRACE_ID}-{SPAN_ID}-01"),
        "tracestate": "", "event_id": "e-1", "headers": {"traceparent": "x"},
    });
    assert!(Published::parse(&good.to_string()).is_ok());
    let cases: [(&str, Value, &str); 5] = [
        ("trace_id", Value::Null, "null trace id"),
        (
            "trace_id",
            TRACE_ID.to_uppercase().into(),
            "uppercase trace id",
        ),
        ("span_id", "00f067aa0ba902".into(), "short span id"),
        ("event_id", 7.into(), "number for a string"),
        (
            "headers",
            serde_json::json!({"a": 1}),
            "non-string header value",
        ),
    ];
    for (field, value, reason) in cases {
        let mut line = good.clone();
        line[field] = value;
        let err = Published::parse(&line.to_string()).expect_err(reason);
        assert!(err.to_string().contains(field), "{reason}: {err}");
    }
    let err = Published::parse("not json").expect_err("not JSON");
    assert!(err.to_string().contains("not a JSON line"), "{err}");
}
