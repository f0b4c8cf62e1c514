//! The plugin configuration: one typed struct, its documented defaults, and
//! `validate()` that names every bad field.
//!
//! The configuration is the JSON given as the Envoy Wasm filter's
//! `configuration` (or Istio's `WasmPlugin.pluginConfig`). Unknown fields and
//! invalid values are errors: `on_configure` fails, Envoy rejects the config,
//! and the log line names the field.

use std::fmt;

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

// === impl Config ===

impl Config {
    /// Checks value ranges, returning every problem found.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, problem: &str| {
            errors.push(FieldError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            bad("service_name", "must not be empty");
        }
        if self.spawn_upstream_span && self.direction == Direction::Outbound {
            bad(
                "spawn_upstream_span",
                "needs direction \"inbound\" (an outbound filter already reports the CLIENT span)",
            );
        }
        let c = &self.collector;
        if c.cluster.is_empty() {
            bad("collector.cluster", "must not be empty");
        }
        if c.authority.as_deref().is_some_and(str::is_empty) {
            bad("collector.authority", "must not be empty");
        }
        if !c.path.starts_with('/') {
            bad("collector.path", "must start with '/'");
        }
        if c.timeout_ms == 0 {
            bad("collector.timeout_ms", "must be at least 1");
        }
        for (name, _) in &c.headers {
            if !is_header_name(name) {
                bad(
                    &format!("collector.headers.{name}"),
                    "is not a lowercase HTTP header name (pseudo-headers are set by the filter)",
                );
            }
        }
        let ratio = self.sampler.ratio;
        if !(0.0..=1.0).contains(&ratio) {
            bad("sampler.ratio", "must be between 0 and 1");
        }
        let b = &self.batch;
        if b.max_spans == 0 {
            bad("batch.max_spans", "must be at least 1");
        }
        if b.flush_interval_ms == 0 {
            bad("batch.flush_interval_ms", "must be at least 1");
        }
        if b.max_queued_spans < b.max_spans {
            bad("batch.max_queued_spans", "must be at least batch.max_spans");
        }
        if b.max_in_flight == 0 {
            bad("batch.max_in_flight", "must be at least 1");
        }
        for (key, value) in &self.resource {
            if key.is_empty() {
                bad("resource", "attribute keys must not be empty");
            }
            if let ResourceValue::Float(f) = value
                && !f.is_finite()
            {
                bad(&format!("resource.{key}"), "must be a finite number");
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The `:authority` used for export calls: `collector.authority`, else
    /// `host:port` taken from an Istio cluster name
    /// (`outbound|4318||otel-collector.observability.svc.cluster.local`),
    /// else the cluster name. A `|` is not valid in a `Host` header, so
    /// Istio's names are never sent verbatim.
    pub fn collector_authority(&self) -> String {
        if let Some(authority) = &self.collector.authority {
            return authority.clone();
        }
        let cluster = &self.collector.cluster;
        let mut parts = cluster.split('|');
        match (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) {
            (Some(_direction), Some(port), Some(_subset), Some(host), None)
                if !host.is_empty() && port.parse::<u16>().is_ok() =>
            {
                format!("{host}:{port}")
            }
            _ => cluster.clone(),
        }
    }
}

/// RFC 9110 token, lowercase (HTTP/2 and Envoy require lowercase names).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(list: &'a [(String, ResourceValue)], key: &str) -> Option<&'a ResourceValue> {
        list.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn err(json: &str) -> ConfigError {
        match Config::from_json(json.as_bytes()) {
            Ok(c) => panic!("{json} should be rejected, got {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = Config::from_json(br#"{"direction":"inbound"}"#).expect("valid");
        assert_eq!(c.direction, Direction::Inbound);
        assert_eq!(c.collector.cluster, "otel_collector");
        assert_eq!(c.collector.protocol, Protocol::HttpProtobuf);
        assert_eq!(c.collector.path, "/v1/traces");
        assert_eq!(c.collector.timeout_ms, 5_000);
        assert_eq!(c.collector_authority(), "otel_collector");
        assert_eq!(c.sampler.ratio, 1.0);
        assert_eq!(c.batch.max_spans, 512);
        assert_eq!(c.batch.flush_interval_ms, 1_000);
        assert_eq!(c.batch.max_queued_spans, 2_048);
        assert_eq!(c.batch.max_in_flight, 2);
        assert!(!c.attributes.url_query);
        assert!(!c.attributes.connection);
        assert!(!c.spawn_upstream_span);
        assert!(c.service_name.is_none());
    }

    #[test]
    fn full_config_parses() {
        let c = Config::from_json(
            br#"{
              "service_name": "gateway",
              "direction": "inbound",
              "spawn_upstream_span": true,
              "collector": {"cluster": "otel", "protocol": "grpc", "authority": "collector:4317",
                            "path": "/custom", "timeout_ms": 250, "headers": {"authorization": "Bearer x"}},
              "sampler": {"ratio": 0.25},
              "batch": {"max_spans": 10, "flush_interval_ms": 200, "max_queued_spans": 100, "max_in_flight": 1},
              "resource": {"deployment.environment.name": "prod", "k8s.pod.count": 3, "canary": true, "weight": 0.5},
              "attributes": {"url_query": true, "connection": true}
            }"#,
        )
        .expect("valid");
        assert_eq!(c.direction, Direction::Inbound);
        assert!(c.spawn_upstream_span);
        assert_eq!(c.collector.protocol, Protocol::Grpc);
        assert_eq!(c.collector_authority(), "collector:4317");
        assert_eq!(
            get(&c.resource, "k8s.pod.count"),
            Some(&ResourceValue::Int(3))
        );
        assert_eq!(get(&c.resource, "canary"), Some(&ResourceValue::Bool(true)));
        assert_eq!(get(&c.resource, "weight"), Some(&ResourceValue::Float(0.5)));
        assert!(c.attributes.url_query);
        assert!(c.attributes.connection);
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{}"#, "direction", "direction is required"),
            (
                r#"{"direction":"sideways"}"#,
                "direction",
                "direction has two valid values",
            ),
            (
                r#"{"direction":"inbound","bogus":1}"#,
                "bogus",
                "unknown top-level field",
            ),
            (
                r#"{"direction":"inbound","batch":{"max_spanz":1}}"#,
                "batch.max_spanz",
                "unknown nested field",
            ),
            (
                r#"{"direction":"inbound","batch":{"max_spans":"ten"}}"#,
                "batch.max_spans",
                "wrong type",
            ),
            (
                r#"{"direction":"inbound","collector":{"protocol":"http/json"}}"#,
                "collector.protocol",
                "unsupported protocol",
            ),
            (
                r#"{"direction":"inbound","sampler":{"ratio":1.5}}"#,
                "sampler.ratio",
                "ratio above 1",
            ),
            (
                r#"{"direction":"inbound","sampler":{"ratio":-0.1}}"#,
                "sampler.ratio",
                "negative ratio",
            ),
            (
                r#"{"direction":"inbound","batch":{"max_spans":0}}"#,
                "batch.max_spans",
                "empty batches",
            ),
            (
                r#"{"direction":"inbound","batch":{"max_spans":100,"max_queued_spans":10}}"#,
                "batch.max_queued_spans",
                "queue smaller than a batch",
            ),
            (
                r#"{"direction":"inbound","batch":{"flush_interval_ms":0}}"#,
                "batch.flush_interval_ms",
                "zero interval",
            ),
            (
                r#"{"direction":"inbound","batch":{"max_in_flight":0}}"#,
                "batch.max_in_flight",
                "no export could ever run",
            ),
            (
                r#"{"direction":"inbound","collector":{"cluster":""}}"#,
                "collector.cluster",
                "empty cluster",
            ),
            (
                r#"{"direction":"inbound","collector":{"timeout_ms":0}}"#,
                "collector.timeout_ms",
                "zero timeout",
            ),
            (
                r#"{"direction":"inbound","collector":{"path":"v1/traces"}}"#,
                "collector.path",
                "relative path",
            ),
            (
                r#"{"direction":"inbound","collector":{"headers":{"Authorization":"x"}}}"#,
                "collector.headers.Authorization",
                "uppercase header name",
            ),
            (
                r#"{"direction":"inbound","service_name":" "}"#,
                "service_name",
                "blank service name",
            ),
            (
                r#"{"direction":"outbound","spawn_upstream_span":true}"#,
                "spawn_upstream_span",
                "an outbound filter already makes the CLIENT span",
            ),
            (
                r#"{"direction":"inbound","spawn_upstream_span":"yes"}"#,
                "spawn_upstream_span",
                "wrong type",
            ),
            (r#"not json"#, "(root)", "syntax error"),
        ];
        for (json, field, reason) in cases {
            let e = err(json);
            let fields: Vec<String> = match &e {
                ConfigError::Parse(f) => vec![f.field.clone()],
                ConfigError::Invalid(list) => list.iter().map(|f| f.field.clone()).collect(),
            };
            assert!(
                fields.iter().any(|f| f == field),
                "{reason}: expected field {field} in {e}"
            );
            assert!(e.to_string().contains(field), "{reason}: message {e}");
        }
    }

    #[test]
    fn istio_cluster_names_become_a_valid_authority() {
        let c = Config::from_json(
            br#"{"direction":"inbound","collector":{"cluster":"outbound|4318||otel-collector.observability.svc.cluster.local"}}"#,
        )
        .expect("valid");
        assert_eq!(
            c.collector_authority(),
            "otel-collector.observability.svc.cluster.local:4318"
        );
        let c = Config::from_json(br#"{"direction":"inbound","collector":{"cluster":"a|b"}}"#)
            .expect("valid");
        assert_eq!(c.collector_authority(), "a|b", "not an Istio name: as is");
    }

    #[test]
    fn validation_reports_every_problem() {
        let e = err(r#"{"direction":"inbound","sampler":{"ratio":2},"batch":{"max_spans":0}}"#);
        let ConfigError::Invalid(list) = e else {
            panic!("expected validation errors, got {e}");
        };
        assert_eq!(list.len(), 2, "{list:?}");
    }
}
