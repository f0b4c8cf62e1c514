//! A real OpenTelemetry SDK pipeline for the native suites: a batch
//! processor exporting with `opentelemetry-otlp` to the OTLP receiver
//! fixture, installed as the global provider with the W3C propagator.
//!
//! The provider and propagator are process-wide globals, so a suite that
//! installs one holds a lock (its own `static`) for the whole test.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::global;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

use meshtrace_harness::otlp::OtlpReceiver;

/// The OTLP transport the exporter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// OTLP/gRPC.
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
}

/// Runs the OTLP exporter's futures on the test runtime: the SDK's batch
/// processor exports from its own thread, outside any Tokio context, which
/// the async reqwest (and tonic) clients need.
#[derive(Debug)]
struct OnRuntime {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Handle,
}

impl SpanExporter for OnRuntime {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        let task = self.runtime.spawn(async move { inner.export(batch).await });
        async move {
            task.await
                .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string())))
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}

/// Builds a provider for `service_name` exporting to `receiver` over
/// `transport` and installs it, with the W3C propagator, as the globals.
/// Call from inside a Tokio runtime.
///
/// # Panics
///
/// When the exporter cannot be built.
pub fn install(
    receiver: &OtlpReceiver,
    transport: Transport,
    service_name: &'static str,
) -> SdkTracerProvider {
    let exporter = match transport {
        Transport::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://127.0.0.1:{}", receiver.grpc_port()))
            .build(),
        Transport::HttpProtobuf => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!(
                "http://127.0.0.1:{}/v1/traces",
                receiver.http_port()
            ))
            .build(),
    }
    .unwrap_or_else(|e| panic!("cannot build the {transport:?} exporter: {e}"));
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service_name)
                .build(),
        )
        .with_batch_exporter(OnRuntime {
            inner: Arc::new(exporter),
            runtime: tokio::runtime::Handle::current(),
        })
        .build();
    global::set_tracer_provider(provider.clone());
    global::set_text_map_propagator(TraceContextPropagator::new());
    provider
}

/// Flushes and shuts `provider` down off the async threads (both block).
///
/// # Panics
///
/// When the flush fails.
pub async fn flush(provider: SdkTracerProvider) {
    tokio::task::spawn_blocking(move || {
        provider
            .force_flush()
            .unwrap_or_else(|e| panic!("flush failed: {e}"));
        let _ = provider.shutdown();
    })
    .await
    .unwrap_or_else(|e| panic!("flush task failed: {e}"));
}
