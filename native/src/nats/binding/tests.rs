//! Unit tests of the NATS binding: round trips in both content modes, what
//! the Python and Go SDKs send, and every rejected message with its reason.

use super::*;
use crate::nats::extension::creation_context;
use crate::{TRACEPARENT, TRACESTATE};
use cloudevents::event::ExtensionValue;

const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

fn base() -> EventBuilderV10 {
    EventBuilderV10::new()
        .id("id-1")
        .source("/orders")
        .ty("com.example.order.created")
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, *v);
    }
    h
}

fn events() -> Vec<(&'static str, Event)> {
    let build = |b: EventBuilderV10| b.build().expect("valid test event");
    vec![
        (
            "JSON data",
            build(base().data("application/json", serde_json::json!({"sku": "a", "n": 2}))),
        ),
        (
            "binary data",
            build(base().data("application/octet-stream", vec![0u8, 159, 255])),
        ),
        (
            "text data",
            build(base().data("text/plain", "héllo wörld".to_owned())),
        ),
        ("no data", build(base())),
        (
            "all optional attributes",
            build(
                base()
                    .subject("sku 1")
                    .time("2018-04-05T03:56:24Z")
                    .data_with_schema(
                        "application/json",
                        "https://example.com/schema.json",
                        serde_json::json!([1, 2]),
                    ),
            ),
        ),
        (
            "string extension with trace context",
            build(
                base()
                    .extension(TRACEPARENT, TP)
                    .extension(TRACESTATE, "a=b,c=d"),
            ),
        ),
        (
            "non-ASCII, % and space in attributes",
            build(
                EventBuilderV10::new()
                    .id("50% off € 😀")
                    .source("/münchen/ordres")
                    .ty("com.example \"quoted\"")
                    .subject("tab\there")
                    .extension("note", "100% \"ok\" ünïcode"),
            ),
        ),
    ]
}

#[test]
fn round_trips_binary_mode() {
    for (name, event) in events() {
        let (headers, payload) = encode_binary(&event).expect(name);
        let decoded = decode(Some(&headers), &payload).expect(name);
        assert_eq!(decoded, event, "{name}");
    }
}

#[test]
fn round_trips_structured_mode() {
    for (name, event) in events() {
        let (headers, payload) = encode_structured(&event).expect(name);
        assert_eq!(
            headers.get(CONTENT_TYPE).map(HeaderValue::as_str),
            Some(STRUCTURED_CONTENT_TYPE),
            "{name}"
        );
        let decoded = decode(Some(&headers), &payload).expect(name);
        assert_eq!(decoded, event, "{name}");
    }
}

#[test]
fn typed_extensions_keep_type_structured_and_become_strings_binary() {
    let event = base()
        .extension("count", 42i64)
        .extension("flag", true)
        .build()
        .unwrap();
    let (h, p) = encode_structured(&event).unwrap();
    assert_eq!(
        decode(Some(&h), &p).unwrap(),
        event,
        "JSON keeps int and bool"
    );

    let (h, p) = encode_binary(&event).unwrap();
    assert_eq!(h.get("ce-count").map(HeaderValue::as_str), Some("42"));
    assert_eq!(h.get("ce-flag").map(HeaderValue::as_str), Some("true"));
    let decoded = decode(Some(&h), &p).unwrap();
    let cases = [("count", "42"), ("flag", "true")];
    for (ext, want) in cases {
        assert_eq!(
            decoded.extension(ext),
            Some(&ExtensionValue::String(want.to_owned())),
            "NATS headers are untyped: `{ext}` comes back as a string"
        );
    }
}

#[test]
fn binary_writes_lowercase_percent_encoded_headers() {
    let event = EventBuilderV10::new()
        .id("Euro € 😀")
        .source("/s")
        .ty("t")
        .data("application/json; charset=utf-8", serde_json::json!({}))
        .extension("MyExt", "a%b\"c")
        .build()
        .unwrap();
    let (h, _) = encode_binary(&event).unwrap();
    let cases = [
        ("ce-specversion", "1.0", "specversion written"),
        (
            "ce-id",
            "Euro%20%E2%82%AC%20%F0%9F%98%80",
            "binding §3.1.3.2 example",
        ),
        (
            "ce-myext",
            "a%25b%22c",
            "extension name lowercased, % and \" encoded",
        ),
        (
            "ce-datacontenttype",
            "application/json;%20charset=utf-8",
            "attribute encoded",
        ),
        (
            "content-type",
            "application/json; charset=utf-8",
            "content-type unencoded",
        ),
    ];
    for (name, want, reason) in cases {
        assert_eq!(h.get(name).map(HeaderValue::as_str), Some(want), "{reason}");
    }
}

