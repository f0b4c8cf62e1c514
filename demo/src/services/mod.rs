//! The demo's services, each run as its own process
//! (`meshtrace-demo serve <service>`) so each has its own global tracer
//! provider and `service.name`:
//!
//! | service | does |
//! |---|---|
//! | `identity` | `ext_authz` introspection for the gateway: any `/introspect/...` with `authorization: Bearer ...` passes |
//! | `tap` | `POST /events` → CloudEvent `com.example.tap.event` on core NATS `tap.events`, answers 202 with the trace id |
//! | `pipeline` | consumes `tap.events`, publishes a job on JetStream `jobs.score` (stream `JOBS`) |
//! | `ensemble` | pulls jobs (durable consumer `ensemble`), calls llm-gateway through its outbound sidecar, publishes usage on core NATS `usage.recorded` |
//! | `llm-gateway` | `POST /v1/complete` → a chat completion from llm-provider, through its outbound sidecar |
//! | `llm-provider` | `POST /v1/chat/completions` → an OpenAI-shaped completion with token usage (outside the mesh) |
//! | `meter` | consumes `usage.recorded`, records it and prints `recorded <trace id> <tokens>` |
//!
//! A service prints `ready` on stdout once it listens or is subscribed,
//! and exits (flushing its spans) when its stdin closes: the orchestrator
//! holds the other end, so services never outlive it.

mod ensemble;
pub mod events;
mod identity;
mod llm_gateway;
mod llm_provider;
mod meter;
mod pipeline;
mod tap;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::AsyncReadExt as _;

/// The line a service prints when it is ready.
pub const READY_LINE: &str = "ready";
/// The prefix of the line meter prints per recorded usage:
/// `recorded <trace id> <tokens>`.
pub const RECORDED_PREFIX: &str = "recorded ";

/// One of the demo's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The ext_authz identity service.
    Identity,
    /// The HTTP edge service that captures events.
    Tap,
    /// Core NATS → JetStream.
    Pipeline,
    /// JetStream → HTTP → core NATS.
    Ensemble,
    /// The mesh's front for the LLM provider.
    LlmGateway,
    /// The LLM provider (outside the mesh).
    LlmProvider,
    /// The usage meter.
    Meter,
}

/// How a service is run: `serve <service> --nats URL [--port N]
/// [--upstream URL]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Which service.
    pub service: Service,
    /// The NATS URL (`nats://127.0.0.1:4222`).
    pub nats: Option<String>,
    /// The port to listen on (HTTP services).
    pub port: Option<u16>,
    /// The address to listen on: loopback by default (`--listen 0.0.0.0`
    /// in a container, where the sidecar is another container).
    pub listen: Option<std::net::IpAddr>,
    /// Where outgoing HTTP calls go (ensemble and llm-gateway: their
    /// outbound sidecars).
    pub upstream: Option<String>,
}

