//! The shipped Envoy configs (`envoy/gateway.yaml`, `envoy/sidecar.yaml`)
//! rendered onto free loopback ports, with the filter module built by
//! `cargo xtask build-filter`, and the topology the end-to-end suites drive:
//!
//! ```text
//! client → gateway (ext_authz → identity) → A inbound → app A
//!        → A outbound → B inbound → app B
//! ```

use anyhow::{Context as _, Result};

use crate::envoy::{EnvoyOptions, EnvoyProcess, config_template, render};
use crate::otlp_receiver::OtlpReceiver;
use crate::ports::free_port;
use crate::services::{IdentityService, Next, RecordingApp};
use crate::tools::filter_wasm;

/// The filter configuration the shipped configs carry, as rendered text.
const SHIPPED_COLLECTOR: &str =
    r#""collector":{"cluster":"otel_collector","protocol":"http/protobuf"}"#;

/// How the suites vary the shipped filter configuration.
#[derive(Debug, Clone)]
pub struct FilterTweaks {
    /// Replaces the shipped `"collector":{...}` member.
    pub collector: String,
    /// Members inserted after `"direction":"..."`, each followed by `,`,
    /// e.g. `"sampler":{"ratio":0},`.
    pub extra: String,
    /// Members inserted in the inbound instances only (gateway, sidecar
    /// inbound), e.g. `"spawn_upstream_span":true,`.
    pub inbound_extra: String,
}

// === impl FilterTweaks ===

impl FilterTweaks {
    /// The shipped configuration, exporting over OTLP/HTTP.
    pub fn http() -> Self {
        Self {
            collector: SHIPPED_COLLECTOR.to_owned(),
            extra: String::new(),
            inbound_extra: String::new(),
        }
    }

    /// Exporting over OTLP/gRPC to the `otel_collector_grpc` cluster.
    pub fn grpc() -> Self {
        Self {
            collector: r#""collector":{"cluster":"otel_collector_grpc","protocol":"grpc"}"#
                .to_owned(),
            extra: String::new(),
            inbound_extra: String::new(),
        }
    }

    /// Adds members after `direction` (each with a trailing comma).
    pub fn with_extra(mut self, members: &str) -> Self {
        self.extra.push_str(members);
        self
    }

    /// Adds members to the inbound instances only (each with a trailing
    /// comma).
    pub fn with_inbound_extra(mut self, members: &str) -> Self {
        self.inbound_extra.push_str(members);
        self
    }

    /// Replaces the collector member.
    pub fn with_collector(mut self, member: &str) -> Self {
        self.collector = member.to_owned();
        self
    }

