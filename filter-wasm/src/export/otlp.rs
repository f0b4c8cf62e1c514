//! OTLP protobuf encoding of spans and export requests, by hand.
//!
//! The filter only ever writes one message type tree
//! (`ExportTraceServiceRequest` → `ResourceSpans` → `ScopeSpans` → `Span`), so
//! a few dozen lines of protobuf wire format replace a code generator and keep
//! the module small. Field numbers are those of
//! `opentelemetry/proto/trace/v1/trace.proto`,
//! `opentelemetry/proto/common/v1/common.proto` and
//! `opentelemetry/proto/collector/trace/v1/trace_service.proto`; the tests
//! decode the output with `opentelemetry-proto`.
//!
//! Each finished span is encoded once, framed as a `ScopeSpans.spans` field,
//! and appended to the batch buffer; an export request wraps a run of framed
//! spans with the resource and scope encoded at configuration time.

use crate::config::ResourceValue;
use crate::span::{AttrValue, SpanKind, SpanRecord, SpanStatus};

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

/// `Span.flags`: the parent-is-remote bits are known.
/// <https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/trace/v1/trace.proto>
const SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// `Span.flags`: the parent came from another process.
const SPAN_FLAGS_CONTEXT_IS_REMOTE: u32 = 0x200;

/// Semantic conventions version the attributes follow.
pub const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.37.0";

/// gRPC service of the OTLP trace export call.
pub const GRPC_SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
/// gRPC method of the OTLP trace export call.
pub const GRPC_METHOD: &str = "Export";

// === wire format ===

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn tag_len(field: u32) -> usize {
    varint_len(u64::from(field << 3))
}

fn put_len_prefix(out: &mut Vec<u8>, field: u32, len: usize) {
    put_tag(out, field, WIRE_LEN);
    put_varint(out, len as u64);
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_len_prefix(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

fn len_field_len(field: u32, len: usize) -> usize {
    tag_len(field) + varint_len(len as u64) + len
}

fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, WIRE_FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    put_tag(out, field, WIRE_FIXED32);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, WIRE_VARINT);
    put_varint(out, v);
}

// === common.proto: KeyValue / AnyValue ===

/// Encoded length of an `AnyValue` holding `v`.
fn any_value_len(v: &AttrValue<'_>) -> usize {
    match v {
        // string_value = 1
        AttrValue::Str(s) => len_field_len(1, s.len()),
        // int_value = 3
        AttrValue::Int(i) => tag_len(3) + varint_len(*i as u64),
        // array_value = 5 { values = 1 (AnyValue) }
        AttrValue::StrArray(items) => len_field_len(5, array_len(items)),
    }
}

fn array_len(items: &[&str]) -> usize {
    items
        .iter()
        .map(|s| len_field_len(1, len_field_len(1, s.len())))
        .sum()
}

fn put_any_value(out: &mut Vec<u8>, v: &AttrValue<'_>) {
    match v {
        AttrValue::Str(s) => put_bytes(out, 1, s.as_bytes()),
        AttrValue::Int(i) => put_varint_field(out, 3, *i as u64),
        AttrValue::StrArray(items) => {
            put_len_prefix(out, 5, array_len(items));
            for s in items.iter() {
                put_len_prefix(out, 1, len_field_len(1, s.len()));
                put_bytes(out, 1, s.as_bytes());
            }
        }
    }
}

/// Appends `field` = `KeyValue { key, value }`.
fn put_key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &AttrValue<'_>) {
    let value_len = any_value_len(value);
    put_len_prefix(
        out,
        field,
        len_field_len(1, key.len()) + len_field_len(2, value_len),
    );
    put_bytes(out, 1, key.as_bytes());
    put_len_prefix(out, 2, value_len);
    put_any_value(out, value);
}

/// Appends `field` = `KeyValue` for a configured resource attribute.
fn put_resource_key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &ResourceValue) {
    let mut any = Vec::new();
    match value {
        ResourceValue::String(s) => put_bytes(&mut any, 1, s.as_bytes()),
        ResourceValue::Bool(b) => put_varint_field(&mut any, 2, u64::from(*b)),
        ResourceValue::Int(i) => put_varint_field(&mut any, 3, *i as u64),
        ResourceValue::Float(f) => put_fixed64(&mut any, 4, f.to_bits()),
    }
    put_len_prefix(
        out,
        field,
        len_field_len(1, key.len()) + len_field_len(2, any.len()),
    );
    put_bytes(out, 1, key.as_bytes());
    put_bytes(out, 2, &any);
}

// === trace.proto: Span ===

fn kind_value(kind: SpanKind) -> u64 {
    match kind {
        SpanKind::Server => 2,
        SpanKind::Client => 3,
    }
}

