//! The shipped `envoy/sidecar.yaml` and `envoy/gateway.yaml`, put on
//! loopback ports, pointed at a collector and a built module, with each
//! filter instance's JSON configuration rewritten through
//! [`FilterConfig`]: one renderer for the suites and the demo.
//!
//! Substitutions are literal ([`render`]), so a shipped port or path that
//! changes breaks the caller loudly instead of running the wrong thing.
//!
//! ```no_run
//! use meshtrace_harness::Protocol;
//! use meshtrace_harness::envoy::shipped::{Collector, SidecarPorts, render_sidecar};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ports = SidecarPorts { inbound: 15006, outbound: 15001, app: 8080, upstream: 15106 };
//! let yaml = render_sidecar(
//!     "orders",
//!     ports,
//!     &Collector::local(4318, 4317),
//!     "/tmp/meshtrace_filter.wasm".as_ref(),
//!     |config| config.with_collector(Protocol::Grpc),
//!     &[],
//! )?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use super::config::{RenderError, TemplateError, config_template, render};
use crate::filter_config::{FilterConfig, FilterConfigError};

/// Where the shipped configs load the module from.
pub const SHIPPED_MODULE: &str = "/etc/envoy/meshtrace_filter.wasm";

/// What opens a filter instance's configuration in the shipped configs
/// (a single-quoted YAML string holding the JSON).
const CONFIG_OPENING: &str = "value: '{";

/// A shipped config could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    /// It could not be read.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A substitution could not be made.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A filter instance's configuration is not a JSON object.
    #[error(transparent)]
    FilterConfig(#[from] FilterConfigError),
    /// It holds no filter configuration to rewrite.
    #[error("no filter configuration (`{CONFIG_OPENING}...}}'`) in the Envoy config")]
    NoFilterConfig,
}

/// Ports of one sidecar.
#[derive(Debug, Clone, Copy)]
pub struct SidecarPorts {
    /// Inbound listener.
    pub inbound: u16,
    /// Outbound listener.
    pub outbound: u16,
    /// The local app.
    pub app: u16,
    /// Where the outbound listener sends.
    pub upstream: u16,
}

/// Ports of the gateway.
#[derive(Debug, Clone, Copy)]
pub struct GatewayPorts {
    /// The edge listener.
    pub edge: u16,
    /// The identity service (`ext_authz`).
    pub identity: u16,
    /// The backend it routes to.
    pub backend: u16,
}

/// Where the collector clusters (`otel_collector`, `otel_collector_grpc`)
/// point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collector {
    /// Host name or address (the clusters are `STRICT_DNS`).
    pub host: String,
    /// Port of the OTLP/HTTP cluster.
    pub http_port: u16,
    /// Port of the OTLP/gRPC cluster.
    pub grpc_port: u16,
}

// === impl Collector ===

impl Collector {
    /// A collector on `127.0.0.1`.
    pub fn local(http_port: u16, grpc_port: u16) -> Self {
        Self {
            host: "127.0.0.1".to_owned(),
            http_port,
            grpc_port,
        }
    }
}

/// Renders `envoy/sidecar.yaml` for `service`: `extra` substitutions
/// first (on the shipped text), then ports, collector and module; every
/// filter instance gets `service` as its `service_name` and is then
/// passed through `filter`.
///
/// # Errors
///
/// [`ShippedError`] naming what could not be read or substituted.
pub fn render_sidecar(
    service: &str,
    ports: SidecarPorts,
    collector: &Collector,
    module: &Path,
    filter: impl Fn(FilterConfig) -> FilterConfig,
    extra: &[(&str, String)],
) -> Result<String, ShippedError> {
    let mut replacements = extra.to_vec();
    replacements.extend(sidecar_ports(ports));
    replacements.extend(common(collector, module));
    let yaml = render(&config_template("sidecar.yaml")?, &replacements)?;
    rewrite_filter_configs(&yaml, |config| filter(config.with_service_name(service)))
}

/// Renders `envoy/gateway.yaml` on `ports`: as [`render_sidecar`], the
/// gateway keeping its shipped `service_name`.
///
/// # Errors
///
/// As [`render_sidecar`].
pub fn render_gateway(
    ports: GatewayPorts,
    collector: &Collector,
    module: &Path,
    filter: impl Fn(FilterConfig) -> FilterConfig,
    extra: &[(&str, String)],
) -> Result<String, ShippedError> {
    let mut replacements = extra.to_vec();
    replacements.extend(gateway_ports(ports));
    replacements.extend(common(collector, module));
    let yaml = render(&config_template("gateway.yaml")?, &replacements)?;
    rewrite_filter_configs(&yaml, filter)
}

/// Passes every filter instance's configuration in `yaml` through `f`.
///
/// # Errors
///
/// [`ShippedError::NoFilterConfig`] when there is none;
/// [`ShippedError::FilterConfig`] when one is not a JSON object.
pub fn rewrite_filter_configs(
    yaml: &str,
    f: impl Fn(FilterConfig) -> FilterConfig,
) -> Result<String, ShippedError> {
    let mut out = String::with_capacity(yaml.len());
    let mut found = false;
    for line in yaml.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let rewritten = body
            .find(CONFIG_OPENING)
            .filter(|_| body.ends_with("}'"))
            .map(|at| {
                let (head, quoted) = body.split_at(at + "value: ".len());
                let json = quoted[1..quoted.len() - 1].replace("''", "'");
                let config = f(FilterConfig::parse(&json)?);
                Ok::<_, ShippedError>(format!("{head}'{}'", config.to_json().replace('\'', "''")))
            })
            .transpose()?;
        match rewritten {
            Some(text) => {
                found = true;
                out.push_str(&text);
                out.push_str(&line[body.len()..]);
            }
            None => out.push_str(line),
        }
    }
    if !found {
        return Err(ShippedError::NoFilterConfig);
    }
    Ok(out)
}

