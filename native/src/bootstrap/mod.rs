//! The OTLP bootstrap: one call installs a global tracer provider, a
//! propagator and the `tracing` bridge, configured by the standard
//! [`OTEL_*` variables](https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/).
//!
//! ```no_run
//! # fn main() -> Result<(), meshtrace::InitError> {
//! let _telemetry = meshtrace::Builder::new()
//!     .with_service_name("checkout") // a default: OTEL_SERVICE_NAME wins
//!     .init()?;
//! # Ok(()) }
//! ```
//!
//! What comes from where:
//!
//! | Setting | Environment | Code (wins, except the service name) |
//! |---|---|---|
//! | on / off | [`env::OTEL_SDK_DISABLED`] | — |
//! | service name | [`env::OTEL_SERVICE_NAME`], `service.name` in [`env::OTEL_RESOURCE_ATTRIBUTES`] (both win) | [`Builder::with_service_name`] (a default) |
//! | resource | [`env::OTEL_RESOURCE_ATTRIBUTES`] (read by the SDK) | — |
//! | propagators | [`env::OTEL_PROPAGATORS`] | — |
//! | exporter | [`env::OTEL_TRACES_EXPORTER`] | [`Builder::with_exporter`] |
//! | OTLP protocol | [`env::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`], [`env::OTEL_EXPORTER_OTLP_PROTOCOL`] | [`Builder::with_protocol`] |
//! | OTLP endpoint | `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` (read by the exporter) | [`Builder::with_endpoint`] |
//! | headers, timeout, compression | `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`, `_TIMEOUT`, `_COMPRESSION` (read by the exporter) | — |
//! | sampler | [`env::OTEL_TRACES_SAMPLER`], [`env::OTEL_TRACES_SAMPLER_ARG`] (read by the SDK) | — |
//! | batching | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (read by the SDK); `OTEL_BSP_EXPORT_TIMEOUT` (applied by meshtrace: the SDK's thread-based processor ignores it) | — |
//! | `tracing` bridge | — | [`Builder::with_tracing_subscriber`] |
//! | `tracing` bridge level | — | [`Builder::with_tracing_level`] (default `INFO`) |
//! | shutdown bound | — | [`Builder::with_shutdown_timeout`] |

pub mod env;
mod guard;
mod runtime;

use std::time::Duration;

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::noop::NoopTextMapPropagator;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

pub use env::{ExporterKind, OtlpProtocol, PropagatorKind};
pub use guard::{DEFAULT_SHUTDOWN_TIMEOUT, FlushError, ShutdownError, TelemetryGuard};

use env::EnvWarning;

/// The instrumentation scope of the `tracing` bridge's tracer.
const BRIDGE_SCOPE: &str = "meshtrace";

/// Crates whose `tracing` spans the bridge never exports, at any level:
/// the export path itself (the gRPC and HTTP stacks under the OTLP
/// exporter, and the SDK). h2 opens a trace-level span per frame it
/// writes, so bridging them would export spans about exporting spans,
/// without end; the others open none today but sit on the same path. A
/// target is excluded when it is one of these crates or a module in one
/// (`h2`, `h2::codec`), not merely a name that starts the same way
/// (`reqwest_tracing` is bridged).
pub const BRIDGE_EXCLUDED_TARGETS: [&str; 10] = [
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "reqwest",
    "opentelemetry",
    "opentelemetry_sdk",
    "opentelemetry_otlp",
    "opentelemetry_http",
    "opentelemetry_proto",
];

/// The default level of `tracing` spans the bridge exports.
pub const DEFAULT_TRACING_LEVEL: LevelFilter = LevelFilter::INFO;

/// Installs the pipeline configured by the environment alone; the same as
/// `Builder::new().init()`.
///
/// # Errors
///
/// See [`Builder::init`].
pub fn init() -> Result<TelemetryGuard, InitError> {
    Builder::new().init()
}

/// [`init`] failed; nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The OTLP exporter rejected its configuration (an endpoint that is
    /// not a URL, a malformed header...).
    #[error("cannot build the OTLP ({protocol}) span exporter: {source}")]
    Exporter {
        /// The transport it was built for.
        protocol: OtlpProtocol,
        /// What the exporter reported.
        #[source]
        source: ExporterBuildError,
    },
    /// The exporter's runtime thread could not be started.
    #[error("cannot start the exporter runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Code-side configuration for [`init`]. Every `with_*` setting wins over
/// its environment variable, except the service name, which is only a
/// default.
#[derive(Debug, Clone)]
pub struct Builder {
    service_name: Option<String>,
    exporter: Option<ExporterKind>,
    protocol: Option<OtlpProtocol>,
    endpoint: Option<String>,
    tracing_subscriber: bool,
    tracing_level: LevelFilter,
    shutdown_timeout: Duration,
}

