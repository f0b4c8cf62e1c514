//! The plugin configuration: one typed struct, its documented defaults, and
//! `validate()` that names every bad field.
//!
//! The configuration is the JSON given as the Envoy Wasm filter's
//! `configuration` (or Istio's `WasmPlugin.pluginConfig`). Unknown fields and
//! invalid values are errors: `on_configure` fails, Envoy rejects the config,
//! and the log line names the field.

use std::fmt;

pub use crate::route::RouteTemplate;
pub use crate::traceresponse::TraceResponseMode;
pub use crate::trust::{Cidr, IncomingTrust, TrustPolicy};

/// Default collector cluster name (the cluster in the shipped Envoy configs).
pub const DEFAULT_COLLECTOR_CLUSTER: &str = "otel_collector";
/// Default OTLP/HTTP path.
pub const DEFAULT_COLLECTOR_PATH: &str = "/v1/traces";
/// Default collector call timeout in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
/// Default spans per export request (the OpenTelemetry BatchSpanProcessor default).
pub const DEFAULT_MAX_SPANS: u32 = 512;
/// Default flush interval in milliseconds.
pub const DEFAULT_FLUSH_INTERVAL_MS: u32 = 1_000;
/// Default bound on spans held per VM, queued and in flight (the
/// BatchSpanProcessor's default queue size).
pub const DEFAULT_MAX_QUEUED_SPANS: u32 = 2_048;
/// Default number of export calls in flight at once per VM.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 2;

/// Whether the filter sits on the inbound or the outbound path of the
/// workload, which decides the span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Requests into the local workload: SERVER spans.
    Inbound,
    /// Requests the local workload makes to others: CLIENT spans.
    Outbound,
}

/// The OTLP transport used to reach the collector cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// OTLP/HTTP with a protobuf body, `POST {path}` (the OTLP default).
    #[default]
    HttpProtobuf,
    /// OTLP/gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    Grpc,
}

/// The whole plugin configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `service.name` of the exported spans. Default: Envoy's `node.cluster`
    /// when set (Istio sets it to the workload name), else
    /// `unknown_service:envoy`.
    pub service_name: Option<String>,
    /// `inbound` (SERVER spans) or `outbound` (CLIENT spans). Required.
    pub direction: Direction,
    /// With `inbound`: also report the request the proxy forwards upstream
    /// as a CLIENT span, child of the SERVER span, and send that CLIENT
    /// span upstream as the parent (Envoy's own
    /// `tracing.spawn_upstream_span`). One filter instance then does what
    /// an inbound and an outbound instance in the same chain would, at
    /// half the cost. Default `false`; not valid with `outbound`.
    pub spawn_upstream_span: bool,
    /// Where and how spans are exported.
    pub collector: CollectorConfig,
    /// Sampling of new traces.
    pub sampler: SamplerConfig,
    /// Batching and memory bounds.
    pub batch: BatchConfig,
    /// Extra resource attributes (string, bool, integer or float values),
    /// sorted by key.
    pub resource: Vec<(String, ResourceValue)>,
    /// Opt-in span attributes.
    pub attributes: AttributesConfig,
    /// The experimental `traceresponse` response header (W3C Trace Context
    /// Level 3 editor's draft): `"off"` (default, responses untouched),
    /// `"on"` (answer with this proxy's span; `direction: inbound` only),
    /// `"trusted"` (`"on"` for callers `trust` trusts, `"strip"` for the
    /// others; inbound only) or `"strip"` (remove an upstream's, add none:
    /// for a gateway).
    pub traceresponse: TraceResponseMode,
    /// The context formats read and written, named as in
    /// `OTEL_PROPAGATORS`: `tracecontext` (W3C), `b3` (the single `b3`
    /// header), `b3multi` (`X-B3-*`), `baggage` (accepted; the filter
    /// forwards `baggage` unchanged either way). Default
    /// `["tracecontext", "baggage"]`. A valid `traceparent` wins; B3 is
    /// read only when there is none, and both B3 forms are read when
    /// either is named.
    pub propagators: PropagatorsConfig,
    /// What incoming context may do.
    pub trust: TrustConfig,
    /// Route templates (`"/orders/{id}"`) matched against the path, first
    /// match wins: the span is named `{method} {template}` and records it
    /// as `http.route` (SERVER) or `url.template` (CLIENT). Default none:
    /// the span is named after the method alone.
    pub routes: Vec<RouteTemplate>,
    /// Per Envoy route (by its `name` in the route configuration, read
    /// from `xds.route_name`, one host call per request when any is set):
    /// `{"tracing": false}` leaves the route's requests untouched (no span,
    /// no header written: health checks, readiness probes), or
    /// `{"sampler_ratio": r}` samples the route's new traces at `r`
    /// instead of `sampler.ratio`. Sorted by route name.
    pub route_overrides: Vec<(String, RouteOverride)>,
}

/// One entry of `route_overrides`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RouteOverride {
    /// `false`: the filter does nothing for the route. Default `true`.
    pub tracing: bool,
    /// The route's ratio for new traces, instead of `sampler.ratio`.
    pub sampler_ratio: Option<f64>,
}