#[test]
fn decodes_python_binary_event() {
    // `cloudevents.conversion.to_binary` with default JSON data, the
    // shape Python publishers put on NATS.
    let h = headers(&[
        ("ce-specversion", "1.0"),
        ("ce-id", "8d8a1f6e-3c1a-4f0e-9d2a-6a1c2b3d4e5f"),
        ("ce-source", "https://example.com/inventory"),
        ("ce-type", "com.example.stock.reserved"),
        ("ce-time", "2024-05-01T12:00:00.123456+00:00"),
        ("content-type", "application/json"),
    ]);
    let event = decode(Some(&h), br#"{"sku": "sku-1", "qty": 3}"#).unwrap();
    assert_eq!(event.id(), "8d8a1f6e-3c1a-4f0e-9d2a-6a1c2b3d4e5f");
    assert_eq!(event.ty(), "com.example.stock.reserved");
    assert_eq!(event.datacontenttype(), Some("application/json"));
    assert_eq!(
        event.data(),
        Some(&Data::Json(serde_json::json!({"sku": "sku-1", "qty": 3})))
    );
}

#[test]
fn decodes_python_structured_event() {
    let h = headers(&[("content-type", "application/cloudevents+json")]);
    let payload = br#"{"specversion": "1.0", "id": "1", "source": "/py", "type": "t",
            "time": "2024-05-01T12:00:00+00:00", "datacontenttype": "application/json",
            "data": {"ok": true}}"#;
    let event = decode(Some(&h), payload).unwrap();
    assert_eq!(event.source().to_string(), "/py");
    assert_eq!(
        event.data(),
        Some(&Data::Json(serde_json::json!({"ok": true})))
    );
}

#[test]
fn decodes_go_style_capitalised_headers() {
    let h = headers(&[
        ("Ce-Specversion", "1.0"),
        ("Ce-Id", "go-1"),
        ("Ce-Source", "/go"),
        ("Ce-Type", "t"),
        ("Ce-Traceparent", TP),
        ("Content-Type", "text/plain"),
        ("Traceparent", TP),
    ]);
    let event = decode(Some(&h), b"hi").unwrap();
    assert_eq!(event.id(), "go-1");
    assert_eq!(event.data(), Some(&Data::String("hi".to_owned())));
    assert_eq!(creation_context(&event), Some((TP.to_owned(), None)));
    let extractor = HeaderExtractor(&h);
    let found = opentelemetry::propagation::Extractor::get(&extractor, TRACEPARENT);
    assert_eq!(found, Some(TP), "extractor finds Go's `Traceparent`");
}

#[test]
fn finds_top_level_traceparent_in_structured_json() {
    // evalops/cerebro-style: trace context as top-level members.
    let h = headers(&[(
        "content-type",
        "Application/CloudEvents+JSON; charset=UTF-8",
    )]);
    let payload = format!(
        r#"{{"specversion":"1.0","id":"c-1","source":"cerebro","type":"eval.completed",
            "traceparent":"{TP}","tracestate":"vendor=1","data":{{"score":0.9}}}}"#
    );
    let event = decode(Some(&h), payload.as_bytes()).unwrap();
    assert_eq!(
        creation_context(&event),
        Some((TP.to_owned(), Some("vendor=1".to_owned())))
    );
}

#[test]
fn reads_header_less_structured_events_as_the_go_reference_service_sends_them() {
    // evalops/cerebro `internal/events/jetstream.go`: `js.Publish` of
    // the JSON event with only a `Nats-Msg-Id` header; extension names
    // with `_` and a `urn:` dataschema, as that service writes them.
    let payload = format!(
        r#"{{"specversion":"1.0","id":"evt-1","source":"cerebro","type":"eval.completed",
            "subject":"eval.completed","time":"2026-11-25T10:00:00.123456789Z",
            "dataschema":"urn:cerebro:events:eval.completed/v1","schema_version":"v1",
            "tenant_id":"acme","traceparent":"{TP}","datacontenttype":"application/json",
            "data":{{"score":0.9,"traceparent":"{TP}","tenant_id":"acme"}}}}"#
    );
    let msg_id_only = headers(&[("Nats-Msg-Id", "evt-1")]);
    for (reason, headers) in [
        ("Nats-Msg-Id only", Some(&msg_id_only)),
        ("no headers", None),
    ] {
        let event = decode(headers, payload.as_bytes()).expect(reason);
        assert_eq!(event.id(), "evt-1", "{reason}");
        assert_eq!(
            creation_context(&event),
            Some((TP.to_owned(), None)),
            "{reason}"
        );
    }
    let not_an_event = decode(None, br#"{"id":"1","source":"s","type":"t"}"#);
    assert!(
        matches!(not_an_event, Err(DecodeError::NotACloudEvent)),
        "a JSON object without specversion is not sniffed as an event"
    );
}

