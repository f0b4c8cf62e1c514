//! The Envoy configs of `envoy/compose.yaml`'s pods, rendered from the
//! shipped `envoy/gateway.yaml` and `envoy/sidecar.yaml` and committed as
//! `envoy/compose/<pod>.yaml`, so the compose file mounts files a user can
//! read, and a test keeps them equal to the shipped configs.
//!
//! Every app and every Envoy is its own container on the project's network,
//! reached by its compose service name. (Sharing a sidecar's network
//! namespace, as a Kubernetes pod does, would keep the shipped loopback
//! addresses, but `network_mode: service:...` is not supported by
//! podman-compose 1.0, the compose of Debian 12.) So per pod: the app
//! (`local_app`, `STRICT_DNS` instead of `STATIC` to resolve the name), the
//! outbound listener on `0.0.0.0:15001` for the app's calls, where the
//! outbound traffic goes (the next pod), the collector (the `jaeger`
//! service), the node and the filter's `service_name`; the gateway's
//! identity service by name. Admin listeners stay on loopback.

use super::config::{config_template, render};

/// The HTTP routes of the revenue flow's services (tap, identity,
/// llm-gateway, the LLM provider), so that every proxy of the flow names its
/// spans `{method} {route}` (`POST /v1/complete`, not `POST`).
pub const FLOW_ROUTES: [&str; 4] = [
    "/events",
    "/introspect/{path}",
    "/v1/complete",
    "/v1/chat/completions",
];
use super::shipped::{ShippedError, rewrite_filter_configs};

/// Where every pod sends its spans: the backend service of
/// `envoy/compose.yaml` (Jaeger's OTLP receiver; the test override puts
/// the project's receiver under the same name).
pub const COLLECTOR_HOST: &str = "jaeger";

/// Where the committed files are, from the workspace root.
pub const DIR: &str = "envoy/compose";

/// One pod's Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pod {
    /// The file name, also the compose service of the Envoy
    /// (`tap-sidecar` → `envoy/compose/tap-sidecar.yaml`).
    pub name: &'static str,
    /// The app's `service.name` (the filter's `service_name`, Envoy's
    /// node cluster), also its compose service (the gateway's app is
    /// `identity`, its `ext_authz` service).
    pub service: &'static str,
    /// The compose service of the pod's app (`local_app` of a sidecar,
    /// the `identity` cluster of the gateway).
    pub app: &'static str,
    /// The shipped config it is rendered from.
    pub template: Template,
    /// Where its outbound cluster (`upstream` of a sidecar, `backend` of
    /// the gateway) points: a compose service and port.
    pub upstream: (&'static str, u16),
}

/// Which shipped config a pod runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// `envoy/gateway.yaml`.
    Gateway,
    /// `envoy/sidecar.yaml`.
    Sidecar,
}

/// The pods of the revenue flow.
pub const PODS: [Pod; 4] = [
    Pod {
        name: "gateway",
        service: "gateway",
        app: "identity",
        template: Template::Gateway,
        upstream: ("tap-sidecar", 15006),
    },
    Pod {
        name: "tap-sidecar",
        service: "tap",
        app: "tap",
        template: Template::Sidecar,
        // tap makes no outbound HTTP call; the shipped default stays.
        upstream: ("127.0.0.1", 15106),
    },
    Pod {
        name: "ensemble-sidecar",
        service: "ensemble",
        app: "ensemble",
        template: Template::Sidecar,
        upstream: ("llm-gateway-sidecar", 15006),
    },
    Pod {
        name: "llm-gateway-sidecar",
        service: "llm-gateway",
        app: "llm-gateway",
        template: Template::Sidecar,
        upstream: ("llm-provider", 8080),
    },
];

/// The header of every rendered file.
fn header(pod: &Pod) -> String {
    let shipped = match pod.template {
        Template::Gateway => "gateway.yaml",
        Template::Sidecar => "sidecar.yaml",
    };
    format!(
        "# GENERATED from envoy/{shipped} by harness/src/envoy/compose.rs for the\n\
         # `{}` pod of envoy/compose.yaml: edit the shipped file, then run\n\
         #   MESHTRACE_BLESS=1 cargo test -p meshtrace-harness compose_configs\n\
         # Changes: app -> {}, outbound cluster -> {}:{}, collector -> {COLLECTOR_HOST},\n\
         # node and service_name `{}`.\n",
        pod.name, pod.app, pod.upstream.0, pod.upstream.1, pod.service
    )
}

