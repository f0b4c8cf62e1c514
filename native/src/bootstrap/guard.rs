//! [`TelemetryGuard`]: flushes and shuts the pipeline down, in bounded time.

use std::time::Duration;

use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::SdkTracerProvider;

use super::runtime::ExportRuntime;

/// The default bound on [`TelemetryGuard::shutdown`] and on the drop.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Keeps the tracing pipeline installed by [`init`](super::init) alive.
///
/// Hold it for the life of the service (bind it in `main`, not to `_`).
/// Dropping it flushes every buffered span and shuts the tracer provider
/// down, waiting at most the shutdown timeout
/// ([`Builder::with_shutdown_timeout`](super::Builder::with_shutdown_timeout),
/// default [`DEFAULT_SHUTDOWN_TIMEOUT`]). The drop is safe inside a tokio
/// runtime of either flavour: exports run on the pipeline's own runtime,
/// never on the caller's. Spans started after the drop are not exported.
#[must_use = "dropping the guard shuts the tracing pipeline down at once"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    runtime: Option<ExportRuntime>,
    timeout: Duration,
}

/// [`TelemetryGuard::force_flush`] failed.
#[derive(Debug, thiserror::Error)]
#[error("flushing the buffered spans failed: {0}")]
pub struct FlushError(#[source] OTelSdkError);

/// [`TelemetryGuard::shutdown`] failed or timed out; buffered spans may be
/// lost.
#[derive(Debug, thiserror::Error)]
#[error("shutting the tracer provider down (bound {timeout:?}) failed: {source}")]
pub struct ShutdownError {
    timeout: Duration,
    #[source]
    source: OTelSdkError,
}

// === impl TelemetryGuard ===

impl TelemetryGuard {
    /// `runtime` is the OTLP exporter's runtime, if there is one; it is
    /// shut down after the provider.
    pub(crate) fn new(
        provider: SdkTracerProvider,
        runtime: Option<ExportRuntime>,
        timeout: Duration,
    ) -> Self {
        Self {
            provider: Some(provider),
            runtime,
            timeout,
        }
    }

    /// A guard for a disabled SDK (`OTEL_SDK_DISABLED=true`): nothing to
    /// flush.
    pub(crate) fn disabled() -> Self {
        Self {
            provider: None,
            runtime: None,
            timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// Whether a tracer provider was installed (`false` when the SDK is
    /// disabled).
    pub fn is_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// The installed tracer provider, for code that needs it directly (a
    /// second `tracing` layer, say). `None` when the SDK is disabled.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// Exports every finished span now and waits for it, at most the batch
    /// processor's fixed flush bound (5 s in opentelemetry_sdk 0.33).
    /// Blocks the calling thread, but never needs the caller's runtime, so
    /// it is safe on a `current_thread` runtime too.
    ///
    /// # Errors
    ///
    /// If an export failed or timed out.
    pub fn force_flush(&self) -> Result<(), FlushError> {
        match &self.provider {
            Some(provider) => provider.force_flush().map_err(FlushError),
            None => Ok(()),
        }
    }

    /// Flushes and shuts down now, waiting at most the shutdown timeout;
    /// what dropping the guard does, with the outcome reported.
    ///
    /// # Errors
    ///
    /// If the last export failed or the timeout passed first.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.shutdown_inner()
    }

    fn shutdown_inner(&mut self) -> Result<(), ShutdownError> {
        let result = match self.provider.take() {
            Some(provider) => provider
                .shutdown_with_timeout(self.timeout)
                .map_err(|source| ShutdownError {
                    timeout: self.timeout,
                    source,
                }),
            None => Ok(()),
        };
        // After the provider: an export still stuck past the timeout is
        // abandoned with the exporter runtime.
        drop(self.runtime.take());
        result
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown_inner() {
            eprintln!("meshtrace: {e}");
        }
    }
}
