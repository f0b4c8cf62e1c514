//! `meshtrace-demo`: starts nats-server, the services, the gateway and the
//! sidecars, sends one request through the gateway, waits for the usage to
//! be metered, then checks, draws and saves the trace.
//!
//! ```text
//! client → gateway [envoy] ─ext_authz→ identity
//!        → tap [envoy] → tap ─core NATS tap.events→ pipeline
//!        ─JetStream jobs.score→ ensemble → ensemble [envoy, outbound]
//!        → llm-gateway [envoy] → llm-gateway → [envoy, outbound] → llm-provider
//!          ensemble ─core NATS usage.recorded→ meter
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use meshtrace::bootstrap::env::{self, OTEL_EXPORTER_OTLP_ENDPOINT};
use meshtrace_harness::envoy::shipped::{GatewayPorts, ShippedError, SidecarPorts};
use meshtrace_harness::envoy::{EnvoyError, EnvoyOptions, EnvoyProcess};
use meshtrace_harness::nats::{NatsError, NatsServer};
use meshtrace_harness::otlp::OtlpReceiver;
use meshtrace_harness::ports::free_ports;
use meshtrace_harness::tools::{ToolError, envoy_binary, filter_wasm, nats_server_binary};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::check::{FLOW, HopError, Verified, check};
use crate::children::{ServiceProcess, SpawnError};
use crate::endpoint::{CollectorTarget, EndpointError, protocol_from_env};
use crate::envoy_config;
use crate::record::SpanRecord;
use crate::services::{RECORDED_PREFIX, ServeConfig, Service};
use crate::tree::TraceTree;
use crate::{svg, waterfall};

/// What the client sends to the gateway.
const REQUEST_BODY: &str =
    r#"{"customer":"acme","plan":"enterprise","prompt":"will acme renew this quarter?"}"#;
/// The client's credentials (identity accepts any bearer token).
const BEARER: &str = "Bearer demo-token";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Shorter waits, no SVG unless [`DemoOptions::svg`] is set.
    pub quick: bool,
    /// Where to write the SVG; `None`: a temp file (not in quick mode).
    pub svg: Option<PathBuf>,
    /// The binary the services run from (`meshtrace-demo`, which has the
    /// `serve` subcommand).
    pub service_binary: PathBuf,
    /// ANSI colours in the printed waterfall.
    pub color: bool,
}