/// Renders `pod`'s config.
///
/// # Errors
///
/// [`ShippedError`] when the shipped config no longer has what is
/// substituted.
pub fn render_pod(pod: &Pod) -> Result<String, ShippedError> {
    let (host, port) = pod.upstream;
    let app = pod.app;
    let (template, mut replacements) = match pod.template {
        Template::Gateway => (
            "gateway.yaml",
            vec![
                (
                    "address: 127.0.0.1, port_value: 15006 }",
                    format!("address: {host}, port_value: {port} }}"),
                ),
                (
                    "address: 127.0.0.1, port_value: 8181 }",
                    format!("address: {app}, port_value: 8181 }}"),
                ),
            ],
        ),
        Template::Sidecar => (
            "sidecar.yaml",
            vec![
                (
                    "address: 127.0.0.1, port_value: 15106 }",
                    format!("address: {host}, port_value: {port} }}"),
                ),
                (
                    "address: 127.0.0.1, port_value: 15001 }",
                    "address: 0.0.0.0, port_value: 15001 }".to_owned(),
                ),
                ("type: STATIC\n", "type: STRICT_DNS\n".to_owned()),
                (
                    "address: 127.0.0.1, port_value: 8080 }",
                    format!("address: {app}, port_value: 8080 }}"),
                ),
                (
                    "id: app-sidecar\n  cluster: app\n",
                    format!("id: {}\n  cluster: {}\n", pod.name, pod.service),
                ),
            ],
        ),
    };
    replacements.extend([
        (
            "address: 127.0.0.1, port_value: 4318 }",
            format!("address: {COLLECTOR_HOST}, port_value: 4318 }}"),
        ),
        (
            "address: 127.0.0.1, port_value: 4317 }",
            format!("address: {COLLECTOR_HOST}, port_value: 4317 }}"),
        ),
    ]);
    let yaml = render(&config_template(template)?, &replacements)?;
    let routes = || serde_json::Value::from(FLOW_ROUTES.to_vec());
    let yaml = match pod.template {
        Template::Gateway => rewrite_filter_configs(&yaml, |c| c.with_member("routes", routes()))?,
        Template::Sidecar => rewrite_filter_configs(&yaml, |c| {
            c.with_service_name(pod.service)
                .with_member("routes", routes())
        })?,
    };
    Ok(format!("{}{yaml}", header(pod)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envoy::config::validate_yaml;
    use crate::tools::workspace_root;

    /// The committed `envoy/compose/*.yaml` are what the shipped configs
    /// render to; `MESHTRACE_BLESS=1` writes them.
    #[test]
    fn compose_configs_are_the_shipped_configs_rendered() {
        let dir = workspace_root().join(DIR);
        let bless = std::env::var_os("MESHTRACE_BLESS").is_some();
        for pod in &PODS {
            let rendered = render_pod(pod).expect("renders");
            let path = dir.join(format!("{}.yaml", pod.name));
            if bless {
                std::fs::create_dir_all(&dir).expect("dir");
                std::fs::write(&path, &rendered).expect("write");
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == rendered,
                "{} is not the rendered {:?} config: run \
                 `MESHTRACE_BLESS=1 cargo test -p meshtrace-harness compose_configs`",
                path.display(),
                pod.template
            );
        }
    }

    #[test]
    fn compose_configs_point_outbound_at_the_next_pod() {
        let ensemble = render_pod(&PODS[2]).expect("renders");
        assert!(ensemble.contains("address: llm-gateway-sidecar, port_value: 15006 }"));
        assert!(ensemble.contains("address: jaeger, port_value: 4318 }"));
        assert!(ensemble.contains("\"service_name\":\"ensemble\""));
        assert!(!ensemble.contains("127.0.0.1, port_value: 4318"));
        let gateway = render_pod(&PODS[0]).expect("renders");
        assert!(gateway.contains("address: tap-sidecar, port_value: 15006 }"));
    }

    #[test]
    fn compose_configs_are_valid_envoy_configs() {
        for pod in &PODS {
            let yaml = render_pod(pod).expect("renders");
            // Validation needs the module where the config names it.
            let module = crate::tools::filter_wasm().expect("built filter");
            let local = yaml.replace(
                super::super::shipped::SHIPPED_MODULE,
                &module.display().to_string(),
            );
            validate_yaml(&local).unwrap_or_else(|e| panic!("{}: {e}", pod.name));
        }
    }
}