/// `envoy/sidecar.yaml` on loopback `ports` (admin on an ephemeral port).
fn sidecar_ports(ports: SidecarPorts) -> Vec<(&'static str, String)> {
    vec![
        ("port_value: 9901 }", "port_value: 0 }".to_owned()),
        (
            "address: 0.0.0.0, port_value: 15006 }",
            format!("address: 127.0.0.1, port_value: {} }}", ports.inbound),
        ),
        (
            "port_value: 15001 }",
            format!("port_value: {} }}", ports.outbound),
        ),
        (
            "port_value: 8080 }",
            format!("port_value: {} }}", ports.app),
        ),
        (
            "port_value: 15106 }",
            format!("port_value: {} }}", ports.upstream),
        ),
    ]
}

/// `envoy/gateway.yaml` on loopback `ports` (admin on an ephemeral port).
fn gateway_ports(ports: GatewayPorts) -> Vec<(&'static str, String)> {
    vec![
        ("port_value: 9902 }", "port_value: 0 }".to_owned()),
        (
            "address: 0.0.0.0, port_value: 10000 }",
            format!("address: 127.0.0.1, port_value: {} }}", ports.edge),
        ),
        (
            "port_value: 8181 }",
            format!("port_value: {} }}", ports.identity),
        ),
        (
            "port_value: 15006 }",
            format!("port_value: {} }}", ports.backend),
        ),
    ]
}

/// The module path and the collector clusters' endpoints.
fn common(collector: &Collector, module: &Path) -> Vec<(&'static str, String)> {
    vec![
        (SHIPPED_MODULE, module.display().to_string()),
        (
            "address: 127.0.0.1, port_value: 4318 }",
            format!(
                "address: {}, port_value: {} }}",
                collector.host, collector.http_port
            ),
        ),
        (
            "address: 127.0.0.1, port_value: 4317 }",
            format!(
                "address: {}, port_value: {} }}",
                collector.host, collector.grpc_port
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Protocol;

    fn ports() -> SidecarPorts {
        SidecarPorts {
            inbound: 41001,
            outbound: 41002,
            app: 41003,
            upstream: 41004,
        }
    }

    #[test]
    fn sidecar_lands_on_the_ports_collector_and_module() {
        let collector = Collector {
            host: "jaeger".to_owned(),
            http_port: 14318,
            grpc_port: 14317,
        };
        let yaml = render_sidecar(
            "ensemble",
            ports(),
            &collector,
            "/x/f.wasm".as_ref(),
            |c| c.with_collector(Protocol::Grpc).with_flush_interval_ms(200),
            &[],
        )
        .expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 41001 }",
            "port_value: 41002 }",
            "port_value: 41003 }",
            "port_value: 41004 }",
            "address: jaeger, port_value: 14317 }",
            "address: jaeger, port_value: 14318 }",
            r#"value: '{"batch":{"flush_interval_ms":200},"collector":{"cluster":"otel_collector_grpc","protocol":"grpc"},"direction":"inbound","route_overrides":{"healthz":{"tracing":false}},"service_name":"ensemble"}'"#,
            r#""direction":"outbound","service_name":"ensemble"}'"#,
            "filename: /x/f.wasm",
        ] {
            assert!(yaml.contains(want), "missing {want}:\n{yaml}");
        }
        assert!(!yaml.contains("address: 0.0.0.0"), "loopback only");
        assert!(
            !yaml.contains(r#""service_name":"app""#),
            "every instance renamed"
        );
    }

    #[test]
    fn gateway_routes_to_identity_and_backend() {
        let ports = GatewayPorts {
            edge: 42000,
            identity: 42001,
            backend: 42002,
        };
        let yaml = render_gateway(
            ports,
            &Collector::local(43318, 43317),
            "/x/f.wasm".as_ref(),
            |c| c,
            &[],
        )
        .expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 42000 }",
            "port_value: 42001 }",
            "port_value: 42002 }",
            "address: 127.0.0.1, port_value: 43318 }",
            r#"value: '{"collector":{"cluster":"otel_collector","protocol":"http/protobuf"},"direction":"inbound","service_name":"gateway"}'"#,
        ] {
            assert!(yaml.contains(want), "missing {want}:\n{yaml}");
        }
    }

    #[test]
    fn rewrites_each_instance_and_escapes_quotes() {
        let yaml = "a:\n  value: '{\"direction\":\"inbound\"}'\nb:\n  value: '{\"direction\":\"outbound\",\"service_name\":\"it''s\"}'\n";
        let out = rewrite_filter_configs(yaml, |c| match c.direction() {
            Some(crate::filter_config::Direction::Inbound) => c.with_sampler_ratio(0.0),
            _ => c,
        })
        .expect("rewrites");
        assert_eq!(
            out,
            "a:\n  value: '{\"direction\":\"inbound\",\"sampler\":{\"ratio\":0.0}}'\nb:\n  value: '{\"direction\":\"outbound\",\"service_name\":\"it''s\"}'\n"
        );
        assert!(matches!(
            rewrite_filter_configs("admin: {}\n", |c| c),
            Err(ShippedError::NoFilterConfig)
        ));
        assert!(matches!(
            rewrite_filter_configs("value: '{oops}'\n", |c| c),
            Err(ShippedError::FilterConfig(_))
        ));
    }
}