/// What a successful run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The flow's trace id.
    pub trace_id: String,
    /// The check's findings (`None` when spans went to an external
    /// collector and could not be checked here).
    pub verified: Option<Verified>,
    /// The trace as drawn (`None` with an external collector).
    pub tree: Option<TraceTree>,
    /// The SVG written, if any.
    pub svg: Option<PathBuf>,
    /// Tokens the meter recorded.
    pub tokens: u64,
    /// From start to the check passing (processes started, flow run,
    /// spans collected), without teardown.
    pub elapsed: Duration,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` is unusable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Envoy, nats-server or the filter module is missing (run
    /// `cargo xtask setup` / `cargo xtask build-filter`).
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The embedded receiver or the loopback ports could not be bound.
    #[error("cannot bind loopback ports: {0}")]
    Ports(std::io::Error),
    /// nats-server did not start.
    #[error("nats-server: {0}")]
    Nats(NatsError),
    /// An Envoy config could not be rendered.
    #[error("envoy {which}: {source}")]
    EnvoyConfig {
        /// `gateway`, `tap sidecar`...
        which: String,
        /// What could not be rendered.
        source: ShippedError,
    },
    /// An Envoy did not start.
    #[error("envoy {which}: {source}")]
    Envoy {
        /// `gateway`, `tap sidecar`...
        which: String,
        /// Its error, with the log tail.
        source: EnvoyError,
    },
    /// A start task did not finish (it panicked).
    #[error("the task starting {0} did not finish")]
    StartTask(&'static str),
    /// A service did not start.
    #[error(transparent)]
    Service(#[from] SpawnError),
    /// The request through the gateway failed.
    #[error("hop client → gateway → tap: {0}")]
    Request(String),
    /// The usage never reached the meter.
    #[error("the flow did not complete within {waited:?}: meter recorded nothing{}", diagnose(.broken))]
    Incomplete {
        /// How long the demo waited.
        waited: Duration,
        /// What the spans that did arrive say.
        broken: Vec<HopError>,
    },
    /// A hop is missing or broke the trace.
    #[error("self-check failed:{}", diagnose(.0))]
    Check(Vec<HopError>),
    /// The SVG could not be written.
    #[error("cannot write {path}: {source}")]
    Svg {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A temp dir could not be made.
    #[error("cannot create a temp dir: {0}")]
    TempDir(std::io::Error),
}

fn diagnose(errors: &[HopError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

/// Where spans go for this run.
enum Collector {
    Embedded(OtlpReceiver),
    External {
        endpoint: String,
        target: CollectorTarget,
    },
}

/// Timeouts of a run.
struct Waits {
    ready: Duration,
    flow: Duration,
    spans: Duration,
}

// === impl Waits ===

impl Waits {
    fn for_mode(quick: bool) -> Self {
        if quick {
            Self {
                ready: Duration::from_secs(20),
                flow: Duration::from_secs(15),
                spans: Duration::from_secs(8),
            }
        } else {
            Self {
                ready: Duration::from_secs(30),
                flow: Duration::from_secs(20),
                spans: Duration::from_secs(15),
            }
        }
    }
}

/// Runs the demo once: every process it starts is stopped before this
/// returns, and when the future is dropped (Ctrl-C) or unwinds.
///
/// # Errors
///
/// [`DemoError`] naming what failed (a missing Envoy, nats-server or filter
/// module as [`DemoError::Tool`]); a broken hop as [`DemoError::Check`].
pub async fn run(options: &DemoOptions) -> Result<Report, DemoError> {
    let started = Instant::now();
    let waits = Waits::for_mode(options.quick);
    let (envoy, nats_bin, wasm) = (envoy_binary()?, nats_server_binary()?, filter_wasm()?);
    println!(
        "meshtrace demo: tap → pipeline → ensemble → llm-gateway → llm-provider, meter, as one trace"
    );
    println!("  envoy        {}", envoy.display());
    println!("  nats-server  {}", nats_bin.display());
    println!("  filter       {}", wasm.display());

    let collector = match std::env::var(OTEL_EXPORTER_OTLP_ENDPOINT) {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            let target = CollectorTarget::from_endpoint(&endpoint, protocol_from_env())?;
            println!(
                "  collector    {endpoint} (from {OTEL_EXPORTER_OTLP_ENDPOINT}; the filter exports to {}:{} over {})",
                target.host, target.http_port, target.protocol
            );
            Collector::External { endpoint, target }
        }
        _ => {
            let receiver = OtlpReceiver::start().await.map_err(DemoError::Ports)?;
            println!(
                "  collector    embedded OTLP receiver on 127.0.0.1:{} (HTTP) and :{} (gRPC); set {OTEL_EXPORTER_OTLP_ENDPOINT} to export to Jaeger or Tempo instead",
                receiver.http_port(),
                receiver.grpc_port()
            );
            Collector::Embedded(receiver)
        }
    };
    let mut service_env: Vec<(String, String)> = [
        (env::OTEL_TRACES_EXPORTER, "otlp"),
        (env::OTEL_TRACES_SAMPLER, "parentbased_always_on"),
        (env::OTEL_BSP_SCHEDULE_DELAY, "100"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let (target, env_remove): (_, &[&str]) = match &collector {
        Collector::Embedded(receiver) => {
            service_env.extend([
                (
                    OTEL_EXPORTER_OTLP_ENDPOINT.to_owned(),
                    format!("http://127.0.0.1:{}", receiver.http_port()),
                ),
                (
                    env::OTEL_EXPORTER_OTLP_PROTOCOL.to_owned(),
                    "http/protobuf".to_owned(),
                ),
            ]);
            (
                CollectorTarget::local(receiver.http_port(), receiver.grpc_port()),
                &[
                    env::OTEL_SDK_DISABLED,
                    env::OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                    env::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
                ],
            )
        }
        Collector::External { target, .. } => (target.clone(), &[env::OTEL_SDK_DISABLED]),
    };

    let logs = tempfile::Builder::new()
        .prefix("meshtrace-demo-")
        .tempdir()
        .map_err(DemoError::TempDir)?;
    let nats = tokio::task::spawn_blocking(NatsServer::start)
        .await
        .map_err(|_| DemoError::StartTask("nats-server"))?
        .map_err(DemoError::Nats)?;
    println!("  nats-server  {} (JetStream on)", nats.url());

    let [
        identity,
        tap_app,
        llm_app,
        edge,
        tap_in,
        tap_out,
        ens_in,
        ens_out,
        ens_app,
        llm_in,
        llm_out,
        provider,
        spare,
    ] = free_ports::<13>().map_err(DemoError::Ports)?;
    let configs = [
        (Service::Identity, Some(identity), None),
        (Service::Tap, Some(tap_app), None),
        (Service::Pipeline, None, None),
        (
            Service::Ensemble,
            None,
            Some(format!("http://127.0.0.1:{ens_out}")),
        ),
        (
            Service::LlmGateway,
            Some(llm_app),
            Some(format!("http://127.0.0.1:{llm_out}")),
        ),
        (Service::LlmProvider, Some(provider), None),
        (Service::Meter, None, None),
    ];
    let mut services = Vec::new();
    for (service, port, upstream) in configs {
        let config = ServeConfig {
            service,
            nats: Some(nats.url()),
            port,
            listen: None,
            upstream,
        };
        services.push(ServiceProcess::spawn(
            &options.service_binary,
            &config,
            &service_env,
            env_remove,
            logs.path(),
        )?);
    }

    let gateway_ports = GatewayPorts {
        edge,
        identity,
        backend: tap_in,
    };
    let envoy_configs = vec![
        (
            "gateway".to_owned(),
            envoy_config::gateway(gateway_ports, &wasm, &target),
        ),
        (
            "tap sidecar".to_owned(),
            envoy_config::sidecar(
                "tap",
                SidecarPorts {
                    inbound: tap_in,
                    outbound: tap_out,
                    app: tap_app,
                    upstream: spare,
                },
                &wasm,
                &target,
            ),
        ),
        (
            "ensemble sidecar".to_owned(),
            envoy_config::sidecar(
                "ensemble",
                SidecarPorts {
                    inbound: ens_in,
                    outbound: ens_out,
                    app: ens_app,
                    upstream: llm_in,
                },
                &wasm,
                &target,
            ),
        ),
        (
            "llm-gateway sidecar".to_owned(),
            envoy_config::sidecar(
                "llm-gateway",
                SidecarPorts {
                    inbound: llm_in,
                    outbound: llm_out,
                    app: llm_app,
                    upstream: provider,
                },
                &wasm,
                &target,
            ),
        ),
    ];
    let envoys_task = tokio::task::spawn_blocking(move || start_envoys(envoy_configs));
    for service in &mut services {
        service.wait_ready(waits.ready).await?;
    }
    println!(
        "  services     {} ready (logs in {})",
        Service::ALL.map(Service::name).join(", "),
        logs.path().display()
    );
    let envoys = envoys_task
        .await
        .map_err(|_| DemoError::StartTask("the Envoys"))??;
    println!(
        "  envoy        gateway 127.0.0.1:{edge}, sidecars for tap, ensemble, llm-gateway ready"
    );
    println!(
        "  llm-provider 127.0.0.1:{provider} (outside the mesh), via llm-gateway's outbound sidecar 127.0.0.1:{llm_out}"
    );
    println!("  started in   {:.1}s", started.elapsed().as_secs_f64());

    // One request through the gateway.
    println!("\nPOST http://127.0.0.1:{edge}/events  (authorization: {BEARER})");
    let trace_id = send(edge).await?;
    println!("  202 Accepted, trace {trace_id}");

    let meter = services
        .iter_mut()
        .find(|s| s.service() == Service::Meter)
        .ok_or_else(|| DemoError::Request("no meter process".to_owned()))?;
    let recorded = tokio::time::timeout(waits.flow, wait_recorded(meter, &trace_id)).await;
    let tokens = match recorded {
        Ok(Some(tokens)) => tokens,
        _ => {
            let broken = match &collector {
                Collector::Embedded(receiver) => {
                    let spans = SpanRecord::all_from(&receiver.spans());
                    print_trace(&trace_id, &spans, options.color);
                    check(&FLOW, &trace_id, &spans).err().unwrap_or_default()
                }
                Collector::External { .. } => Vec::new(),
            };
            return Err(DemoError::Incomplete {
                waited: waits.flow,
                broken,
            });
        }
    };
    println!("  meter recorded {tokens} tokens for trace {trace_id}");

    let report = match &collector {
        Collector::Embedded(receiver) => {
            let (spans, outcome) = wait_for_flow(receiver, &trace_id, waits.spans).await;
            let tree = print_trace(&trace_id, &spans, options.color);
            let verified = outcome.map_err(DemoError::Check)?;
            let svg_path = match (&options.svg, options.quick) {
                (Some(path), _) => Some(path.clone()),
                (None, false) => {
                    Some(std::env::temp_dir().join(format!("meshtrace-demo-{trace_id}.svg")))
                }
                (None, true) => None,
            };
            if let (Some(path), Some(tree)) = (&svg_path, &tree) {
                write_svg(path, tree)?;
            }
            let services_seen = tree.as_ref().map_or(0, |t| t.services().len());
            println!(
                "self-check: ok: one trace, {} expected spans with correct parents across every HTTP and NATS hop, {services_seen} services",
                verified.spans.len()
            );
            if let Some(path) = &svg_path {
                println!("waterfall SVG: {}", path.display());
            }
            Report {
                trace_id,
                verified: Some(verified),
                tree,
                svg: svg_path,
                tokens,
                elapsed: started.elapsed(),
            }
        }
        Collector::External { endpoint, .. } => {
            println!(
                "\nspans exported to {endpoint}: look up trace {trace_id} there (not checked here: the embedded receiver is off)"
            );
            Report {
                trace_id,
                verified: None,
                tree: None,
                svg: None,
                tokens,
                elapsed: started.elapsed(),
            }
        }
    };

    // Teardown: services flush and exit when their stdin closes; Envoys
    // export at least every 200 ms.
    let grace = Duration::from_secs(2);
    let mut stopping = JoinSet::new();
    for service in services {
        stopping.spawn(service.stop(grace));
    }
    while stopping.join_next().await.is_some() {}
    if matches!(collector, Collector::External { .. }) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(envoys);
    drop(nats);
    println!(
        "demo run took {:.1}s (all processes stopped)",
        started.elapsed().as_secs_f64()
    );
    Ok(report)
}

/// Starts the Envoys in parallel; all or none.
fn start_envoys(
    configs: Vec<(String, Result<String, ShippedError>)>,
) -> Result<Vec<EnvoyProcess>, DemoError> {
    let results: Vec<Result<EnvoyProcess, DemoError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = configs
            .into_iter()
            .map(|(which, yaml)| {
                scope.spawn(move || {
                    let yaml = yaml.map_err(|source| DemoError::EnvoyConfig {
                        which: which.clone(),
                        source,
                    })?;
                    EnvoyProcess::start(&yaml, EnvoyOptions::default().with_log_level("warning"))
                        .map_err(|source| DemoError::Envoy { which, source })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or(Err(DemoError::StartTask("an Envoy")))
            })
            .collect()
    });
    // Dropping the started ones on error kills them.
    results.into_iter().collect()
}

/// Sends the request through the gateway; returns the trace id tap saw.
async fn send(edge: u16) -> Result<String, DemoError> {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("http://127.0.0.1:{edge}/events"))
        .header(reqwest::header::AUTHORIZATION, BEARER)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(REQUEST_BODY)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| DemoError::Request(format!("cannot reach the gateway: {e}")))?;
    let status = response.status();
    let body = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&body).into_owned();
    match status.as_u16() {
        202 => {}
        403 => {
            return Err(DemoError::Request(format!(
                "403 from the gateway: identity (ext_authz) denied or unreachable: {text}"
            )));
        }
        _ => return Err(DemoError::Request(format!("{status}: {text}"))),
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    match json.get("trace_id").and_then(Value::as_str) {
        Some(id) if id.len() == 32 && id != "0".repeat(32) => Ok(id.to_owned()),
        _ => Err(DemoError::Request(format!(
            "tap answered without a trace id (not traced?): {text}"
        ))),
    }
}

/// Waits for meter's `recorded <trace> <tokens> <total>` for `trace_id`.
async fn wait_recorded(meter: &mut ServiceProcess, trace_id: &str) -> Option<u64> {
    while let Some(line) = meter.next_line_with(RECORDED_PREFIX).await {
        let mut words = line.split_whitespace();
        if words.next() == Some(trace_id) {
            return words.next().and_then(|t| t.parse().ok());
        }
        println!("  meter recorded usage of another trace: {line}");
    }
    None
}

/// Polls the receiver until the check passes or `wait` passes.
async fn wait_for_flow(
    receiver: &OtlpReceiver,
    trace_id: &str,
    wait: Duration,
) -> (Vec<SpanRecord>, Result<Verified, Vec<HopError>>) {
    let deadline = Instant::now() + wait;
    loop {
        let spans = SpanRecord::all_from(&receiver.spans());
        let outcome = check(&FLOW, trace_id, &spans);
        if outcome.is_ok() || Instant::now() >= deadline {
            return (spans, outcome);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints the waterfall of `trace_id`, plus any other trace that arrived
/// (a hop that restarted the trace shows up there).
fn print_trace(trace_id: &str, spans: &[SpanRecord], color: bool) -> Option<TraceTree> {
    let tree = TraceTree::of(trace_id, spans);
    println!();
    match &tree {
        Some(tree) => print!("{}", waterfall::render(tree, color)),
        None => println!("no spans of trace {trace_id} arrived"),
    }
    for other in TraceTree::all(spans)
        .iter()
        .filter(|t| t.trace_id != trace_id)
    {
        println!("\nanother trace arrived (a hop that lost the context starts one):");
        print!("{}", waterfall::render(other, color));
    }
    println!();
    tree
}

fn write_svg(path: &std::path::Path, tree: &TraceTree) -> Result<(), DemoError> {
    let svg_error = |source| DemoError::Svg {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(svg_error)?;
    }
    std::fs::write(path, svg::render(tree)).map_err(svg_error)
}
