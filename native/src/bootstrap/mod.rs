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
//! | on / off | [`env::OTEL_SDK_DISABLED`] (wins: nothing is installed, not even code-side processors) | — |
//! | service name | [`env::OTEL_SERVICE_NAME`], `service.name` in [`env::OTEL_RESOURCE_ATTRIBUTES`] (both win) | [`Builder::with_service_name`], `service.name` in [`Builder::with_resource_attributes`] (a default) |
//! | resource | [`env::OTEL_RESOURCE_ATTRIBUTES`] (read by the SDK) | [`Builder::with_resource_attributes`] (merged over the variable, per the [Resource SDK spec](https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable)) |
//! | propagators | [`env::OTEL_PROPAGATORS`] | — |
//! | exporter | [`env::OTEL_TRACES_EXPORTER`] | [`Builder::with_exporter`] |
//! | OTLP protocol | [`env::OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`], [`env::OTEL_EXPORTER_OTLP_PROTOCOL`] | [`Builder::with_protocol`] |
//! | OTLP endpoint | `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT` (read by the exporter) | [`Builder::with_endpoint`] |
//! | headers, timeout, compression | `OTEL_EXPORTER_OTLP_(TRACES_)HEADERS`, `_TIMEOUT`, `_COMPRESSION` (read by the exporter) | — |
//! | sampler | [`env::OTEL_TRACES_SAMPLER`], [`env::OTEL_TRACES_SAMPLER_ARG`] (read by the SDK) | [`Builder::with_sampler`] (the variables are then ignored, with a warning) |
//! | more span processors | — | [`Builder::with_span_processor`] (beside the exporter's) |
//! | batching | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (read by the SDK); `OTEL_BSP_EXPORT_TIMEOUT` (applied by meshtrace: the SDK's thread-based processor ignores it) | — |
//! | `tracing` bridge | — | [`Builder::with_tracing_subscriber`] |
//! | `tracing` bridge level | — | [`Builder::with_tracing_level`] (default `INFO`) |
//! | shutdown bound | — | [`Builder::with_shutdown_timeout`] |

mod b3;
pub mod env;
mod guard;
mod processor;
mod resource;
mod runtime;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::noop::NoopTextMapPropagator;
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SdkTracerProvider, ShouldSample, SpanProcessor, TracerProviderBuilder,
};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};

pub use env::{ExporterKind, OtlpProtocol, PropagatorKind};
pub use guard::{DEFAULT_SHUTDOWN_TIMEOUT, FlushError, ShutdownError, TelemetryGuard};

use env::EnvWarning;
use processor::SharedProcessor;

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
/// default; `OTEL_SDK_DISABLED=true` turns everything off.
///
/// A clone shares the span processors given to
/// [`with_span_processor`](Self::with_span_processor) (a processor is one
/// object, not copied); build one pipeline from them.
#[derive(Debug, Clone)]
pub struct Builder {
    service_name: Option<String>,
    resource_attributes: Vec<KeyValue>,
    sampler: Option<Box<dyn ShouldSample>>,
    span_processors: Vec<SharedProcessor>,
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
            resource_attributes: Vec::new(),
            sampler: None,
            span_processors: Vec::new(),
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

