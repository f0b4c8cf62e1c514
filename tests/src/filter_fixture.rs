//! Drives the real meshtrace filter module through the wasmtime host, one
//! request at a time, and decodes what it exports.

use anyhow::{Context as _, Result, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

pub use meshtrace_harness::otlp::{attr, hex, int_attr, spans, str_attr};

use crate::proxy_wasm_host::{PluginHost, StreamId, filter_module, int_property};

/// The collector cluster the fixtures register with the host.
pub const COLLECTOR: &str = "otel_collector";

/// A request as the downstream (or the local app) sends it, and how the
/// exchange ends.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request headers, pseudo-headers included.
    pub headers: Vec<(String, String)>,
    /// Response status, `None` for a request that got no response.
    pub status: Option<i64>,
    /// Envoy `response.flags` bits.
    pub response_flags: u64,
    /// Envoy `request.protocol`.
    pub protocol: String,
    /// Envoy `source.address`.
    pub source_address: String,
    /// Envoy `xds.cluster_name`.
    pub cluster: String,
    /// Response headers the upstream sends besides `:status`.
    pub response_headers: Vec<(String, String)>,
    /// Envoy `xds.route_name`: the route the request matched.
    pub route_name: Option<String>,
}

// === impl Request ===

impl Request {
    /// `GET {path}` to `orders.svc:8080` over HTTP/1.1, answered 200.
    pub fn get(path: &str) -> Self {
        Self {
            headers: vec![
                (":method".into(), "GET".into()),
                (":path".into(), path.into()),
                (":scheme".into(), "http".into()),
                (":authority".into(), "orders.svc:8080".into()),
                ("user-agent".into(), "test-client/1.0".into()),
                ("x-request-id".into(), "req-42".into()),
            ],
            status: Some(200),
            response_flags: 0,
            protocol: "HTTP/1.1".into(),
            source_address: "10.1.2.3:40000".into(),
            cluster: "orders".into(),
            response_headers: Vec::new(),
            route_name: None,
        }
    }

    /// Sets the Envoy route the request matched (`xds.route_name`).
    pub fn route(mut self, name: &str) -> Self {
        self.route_name = Some(name.into());
        self
    }

    /// Adds a response header the upstream sends.
    pub fn response_header(mut self, name: &str, value: &str) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }

    /// Adds a request header (repeats allowed).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces a pseudo-header or header value.
    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| k != name);
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the response status.
    pub fn status(mut self, status: i64) -> Self {
        self.status = Some(status);
        self
    }

    /// The request ends without a response (reset), with these Envoy flags.
    pub fn no_response(mut self, flags: u64) -> Self {
        self.status = None;
        self.response_flags = flags;
        self
    }
}

/// What the filter did to one request.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The host's stream id.
    pub stream: StreamId,
    /// Request headers as forwarded upstream.
    pub upstream: Vec<(String, String)>,
}

// === impl Exchange ===

impl Exchange {
    /// Every upstream value of `name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.upstream
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The single upstream `traceparent`, parsed into (trace id, parent id,
    /// flags); fails if there is not exactly one or it is malformed.
    pub fn traceparent(&self) -> Result<(String, String, String)> {
        let values = self.values("traceparent");
        let [one] = values.as_slice() else {
            bail!("expected one upstream traceparent, got {values:?}");
        };
        let parts: Vec<&str> = one.split('-').collect();
        let [version, trace, parent, flags] = parts.as_slice() else {
            bail!("malformed upstream traceparent {one}");
        };
        if *version != "00" || trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            bail!("malformed upstream traceparent {one}");
        }
        let lower_hex = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !(lower_hex(trace) && lower_hex(parent) && lower_hex(flags)) {
            bail!("upstream traceparent is not lowercase hex: {one}");
        }
        if trace.bytes().all(|b| b == b'0') || parent.bytes().all(|b| b == b'0') {
            bail!("upstream traceparent has a zero id: {one}");
        }
        Ok((trace.to_string(), parent.to_string(), flags.to_string()))
    }
}

/// The filter loaded in a fresh VM, configured, with the collector cluster
/// registered.
pub struct FilterHarness {
    /// The host, for direct inspection.
    pub host: PluginHost,
}

// === impl FilterHarness ===

