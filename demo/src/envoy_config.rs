//! The shipped `envoy/gateway.yaml` and `envoy/sidecar.yaml`, rendered
//! onto the demo's loopback ports and collector (literal substitution with
//! `meshtrace_tests::envoy::render`, which fails loudly when a shipped
//! value it replaces has changed).

use anyhow::Result;
use meshtrace_tests::envoy::{config_template, render};
use meshtrace_tests::mesh::{SidecarPorts, gateway_replacements, sidecar_replacements};

use crate::collector::{CollectorTarget, Protocol};

/// How often the filter exports in the demo (the shipped default is 1 s).
const FLUSH_INTERVAL_MS: u32 = 200;

/// Renders `envoy/sidecar.yaml` for `service`.
///
/// # Errors
///
/// If the shipped config cannot be read or no longer has a value the
/// demo replaces.
pub fn sidecar(
    service: &str,
    ports: SidecarPorts,
    wasm: &str,
    collector: &CollectorTarget,
) -> Result<String> {
    let mut replacements = sidecar_replacements(service, ports);
    replacements.extend(common(wasm, collector));
    render(&config_template("sidecar.yaml")?, &replacements)
}

/// Renders `envoy/gateway.yaml`: edge on `edge`, ext_authz to `identity`,
/// routes to `backend`.
///
/// # Errors
///
/// As [`sidecar`].
pub fn gateway(
    edge: u16,
    identity: u16,
    backend: u16,
    wasm: &str,
    collector: &CollectorTarget,
) -> Result<String> {
    let mut replacements = gateway_replacements(edge, identity, backend);
    replacements.extend(common(wasm, collector));
    render(&config_template("gateway.yaml")?, &replacements)
}

/// The module path, the collector clusters and the filter's collector
/// member (plus a short flush interval).
fn common(wasm: &str, collector: &CollectorTarget) -> Vec<(&'static str, String)> {
    vec![
        ("/etc/envoy/meshtrace_filter.wasm", wasm.to_owned()),
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
        (
            Protocol::HttpProtobuf.filter_member(),
            format!(
                r#"{},"batch":{{"flush_interval_ms":{FLUSH_INTERVAL_MS}}}"#,
                collector.protocol.filter_member()
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> SidecarPorts {
        SidecarPorts {
            inbound: 41001,
            outbound: 41002,
            app: 41003,
            upstream: 41004,
        }
    }

    #[test]
    fn sidecar_lands_on_the_demo_ports_and_collector() {
        let collector = CollectorTarget::from_endpoint("http://jaeger:14317", Protocol::Grpc)
            .expect("endpoint");
        let yaml = sidecar("ensemble", ports(), "/x/f.wasm", &collector).expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 41001 }",
            "port_value: 41002 }",
            "port_value: 41003 }",
            "port_value: 41004 }",
            "address: jaeger, port_value: 14317 }",
            r#""service_name":"ensemble""#,
            r#""collector":{"cluster":"otel_collector_grpc","protocol":"grpc"},"batch":{"flush_interval_ms":200}"#,
            "filename: /x/f.wasm",
        ] {
            assert!(yaml.contains(want), "missing {want}");
        }
        assert!(!yaml.contains("address: 0.0.0.0"), "loopback only");
    }

    #[test]
    fn gateway_routes_to_identity_and_backend() {
        let yaml = gateway(
            42000,
            42001,
            42002,
            "/x/f.wasm",
            &CollectorTarget::local(43318, 43317),
        )
        .expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 42000 }",
            "port_value: 42001 }",
            "port_value: 42002 }",
            "address: 127.0.0.1, port_value: 43318 }",
            r#""collector":{"cluster":"otel_collector","protocol":"http/protobuf"},"batch""#,
        ] {
            assert!(yaml.contains(want), "missing {want}");
        }
    }
}
