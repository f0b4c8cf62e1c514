//! `meshtrace::nats` against a real nats-server with JetStream: core
//! publish/consume in both content modes, a second hop, JetStream
//! publish-ack and redelivery, request-reply, queue groups and link-only
//! consumers. Spans go through a real SDK pipeline to the OTLP receiver.
//!
//! The tracer provider is a process-wide global, so the tests take
//! [`GLOBALS`] for their whole run.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use cloudevents::{AttributesReader, Event};
use futures_util::StreamExt;
use meshtrace::nats::{
    HandlerError, JetStreamPublisher, Mode, ParentMode, Publisher, Subscription, creation_context,
    set_creation_context_if_absent,
};
use meshtrace_tests::messaging::{
    Traced, WAIT, all, expect_strs, fetch_one, links, next_delivery, one, order_event,
};
use opentelemetry::global;
use opentelemetry::trace::{FutureExt, Span, TraceContextExt, Tracer};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

static GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts a root span `name` and returns its context and trace id.
fn root(name: &'static str) -> (opentelemetry::Context, String) {
    let span = global::tracer("suite").start(name);
    let trace_id = span.span_context().trace_id().to_string();
    (opentelemetry::Context::current_with_span(span), trace_id)
}

/// Publishes one order inside a root span in `mode`, consumes it with a
/// handler that starts its own span, and checks PRODUCER → CONSUMER →
/// handler in one trace with the messaging and CloudEvents attributes.
async fn core_round_trip(mode: Mode) {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut orders = Subscription::subscribe(&traced.client, "orders.created")
        .await
        .unwrap();
    let mut raw = traced.client.subscribe("orders.created").await.unwrap();
    traced.client.flush().await.unwrap();

    let publisher = Publisher::new(traced.client.clone()).with_mode(mode);
    let (cx, trace_id) = root("checkout");
    publisher
        .publish("orders.created", order_event("o-1"))
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();

    let wire = tokio::time::timeout(WAIT, raw.next())
        .await
        .unwrap()
        .unwrap();
    let delivery = next_delivery(&mut orders).await;
    let received: Event = delivery.event().unwrap().clone();
    let data = delivery
        .process(|event| async move {
            drop(global::tracer("suite").start("charge card"));
            Ok::<_, std::io::Error>(event.data().cloned())
        })
        .await
        .unwrap();
    assert!(data.is_some(), "{mode:?}: the handler got the data");

    let spans = traced.spans().await;
    let checkout = one(&spans, &trace_id, "checkout", SpanKind::Internal);
    let producer = one(&spans, &trace_id, "send orders.created", SpanKind::Producer);
    let consumer = one(
        &spans,
        &trace_id,
        "process orders.created",
        SpanKind::Consumer,
    );
    let handler = one(&spans, &trace_id, "charge card", SpanKind::Internal);
    assert_eq!(producer.parent_span_id(), checkout.span_id(), "{mode:?}");
    assert_eq!(consumer.parent_span_id(), producer.span_id(), "{mode:?}");
    assert_eq!(handler.parent_span_id(), consumer.span_id(), "{mode:?}");
    assert!(
        links(consumer).is_empty(),
        "creation = hop: nothing to link"
    );

    let port = traced.server.port().to_string();
    for span in [producer, consumer] {
        expect_strs(
            span,
            &[
                ("messaging.system", "nats"),
                ("messaging.destination.name", "orders.created"),
                ("messaging.message.id", "o-1"),
                ("cloudevents.event_id", "o-1"),
                ("cloudevents.event_source", "/checkout"),
                ("cloudevents.event_type", "com.example.order.created"),
                ("cloudevents.event_subject", "orders/o-1"),
                ("cloudevents.event_spec_version", "1.0"),
                ("server.address", "127.0.0.1"),
            ],
        );
        assert_eq!(
            span.int_attr("server.port").map(|p| p.to_string()),
            Some(port.clone())
        );
        assert_eq!(
            span.int_attr("messaging.message.body.size"),
            Some(wire.payload.len() as i64),
            "{mode:?} {}",
            span.span.name
        );
    }
    expect_strs(
        producer,
        &[
            ("messaging.operation.type", "send"),
            ("messaging.operation.name", "send"),
        ],
    );
    expect_strs(
        consumer,
        &[
            ("messaging.operation.type", "process"),
            ("messaging.operation.name", "process"),
        ],
    );

    // On the wire: lowercase propagation header = the PRODUCER span; the
    // event's creation context is the same span.
    let headers = wire.headers.as_ref().expect("headers");
    let traceparent = format!("00-{trace_id}-{}-01", producer.span_id());
    assert_eq!(
        headers.get("traceparent").map(|v| v.as_str()),
        Some(traceparent.as_str())
    );
    assert_eq!(creation_context(&received), Some((traceparent, None)));
    let structured = headers
        .get("content-type")
        .is_some_and(|v| v.as_str().starts_with("application/cloudevents+json"));
    assert_eq!(
        structured,
        mode == Mode::Structured,
        "content mode on the wire"
    );
    assert_eq!(
        headers.get("ce-id").is_some(),
        mode == Mode::Binary,
        "ce- headers only in binary mode"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn core_binary_producer_to_consumer_is_one_trace() {
    core_round_trip(Mode::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn core_structured_producer_to_consumer_is_one_trace() {
    core_round_trip(Mode::Structured).await;
}

/// A → B → C: B forwards the event it consumed. At C the NATS header
/// names B's PRODUCER span (the hop) while the event's extension still
/// names A's (the creation context), which C's process span links.
async fn second_hop(mode: Mode) {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut at_b = Subscription::subscribe(&traced.client, "hop.one")
        .await
        .unwrap();
    let mut at_c = Subscription::subscribe(&traced.client, "hop.two")
        .await
        .unwrap();
    traced.client.flush().await.unwrap();
    let publisher = Publisher::new(traced.client.clone()).with_mode(mode);

    let (cx, trace_id) = root("origin");
    publisher
        .publish("hop.one", order_event("o-2"))
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();

    let forward = publisher.clone();
    next_delivery(&mut at_b)
        .await
        .process(|event| async move { forward.publish("hop.two", event).await })
        .await
        .unwrap();
    let at_c = next_delivery(&mut at_c).await;
    let event_at_c = at_c.event().unwrap().clone();
    at_c.process(|_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();

    let spans = traced.spans().await;
    let send_a = one(&spans, &trace_id, "send hop.one", SpanKind::Producer);
    let process_b = one(&spans, &trace_id, "process hop.one", SpanKind::Consumer);
    let send_b = one(&spans, &trace_id, "send hop.two", SpanKind::Producer);
    let process_c = one(&spans, &trace_id, "process hop.two", SpanKind::Consumer);
    assert_eq!(process_b.parent_span_id(), send_a.span_id());
    assert_eq!(send_b.parent_span_id(), process_b.span_id());
    assert_eq!(
        process_c.parent_span_id(),
        send_b.span_id(),
        "{mode:?}: hop"
    );
    assert_eq!(
        creation_context(&event_at_c),
        Some((format!("00-{trace_id}-{}-01", send_a.span_id()), None)),
        "{mode:?}: the extension is A's span, unchanged"
    );
    assert_eq!(
        links(process_c),
        [(trace_id.clone(), send_a.span_id())],
        "{mode:?}: C links the creation context"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creation_context_survives_a_second_hop_binary() {
    second_hop(Mode::Binary).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creation_context_survives_a_second_hop_structured() {
    second_hop(Mode::Structured).await;
}

/// Creates stream `JOBS` (`jobs.>`) and a durable pull consumer.
async fn jobs_consumer(
    client: &async_nats::Client,
    ack_wait: Duration,
) -> jetstream::consumer::PullConsumer {
    let js = jetstream::new(client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "JOBS".to_owned(),
            subjects: vec!["jobs.>".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    stream
        .create_consumer(pull::Config {
            durable_name: Some("workers".to_owned()),
            ack_wait,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jetstream_publish_ack_nak_and_redelivery() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let consumer = jobs_consumer(&traced.client, Duration::from_secs(30)).await;
    let publisher = JetStreamPublisher::new(jetstream::new(traced.client.clone()));

    // The job was created upstream (span "create job"), then published.
    let (cx, trace_id) = root("pipeline");
    let create = global::tracer("suite").start_with_context("create job", &cx);
    let creation = format!("00-{trace_id}-{}-01", create.span_context().span_id());
    drop(create);
    let mut event = order_event("job-1");
    set_creation_context_if_absent(&mut event, &creation, None);
    let ack = publisher
        .publish("jobs.score", event)
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    assert_eq!((ack.stream.as_str(), ack.sequence), ("JOBS", 1));

    // First delivery: the handler asks for a retry → nak.
    let first = fetch_one(&consumer).await;
    assert_eq!(first.info().map(|i| i.delivery_count), Some(1));
    let outcome = first
        .process(|_| async {
            Err::<(), _>(HandlerError::Retry {
                error: std::io::Error::other("model busy"),
                delay: None,
            })
        })
        .await;
    assert!(
        matches!(
            outcome,
            Err(meshtrace::nats::JetStreamProcessError::Handler { retried: true, .. })
        ),
        "{outcome:?}"
    );
    // Redelivered at once: the handler succeeds → ack.
    let second = fetch_one(&consumer).await;
    assert_eq!(second.info().map(|i| i.delivery_count), Some(2));
    second
        .process(|_| async { Ok::<_, HandlerError<std::io::Error>>(()) })
        .await
        .unwrap();

    // The ack is a publish on the same connection: flushed, it is
    // processed before the info request that follows it.
    traced.client.flush().await.unwrap();
    let mut consumer = consumer;
    let info = consumer.info().await.unwrap();
    assert_eq!(
        (info.num_ack_pending, info.num_pending),
        (0, 0),
        "acked: nothing left to deliver"
    );

    let spans = traced.spans().await;
    let send = one(&spans, &trace_id, "send jobs.score", SpanKind::Producer);
    assert_eq!(
        send.str_attr("messaging.nats.jetstream.stream").as_deref(),
        Some("JOBS")
    );
    assert_eq!(send.int_attr("messaging.nats.jetstream.sequence"), Some(1));
    let create_id = creation.split('-').nth(2).unwrap_or_default().to_owned();
    let process = all(&spans, &trace_id, "process jobs.score");
    assert_eq!(process.len(), 2, "one process span per delivery");
    for (span, (count, ack, status)) in process
        .iter()
        .zip([(1, "nak", StatusCode::Error), (2, "ack", StatusCode::Unset)])
    {
        assert_eq!(span.span.kind, SpanKind::Consumer as i32);
        assert_eq!(span.parent_span_id(), send.span_id(), "delivery {count}");
        assert_eq!(
            span.int_attr("messaging.nats.message.delivery_count"),
            Some(count)
        );
        expect_strs(
            span,
            &[
                ("messaging.nats.jetstream.ack", ack),
                ("messaging.destination.subscription.name", "workers"),
                ("messaging.nats.jetstream.stream", "JOBS"),
            ],
        );
        assert_eq!(span.int_attr("messaging.nats.jetstream.sequence"), Some(1));
        assert_eq!(
            span.span.status.as_ref().map_or(0, |s| s.code),
            status as i32,
            "delivery {count}"
        );
        assert_eq!(
            links(span),
            [(trace_id.clone(), create_id.clone())],
            "delivery {count} links the creation context"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jetstream_term_stops_redelivery() {
    let _globals = GLOBALS.lock().await;
    let traced = Traced::start().await;
    let mut consumer = jobs_consumer(&traced.client, Duration::from_secs(1)).await;
    JetStreamPublisher::new(jetstream::new(traced.client.clone()))
        .publish("jobs.bad", order_event("job-2"))
        .await
        .unwrap();
    let outcome = fetch_one(&consumer)
        .await
        .process(|_| async {
            Err::<(), _>(HandlerError::Reject(std::io::Error::other("invalid job")))
        })
        .await;
    assert!(
        matches!(
            outcome,
            Err(meshtrace::nats::JetStreamProcessError::Handler { retried: false, .. })
        ),
        "{outcome:?}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let info = consumer.info().await.unwrap();
    assert_eq!(
        (info.num_ack_pending, info.num_redelivered),
        (0, 0),
        "terminated: not redelivered after ack_wait"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn request_reply_is_traced_both_ways() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut quotes = Subscription::subscribe(&traced.client, "quote.get")
        .await
        .unwrap();
    traced.client.flush().await.unwrap();
    let responder_client = traced.client.clone();
    let responder = tokio::spawn(async move {
        let delivery = tokio::time::timeout(WAIT, quotes.next())
            .await
            .unwrap()
            .unwrap();
        delivery
            .respond(&responder_client, |request| async move {
                let id = format!("quote-for-{}", request.id());
                Ok::<_, std::io::Error>(order_event(&id))
            })
            .await
    });

    let publisher = Publisher::new(traced.client.clone());
    let (cx, trace_id) = root("price order");
    let reply = publisher
        .request("quote.get", order_event("o-3"))
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();
    responder.await.unwrap().unwrap();
    assert_eq!(reply.event().unwrap().id(), "quote-for-o-3");

    let spans = traced.spans().await;
    let client = one(&spans, &trace_id, "request quote.get", SpanKind::Client);
    let server = one(&spans, &trace_id, "process quote.get", SpanKind::Consumer);
    assert_eq!(
        server.parent_span_id(),
        client.span_id(),
        "request carries the context"
    );
    expect_strs(
        client,
        &[
            ("messaging.operation.type", "send"),
            ("messaging.operation.name", "request"),
            ("messaging.destination.name", "quote.get"),
        ],
    );
    // The reply carries the responder's span back: in its NATS headers and
    // as the reply event's creation context; the CLIENT span links it.
    let responder_tp = format!("00-{trace_id}-{}-01", server.span_id());
    assert_eq!(
        reply.context().hop().map(|s| s.span_id().to_string()),
        Some(server.span_id())
    );
    assert_eq!(
        creation_context(reply.event().unwrap()),
        Some((responder_tp, None))
    );
    assert_eq!(links(client), [(trace_id.clone(), server.span_id())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_groups_and_link_only_consumers() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut billing = Subscription::queue_subscribe(&traced.client, "orders.paid", "billing")
        .await
        .unwrap()
        .with_parent_mode(ParentMode::LinkOnly);
    traced.client.flush().await.unwrap();
    let (cx, trace_id) = root("pay");
    Publisher::new(traced.client.clone())
        .publish("orders.paid", order_event("o-4"))
        .with_context(cx.clone())
        .await
        .unwrap();
    cx.span().end();

    // The consumer processes inside a batch span of its own.
    let (batch_cx, batch_trace) = root("billing batch");
    next_delivery(&mut billing)
        .await
        .process(|_| async { Ok::<_, std::io::Error>(()) })
        .with_context(batch_cx.clone())
        .await
        .unwrap();
    batch_cx.span().end();

    let spans = traced.spans().await;
    let send = one(&spans, &trace_id, "send orders.paid", SpanKind::Producer);
    let batch = one(&spans, &batch_trace, "billing batch", SpanKind::Internal);
    let process = one(
        &spans,
        &batch_trace,
        "process orders.paid",
        SpanKind::Consumer,
    );
    assert_eq!(
        process.parent_span_id(),
        batch.span_id(),
        "child of the current span"
    );
    assert_eq!(
        links(process),
        [(trace_id.clone(), send.span_id())],
        "links the hop (= creation) once"
    );
    expect_strs(process, &[("messaging.consumer.group.name", "billing")]);
}

/// Deliveries from two servers, processed on one thread in turn, each name
/// their own server in `server.port`: the per-connection address cache is
/// keyed by the connection, not shared by whatever connected first.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn jetstream_deliveries_name_their_own_server() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let other_server = tokio::task::spawn_blocking(meshtrace_harness::nats::NatsServer::start)
        .await
        .unwrap()
        .expect("a second nats-server starts");
    let other_client = meshtrace_tests::messaging::connect(&other_server).await;
    assert_ne!(traced.server.port(), other_server.port());

    let (cx, trace_id) = root("two servers");
    let mut consumers = Vec::new();
    for (client, id) in [(&traced.client, "job-a"), (&other_client, "job-b")] {
        let consumer = jobs_consumer(client, Duration::from_secs(30)).await;
        JetStreamPublisher::new(jetstream::new(client.clone()))
            .publish("jobs.score", order_event(id))
            .with_context(cx.clone())
            .await
            .unwrap();
        consumers.push(consumer);
    }
    cx.span().end();
    // One thread (the test's) builds every delivery: A, B, then A again.
    for consumer in [&consumers[0], &consumers[1], &consumers[0]] {
        let delivery = fetch_one(consumer).await;
        let _ = delivery
            .process(|_| async {
                Err::<(), _>(HandlerError::Retry {
                    error: std::io::Error::other("again"),
                    delay: None,
                })
            })
            .await;
    }

    let spans = traced.spans().await;
    let ports: Vec<(String, Option<i64>)> = all(&spans, &trace_id, "process jobs.score")
        .iter()
        .map(|span| {
            (
                span.str_attr("cloudevents.event_id").unwrap_or_default(),
                span.int_attr("server.port"),
            )
        })
        .collect();
    let port_a = Some(i64::from(traced.server.port()));
    let port_b = Some(i64::from(other_server.port()));
    let mut expected = vec![
        ("job-a".to_owned(), port_a),
        ("job-b".to_owned(), port_b),
        ("job-a".to_owned(), port_a),
    ];
    let mut ports = ports;
    ports.sort();
    expected.sort();
    assert_eq!(ports, expected);
}
