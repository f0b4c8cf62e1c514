//! A fast OTLP sink that only counts: spans per kind, export calls, and
//! bodies it could not decode. OTLP/HTTP (`POST /v1/traces`, binary
//! protobuf) on one port, OTLP/gRPC (`TraceService/Export`) on another.
//!
//! The sink shares the machine with what is measured (the load generator,
//! or the traced process itself), so it must cost little: an OTLP/HTTP
//! body is walked in place ([`SpanCounts::of_bytes`]): every length of the
//! `ExportTraceServiceRequest` → `ResourceSpans` → `ScopeSpans` → `Span`
//! tree is checked and each span's `kind` read, without decoding
//! attributes into owned values. A gRPC body is decoded with
//! `opentelemetry-proto`. Either way a span is counted only if it arrived
//! in a well-formed OTLP message.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::service::TowerToHyperService;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use tokio::runtime::Handle;

use meshtrace_tests::http_server::{ServerTask, serve_on as serve};

/// The OTLP/HTTP path the sink serves.
pub const HTTP_TRACES_PATH: &str = "/v1/traces";

/// What the sink has received, at one moment.
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
    /// Export calls whose body did not decode (answered 400).
    pub rejected: u64,
}

/// The counters, shared by both protocols.
#[derive(Debug, Default)]
struct Counters {
    server: AtomicU64,
    client: AtomicU64,
    producer: AtomicU64,
    consumer: AtomicU64,
    other: AtomicU64,
    exports: AtomicU64,
    rejected: AtomicU64,
}

/// The running sink.
#[derive(Debug)]
pub struct Sink {
    http: ServerTask,
    grpc: ServerTask,
    counters: Arc<Counters>,
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

// === impl Counters ===

impl Counters {
    fn add(&self, counts: SpanCounts) {
        self.server.fetch_add(counts.server, Ordering::Relaxed);
        self.client.fetch_add(counts.client, Ordering::Relaxed);
        self.producer.fetch_add(counts.producer, Ordering::Relaxed);
        self.consumer.fetch_add(counts.consumer, Ordering::Relaxed);
        self.other.fetch_add(counts.other, Ordering::Relaxed);
        self.exports.fetch_add(counts.exports, Ordering::Relaxed);
    }

    fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> SpanCounts {
        SpanCounts {
            server: self.server.load(Ordering::Relaxed),
            client: self.client.load(Ordering::Relaxed),
            producer: self.producer.load(Ordering::Relaxed),
            consumer: self.consumer.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            exports: self.exports.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

// === impl Sink ===

impl Sink {
    /// Starts both listeners on fresh loopback ports.
    pub fn start(runtime: &Handle) -> io::Result<Self> {
        let counters = Arc::new(Counters::default());
        let for_http = counters.clone();
        let http = serve(
            runtime,
            service_fn(move |req| handle_http(for_http.clone(), req)),
        )?;
        let grpc = serve(
            runtime,
            TowerToHyperService::new(TraceServiceServer::new(GrpcSink {
                counters: counters.clone(),
            })),
        )?;
        Ok(Self {
            http,
            grpc,
            counters,
        })
    }

    /// The OTLP/HTTP port.
    pub fn http_port(&self) -> u16 {
        self.http.port()
    }

    /// The OTLP/gRPC port (cleartext HTTP/2).
    pub fn grpc_port(&self) -> u16 {
        self.grpc.port()
    }

    /// Everything received since start.
    pub fn counts(&self) -> SpanCounts {
        self.counters.snapshot()
    }
}

async fn handle_http(
    counters: Arc<Counters>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let protobuf = req
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
    if req.uri().path() != HTTP_TRACES_PATH || !protobuf {
        counters.reject();
        return Ok(status(StatusCode::NOT_FOUND));
    }
    let counted = match req.into_body().collect().await {
        Ok(body) => SpanCounts::of_bytes(&body.to_bytes()),
        Err(_) => None,
    };
    let Some(counts) = counted else {
        counters.reject();
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    counters.add(counts);
    let mut response = Response::new(Full::new(Bytes::from(
        ExportTraceServiceResponse::default().encode_to_vec(),
    )));
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    Ok(response)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// The gRPC service: counts and answers with an empty response.
struct GrpcSink {
    counters: Arc<Counters>,
}

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.counters.add(SpanCounts::of_request(request.get_ref()));
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

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

    #[test]
    fn counts_what_a_real_http_export_carries() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sink = Sink::start(runtime.handle()).expect("sink starts");
        let body = request(&[SpanKind::Server, SpanKind::Client]).encode_to_vec();
        let port = sink.http_port();
        let status = runtime.block_on(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            let req = Request::post(HTTP_TRACES_PATH)
                .header(CONTENT_TYPE, "application/x-protobuf")
                .body(Full::new(Bytes::from(body)))
                .expect("request");
            sender.send_request(req).await.expect("response").status()
        });
        assert_eq!(status, StatusCode::OK);
        let counts = sink.counts();
        assert_eq!((counts.server, counts.client, counts.exports), (1, 1, 1));
        assert_eq!(counts.since(&counts), SpanCounts::default());
    }
}
