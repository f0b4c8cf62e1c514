//! The Envoy configurations under test, rendered as YAML.
//!
//! Every configuration has one HTTP listener on `127.0.0.1` (`stat_prefix:
//! ingress`), one admin listener, the collector clusters pointing at the
//! sink, and (variant `upstream`) a cluster of the fast upstream. They
//! differ only in tracing:
//!
//! - [`TracerConfig::None`]: no tracing at all.
//! - [`TracerConfig::Native`]: the connection manager's `tracing` with the
//!   `envoy.tracers.opentelemetry` provider, `random_sampling` 100 %. With an
//!   upstream, `spawn_upstream_span: true` makes the router add a CLIENT span
//!   per upstream request, so the native tracer reports SERVER + CLIENT.
//!   Batching is set through the runtime keys the tracer reads:
//!   `tracing.opentelemetry.flush_interval_ms` 1000 and
//!   `tracing.opentelemetry.min_flush_spans` 512, with `max_cache_size` 2048:
//!   the same bounds as meshtrace's `batch` defaults.
//! - [`TracerConfig::Meshtrace`] and its profiling forms: the meshtrace wasm
//!   filter (V8) with `sampler.ratio` 1 and `batch.flush_interval_ms` 1000,
//!   as `direction: inbound` (SERVER); with an upstream it also sets
//!   `spawn_upstream_span: true`, so the same instance reports the CLIENT
//!   child, as the native tracer's `spawn_upstream_span` does. The
//!   profiling form [`TracerConfig::MeshtraceChain`] gets the CLIENT span
//!   the other way: a second, `direction: outbound` instance after the
//!   first in the same filter chain.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use meshtrace_harness::Protocol;
use meshtrace_harness::filter_config::{Direction, FilterConfig};

/// Whether Envoy answers itself or proxies to the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `direct_response` 200: one SERVER span per request.
    Direct,
    /// Routed to the fast upstream: SERVER + CLIENT span per request.
    Upstream,
}

/// How a configuration traces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TracerConfig {
    /// No tracing.
    None,
    /// Envoy's built-in OpenTelemetry tracer.
    Native,
    /// The meshtrace filter as shipped.
    Meshtrace,
    /// Profiling: the meshtrace filter, load sends an unsampled
    /// `traceparent` (propagation only, no span).
    MeshtraceUnsampled,
    /// Profiling: the meshtrace filter exporting to a cluster with no
    /// endpoint (spans built and encoded, export calls fail at once).
    MeshtraceNoExport,
    /// Profiling: the meshtrace filter from another module build (e.g.
    /// `opt-level = 3`).
    MeshtraceAlt(PathBuf),
    /// Profiling (upstream variant): the CLIENT span from a second,
    /// outbound instance instead of `spawn_upstream_span`.
    MeshtraceChain,
}

/// Ports and paths one rendering needs.
#[derive(Debug, Clone)]
pub struct Ports {
    /// The traced listener.
    pub listener: u16,
    /// Envoy's admin listener.
    pub admin: u16,
    /// The sink's OTLP/HTTP port.
    pub sink_http: u16,
    /// The sink's OTLP/gRPC port.
    pub sink_grpc: u16,
    /// The fast upstream.
    pub upstream: u16,
}

/// Envoy's HTTP connection manager stat prefix of the traced listener.
pub const STAT_PREFIX: &str = "ingress";

/// `batch.max_spans` / `min_flush_spans`: spans per export call.
pub const BATCH_SPANS: u32 = 512;
/// `batch.max_queued_spans` / `max_cache_size`.
pub const MAX_QUEUED_SPANS: u32 = 2048;
/// Export interval, both tracers.
pub const FLUSH_INTERVAL_MS: u32 = 1000;

// === impl Variant ===

impl Variant {
    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Upstream => "upstream",
        }
    }

    /// Parses [`Variant::name`].
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Direct, Self::Upstream]
            .into_iter()
            .find(|v| v.name() == name)
    }
}

// === impl TracerConfig ===

impl TracerConfig {
    /// Its name on the command line and in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Native => "native",
            Self::Meshtrace => "meshtrace",
            Self::MeshtraceUnsampled => "meshtrace-unsampled",
            Self::MeshtraceNoExport => "meshtrace-noexport",
            Self::MeshtraceAlt(_) => "meshtrace-alt",
            Self::MeshtraceChain => "meshtrace-chain",
        }
    }

    /// Parses [`TracerConfig::name`]; `meshtrace-alt` takes the module
    /// `alt_module`.
    pub fn parse(name: &str, alt_module: Option<&Path>) -> Option<Self> {
        Some(match name {
            "none" => Self::None,
            "native" => Self::Native,
            "meshtrace" => Self::Meshtrace,
            "meshtrace-unsampled" => Self::MeshtraceUnsampled,
            "meshtrace-noexport" => Self::MeshtraceNoExport,
            "meshtrace-alt" => Self::MeshtraceAlt(alt_module?.to_path_buf()),
            "meshtrace-chain" => Self::MeshtraceChain,
            _ => return None,
        })
    }

    /// Whether the load sends a sampled `traceparent` (all but
    /// [`TracerConfig::MeshtraceUnsampled`]).
    pub fn sampled_load(&self) -> bool {
        *self != Self::MeshtraceUnsampled
    }

    /// Whether the sink must receive one span per request per kind.
    pub fn exports_spans(&self) -> bool {
        matches!(
            self,
            Self::Native | Self::Meshtrace | Self::MeshtraceAlt(_) | Self::MeshtraceChain
        )
    }

    fn module<'a>(&'a self, default: &'a Path) -> Option<&'a Path> {
        match self {
            Self::None | Self::Native => None,
            Self::MeshtraceAlt(path) => Some(path),
            _ => Some(default),
        }
    }
}