impl FilterHarness {
    /// Loads and configures the filter; fails if the configuration is rejected.
    pub fn new(config: &str) -> Result<Self> {
        let (host, accepted) = Self::configure(config)?;
        if !accepted {
            bail!("configuration rejected: {config}\nlogs: {:?}", host.logs());
        }
        Ok(Self { host })
    }

    /// Loads the filter and returns the host and `on_configure`'s answer.
    pub fn configure(config: &str) -> Result<(PluginHost, bool)> {
        let mut host = PluginHost::new(filter_module()).context("instantiate filter")?;
        host.add_cluster(COLLECTOR);
        let accepted = host.configure(config.as_bytes())?;
        Ok((host, accepted))
    }

    /// Runs the request headers through the filter (the upstream view).
    pub fn begin(&mut self, req: &Request) -> Result<Exchange> {
        let stream = self.host.create_http_stream()?;
        self.host
            .set_stream_property(stream, &["request", "protocol"], req.protocol.as_bytes());
        self.host.set_stream_property(
            stream,
            &["source", "address"],
            req.source_address.as_bytes(),
        );
        if let Some(route) = &req.route_name {
            self.host
                .set_stream_property(stream, &["xds", "route_name"], route.as_bytes());
        }
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.host.on_request_headers(stream, &headers, true)?;
        Ok(Exchange {
            stream,
            upstream: self.host.request_headers(stream),
        })
    }

    /// Ends the exchange: response (if any) and the log phase.
    pub fn end(&mut self, exchange: &Exchange, req: &Request) -> Result<()> {
        let stream = exchange.stream;
        self.host
            .set_stream_property(stream, &["xds", "cluster_name"], req.cluster.as_bytes());
        self.host.set_stream_property(
            stream,
            &["response", "flags"],
            int_property(req.response_flags as i64),
        );
        if let Some(status) = req.status {
            self.host
                .set_stream_property(stream, &["response", "code"], int_property(status));
            let code = status.to_string();
            let mut headers = vec![(":status", code.as_str())];
            headers.extend(
                req.response_headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            self.host.on_response_headers(stream, &headers, true)?;
        }
        self.host.advance(std::time::Duration::from_millis(3));
        self.host.finish_stream(stream)
    }

    /// A whole request: begin then end.
    pub fn send(&mut self, req: &Request) -> Result<Exchange> {
        let exchange = self.begin(req)?;
        self.end(&exchange, req)?;
        Ok(exchange)
    }

    /// Fires the root's tick (the periodic flush).
    pub fn tick(&mut self) -> Result<()> {
        self.host.tick()
    }

    /// Answers every pending OTLP/HTTP export call with `status` and returns
    /// the decoded requests.
    pub fn answer_http_exports(&mut self, status: u16) -> Result<Vec<ExportTraceServiceRequest>> {
        let mut out = Vec::new();
        for call in self.host.take_http_callouts() {
            out.push(decode_export(&call.body)?);
            let code = status.to_string();
            self.host
                .respond_http_call(call.token, &[(":status", code.as_str())], b"")?;
        }
        Ok(out)
    }

    /// Ticks, then answers every pending export call, OTLP/HTTP with 200 or
    /// OTLP/gRPC with OK, and returns the decoded requests of both kinds.
    pub fn flush_and_collect(&mut self) -> Result<Vec<ExportTraceServiceRequest>> {
        self.tick()?;
        let mut out = self.answer_http_exports(200)?;
        for call in self.host.take_grpc_callouts() {
            if call.service != "opentelemetry.proto.collector.trace.v1.TraceService"
                || call.method != "Export"
            {
                bail!("unexpected gRPC call {}/{}", call.service, call.method);
            }
            out.push(decode_export(&call.message)?);
            self.host.respond_grpc_call(call.token, 0, b"")?;
        }
        Ok(out)
    }

    /// Counter value (0 when never incremented or not defined).
    pub fn counter(&self, name: &str) -> u64 {
        self.host.metric(name).unwrap_or(0)
    }
}

/// Decodes an OTLP export body.
pub fn decode_export(body: &[u8]) -> Result<ExportTraceServiceRequest> {
    ExportTraceServiceRequest::decode(body)
        .context("export body is not an ExportTraceServiceRequest")
}