impl Default for RouteOverride {
    fn default() -> Self {
        Self {
            tracing: true,
            sampler_ratio: None,
        }
    }
}

/// `trust { ... }`: what incoming context may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustConfig {
    /// Whose incoming context is continued: `incoming` `"always"`
    /// (default), `"never"` (a new trace per request, the incoming context
    /// kept as a span link) or `"peers"`: continued only when the
    /// downstream address is in `peers` (CIDRs, e.g. `"10.0.0.0/8"`) or the
    /// request carries `header` (set by an earlier filter such as
    /// `ext_authz`; Envoy must strip it from clients).
    pub policy: TrustPolicy,
    /// At most this many requests per second (per Envoy worker) may be
    /// sampled because the caller said so (a sampled `traceparent`, a B3
    /// accept or debug); beyond it they continue their trace unsampled and
    /// count in `meshtrace.sampling_capped`. Default: no cap. New roots
    /// sampled by `sampler.ratio` are not counted.
    pub max_sampled_per_second: Option<u32>,
}

/// `propagators [ ... ]`: which formats are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropagatorsConfig {
    /// W3C `traceparent` / `tracestate`.
    pub tracecontext: bool,
    /// The single `b3` header.
    pub b3: bool,
    /// The `X-B3-*` headers.
    pub b3multi: bool,
}

impl Default for PropagatorsConfig {
    fn default() -> Self {
        Self {
            tracecontext: true,
            b3: false,
            b3multi: false,
        }
    }
}

impl PropagatorsConfig {
    /// Whether B3 headers are read.
    pub fn reads_b3(&self) -> bool {
        self.b3 || self.b3multi
    }
}

/// `collector { ... }`.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Envoy cluster of the collector. Default `otel_collector`.
    pub cluster: String,
    /// `http/protobuf` (default) or `grpc`.
    pub protocol: Protocol,
    /// `:authority` of export calls. Default: the cluster name.
    pub authority: Option<String>,
    /// Path of OTLP/HTTP export calls. Default `/v1/traces`. Unused by gRPC.
    pub path: String,
    /// Timeout of one export call in milliseconds. Default 5000.
    pub timeout_ms: u32,
    /// Extra headers (HTTP) or metadata (gRPC) sent with every export call,
    /// for example an authorization token. Sorted by name.
    pub headers: Vec<(String, String)>,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            cluster: DEFAULT_COLLECTOR_CLUSTER.to_owned(),
            protocol: Protocol::default(),
            authority: None,
            path: DEFAULT_COLLECTOR_PATH.to_owned(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            headers: Vec::new(),
        }
    }
}

/// `sampler { ... }`: parent-based, with a ratio for new root traces.
#[derive(Debug, Clone)]
pub struct SamplerConfig {
    /// Probability in `[0, 1]` that a new root trace is sampled. Default 1.0.
    /// A request with a valid incoming `traceparent` follows its sampled flag.
    pub ratio: f64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self { ratio: 1.0 }
    }
}

/// `batch { ... }`.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Spans per export call; a full batch is exported at once. Default 512.
    pub max_spans: u32,
    /// Queued spans are exported at least this often. Default 1000 ms.
    pub flush_interval_ms: u32,
    /// Spans held per VM, queued and in flight; beyond it new spans are
    /// dropped and counted. Default 2048.
    pub max_queued_spans: u32,
    /// Export calls in flight at once per VM. Default 2.
    pub max_in_flight: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_spans: DEFAULT_MAX_SPANS,
            flush_interval_ms: DEFAULT_FLUSH_INTERVAL_MS,
            max_queued_spans: DEFAULT_MAX_QUEUED_SPANS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// `attributes { ... }`: attributes that are off by default.
#[derive(Debug, Clone, Default)]
pub struct AttributesConfig {
    /// Record `url.query` (Opt-In in the HTTP semantic conventions). Values of
    /// the keys the conventions name as sensitive are replaced by `REDACTED`.
    pub url_query: bool,
    /// Record `client.address` (SERVER spans), `network.protocol.version`
    /// and, on SERVER spans too, `envoy.upstream.cluster`. These are Envoy
    /// attributes, not headers: one CEL evaluation per sampled request
    /// (about 7 µs of Envoy CPU in Envoy 1.40), so they are off by
    /// default. CLIENT spans always record `envoy.upstream.cluster`.
    pub connection: bool,
}

/// A resource attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    String(String),
}

/// One problem in the configuration, with the dotted path of its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `batch.max_spans`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

/// Why a configuration was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The configuration is not JSON, or not a JSON object.
    #[error("invalid plugin configuration: {0}")]
    Parse(FieldError),
    /// Fields are unknown, missing, of the wrong type or out of range;
    /// every problem is listed.
    #[error("invalid plugin configuration: {}", join(.0))]
    Invalid(Vec<FieldError>),
}

fn join(errors: &[FieldError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&e.to_string());
    }
    out
}

mod json;
mod validate;

#[cfg(test)]
mod tests;