/// Appends the `Span` message for `span` to `out` (unframed).
pub fn encode_span(span: &SpanRecord, out: &mut Vec<u8>) {
    put_bytes(out, 1, &span.trace_id.to_bytes());
    put_bytes(out, 2, &span.span_id.to_bytes());
    if let Some(state) = span.trace_state.as_deref().filter(|s| !s.is_empty()) {
        put_bytes(out, 3, state.as_bytes());
    }
    if let Some(parent) = &span.parent_span_id {
        put_bytes(out, 4, &parent.to_bytes());
    }
    put_bytes(out, 5, span.name().as_bytes());
    put_varint_field(out, 6, kind_value(span.kind));
    put_fixed64(out, 7, span.start_unix_nanos);
    put_fixed64(out, 8, span.end_unix_nanos.max(span.start_unix_nanos));
    span.for_each_attribute(|key, value| put_key_value(out, 9, key, &value));
    if let Some(link) = &span.link {
        // Link { trace_id = 1, span_id = 2, flags = 6 }: the caller's
        // context, remote.
        put_len_prefix(out, 13, 2 * 2 + 16 + 8 + 1 + 4);
        put_bytes(out, 1, &link.trace_id.to_bytes());
        put_bytes(out, 2, &link.parent_id.to_bytes());
        put_fixed32(
            out,
            6,
            u32::from(link.flags.to_u8())
                | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE
                | SPAN_FLAGS_CONTEXT_IS_REMOTE,
        );
    }
    if span.status() == SpanStatus::Error {
        // Status { code = 3: STATUS_CODE_ERROR (2) }
        put_len_prefix(out, 15, 2);
        put_varint_field(out, 3, 2);
    }
    let remote = if span.parent_span_id.is_some() {
        SPAN_FLAGS_CONTEXT_IS_REMOTE
    } else {
        0
    };
    let flags = u32::from(span.flags.to_u8()) | SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE | remote;
    put_fixed32(out, 16, flags);
}

/// Appends `span_body` framed as a `ScopeSpans.spans` (field 2) entry.
pub fn frame_span(span_body: &[u8], out: &mut Vec<u8>) {
    put_bytes(out, 2, span_body);
}

// === resource, scope and the export request ===

/// Builds `ExportTraceServiceRequest` bodies around framed spans; the
/// resource and scope are encoded once, at configuration.
#[derive(Debug, Clone)]
pub struct RequestEncoder {
    /// Encoded `Resource` message.
    resource: Vec<u8>,
    /// Encoded `InstrumentationScope` message.
    scope: Vec<u8>,
}

// === impl RequestEncoder ===

impl RequestEncoder {
    /// Encodes the resource (`service.name` first, then `attributes`; a
    /// `service.name` among them is ignored) and the scope.
    pub fn new(
        service_name: &str,
        attributes: &[(String, ResourceValue)],
        scope_name: &str,
        scope_version: &str,
    ) -> Self {
        let mut resource = Vec::new();
        put_key_value(
            &mut resource,
            1,
            "service.name",
            &AttrValue::Str(service_name.into()),
        );
        for (key, value) in attributes {
            if key != "service.name" {
                put_resource_key_value(&mut resource, 1, key, value);
            }
        }
        let mut scope = Vec::new();
        put_bytes(&mut scope, 1, scope_name.as_bytes());
        put_bytes(&mut scope, 2, scope_version.as_bytes());
        Self { resource, scope }
    }

    /// The export request for a run of framed spans (see [`frame_span`]).
    pub fn encode(&self, framed_spans: &[u8]) -> Vec<u8> {
        let scope_spans_len = len_field_len(1, self.scope.len())
            + framed_spans.len()
            + len_field_len(3, SCHEMA_URL.len());
        let resource_spans_len =
            len_field_len(1, self.resource.len()) + len_field_len(2, scope_spans_len);
        let mut out = Vec::with_capacity(len_field_len(1, resource_spans_len));
        // ExportTraceServiceRequest.resource_spans = 1
        put_len_prefix(&mut out, 1, resource_spans_len);
        // ResourceSpans.resource = 1
        put_bytes(&mut out, 1, &self.resource);
        // ResourceSpans.scope_spans = 2
        put_len_prefix(&mut out, 2, scope_spans_len);
        // ScopeSpans.scope = 1, spans = 2 (pre-framed), schema_url = 3
        put_bytes(&mut out, 1, &self.scope);
        out.extend_from_slice(framed_spans);
        put_bytes(&mut out, 3, SCHEMA_URL.as_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;

    use super::*;
    use crate::span::HttpObservation;
    use crate::traceparent::{SpanId, TraceFlags, TraceId, TraceParent};

    fn sample_span(parent: Option<SpanId>, status: Option<i64>) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::from_bytes([0xab; 16]),
            span_id: SpanId::from_bytes([0xcd; 8]),
            parent_span_id: parent,
            flags: TraceFlags::from_u8(0x03),
            trace_state: Some("vendor=1".into()),
            link: None,
            kind: SpanKind::Server,
            start_unix_nanos: 1_700_000_000_000_000_000,
            end_unix_nanos: 1_700_000_000_250_000_000,
            capture_query: false,
            http: HttpObservation {
                method: Some("POST".into()),
                path: Some("/pay".into()),
                scheme: Some("http".into()),
                authority: Some("pay:80".into()),
                status_code: status,
                request_id: Some("r-1".into()),
                ..HttpObservation::default()
            },
        }
    }

