//! Spans per kind, counted from an export as decoded or, without decoding
//! it, from its bytes.
//!
//! A count-only receiver ([`super::Retention::CountOnly`]) shares the
//! machine with what is measured, so it must cost little: an OTLP/HTTP
//! body is walked in place ([`SpanCounts::of_bytes`]): every length of the
//! `ExportTraceServiceRequest` → `ResourceSpans` → `ScopeSpans` → `Span`
//! tree is checked and each span's `kind` read, without decoding
//! attributes into owned values. Either way a span is counted only if it
//! arrived in a well-formed OTLP message.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

/// Spans per kind and export calls, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanCounts {
    /// Spans of kind SERVER.
    pub server: u64,
    /// Spans of kind CLIENT.
    pub client: u64,
    /// Spans of kind PRODUCER.
    pub producer: u64,
    /// Spans of kind CONSUMER.
    pub consumer: u64,
    /// Spans of any other kind.
    pub other: u64,
    /// Export calls accepted.
    pub exports: u64,
    /// Export requests refused as malformed (a body that does not
    /// decode, a wrong path, method or content type).
    pub rejected: u64,
}

// === impl SpanCounts ===

impl SpanCounts {
    /// Counts of `request`, one export call.
    pub fn of_request(request: &ExportTraceServiceRequest) -> Self {
        let mut counts = Self {
            exports: 1,
            ..Self::default()
        };
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans);
        for span in spans {
            counts.add_kind(span.kind);
        }
        counts
    }

    /// Counts of a serialized `ExportTraceServiceRequest`, one export call,
    /// read in place; `None` when the bytes are not a well-formed message
    /// of that shape (a length past its parent's end, a bad wire type, a
    /// truncated varint).
    /// <https://github.com/open-telemetry/opentelemetry-proto/blob/main/opentelemetry/proto/trace/v1/trace.proto>
    pub fn of_bytes(body: &[u8]) -> Option<Self> {
        let mut counts = Self {
            exports: 1,
            ..Self::default()
        };
        // ExportTraceServiceRequest.resource_spans = 1
        for_each_field(body, |field, value| {
            let Field::Len(resource_spans) = value else {
                return Some(());
            };
            if field != 1 {
                return Some(());
            }
            // ResourceSpans.scope_spans = 2
            for_each_field(resource_spans, |field, value| match (field, value) {
                (2, Field::Len(scope_spans)) => {
                    // ScopeSpans.spans = 2
                    for_each_field(scope_spans, |field, value| match (field, value) {
                        (2, Field::Len(span)) => {
                            counts.count_span(span)?;
                            Some(())
                        }
                        _ => Some(()),
                    })
                }
                _ => Some(()),
            })
        })?;
        Some(counts)
    }

    /// Counts one serialized `Span` by its `kind` (field 6).
    fn count_span(&mut self, span: &[u8]) -> Option<()> {
        let mut kind = 0;
        for_each_field(span, |field, value| {
            if let (6, Field::Varint(v)) = (field, value) {
                kind = v;
            }
            Some(())
        })?;
        self.add_kind(i32::try_from(kind).unwrap_or(-1));
        Some(())
    }

    /// Counts one span of OTLP kind `kind`.
    fn add_kind(&mut self, kind: i32) {
        match SpanKind::try_from(kind) {
            Ok(SpanKind::Server) => self.server += 1,
            Ok(SpanKind::Client) => self.client += 1,
            Ok(SpanKind::Producer) => self.producer += 1,
            Ok(SpanKind::Consumer) => self.consumer += 1,
            _ => self.other += 1,
        }
    }

    /// What arrived between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            server: self.server.saturating_sub(earlier.server),
            client: self.client.saturating_sub(earlier.client),
            producer: self.producer.saturating_sub(earlier.producer),
            consumer: self.consumer.saturating_sub(earlier.consumer),
            other: self.other.saturating_sub(earlier.other),
            exports: self.exports.saturating_sub(earlier.exports),
            rejected: self.rejected.saturating_sub(earlier.rejected),
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Self) {
        self.server += other.server;
        self.client += other.client;
        self.producer += other.producer;
        self.consumer += other.consumer;
        self.other += other.other;
        self.exports += other.exports;
        self.rejected += other.rejected;
    }

    /// Spans of every kind.
    pub fn spans(&self) -> u64 {
        self.server + self.client + self.producer + self.consumer + self.other
    }
}

/// One field's value, as the wire format has it.
enum Field<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Calls `f` with every field of a serialized message; `None` when the
/// message is malformed or `f` says so.
fn for_each_field<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(u64, Field<'a>) -> Option<()>,
) -> Option<()> {
    let mut at = 0;
    while at < bytes.len() {
        let key = varint(bytes, &mut at)?;
        let value = match key & 7 {
            0 => Field::Varint(varint(bytes, &mut at)?),
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                at = at.checked_add(width).filter(|end| *end <= bytes.len())?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(bytes, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|end| *end <= bytes.len())?;
                let value = &bytes[at..end];
                at = end;
                Field::Len(value)
            }
            _ => return None,
        };
        f(key >> 3, value)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use prost::Message as _;

    use super::*;

    fn request(kinds: &[SpanKind]) -> ExportTraceServiceRequest {
        let spans = kinds
            .iter()
            .map(|kind| Span {
                kind: *kind as i32,
                ..Span::default()
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        }
    }

    #[test]
    fn counts_spans_per_kind() {
        let counts = SpanCounts::of_request(&request(&[
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Server,
            SpanKind::Internal,
            SpanKind::Producer,
            SpanKind::Consumer,
        ]));
        assert_eq!(
            counts,
            SpanCounts {
                server: 2,
                client: 1,
                producer: 1,
                consumer: 1,
                other: 1,
                exports: 1,
                rejected: 0
            }
        );
        assert_eq!(counts.spans(), 6);
    }

    #[test]
    fn counts_in_place_as_the_decoder_does() {
        let mut request = request(&[
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
            SpanKind::Internal,
        ]);
        // Attributes, ids and a second scope around the spans.
        if let Some(rs) = request.resource_spans.first_mut() {
            rs.scope_spans[0].spans[0].trace_id = vec![7; 16];
            rs.scope_spans[0].spans[0].start_time_unix_nano = u64::MAX;
            rs.scope_spans[0].spans[0].attributes = vec![
                opentelemetry_proto::tonic::common::v1::KeyValue {
                    key: "http.request.method".into(),
                    ..Default::default()
                };
                3
            ];
            let again = rs.scope_spans[0].clone();
            rs.scope_spans.push(again);
        }
        let bytes = request.encode_to_vec();
        assert_eq!(
            SpanCounts::of_bytes(&bytes),
            Some(SpanCounts::of_request(&request))
        );
        assert_eq!(SpanCounts::of_bytes(&bytes).map(|c| c.spans()), Some(10));
        for cut in 1..bytes.len() {
            if let Some(counts) = SpanCounts::of_bytes(&bytes[..cut]) {
                // A cut can only end between top-level fields.
                assert!(counts.spans() < 10, "cut at {cut} counted every span");
            }
        }
        assert_eq!(
            SpanCounts::of_bytes(&[0x0a, 0x05, 0x01]),
            None,
            "length past the end"
        );
        assert_eq!(SpanCounts::of_bytes(&[0x0b]), None, "group wire type");
        assert_eq!(
            SpanCounts::of_bytes(&[]),
            Some(SpanCounts {
                exports: 1,
                ..SpanCounts::default()
            }),
            "an empty request is valid and empty"
        );
    }
}