/// A service failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A required option is missing.
    #[error("`serve {service}` needs {option}")]
    Missing {
        /// The service.
        service: &'static str,
        /// The option, e.g. `--nats URL`.
        option: &'static str,
    },
    /// The telemetry pipeline could not be installed.
    #[error("cannot start telemetry: {0}")]
    Telemetry(#[from] meshtrace::InitError),
    /// The NATS connection or subscription failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// The HTTP listener failed.
    #[error("HTTP server: {0}")]
    Http(#[from] std::io::Error),
}

/// A message or request the flow could not handle.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// An event without the expected data.
    #[error("bad event: {0}")]
    BadEvent(String),
    /// Publishing on core NATS failed.
    #[error(transparent)]
    Publish(#[from] meshtrace::nats::PublishError),
    /// Publishing on JetStream failed.
    #[error(transparent)]
    JetStream(#[from] meshtrace::nats::JetStreamPublishError),
    /// The LLM call failed.
    #[error("llm-gateway call: {0}")]
    Llm(String),
}

/// A running service's main loop.
pub(crate) type Running = Pin<Box<dyn Future<Output = Result<(), ServeError>> + Send>>;

// === impl Service ===

impl Service {
    /// Every service, in flow order.
    pub const ALL: [Self; 7] = [
        Self::Identity,
        Self::Tap,
        Self::Pipeline,
        Self::Ensemble,
        Self::LlmGateway,
        Self::LlmProvider,
        Self::Meter,
    ];

    /// Its `service.name`, also its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Tap => "tap",
            Self::Pipeline => "pipeline",
            Self::Ensemble => "ensemble",
            Self::LlmGateway => "llm-gateway",
            Self::LlmProvider => "llm-provider",
            Self::Meter => "meter",
        }
    }

    /// The service called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

// === impl ServeConfig ===

impl ServeConfig {
    fn nats(&self) -> Result<&str, ServeError> {
        self.nats.as_deref().ok_or(ServeError::Missing {
            service: self.service.name(),
            option: "--nats URL",
        })
    }

    fn port(&self) -> Result<u16, ServeError> {
        self.port.ok_or(ServeError::Missing {
            service: self.service.name(),
            option: "--port N",
        })
    }

    fn upstream(&self) -> Result<&str, ServeError> {
        self.upstream.as_deref().ok_or(ServeError::Missing {
            service: self.service.name(),
            option: "--upstream URL",
        })
    }
}

/// Runs one service until its stdin closes: installs telemetry
/// (`meshtrace::Builder`, service name = the service's), starts it, prints
/// [`READY_LINE`], and flushes spans on the way out.
///
/// # Errors
///
/// [`ServeError`] when it cannot start or its main loop fails.
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let telemetry = meshtrace::Builder::new()
        .with_service_name(config.service.name())
        .with_tracing_subscriber(false)
        .with_shutdown_timeout(Duration::from_secs(3))
        .init()?;
    let running = match config.service {
        Service::Identity => identity::start(&config).await?,
        Service::Tap => tap::start(&config).await?,
        Service::Pipeline => pipeline::start(&config).await?,
        Service::Ensemble => ensemble::start(&config).await?,
        Service::LlmGateway => llm_gateway::start(&config).await?,
        Service::LlmProvider => llm_provider::start(&config).await?,
        Service::Meter => meter::start(&config).await?,
    };
    println!("{READY_LINE}");
    // Stopped by stdin closing (under the demo) or by SIGTERM/Ctrl-C (a
    // container engine's stop): either way the spans are flushed.
    let outcome = tokio::select! {
        result = running => result,
        () = stdin_closed() => Ok(()),
        () = crate::cli::interrupted() => Ok(()),
    };
    drop(telemetry);
    outcome
}

/// Resolves when stdin reaches end of file (the orchestrator is gone or
/// asked us to stop).
async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// Connects to NATS.
async fn connect(config: &ServeConfig) -> Result<async_nats::Client, ServeError> {
    let url = config.nats()?;
    async_nats::connect(url)
        .await
        .map_err(|e| ServeError::Nats(format!("cannot connect to {url}: {e}")))
}

/// Binds the loopback HTTP listener.
async fn listen(config: &ServeConfig) -> Result<tokio::net::TcpListener, ServeError> {
    let address = config
        .listen
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    Ok(tokio::net::TcpListener::bind((address, config.port()?)).await?)
}

/// The current span's trace id (lowercase hex).
fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt as _;
    opentelemetry::Context::current()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}

/// A JSON response.
fn json_response(status: u16, body: &serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let status = axum::http::StatusCode::from_u16(status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for service in Service::ALL {
            assert_eq!(Service::from_name(service.name()), Some(service));
        }
        assert_eq!(Service::from_name("billing"), None);
    }

    #[test]
    fn missing_options_are_named() {
        let config = ServeConfig {
            service: Service::Tap,
            nats: None,
            port: None,
            listen: None,
            upstream: None,
        };
        assert_eq!(
            config.nats().map(drop).map_err(|e| e.to_string()),
            Err("`serve tap` needs --nats URL".to_owned())
        );
    }
}