/// Renders the bootstrap for one run.
pub fn render(
    variant: Variant,
    tracer: &TracerConfig,
    protocol: Protocol,
    module: &Path,
    ports: &Ports,
) -> String {
    let mut hcm_tracing = String::new();
    if *tracer == TracerConfig::Native {
        hcm_tracing = native_tracing(variant, protocol, ports);
    }
    let route = match variant {
        Variant::Direct => {
            "direct_response: { status: 200, body: { inline_string: \"ok\" } }".to_owned()
        }
        Variant::Upstream => "route: { cluster: upstream }".to_owned(),
    };
    let mut filters = String::new();
    if let Some(module) = tracer.module(module) {
        let cluster = match tracer {
            TracerConfig::MeshtraceNoExport => "no_endpoint",
            _ => protocol.shipped_cluster(),
        };
        let chain = *tracer == TracerConfig::MeshtraceChain;
        let spawn = variant == Variant::Upstream && !chain;
        filters.push_str(&wasm_filter(
            Direction::Inbound,
            spawn,
            cluster,
            protocol,
            module,
        ));
        if variant == Variant::Upstream && chain {
            filters.push_str(&wasm_filter(
                Direction::Outbound,
                false,
                cluster,
                protocol,
                module,
            ));
        }
    }
    let Ports {
        listener,
        admin,
        sink_http,
        sink_grpc,
        upstream,
    } = ports;
    format!(
        r#"# Generated by meshtrace-bench: variant {variant}, tracer {tracer}.
node: {{ id: bench, cluster: bench }}
admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: {admin} }} }}
layered_runtime:
  layers:
  - name: bench
    static_layer:
      tracing.opentelemetry.flush_interval_ms: {FLUSH_INTERVAL_MS}
      tracing.opentelemetry.min_flush_spans: {BATCH_SPANS}
overload_manager:
  resource_monitors:
  - name: envoy.resource_monitors.global_downstream_max_connections
    typed_config:
      "@type": type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig
      max_active_downstream_connections: 10000