#[test]
fn rejects_malformed_messages() {
    type Check = fn(&DecodeError) -> bool;
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static [u8],
        Check,
    );
    let structured = [("content-type", "application/cloudevents+json")];
    let cases: [Case; 13] = [
        ("no headers at all", vec![], b"{}", |e| {
            matches!(e, DecodeError::NotACloudEvent)
        }),
        (
            "plain JSON without ce-specversion",
            vec![("content-type", "application/json")],
            b"{}",
            |e| matches!(e, DecodeError::NotACloudEvent),
        ),
        (
            "structured payload not JSON",
            structured.to_vec(),
            b"not json",
            |e| matches!(e, DecodeError::InvalidJson { .. }),
        ),
        (
            "structured missing id",
            structured.to_vec(),
            br#"{"specversion":"1.0","source":"/s","type":"t"}"#,
            |e| matches!(e, DecodeError::MissingAttribute { name: "id" }),
        ),
        (
            "structured missing specversion",
            structured.to_vec(),
            br#"{"id":"1","source":"/s","type":"t"}"#,
            |e| {
                matches!(
                    e,
                    DecodeError::MissingAttribute {
                        name: "specversion"
                    }
                )
            },
        ),
        (
            "structured wrong specversion",
            structured.to_vec(),
            br#"{"specversion":"2.0","id":"1","source":"/s","type":"t"}"#,
            |e| matches!(e, DecodeError::UnsupportedSpecVersion { version } if version == "2.0"),
        ),
        (
            "binary missing id",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            |e| matches!(e, DecodeError::MissingAttribute { name: "id" }),
        ),
        (
            "binary wrong specversion",
            vec![
                ("ce-specversion", "0.3"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            |e| matches!(e, DecodeError::UnsupportedSpecVersion { version } if version == "0.3"),
        ),
        (
            "binary truncated percent escape",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "50%"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            |e| matches!(e, DecodeError::InvalidHeaderValue { header, .. } if header == "ce-id"),
        ),
        (
            "binary non-hex percent escape",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "%zz"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            |e| matches!(e, DecodeError::InvalidHeaderValue { .. }),
        ),
        (
            "binary overlong UTF-8 (binding §3.1.3.2 example)",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "%C0%A0"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
            ],
            b"",
            |e| matches!(e, DecodeError::InvalidHeaderValue { .. }),
        ),
        (
            "binary JSON data that is not JSON",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
                ("content-type", "application/json"),
            ],
            b"{not json",
            |e| matches!(e, DecodeError::InvalidJsonData { .. }),
        ),
        (
            "binary bad time",
            vec![
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "/s"),
                ("ce-type", "t"),
                ("ce-time", "yesterday"),
            ],
            b"",
            |e| matches!(e, DecodeError::InvalidAttribute { reason } if reason.contains("time")),
        ),
    ];
    for (reason, pairs, payload, check) in cases {
        let h = headers(&pairs);
        let h = (!pairs.is_empty()).then_some(&h);
        let err = decode(h, payload).expect_err(reason);
        assert!(check(&err), "{reason}: got {err:?}");
    }
}

#[test]
fn error_messages_name_the_attribute() {
    let err = DecodeError::MissingAttribute { name: "id" };
    assert_eq!(err.to_string(), "required attribute `id` is missing");
}

#[test]
fn static_ce_names_are_the_prefixed_lowercase_names() {
    // The static table is a shortcut for `ce-` + the name (binding
    // §3.1.3.1); a typo in it would rename a header on the wire.
    let names = [
        "specversion",
        "id",
        "type",
        "source",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "traceparent",
        "tracestate",
        "myextension",
        "MixedCase",
    ];
    for name in names {
        let header = ce_header_name(name).unwrap();
        let spelled: &str = header.as_ref();
        assert_eq!(spelled, format!("ce-{}", name.to_ascii_lowercase()));
    }
    assert!(ce_header_name("bad:name").is_err());
}

#[test]
fn attribute_text_borrows_text_and_formats_the_rest() {
    use std::borrow::Cow;
    let event = EventBuilderV10::new()
        .id("id-1")
        .source("/s")
        .ty("t")
        .extension("count", 7i64)
        .build()
        .unwrap();
    for (name, value) in event.iter_attributes() {
        let text = attribute_text(&value);
        assert_eq!(text, value.to_string(), "{name}");
        if matches!(name, "id" | "source" | "type" | "specversion") {
            assert!(matches!(text, Cow::Borrowed(_)), "{name} is borrowed");
        }
    }
    let count = event.extension("count").unwrap();
    assert_eq!(attribute_text(&count.into()), "7");
}
