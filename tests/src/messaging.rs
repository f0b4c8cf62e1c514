//! Shared pieces of the NATS suites: a traced test pipeline around a real
//! nats-server, CloudEvents to send, and span lookups for assertions.

use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use futures_util::StreamExt as _;
use meshtrace::nats::{Delivery, JetStreamDelivery, Subscription};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::sdk_pipeline::{Transport, flush, install};
use meshtrace_harness::nats::NatsServer;
use meshtrace_harness::otlp::{OtlpReceiver, ReceivedSpan};

/// The service name the NATS suites export under.
pub const SERVICE_NAME: &str = "meshtrace-native-nats";
/// How long a suite waits for a message or a span.
pub const WAIT: Duration = Duration::from_secs(10);

/// A nats-server with JetStream, a connected client and an SDK pipeline
/// exporting to a real OTLP receiver (installed as the globals: hold the
/// suite's lock while one is alive).
pub struct Traced {
    /// The server (killed on drop).
    pub server: NatsServer,
    /// A client connected to it.
    pub client: async_nats::Client,
    /// The receiver the pipeline exports to.
    pub receiver: OtlpReceiver,
    provider: Option<SdkTracerProvider>,
}

// === impl Traced ===

impl Traced {
    /// Starts everything; call inside a multi-thread Tokio runtime.
    ///
    /// # Panics
    ///
    /// When nats-server is missing or does not start.
    pub async fn start() -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap_or_else(|e| panic!("nats-server start task: {e}"))
            .unwrap_or_else(|e| panic!("nats-server did not start: {e:#}"));
        let client = connect(&server).await;
        let receiver = OtlpReceiver::start().await.expect("OTLP receiver starts");
        let provider = install(&receiver, Transport::Grpc, SERVICE_NAME);
        Self {
            server,
            client,
            receiver,
            provider: Some(provider),
        }
    }

    /// Flushes the pipeline and returns every span the receiver got.
    pub async fn spans(&mut self) -> Vec<ReceivedSpan> {
        if let Some(provider) = self.provider.take() {
            flush(provider).await;
        }
        self.receiver.spans()
    }
}

/// The next message of `subscription`.
///
/// # Panics
///
/// When none arrives within [`WAIT`] or the subscription ends.
pub async fn next_delivery(subscription: &mut Subscription) -> Delivery {
    tokio::time::timeout(WAIT, subscription.next())
        .await
        .expect("no message within the wait")
        .expect("subscription ended")
}

/// Pulls one message from `consumer`.
///
/// # Panics
///
/// When none arrives within [`WAIT`] or the fetch fails.
pub async fn fetch_one(consumer: &PullConsumer) -> JetStreamDelivery {
    let mut batch = consumer
        .fetch()
        .max_messages(1)
        .expires(WAIT)
        .messages()
        .await
        .unwrap_or_else(|e| panic!("fetch: {e}"));
    let message = tokio::time::timeout(WAIT + Duration::from_secs(1), batch.next())
        .await
        .expect("no JetStream message within the wait")
        .expect("fetch ended empty")
        .unwrap_or_else(|e| panic!("fetched message: {e}"));
    JetStreamDelivery::new(message)
}

/// Connects a new client to `server`.
///
/// # Panics
///
/// When the connection fails.
pub async fn connect(server: &NatsServer) -> async_nats::Client {
    async_nats::connect(server.url())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", server.url()))
}

/// An order event with JSON data and a subject.
pub fn order_event(id: &str) -> Event {
    EventBuilderV10::new()
        .id(id)
        .source("/checkout")
        .ty("com.example.order.created")
        .subject(format!("orders/{id}"))
        .data(
            "application/json",
            serde_json::json!({"order": id, "total": 42}),
        )
        .build()
        .unwrap_or_else(|e| panic!("building event {id}: {e}"))
}

/// The one span named `name` of kind `kind` in trace `trace_id`.
///
/// # Panics
///
/// When there is not exactly one, listing what there is.
pub fn one<'a>(
    spans: &'a [ReceivedSpan],
    trace_id: &str,
    name: &str,
    kind: SpanKind,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id() == trace_id && s.span.name == name && s.span.kind == kind as i32)
        .collect();
    match found.as_slice() {
        [span] => span,
        _ => panic!(
            "expected one {kind:?} span `{name}` in trace {trace_id}, found {}; spans: {:#?}",
            found.len(),
            summary(spans)
        ),
    }
}

/// Every span named `name` in trace `trace_id`, in start order.
pub fn all<'a>(spans: &'a [ReceivedSpan], trace_id: &str, name: &str) -> Vec<&'a ReceivedSpan> {
    let mut found: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.trace_id() == trace_id && s.span.name == name)
        .collect();
    found.sort_by_key(|s| s.span.start_time_unix_nano);
    found
}

/// `(trace id, span id)` of each link of `span`, lowercase hex.
pub fn links(span: &ReceivedSpan) -> Vec<(String, String)> {
    span.span
        .links
        .iter()
        .map(|l| (hex(&l.trace_id), hex(&l.span_id)))
        .collect()
}

/// `name kind trace/span<-parent` for each span, for failure messages.
pub fn summary(spans: &[ReceivedSpan]) -> Vec<String> {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} kind={} {}/{}<-{}",
                s.span.name,
                s.span.kind,
                s.trace_id(),
                s.span_id(),
                s.parent_span_id()
            )
        })
        .collect()
}

/// Asserts that `span` has each `(key, value)` string attribute.
///
/// # Panics
///
/// On the first mismatch, naming the span and key.
pub fn expect_strs(span: &ReceivedSpan, expected: &[(&str, &str)]) {
    for (key, want) in expected {
        assert_eq!(
            span.str_attr(key).as_deref(),
            Some(*want),
            "{} attribute {key}",
            span.span.name
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
