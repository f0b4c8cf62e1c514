//! The topology the end-to-end suites drive, on the shipped Envoy configs
//! (`envoy/gateway.yaml`, `envoy/sidecar.yaml`) rendered onto free
//! loopback ports by [`meshtrace_harness::envoy::shipped`], with the
//! filter module built by `cargo xtask build-filter`:
//!
//! ```text
//! client → gateway (ext_authz → identity) → A inbound → app A
//!        → A outbound → B inbound → app B
//! ```

use anyhow::{Context as _, Result};
use meshtrace_harness::Protocol;
use meshtrace_harness::envoy::shipped::{
    Collector, GatewayPorts, SidecarPorts, render_gateway as render_shipped_gateway,
    render_sidecar as render_shipped_sidecar,
};
use meshtrace_harness::envoy::{EnvoyOptions, EnvoyProcess};
use meshtrace_harness::filter_config::{Direction, FilterConfig};
use meshtrace_harness::otlp::OtlpReceiver;
use meshtrace_harness::ports::free_ports;
use meshtrace_harness::tools::filter_wasm;

use crate::services::{IdentityService, Next, RecordingApp};

/// How the suites vary the shipped filter configuration: members set over
/// every instance, then over the inbound ones (gateway, sidecar inbound).
#[derive(Debug, Clone, Default)]
pub struct FilterTweaks {
    /// Set over every instance.
    pub all: FilterConfig,
    /// Set over the inbound instances only, after `all`.
    pub inbound: FilterConfig,
    /// Set over the gateway's instance only, last.
    pub gateway: FilterConfig,
}

// === impl FilterTweaks ===

impl FilterTweaks {
    /// The shipped configuration, exporting over OTLP/HTTP.
    pub fn http() -> Self {
        Self::over(Protocol::HttpProtobuf)
    }

    /// Exporting over OTLP/gRPC to the `otel_collector_grpc` cluster.
    pub fn grpc() -> Self {
        Self::over(Protocol::Grpc)
    }

    fn over(protocol: Protocol) -> Self {
        Self {
            all: FilterConfig::new().with_collector(protocol),
            inbound: FilterConfig::new(),
            gateway: FilterConfig::new(),
        }
    }

    /// Sets more members over every instance.
    pub fn with(mut self, f: impl FnOnce(FilterConfig) -> FilterConfig) -> Self {
        self.all = f(self.all);
        self
    }

    /// Sets more members over the inbound instances only.
    pub fn with_inbound(mut self, f: impl FnOnce(FilterConfig) -> FilterConfig) -> Self {
        self.inbound = f(self.inbound);
        self
    }

    /// Sets more members over the gateway's instance only.
    pub fn with_gateway(mut self, f: impl FnOnce(FilterConfig) -> FilterConfig) -> Self {
        self.gateway = f(self.gateway);
        self
    }

    /// `shipped` gateway configuration with the tweaks applied.
    pub fn apply_gateway(&self, shipped: FilterConfig) -> FilterConfig {
        self.apply(shipped).merged(&self.gateway)
    }

    /// `shipped` with the tweaks applied (not the gateway's own).
    pub fn apply(&self, shipped: FilterConfig) -> FilterConfig {
        let inbound = shipped.direction() == Some(Direction::Inbound);
        let config = shipped.merged(&self.all);
        if inbound {
            config.merged(&self.inbound)
        } else {
            config
        }
    }
}

/// Where the shipped collector clusters point: at `receiver`.
pub fn collector(receiver: &OtlpReceiver) -> Collector {
    Collector::local(receiver.http_port(), receiver.grpc_port())
}