    /// Resource attributes describing the service (`service.version`,
    /// `deployment.environment.name`, ...), merged over the environment's:
    /// per the [Resource SDK spec](https://opentelemetry.io/docs/specs/otel/resource/sdk/#specifying-resource-information-via-an-environment-variable),
    /// `OTEL_RESOURCE_ATTRIBUTES` is the secondary resource, so an
    /// attribute set here wins over the same key there, and the
    /// variable's other keys are kept. Calls add up; a later value for a
    /// key replaces an earlier one.
    ///
    /// `service.name` is the exception: given here it is only a default,
    /// exactly like [`with_service_name`](Self::with_service_name) (the
    /// later of the two calls sets it), and `OTEL_SERVICE_NAME` or a
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES` wins over it.
    ///
    /// ```no_run
    /// use opentelemetry::KeyValue;
    ///
    /// # fn main() -> Result<(), meshtrace::InitError> {
    /// let _telemetry = meshtrace::Builder::new()
    ///     .with_service_name("checkout")
    ///     .with_resource_attributes([
    ///         KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    ///         KeyValue::new("deployment.environment.name", "production"),
    ///     ])
    ///     .init()?;
    /// # Ok(()) }
    /// ```
    pub fn with_resource_attributes(
        mut self,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> Self {
        for attribute in attributes {
            if attribute.key.as_str() == resource::SERVICE_NAME {
                self.service_name = Some(attribute.value.as_str().into_owned());
            } else {
                self.resource_attributes.push(attribute);
            }
        }
        self
    }

    /// The sampler, instead of `OTEL_TRACES_SAMPLER` and
    /// `OTEL_TRACES_SAMPLER_ARG`: any [`ShouldSample`], such as one of the
    /// SDK's [`Sampler`](opentelemetry_sdk::trace::Sampler)s or your own (a
    /// rate limiter, one that drops health checks, one that writes a
    /// `tracestate` entry on root spans). Like the other code-side
    /// settings it wins over its variables (as the SDK's own
    /// `TracerProviderBuilder::with_sampler` does); when they are set
    /// anyway, `init` says on stderr that they are ignored. Your sampler
    /// sees root and child spans alike: wrap it in
    /// [`Sampler::ParentBased`](opentelemetry_sdk::trace::Sampler::ParentBased)
    /// to follow the caller's decision, as the default
    /// (`parentbased_always_on`) does.
    ///
    /// ```no_run
    /// use opentelemetry::trace::{Link, SpanKind, TraceContextExt as _, TraceId};
    /// use opentelemetry::{Context, KeyValue};
    /// use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};
    ///
    /// /// Drops health checks; samples everything else, following the parent.
    /// #[derive(Debug, Clone)]
    /// struct NoHealthChecks;
    ///
    /// impl ShouldSample for NoHealthChecks {
    ///     fn should_sample(
    ///         &self,
    ///         parent: Option<&Context>,
    ///         trace_id: TraceId,
    ///         name: &str,
    ///         kind: &SpanKind,
    ///         attributes: &[KeyValue],
    ///         links: &[Link],
    ///     ) -> SamplingResult {
    ///         if name == "GET /healthz" {
    ///             return SamplingResult {
    ///                 decision: SamplingDecision::Drop,
    ///                 attributes: Vec::new(),
    ///                 trace_state: parent
    ///                     .map(|cx| cx.span().span_context().trace_state().clone())
    ///                     .unwrap_or_default(),
    ///             };
    ///         }
    ///         Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
    ///             .should_sample(parent, trace_id, name, kind, attributes, links)
    ///     }
    /// }
    ///
    /// # fn main() -> Result<(), meshtrace::InitError> {
    /// let _telemetry = meshtrace::Builder::new()
    ///     .with_sampler(NoHealthChecks)
    ///     .init()?;
    /// # Ok(()) }
    /// ```
    pub fn with_sampler(mut self, sampler: impl Into<Box<dyn ShouldSample>>) -> Self {
        self.sampler = Some(sampler.into());
        self
    }

    /// Adds a span processor beside the exporter's: it sees every
    /// recorded span start and end, and is flushed and shut down with the
    /// pipeline (by the guard). Use it to send spans to a second
    /// destination, to count or inspect them, or with
    /// `OTEL_TRACES_EXPORTER=none` to replace the exporter. Calls add up;
    /// the processors run in the order added, before the exporter's.
    /// With `OTEL_SDK_DISABLED=true` it is never installed (dropped
    /// unused).
    ///
    /// ```no_run
    /// use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};
    ///
    /// # fn main() -> Result<(), meshtrace::InitError> {
    /// let spans = InMemorySpanExporter::default();
    /// let _telemetry = meshtrace::Builder::new()
    ///     .with_span_processor(SimpleSpanProcessor::new(spans.clone()))
    ///     .init()?;
    /// // ... every finished span is in `spans` too, and still exported.
    /// # Ok(()) }
    /// ```
    pub fn with_span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.span_processors.push(SharedProcessor::new(processor));
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
    /// stays no-op (no spans, nothing injected), the span processors given
    /// to [`with_span_processor`](Self::with_span_processor) are dropped
    /// without seeing a span, and the guard does nothing.
    /// Unusable variable values are reported on stderr and the spec default
    /// applies. A `tracing` subscriber set earlier is kept (with a warning).
    ///
    /// # Errors
    ///
    /// If the OTLP exporter cannot be built from its configuration, or its
    /// runtime thread cannot be started.
    pub fn init(mut self) -> Result<TelemetryGuard, InitError> {
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

        if self.sampler.is_some() {
            warn_sampler_variables_ignored();
        }
        let mut provider = self.provider_builder(Resource::builder().build());
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

    /// A provider builder with the code-side settings: the resource
    /// (`detected`, the SDK's from the environment, merged with the code's
    /// attributes), the sampler when set in code (else the SDK's, from
    /// `OTEL_TRACES_SAMPLER`), and the extra span processors, taken from
    /// `self`. The exporter's processor is added after them.
    fn provider_builder(&mut self, detected: Resource) -> TracerProviderBuilder {
        let mut provider = SdkTracerProvider::builder().with_resource(resource::merge(
            detected,
            &self.resource_attributes,
            self.service_name.as_deref(),
        ));
        if let Some(sampler) = self.sampler.take() {
            provider = provider.with_sampler(sampler);
        }
        for processor in std::mem::take(&mut self.span_processors) {
            provider = provider.with_span_processor(processor);
        }
        provider
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
                // Each extracts both B3 forms (single first); they differ in
                // what they inject.
                PropagatorKind::B3 => Box::new(b3::B3Single::new()),
                PropagatorKind::B3Multi => Box::new(b3::multi()),
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

/// Tells the operator that the sampler variables they set have no effect:
/// the service sets its sampler in code.
fn warn_sampler_variables_ignored() {
    for variable in [env::OTEL_TRACES_SAMPLER, env::OTEL_TRACES_SAMPLER_ARG] {
        if let Some(value) = env::var(variable) {
            eprintln!(
                "meshtrace: warning: {variable}={value:?} is ignored: \
                 the service sets its sampler in code (Builder::with_sampler)"
            );
        }
    }
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
            (&[PropagatorKind::B3], &["b3"], "B3 single"),
            (
                &[PropagatorKind::B3Multi],
                &["x-b3-flags", "x-b3-sampled", "x-b3-spanid", "x-b3-traceid"],
                "B3 multi",
            ),
        ] {
            let propagator = propagator(kinds);
            // The composite's field order is unspecified.
            let mut fields: Vec<_> = propagator.fields().collect();
            fields.sort_unstable();
            assert_eq!(fields, want, "{why}");
        }
    }

    /// Drops the spans named `noisy`, samples the others and puts
    /// `meshtrace=root` on the `tracestate` of roots.
    #[derive(Debug, Clone)]
    struct QuietRoots;

    impl ShouldSample for QuietRoots {
        fn should_sample(
            &self,
            parent: Option<&opentelemetry::Context>,
            _: opentelemetry::trace::TraceId,
            name: &str,
            _: &opentelemetry::trace::SpanKind,
            _: &[KeyValue],
            _: &[opentelemetry::trace::Link],
        ) -> opentelemetry_sdk::trace::SamplingResult {
            use opentelemetry::trace::{TraceContextExt as _, TraceState};
            use opentelemetry_sdk::trace::SamplingDecision;
            let parent = parent
                .map(|cx| cx.span().span_context().clone())
                .filter(|sc| sc.is_valid());
            let trace_state = match &parent {
                Some(sc) => sc.trace_state().clone(),
                None => TraceState::from_key_value([("meshtrace", "root")]).unwrap_or_default(),
            };
            let decision = if name == "noisy" {
                SamplingDecision::Drop
            } else {
                SamplingDecision::RecordAndSample
            };
            opentelemetry_sdk::trace::SamplingResult {
                decision,
                attributes: Vec::new(),
                trace_state,
            }
        }
    }

    #[test]
    fn code_sampler_and_processor_shape_the_pipeline() {
        use opentelemetry::trace::{Span as _, Tracer as _};
        use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor};

        let spans = InMemorySpanExporter::default();
        let mut builder = Builder::new()
            .with_sampler(QuietRoots)
            .with_span_processor(SimpleSpanProcessor::new(spans.clone()));
        let provider = builder
            .provider_builder(Resource::builder_empty().build())
            .build();
        let tracer = provider.tracer("test");
        tracer.start("noisy").end();
        tracer.start("kept").end();

        let finished = spans.get_finished_spans().expect("the exporter is up");
        let names: Vec<_> = finished.iter().map(|s| s.name.as_ref()).collect();
        assert_eq!(
            names,
            ["kept"],
            "the sampler dropped `noisy`; the processor saw the rest"
        );
        assert_eq!(
            finished[0].span_context.trace_state().get("meshtrace"),
            Some("root"),
            "the sampler's tracestate is on the root"
        );
        assert!(builder.span_processors.is_empty(), "taken by the provider");
    }

    #[test]
    fn service_name_among_the_attributes_is_the_default_name() {
        for (builder, want, why) in [
            (
                Builder::new().with_resource_attributes([KeyValue::new("service.name", "attrs")]),
                Some("attrs"),
                "from the attributes",
            ),
            (
                Builder::new()
                    .with_service_name("named")
                    .with_resource_attributes([KeyValue::new("service.name", "attrs")]),
                Some("attrs"),
                "the later call wins",
            ),
            (
                Builder::new()
                    .with_resource_attributes([KeyValue::new("service.name", "attrs")])
                    .with_service_name("named"),
                Some("named"),
                "the later call wins, the other way round",
            ),
        ] {
            assert_eq!(builder.service_name.as_deref(), want, "{why}");
            assert!(
                builder.resource_attributes.is_empty(),
                "{why}: not merged as an attribute"
            );
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
