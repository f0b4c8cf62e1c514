//! Bad input over a real nats-server: messages that are not CloudEvents,
//! miss required attributes, carry malformed or oversized trace headers,
//! or exceed the server's `max_payload`. Each gives the caller a typed
//! error (or a fresh root), never a panic; on JetStream nothing is
//! acknowledged implicitly, so the message is redelivered.

use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer::pull, stream};
use bytes::Bytes;
use cloudevents::{AttributesReader, EventBuilder, EventBuilderV10};
use futures_util::StreamExt;
use meshtrace::nats::{
    DecodeError, JetStreamDelivery, JetStreamProcessError, ProcessError, PublishError, Publisher,
    Subscription,
};
use meshtrace_harness::nats::{NatsOptions, NatsServer};
use meshtrace_tests::messaging::{Traced, WAIT, connect, links, order_event};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

static GLOBALS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.insert(*name, *value);
    }
    headers
}

type Check = fn(&DecodeError) -> bool;

/// (reason, headers, payload, `error.type`, the expected error).
type DecodeCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [u8], &'a str, Check);

/// (reason, traceparent header, ce-traceparent, ce-id, expected trace id or
/// `None` for a new root).
type HeaderCase<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, Option<&'a str>);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalid_cloudevents_are_typed_errors_and_error_spans() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut inbox = Subscription::subscribe(&traced.client, "bad.events")
        .await
        .unwrap();
    traced.client.flush().await.unwrap();

    let structured = ("content-type", "application/cloudevents+json");
    let binary = |missing: &str| {
        let mut pairs = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", "b-1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
        ];
        pairs.retain(|(n, _)| *n != missing);
        pairs
    };
    let cases: Vec<DecodeCase> = vec![
        (
            "not JSON, no CloudEvents headers",
            vec![],
            b"\x00\xffgarbage",
            "not_a_cloudevent",
            |e| matches!(e, DecodeError::NotACloudEvent),
        ),
        (
            "structured, not JSON",
            vec![structured],
            b"{not json",
            "invalid_json",
            |e| matches!(e, DecodeError::InvalidJson { .. }),
        ),
        (
            "structured without source",
            vec![structured],
            br#"{"specversion":"1.0","id":"1","type":"t"}"#,
            "missing_attribute",
            |e| matches!(e, DecodeError::MissingAttribute { name: "source" }),
        ),
        (
            "binary without ce-type",
            binary("ce-type"),
            b"",
            "missing_attribute",
            |e| matches!(e, DecodeError::MissingAttribute { name: "type" }),
        ),
        (
            "binary, specversion 0.3",
            vec![
                ("ce-specversion", "0.3"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            "unsupported_specversion",
            |e| matches!(e, DecodeError::UnsupportedSpecVersion { .. }),
        ),
        (
            "binary, bad percent-encoding",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "%zz"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            "invalid_header_value",
            |e| matches!(e, DecodeError::InvalidHeaderValue { .. }),
        ),
        (
            "binary, JSON data that is not JSON",
            [binary(""), vec![("content-type", "application/json")]].concat(),
            b"{oops",
            "invalid_json_data",
            |e| matches!(e, DecodeError::InvalidJsonData { .. }),
        ),
    ];
    for (reason, pairs, payload, _, _) in &cases {
        let payload = Bytes::copy_from_slice(payload);
        let mut all = headers(pairs);
        all.insert("traceparent", TP);
        traced
            .client
            .publish_with_headers("bad.events", all, payload)
            .await
            .unwrap_or_else(|e| panic!("{reason}: {e}"));
    }
    for (reason, _, _, _, check) in &cases {
        let delivery = tokio::time::timeout(WAIT, inbox.next())
            .await
            .unwrap()
            .unwrap();
        let mut ran = false;
        let outcome = delivery
            .process(|_| {
                ran = true;
                async { Ok::<_, std::io::Error>(()) }
            })
            .await;
        match outcome {
            Err(ProcessError::Decode { source, .. }) => {
                assert!(check(&source), "{reason}: {source:?}")
            }
            other => panic!("{reason}: expected a decode error, got {other:?}"),
        }
        assert!(!ran, "{reason}: the handler must not run");
    }

    // Each failed message still has its process span, in the sender's
    // trace, marked as an error with a low-cardinality error.type.
    let spans = traced.spans().await;
    let process: Vec<_> = spans
        .iter()
        .filter(|s| s.span.name == "process bad.events")
        .collect();
    assert_eq!(process.len(), cases.len());
    let mut types: Vec<String> = process
        .iter()
        .map(|s| {
            assert_eq!(s.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(
                s.span.status.as_ref().map_or(0, |st| st.code),
                StatusCode::Error as i32
            );
            s.str_attr("error.type").unwrap_or_default()
        })
        .collect();
    let mut want: Vec<String> = cases.iter().map(|c| c.3.to_owned()).collect();
    types.sort();
    want.sort();
    assert_eq!(types, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_and_oversized_trace_headers_never_fail_processing() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let mut inbox = Subscription::subscribe(&traced.client, "odd.headers")
        .await
        .unwrap();
    traced.client.flush().await.unwrap();

    let huge_state = format!("k={}", "v".repeat(64 * 1024));
    let huge_parent = format!("00-{}-00f067aa0ba902b7-01", "a".repeat(4096));
    let huge_id = "i".repeat(100 * 1024);
    let cases: [HeaderCase; 5] = [
        (
            "garbage traceparent, no extension",
            "00-zz-yy-01",
            None,
            "h-1",
            None,
        ),
        ("oversized traceparent", &huge_parent, None, "h-2", None),
        (
            "garbage header, valid extension: continue the creation context",
            "garbage",
            Some(TP),
            "h-3",
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
        ("both malformed", "00-", Some("01-xyz"), "h-4", None),
        (
            "valid traceparent, 100 KiB ce-id",
            TP,
            None,
            &huge_id,
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        ),
    ];
    for (_, traceparent, ce_traceparent, id, _) in &cases {
        let mut h = headers(&[
            ("ce-specversion", "1.0"),
            ("ce-id", id),
            ("ce-source", "/s"),
            ("ce-type", "t"),
            ("traceparent", traceparent),
            ("tracestate", &huge_state),
        ]);
        if let Some(tp) = ce_traceparent {
            h.insert("ce-traceparent", *tp);
        }
        traced
            .client
            .publish_with_headers("odd.headers", h, Bytes::new())
            .await
            .unwrap();
    }
    for (reason, _, _, id, _) in &cases {
        let delivery = tokio::time::timeout(WAIT, inbox.next())
            .await
            .unwrap()
            .unwrap();
        let got = delivery
            .process(|event| async move { Ok::<_, std::io::Error>(event.id().to_owned()) })
            .await
            .unwrap_or_else(|e| panic!("{reason}: {e}"));
        assert_eq!(got.len(), id.len(), "{reason}: handler ran on the event");
    }

    let spans = traced.spans().await;
    for (reason, _, _, id, want_trace) in &cases {
        let span = spans
            .iter()
            .find(|s| s.str_attr("messaging.message.id").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("{reason}: no process span"));
        match want_trace {
            Some(trace) => assert_eq!(span.trace_id(), *trace, "{reason}"),
            None => {
                assert_ne!(
                    span.trace_id(),
                    "4bf92f3577b34da6a3ce929d0e0e4736",
                    "{reason}"
                );
                assert!(span.parent_span_id().is_empty(), "{reason}: a new root");
            }
        }
        assert!(links(span).is_empty(), "{reason}: nothing valid to link");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishing_over_max_payload_is_a_typed_error() {
    let _globals = GLOBALS.lock().await;
    let mut traced = Traced::start().await;
    let small = tokio::task::spawn_blocking(|| {
        NatsServer::start_with(NatsOptions::default().with_max_payload(1024))
    })
    .await
    .unwrap()
    .unwrap();
    let publisher = Publisher::new(connect(&small).await);
    let event = EventBuilderV10::new()
        .id("big-1")
        .source("/s")
        .ty("t")
        .data("text/plain", "x".repeat(4096))
        .build()
        .unwrap();
    let result = publisher.publish("big", event).await;
    assert!(
        matches!(result, Err(PublishError::Publish { .. })),
        "{result:?}"
    );

    let spans = traced.spans().await;
    let send = spans
        .iter()
        .find(|s| s.span.name == "send big")
        .expect("PRODUCER span recorded");
    assert_eq!(
        send.span.status.as_ref().map_or(0, |s| s.code),
        StatusCode::Error as i32
    );
    assert_eq!(
        send.str_attr("error.type").as_deref(),
        Some("max_payload_exceeded")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jetstream_leaves_undecodable_messages_for_redelivery() {
    let _globals = GLOBALS.lock().await;
    let traced = Traced::start().await;
    let js = jetstream::new(traced.client.clone());
    let stream = js
        .create_stream(stream::Config {
            name: "RAW".to_owned(),
            subjects: vec!["raw.>".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            durable_name: Some("raw".to_owned()),
            ack_wait: Duration::from_secs(1),
            ..Default::default()
        })
        .await
        .unwrap();
    js.publish("raw.in", Bytes::from_static(b"\x00 not an event"))
        .await
        .unwrap()
        .await
        .unwrap();
    js.publish(
        "raw.in",
        serde_json::to_vec(&order_event("fine")).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();

    let fetch = |n: usize| {
        let consumer = consumer.clone();
        async move {
            let mut batch = consumer
                .fetch()
                .max_messages(n)
                .expires(WAIT)
                .messages()
                .await
                .unwrap();
            let mut out = Vec::new();
            while let Some(message) = batch.next().await {
                out.push(JetStreamDelivery::new(message.unwrap()));
            }
            out
        }
    };
    let first = fetch(2).await;
    assert_eq!(first.len(), 2);
    let mut sequences = Vec::new();
    for delivery in first {
        let sequence = delivery.info().map(|i| i.stream_sequence);
        let outcome = delivery
            .process(|_| async { Ok::<_, meshtrace::nats::HandlerError<std::io::Error>>(()) })
            .await;
        if sequence == Some(1) {
            assert!(
                matches!(
                    outcome,
                    Err(JetStreamProcessError::Decode {
                        source: DecodeError::NotACloudEvent,
                        ..
                    })
                ),
                "{outcome:?}"
            );
        } else {
            outcome.expect("the header-less structured event is fine");
        }
        sequences.push(sequence);
    }
    assert_eq!(sequences, [Some(1), Some(2)]);

    // Not acknowledged: after ack_wait (1 s) the bad message comes back,
    // and only it.
    let again = fetch(1).await;
    let info = again[0].info().cloned().unwrap();
    assert_eq!((info.stream_sequence, info.delivery_count), (1, 2));
    again[0].message().ack_with(AckKind::Term).await.unwrap();
}