// === impl Builder ===

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// Everything from the environment; the `tracing` bridge installed.
    pub fn new() -> Self {
        Self {
            service_name: None,
            exporter: None,
            protocol: None,
            endpoint: None,
            tracing_subscriber: true,
            tracing_level: DEFAULT_TRACING_LEVEL,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// The service name used when neither `OTEL_SERVICE_NAME` nor a
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES` is set (the operator's
    /// setting wins).
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The exporter, instead of `OTEL_TRACES_EXPORTER`.
    pub fn with_exporter(mut self, exporter: ExporterKind) -> Self {
        self.exporter = Some(exporter);
        self
    }

    /// The OTLP transport, instead of `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`.
    pub fn with_protocol(mut self, protocol: OtlpProtocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// The OTLP endpoint, instead of `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`.
    /// For gRPC the collector's URL (`http://collector:4317`); for HTTP the
    /// full traces URL, used as is (`http://collector:4318/v1/traces`).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Whether to install the `tracing` bridge (a registry with the
    /// `tracing-opentelemetry` layer) as the global default subscriber, so
    /// `#[instrument]` spans join the trace. Default `true`; turn it off to
    /// compose your own subscriber from
    /// [`TelemetryGuard::tracer_provider`].
    pub fn with_tracing_subscriber(mut self, install: bool) -> Self {
        self.tracing_subscriber = install;
        self
    }

    /// The most verbose `tracing` spans the bridge exports. Default
    /// [`DEFAULT_TRACING_LEVEL`] (`INFO`, the level of a plain
    /// `#[instrument]`); libraries' `debug`/`trace` spans stay out unless
    /// asked for. The targets in [`BRIDGE_EXCLUDED_TARGETS`] are never
    /// bridged, whatever the level.
    pub fn with_tracing_level(mut self, level: LevelFilter) -> Self {
        self.tracing_level = level;
        self
    }

    /// The bound on the guard's shutdown (and drop). Default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`].
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Installs the global tracer provider, the global propagator and (unless
    /// turned off) the `tracing` bridge, and returns the guard that flushes
    /// them. Works inside or outside a tokio runtime.
    ///
    /// With `OTEL_SDK_DISABLED=true` nothing is installed: the global API
    /// stays no-op (no spans, nothing injected) and the guard does nothing.
    /// Unusable variable values are reported on stderr and the spec default
    /// applies. A `tracing` subscriber set earlier is kept (with a warning).
    ///
    /// # Errors
    ///
    /// If the OTLP exporter cannot be built from its configuration, or its
    /// runtime thread cannot be started.
    pub fn init(self) -> Result<TelemetryGuard, InitError> {
        if env::parse_sdk_disabled(env::var(env::OTEL_SDK_DISABLED).as_deref()) {
            return Ok(TelemetryGuard::disabled());
        }
        let (propagators, warnings) =
            env::parse_propagators(env::var(env::OTEL_PROPAGATORS).as_deref());
        warnings.iter().for_each(warn);
        let exporter = match self.exporter {
            Some(kind) => kind,
            None => {
                let (kind, warning) =
                    env::parse_traces_exporter(env::var(env::OTEL_TRACES_EXPORTER).as_deref());
                warning.iter().for_each(warn);
                kind
            }
        };

        let mut provider = SdkTracerProvider::builder().with_resource(self.resource());
        let mut export_runtime = None;
        match exporter {
            ExporterKind::Otlp => {
                let protocol = match self.protocol {
                    Some(protocol) => protocol,
                    None => {
                        let (protocol, warning) = env::protocol_from_env();
                        warning.iter().for_each(warn);
                        protocol
                    }
                };
                let runtime = runtime::build().map_err(InitError::Runtime)?;
                // The tonic channel spawns its worker where it is built.
                let otlp = {
                    let _entered = runtime.enter();
                    self.otlp_exporter(protocol)?
                };
                let export_timeout = env::parse_bsp_export_timeout(
                    env::var(env::OTEL_BSP_EXPORT_TIMEOUT).as_deref(),
                );
                let otlp = runtime::OnRuntime::new(otlp, runtime.handle().clone(), export_timeout);
                provider = provider.with_span_processor(BatchSpanProcessor::builder(otlp).build());
                export_runtime = Some(runtime);
            }
            ExporterKind::Console => {
                let console = opentelemetry_stdout::SpanExporter::default();
                provider =
                    provider.with_span_processor(BatchSpanProcessor::builder(console).build());
            }
            ExporterKind::None => {}
        }
        let provider = provider.build();

        opentelemetry::global::set_text_map_propagator(propagator(&propagators));
        opentelemetry::global::set_tracer_provider(provider.clone());
        if self.tracing_subscriber {
            install_bridge(&provider, self.tracing_level);
        }
        Ok(TelemetryGuard::new(
            provider,
            export_runtime,
            self.shutdown_timeout,
        ))
    }

    /// The SDK's resource (its detectors read `OTEL_SERVICE_NAME` and
    /// `OTEL_RESOURCE_ATTRIBUTES`), with the code-side service name only
    /// where the environment named none.
    fn resource(&self) -> Resource {
        let detected = Resource::builder().build();
        let Some(default_name) = &self.service_name else {
            return detected;
        };
        let from_env = detected
            .get(&opentelemetry::Key::from_static_str("service.name"))
            .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
        if from_env {
            detected
        } else {
            Resource::builder()
                .with_service_name(default_name.clone())
                .build()
        }
    }

    /// The OTLP exporter for `protocol`; everything else (endpoint, headers,
    /// timeout, compression) the exporter reads from the environment,
    /// unless set in code.
    fn otlp_exporter(
        &self,
        protocol: OtlpProtocol,
    ) -> Result<opentelemetry_otlp::SpanExporter, InitError> {
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let built = match protocol {
            OtlpProtocol::Grpc => {
                let mut b = builder
                    .with_tonic()
                    .with_protocol(opentelemetry_otlp::Protocol::Grpc);
                if let Some(endpoint) = &self.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                b.build()
            }
            OtlpProtocol::HttpProtobuf => {
                let mut b = builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(endpoint) = &self.endpoint {
                    b = b.with_endpoint(endpoint.clone());
                }
                b.build()
            }
        };
        built.map_err(|source| InitError::Exporter { protocol, source })
    }
}

/// The propagator for `kinds`, in order; none at all is a no-op.
fn propagator(kinds: &[PropagatorKind]) -> TextMapCompositePropagator {
    let mut parts = kinds
        .iter()
        .map(|kind| -> Box<dyn TextMapPropagator + Send + Sync> {
            match kind {
                PropagatorKind::TraceContext => Box::new(TraceContextPropagator::new()),
                PropagatorKind::Baggage => Box::new(BaggagePropagator::new()),
            }
        })
        .collect::<Vec<_>>();
    if parts.is_empty() {
        parts.push(Box::new(NoopTextMapPropagator::new()));
    }
    TextMapCompositePropagator::new(parts)
}

/// Whether `target` is in one of [`BRIDGE_EXCLUDED_TARGETS`]: the crate
/// itself or one of its modules.
fn on_export_path(target: &str) -> bool {
    BRIDGE_EXCLUDED_TARGETS.iter().any(|krate| {
        target
            .strip_prefix(krate)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Sets a registry with the `tracing-opentelemetry` layer, filtered to
/// `level` and without [`BRIDGE_EXCLUDED_TARGETS`], as the global `tracing`
/// subscriber, keeping (with a warning) one set earlier.
fn install_bridge(provider: &SdkTracerProvider, level: LevelFilter) {
    // Depends on the callsite's metadata alone, so `tracing` caches the
    // answer per callsite.
    let filter =
        filter_fn(move |metadata| *metadata.level() <= level && !on_export_path(metadata.target()))
            .with_max_level_hint(level);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(BRIDGE_SCOPE))
        .with_filter(filter);
    let subscriber = tracing_subscriber::registry().with(layer);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!(
            "meshtrace: warning: a global tracing subscriber is already set; \
             #[instrument] spans are not bridged (add tracing_opentelemetry's layer \
             to it, or call with_tracing_subscriber(false))"
        );
    }
}

fn warn(warning: &EnvWarning) {
    eprintln!("meshtrace: warning: {warning}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_path_is_the_listed_crates_and_their_modules() {
        for (target, excluded, why) in [
            ("h2", true, "a crate root"),
            ("h2::codec::framed_write", true, "a module of it"),
            ("hyper_util::client::legacy", true, "listed on its own"),
            ("opentelemetry_sdk::trace", true, "an SDK module"),
            (
                "reqwest_tracing::reqwest_otel_span_builder",
                false,
                "a crate named alike",
            ),
            ("h2o", false, "a prefix of the name only"),
            ("my_service::handler", false, "the service's own code"),
        ] {
            assert_eq!(on_export_path(target), excluded, "{target}: {why}");
        }
    }

    #[test]
    fn propagator_fields_follow_the_kinds() {
        use PropagatorKind::{Baggage, TraceContext};
        for (kinds, want, why) in [
            (
                &[TraceContext, Baggage][..],
                &["baggage", "traceparent", "tracestate"][..],
                "default",
            ),
            (&[Baggage], &["baggage"], "baggage only"),
            (
                &[TraceContext],
                &["traceparent", "tracestate"],
                "trace context only",
            ),
            (&[], &[], "none: a no-op"),
        ] {
            let propagator = propagator(kinds);
            // The composite's field order is unspecified.
            let mut fields: Vec<_> = propagator.fields().collect();
            fields.sort_unstable();
            assert_eq!(fields, want, "{why}");
        }
    }

    #[test]
    fn exporter_error_names_the_protocol() {
        let error = Builder::new()
            .with_endpoint("not a url")
            .otlp_exporter(OtlpProtocol::HttpProtobuf)
            .expect_err("an endpoint that is not a URL");
        let text = error.to_string();
        assert!(text.contains("http/protobuf"), "{text}");
    }
}