static_resources:
  listeners:
  - name: ingress
    traffic_direction: INBOUND
    address: {{ socket_address: {{ address: 127.0.0.1, port_value: {listener} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: {STAT_PREFIX}
          codec_type: AUTO
{hcm_tracing}          route_config:
            name: bench
            virtual_hosts:
            - name: bench
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                {route}
          http_filters:
{filters}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{upstream_cluster}{collector_http}{collector_grpc}  - name: no_endpoint
    type: STATIC
    connect_timeout: 1s
    load_assignment: {{ cluster_name: no_endpoint, endpoints: [] }}
"#,
        variant = variant.name(),
        tracer = tracer.name(),
        upstream_cluster = cluster("upstream", *upstream, false),
        collector_http = cluster("otel_collector", *sink_http, false),
        collector_grpc = cluster("otel_collector_grpc", *sink_grpc, true),
    )
}

fn native_tracing(variant: Variant, protocol: Protocol, ports: &Ports) -> String {
    let exporter = match protocol {
        Protocol::HttpProtobuf => format!(
            "http_service:\n                  http_uri: {{ uri: \"http://127.0.0.1:{}/v1/traces\", cluster: otel_collector, timeout: 5s }}",
            ports.sink_http
        ),
        Protocol::Grpc => "grpc_service:\n                  envoy_grpc: { cluster_name: otel_collector_grpc }\n                  timeout: 5s".to_owned(),
    };
    let spawn = variant == Variant::Upstream;
    format!(
        r#"          tracing:
            random_sampling: {{ value: 100 }}
            spawn_upstream_span: {spawn}
            provider:
              name: envoy.tracers.opentelemetry
              typed_config:
                "@type": type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig
                service_name: bench
                max_cache_size: {MAX_QUEUED_SPANS}
                {exporter}
"#
    )
}

fn wasm_filter(
    direction: Direction,
    spawn_upstream_span: bool,
    cluster: &str,
    protocol: Protocol,
    module: &Path,
) -> String {
    let mut config = FilterConfig::with_role(direction, "bench")
        .with_collector(protocol)
        .with_collector_cluster(cluster)
        .with_sampler_ratio(1.0)
        .with_max_spans(BATCH_SPANS)
        .with_flush_interval_ms(FLUSH_INTERVAL_MS)
        .with_max_queued_spans(MAX_QUEUED_SPANS);
    // Only when set, so that an older module (`meshtrace-alt`) that does
    // not know the field still loads in the direct variant.
    if spawn_upstream_span {
        config = config.with_spawn_upstream_span(true);
    }
    let configuration = config.to_json();
    let direction = direction.as_str();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: meshtrace_{direction}
                root_id: meshtrace_{direction}
                failure_policy: FAIL_OPEN
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: '{configuration}'
                vm_config:
                  vm_id: meshtrace_{direction}
                  runtime: envoy.wasm.runtime.v8
                  code: {{ local: {{ filename: "{module}" }} }}
"#,
        module = module.display(),
    );
    out
}

fn cluster(name: &str, port: u16, http2: bool) -> String {
    let protocol = if http2 {
        r#"    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
"#
    } else {
        ""
    };
    format!(
        r#"  - name: {name}
    type: STATIC
    connect_timeout: 1s
{protocol}    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Ports {
        Ports {
            listener: 10000,
            admin: 10001,
            sink_http: 4318,
            sink_grpc: 4317,
            upstream: 8080,
        }
    }

    #[test]
    fn only_the_native_config_has_hcm_tracing() {
        let module = Path::new("/m.wasm");
        for (tracer, native) in [
            (TracerConfig::None, false),
            (TracerConfig::Native, true),
            (TracerConfig::Meshtrace, false),
        ] {
            let yaml = render(
                Variant::Direct,
                &tracer,
                Protocol::HttpProtobuf,
                module,
                &ports(),
            );
            assert_eq!(
                yaml.contains("envoy.tracers.opentelemetry"),
                native,
                "{}",
                tracer.name()
            );
            assert_eq!(
                yaml.contains("envoy.filters.http.wasm"),
                tracer == TracerConfig::Meshtrace,
                "{}",
                tracer.name()
            );
        }
    }

    #[test]
    fn upstream_variant_gets_a_client_span_from_both_tracers() {
        let module = Path::new("/m.wasm");
        let mesh = render(
            Variant::Upstream,
            &TracerConfig::Meshtrace,
            Protocol::Grpc,
            module,
            &ports(),
        );
        assert!(mesh.contains(r#""direction":"inbound","sampler":{"ratio":1.0},"service_name":"bench","spawn_upstream_span":true"#));
        assert!(!mesh.contains(r#""direction":"outbound""#), "one instance");
        assert!(mesh.contains(r#""cluster":"otel_collector_grpc","protocol":"grpc""#));
        let chain = render(
            Variant::Upstream,
            &TracerConfig::MeshtraceChain,
            Protocol::Grpc,
            module,
            &ports(),
        );
        assert!(chain.contains(r#""direction":"inbound","sampler""#));
        assert!(chain.contains(r#""direction":"outbound","sampler""#));
        assert!(
            !chain.contains("spawn_upstream_span"),
            "two instances instead"
        );
        let native = render(
            Variant::Upstream,
            &TracerConfig::Native,
            Protocol::Grpc,
            module,
            &ports(),
        );
        assert!(native.contains("spawn_upstream_span: true"));
        assert!(native.contains("envoy_grpc: { cluster_name: otel_collector_grpc }"));
    }

    #[test]
    fn names_round_trip() {
        for name in [
            "none",
            "native",
            "meshtrace",
            "meshtrace-unsampled",
            "meshtrace-noexport",
            "meshtrace-chain",
        ] {
            let parsed = TracerConfig::parse(name, None).expect(name);
            assert_eq!(parsed.name(), name);
        }
        assert_eq!(TracerConfig::parse("meshtrace-alt", None), None);
        assert!(TracerConfig::parse("meshtrace-alt", Some(Path::new("/o3.wasm"))).is_some());
        assert_eq!(Variant::parse("upstream"), Some(Variant::Upstream));
        assert_eq!(Protocol::parse("grpc"), Some(Protocol::Grpc));
    }

    /// Every rendered config passes `envoy --mode validate` (the pinned
    /// Envoy and the built module, as `cargo xtask test` provides them; a
    /// missing one panics with the fix).
    #[test]
    fn envoy_validates_every_config() {
        let module = meshtrace_harness::tools::filter_wasm().expect("the filter module");
        for variant in [Variant::Direct, Variant::Upstream] {
            for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
                for tracer in [
                    TracerConfig::None,
                    TracerConfig::Native,
                    TracerConfig::Meshtrace,
                    TracerConfig::MeshtraceNoExport,
                    TracerConfig::MeshtraceChain,
                ] {
                    let yaml = render(variant, &tracer, protocol, &module, &ports());
                    if let Err(e) = meshtrace_harness::envoy::validate_yaml(&yaml) {
                        panic!(
                            "{} {} {}: {e:#}\n{yaml}",
                            variant.name(),
                            protocol.as_str(),
                            tracer.name()
                        );
                    }
                }
            }
        }
    }
}