/// Renders `envoy/sidecar.yaml` for `service` on these ports, exporting to
/// `receiver`. `extra` replacements apply first, to the shipped text (e.g.
/// to remove the collector endpoint).
///
/// # Errors
///
/// If the module is not built or the shipped config no longer has what
/// is substituted.
pub fn render_sidecar(
    service: &str,
    ports: SidecarPorts,
    receiver: &OtlpReceiver,
    tweaks: &FilterTweaks,
    extra: &[(&str, String)],
) -> Result<String> {
    Ok(render_shipped_sidecar(
        service,
        ports,
        &collector(receiver),
        &filter_wasm()?,
        |c| tweaks.apply(c),
        extra,
    )?)
}

/// Renders `envoy/gateway.yaml`: edge listener, identity service, backend.
///
/// # Errors
///
/// As [`render_sidecar`].
pub fn render_gateway(
    ports: GatewayPorts,
    receiver: &OtlpReceiver,
    tweaks: &FilterTweaks,
) -> Result<String> {
    Ok(render_shipped_gateway(
        ports,
        &collector(receiver),
        &filter_wasm()?,
        |c| tweaks.apply_gateway(c),
        &[],
    )?)
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
    ///
    /// # Errors
    ///
    /// When a part cannot be started (named in the error).
    pub async fn start(tweaks: &FilterTweaks) -> Result<Self> {
        let receiver = OtlpReceiver::start().await.context("OTLP receiver")?;
        let identity = IdentityService::start().await;
        let [a_in, a_out, b_in, b_out, b_upstream, edge] = free_ports::<6>()?;
        let app_b = RecordingApp::start("service-b", None).await;
        let app_a = RecordingApp::start(
            "service-a",
            Some(Next::local(a_out).with_authority("service-b")),
        )
        .await;
        let opts = EnvoyOptions::default();
        let ports_b = SidecarPorts {
            inbound: b_in,
            outbound: b_out,
            app: app_b.port(),
            upstream: b_upstream,
        };
        let sidecar_b = EnvoyProcess::start(
            &render_sidecar("service-b", ports_b, &receiver, tweaks, &[])?,
            opts.clone(),
        )
        .context("sidecar B")?;
        let ports_a = SidecarPorts {
            inbound: a_in,
            outbound: a_out,
            app: app_a.port(),
            upstream: b_in,
        };
        let sidecar_a = EnvoyProcess::start(
            &render_sidecar("service-a", ports_a, &receiver, tweaks, &[])?,
            opts.clone(),
        )
        .context("sidecar A")?;
        let gateway_ports = GatewayPorts {
            edge,
            identity: identity.port(),
            backend: a_in,
        };
        let gateway = EnvoyProcess::start(&render_gateway(gateway_ports, &receiver, tweaks)?, opts)
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

/// One shipped sidecar in front of a [`RecordingApp`], exporting to a
/// receiver; stopped on drop.
pub struct Sidecar {
    /// The Envoy.
    pub envoy: EnvoyProcess,
    /// Its inbound listener's port (callers → the app).
    pub inbound: u16,
    /// The app behind it.
    pub app: RecordingApp,
}

// === impl Sidecar ===

impl Sidecar {
    /// Starts an app named `service` and the shipped sidecar for it with
    /// `tweaks` and `concurrency` Envoy workers, exporting to `receiver`.
    ///
    /// # Errors
    ///
    /// When no ports are free, or the config does not render or start.
    pub async fn start(
        service: &str,
        receiver: &OtlpReceiver,
        tweaks: &FilterTweaks,
        concurrency: u32,
    ) -> Result<Self> {
        let app = RecordingApp::start(service, None).await;
        let [inbound, outbound, upstream] = free_ports::<3>()?;
        let ports = SidecarPorts {
            inbound,
            outbound,
            app: app.port(),
            upstream,
        };
        let yaml = render_sidecar(service, ports, receiver, tweaks, &[])?;
        let envoy =
            EnvoyProcess::start(&yaml, EnvoyOptions::default().with_concurrency(concurrency))
                .with_context(|| format!("the {service} sidecar"))?;
        Ok(Self {
            envoy,
            inbound,
            app,
        })
    }
}
