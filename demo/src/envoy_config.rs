//! The shipped `envoy/gateway.yaml` and `envoy/sidecar.yaml`, rendered
//! onto the demo's loopback ports and collector by the harness's shipped
//! renderer (literal substitution, which fails loudly when a shipped value
//! it replaces has changed), each filter instance exporting over the
//! demo's protocol with a short flush interval.

use std::path::Path;

use meshtrace_harness::envoy::compose::FLOW_ROUTES;
use meshtrace_harness::envoy::shipped::{
    GatewayPorts, ShippedError, SidecarPorts, render_gateway, render_sidecar,
};
use meshtrace_harness::filter_config::FilterConfig;

use crate::endpoint::CollectorTarget;

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
    wasm: &Path,
    collector: &CollectorTarget,
) -> Result<String, ShippedError> {
    render_sidecar(
        service,
        ports,
        &collector.clusters(),
        wasm,
        |c| filter(c, collector),
        &[],
    )
}

/// Renders `envoy/gateway.yaml`: edge on `ports.edge`, ext_authz to
/// `ports.identity`, routes to `ports.backend`.
///
/// # Errors
///
/// As [`sidecar`].
pub fn gateway(
    ports: GatewayPorts,
    wasm: &Path,
    collector: &CollectorTarget,
) -> Result<String, ShippedError> {
    render_gateway(
        ports,
        &collector.clusters(),
        wasm,
        |c| filter(c, collector),
        &[],
    )
}

/// The demo's filter settings over a shipped instance's.
fn filter(shipped: FilterConfig, collector: &CollectorTarget) -> FilterConfig {
    shipped
        .with_collector(collector.protocol)
        .with_flush_interval_ms(FLUSH_INTERVAL_MS)
        // Every proxy names its spans by the flow's routes, as in the
        // compose files.
        .with_member("routes", serde_json::Value::from(FLOW_ROUTES.to_vec()))
}

#[cfg(test)]
mod tests {
    use meshtrace_harness::Protocol;

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
        let yaml = sidecar("ensemble", ports(), "/x/f.wasm".as_ref(), &collector).expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 41001 }",
            "port_value: 41002 }",
            "port_value: 41003 }",
            "port_value: 41004 }",
            "address: jaeger, port_value: 14317 }",
            r#""service_name":"ensemble""#,
            r#"{"batch":{"flush_interval_ms":200},"collector":{"cluster":"otel_collector_grpc","protocol":"grpc"}"#,
            "filename: /x/f.wasm",
        ] {
            assert!(yaml.contains(want), "missing {want}");
        }
        assert!(!yaml.contains("address: 0.0.0.0"), "loopback only");
    }

    #[test]
    fn gateway_routes_to_identity_and_backend() {
        let ports = GatewayPorts {
            edge: 42000,
            identity: 42001,
            backend: 42002,
        };
        let yaml = gateway(
            ports,
            "/x/f.wasm".as_ref(),
            &CollectorTarget::local(43318, 43317),
        )
        .expect("renders");
        for want in [
            "address: 127.0.0.1, port_value: 42000 }",
            "port_value: 42001 }",
            "port_value: 42002 }",
            "address: 127.0.0.1, port_value: 43318 }",
            r#"{"batch":{"flush_interval_ms":200},"collector":{"cluster":"otel_collector","protocol":"http/protobuf"}"#,
        ] {
            assert!(yaml.contains(want), "missing {want}");
        }
    }
}