    fn replacements(&self) -> Vec<(&'static str, String)> {
        vec![
            (SHIPPED_COLLECTOR, self.collector.clone()),
            (
                r#""direction":"inbound","#,
                format!(
                    r#""direction":"inbound",{}{}"#,
                    self.extra, self.inbound_extra
                ),
            ),
        ]
    }
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

/// Renders `envoy/sidecar.yaml` for `service` on these ports. `extra`
/// replacements apply first, to the shipped text (e.g. to remove the
/// collector endpoint).
pub fn render_sidecar(
    service: &str,
    ports: SidecarPorts,
    receiver: &OtlpReceiver,
    tweaks: &FilterTweaks,
    extra: &[(&str, String)],
) -> Result<String> {
    let mut replacements = extra.to_vec();
    replacements.extend(common_replacements(receiver));
    replacements.extend(sidecar_replacements(service, ports));
    let mut direction_out = tweaks.replacements();
    direction_out.push((
        r#""direction":"outbound","#,
        format!(r#""direction":"outbound",{}"#, tweaks.extra),
    ));
    replacements.extend(direction_out);
    render(&config_template("sidecar.yaml")?, &replacements)
}

/// Renders `envoy/gateway.yaml`: edge listener, identity service, backend.
pub fn render_gateway(
    edge: u16,
    identity: u16,
    backend: u16,
    receiver: &OtlpReceiver,
    tweaks: &FilterTweaks,
) -> Result<String> {
    let mut replacements = common_replacements(receiver);
    replacements.extend(gateway_replacements(edge, identity, backend));
    replacements.extend(tweaks.replacements());
    render(&config_template("gateway.yaml")?, &replacements)
}

/// The replacements that put `envoy/sidecar.yaml` on loopback `ports` as
/// `service` (admin on an ephemeral port): shared by the suites and the
/// demo.
pub fn sidecar_replacements(service: &str, ports: SidecarPorts) -> Vec<(&'static str, String)> {
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
        (
            r#""service_name":"app""#,
            format!(r#""service_name":"{service}""#),
        ),
    ]
}

/// The replacements that put `envoy/gateway.yaml`'s edge listener on
/// loopback `edge`, its identity (ext_authz) cluster on `identity` and its
/// backend on `backend` (admin on an ephemeral port): shared by the suites
/// and the demo.
pub fn gateway_replacements(edge: u16, identity: u16, backend: u16) -> Vec<(&'static str, String)> {
    vec![
        ("port_value: 9902 }", "port_value: 0 }".to_owned()),
        (
            "address: 0.0.0.0, port_value: 10000 }",
            format!("address: 127.0.0.1, port_value: {edge} }}"),
        ),
        ("port_value: 8181 }", format!("port_value: {identity} }}")),
        ("port_value: 15006 }", format!("port_value: {backend} }}")),
    ]
}

fn common_replacements(receiver: &OtlpReceiver) -> Vec<(&'static str, String)> {
    let wasm = filter_wasm().display().to_string();
    vec![
        ("/etc/envoy/meshtrace_filter.wasm", wasm),
        (
            "port_value: 4318 }",
            format!("port_value: {} }}", receiver.http_port()),
        ),
        (
            "port_value: 4317 }",
            format!("port_value: {} }}", receiver.grpc_port()),
        ),
    ]
}

/// The whole topology, stopped on drop.
pub struct Mesh {
    /// The OTLP receiver every proxy exports to.
    pub receiver: OtlpReceiver,
    /// The ext_authz identity service.
    pub identity: IdentityService,
    /// Service A (calls B through its outbound listener).
    pub app_a: RecordingApp,
    /// Service B (a leaf).
    pub app_b: RecordingApp,
    /// The edge gateway.
    pub gateway: EnvoyProcess,
    /// A's sidecar.
    pub sidecar_a: EnvoyProcess,
    /// B's sidecar.
    pub sidecar_b: EnvoyProcess,
    /// The gateway's edge listener port.
    pub edge_port: u16,
}

// === impl Mesh ===

impl Mesh {
    /// Starts the receiver, services and the three Envoys.
    pub async fn start(tweaks: &FilterTweaks) -> Result<Self> {
        let receiver = OtlpReceiver::start().await;
        let identity = IdentityService::start().await;
        let (a_in, a_out, b_in, b_out, edge) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let app_b = RecordingApp::start("service-b", None).await;
        let app_a = RecordingApp::start(
            "service-a",
            Some(Next::local(a_out).with_authority("service-b")),
        )
        .await;
        let opts = EnvoyOptions::default();
        let sidecar_b = EnvoyProcess::start(
            &render_sidecar(
                "service-b",
                SidecarPorts {
                    inbound: b_in,
                    outbound: b_out,
                    app: app_b.port(),
                    upstream: free_port(),
                },
                &receiver,
                tweaks,
                &[],
            )?,
            opts.clone(),
        )
        .context("sidecar B")?;
        let sidecar_a = EnvoyProcess::start(
            &render_sidecar(
                "service-a",
                SidecarPorts {
                    inbound: a_in,
                    outbound: a_out,
                    app: app_a.port(),
                    upstream: b_in,
                },
                &receiver,
                tweaks,
                &[],
            )?,
            opts.clone(),
        )
        .context("sidecar A")?;
        let gateway = EnvoyProcess::start(
            &render_gateway(edge, identity.port(), a_in, &receiver, tweaks)?,
            opts,
        )
        .context("gateway")?;
        Ok(Self {
            receiver,
            identity,
            app_a,
            app_b,
            gateway,
            sidecar_a,
            sidecar_b,
            edge_port: edge,
        })
    }
}