    fn request(spans: &[SpanRecord]) -> ExportTraceServiceRequest {
        let resource = vec![
            (
                "deployment.environment.name".to_owned(),
                ResourceValue::String("prod".into()),
            ),
            ("replicas".to_owned(), ResourceValue::Int(-3)),
            ("canary".to_owned(), ResourceValue::Bool(true)),
            ("weight".to_owned(), ResourceValue::Float(0.25)),
        ];
        let enc = RequestEncoder::new("checkout", &resource, "meshtrace-filter", "0.1.0");
        let mut framed = Vec::new();
        for s in spans {
            let mut body = Vec::new();
            encode_span(s, &mut body);
            frame_span(&body, &mut framed);
        }
        ExportTraceServiceRequest::decode(enc.encode(&framed).as_slice()).expect("valid protobuf")
    }

    #[test]
    fn a_link_decodes_as_the_remote_callers_context() {
        let mut span = sample_span(None, Some(200));
        let caller = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        span.link = Some(caller);
        let req = request(&[span]);
        let decoded = &req.resource_spans[0].scope_spans[0].spans[0];
        let [link] = decoded.links.as_slice() else {
            panic!("one link: {:?}", decoded.links);
        };
        assert_eq!(link.trace_id, caller.trace_id.to_bytes());
        assert_eq!(link.span_id, caller.parent_id.to_bytes());
        assert_eq!(link.flags, 0x01 | 0x100 | 0x200, "sampled, remote");
        assert_eq!(decoded.name, "POST", "the rest of the span still decodes");
        assert!(
            request(&[sample_span(None, Some(200))]).resource_spans[0].scope_spans[0].spans[0]
                .links
                .is_empty()
        );
    }

    #[test]
    fn span_decodes_with_opentelemetry_proto() {
        let parent = SpanId::from_bytes([0x11; 8]);
        let req = request(&[sample_span(Some(parent), Some(500))]);
        let rs = &req.resource_spans[0];
        let scope_spans = &rs.scope_spans[0];
        assert_eq!(scope_spans.schema_url, SCHEMA_URL);
        let scope = scope_spans.scope.as_ref().expect("scope");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("meshtrace-filter", "0.1.0")
        );
        let span = &scope_spans.spans[0];
        assert_eq!(span.trace_id, vec![0xab; 16]);
        assert_eq!(span.span_id, vec![0xcd; 8]);
        assert_eq!(span.parent_span_id, vec![0x11; 8]);
        assert_eq!(span.trace_state, "vendor=1");
        assert_eq!(span.name, "POST");
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
        assert_eq!(span.end_time_unix_nano, 1_700_000_000_250_000_000);
        assert_eq!(span.flags, 0x03 | 0x100 | 0x200);
        assert_eq!(span.status.as_ref().map(|s| s.code), Some(2));
        let attr = |k: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone())
        };
        assert_eq!(
            attr("http.request.method"),
            Some(Value::StringValue("POST".into()))
        );
        assert_eq!(
            attr("http.response.status_code"),
            Some(Value::IntValue(500))
        );
        assert_eq!(attr("server.port"), Some(Value::IntValue(80)));
        assert_eq!(attr("error.type"), Some(Value::StringValue("500".into())));
        match attr("http.request.header.x-request-id") {
            Some(Value::ArrayValue(a)) => {
                assert_eq!(a.values.len(), 1);
                assert_eq!(a.values[0].value, Some(Value::StringValue("r-1".into())));
            }
            other => panic!("x-request-id should be a string array, got {other:?}"),
        }
    }

    #[test]
    fn resource_carries_service_name_and_typed_attributes() {
        let req = request(&[sample_span(None, Some(200))]);
        let res = req.resource_spans[0].resource.as_ref().expect("resource");
        let get = |k: &str| {
            res.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone())
        };
        assert_eq!(
            get("service.name"),
            Some(Value::StringValue("checkout".into()))
        );
        assert_eq!(get("replicas"), Some(Value::IntValue(-3)));
        assert_eq!(get("canary"), Some(Value::BoolValue(true)));
        assert_eq!(get("weight"), Some(Value::DoubleValue(0.25)));
        assert_eq!(
            get("deployment.environment.name"),
            Some(Value::StringValue("prod".into()))
        );
    }

    #[test]
    fn root_span_has_no_parent_and_unset_status() {
        let req = request(&[sample_span(None, Some(200))]);
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert!(span.parent_span_id.is_empty());
        assert_eq!(
            span.flags,
            0x03 | 0x100,
            "has-is-remote set, is-remote clear"
        );
        assert!(span.status.is_none() || span.status.as_ref().is_some_and(|s| s.code == 0));
    }

    #[test]
    fn many_spans_in_one_request() {
        let spans: Vec<_> = (0..300).map(|_| sample_span(None, Some(200))).collect();
        let req = request(&spans);
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 300);
    }

    #[test]
    fn varint_lengths_match_encoding() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }
}
