//! The exporter's own tokio runtime.
//!
//! The SDK's [`BatchSpanProcessor`](opentelemetry_sdk::trace::BatchSpanProcessor)
//! exports from its own thread with `futures_executor::block_on`, but the
//! tonic and reqwest exporters need a tokio reactor: the tonic channel
//! spawns its worker when it is built, reqwest's connections run on the
//! runtime that polls them. Borrowing the service's runtime deadlocks a
//! `current_thread` runtime at shutdown: the guard blocks the only thread
//! waiting for a flush that needs that thread to make progress.
//!
//! So the bootstrap builds one small runtime (one worker thread) that only
//! the exporter uses: the exporter is built inside it, every export is
//! spawned onto it, and the processor thread only waits for the task's
//! result. The service's runtime, of either flavour, is never involved.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::runtime::{Handle, Runtime};

/// The name of the exporter runtime's worker thread.
const THREAD_NAME: &str = "meshtrace-export";

/// Builds the exporter runtime.
pub(crate) fn build() -> io::Result<ExportRuntime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .map(|runtime| ExportRuntime {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
}

/// The exporter runtime; safe to drop anywhere, including inside another
/// runtime (a plain `Runtime` panics there).
#[derive(Debug)]
pub(crate) struct ExportRuntime {
    /// Spawns and enters without the runtime itself, so no accessor has to
    /// deal with the runtime being gone.
    handle: Handle,
    /// Present until the drop, which takes it to shut it down.
    runtime: Option<Runtime>,
}

// === impl ExportRuntime ===

impl ExportRuntime {
    /// A handle to spawn exports on.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Enters the runtime's context (to build the tonic channel in it).
    pub(crate) fn enter(&self) -> tokio::runtime::EnterGuard<'_> {
        self.handle.enter()
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // The one way to drop a runtime that is allowed inside another
            // runtime; an export still stuck is abandoned with it.
            runtime.shutdown_background();
        }
    }
}

/// A span exporter whose exports run on the exporter runtime.
pub(crate) struct OnRuntime<E> {
    inner: Arc<E>,
    handle: Handle,
    /// `OTEL_BSP_EXPORT_TIMEOUT`: one export may take at most this long.
    timeout: Duration,
}

// === impl OnRuntime ===

impl<E> OnRuntime<E> {
    /// Wraps `inner`, which must have been built inside `handle`'s runtime
    /// if it needs one.
    pub(crate) fn new(inner: E, handle: Handle, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            handle,
            timeout,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for OnRuntime<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnRuntime")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<E: SpanExporter + 'static> SpanExporter for OnRuntime<E> {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let inner = self.inner.clone();
        // Spawning on a runtime that has shut down yields a cancelled task,
        // reported below as an export failure, not a panic.
        let timeout = self.timeout;
        let task = self.handle.spawn(async move {
            tokio::time::timeout(timeout, inner.export(batch))
                .await
                .unwrap_or(Err(OTelSdkError::Timeout(timeout)))
        });
        async move {
            task.await.unwrap_or_else(|e| {
                Err(OTelSdkError::InternalFailure(format!(
                    "the export task did not finish: {e}"
                )))
            })
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        // The provider sets the resource while it is built, before any
        // export could hold a second reference.
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => inner.set_resource(resource),
            None => tracing::warn!("cannot set the exporter's resource while an export runs"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records the name of the thread each export ran on.
    #[derive(Debug, Default, Clone)]
    struct ThreadRecorder(Arc<Mutex<Vec<Option<String>>>>);

    impl SpanExporter for ThreadRecorder {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            let name = std::thread::current().name().map(str::to_owned);
            self.0.lock().expect("recorder lock").push(name);
            Ok(())
        }
    }

    #[test]
    fn exports_run_on_the_exporter_runtime_not_the_callers() {
        let runtime = build().expect("exporter runtime");
        let recorder = ThreadRecorder::default();
        let exporter = OnRuntime::new(
            recorder.clone(),
            runtime.handle().clone(),
            Duration::from_secs(5),
        );
        // The caller: a current-thread runtime, as the batch processor's
        // `block_on` would be.
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("caller runtime");
        caller
            .block_on(exporter.export(Vec::new()))
            .expect("export");
        let names = recorder.0.lock().expect("recorder lock").clone();
        assert_eq!(names, [Some(THREAD_NAME.to_owned())]);
    }

    #[test]
    fn export_after_the_runtime_shut_down_fails_without_panicking() {
        let runtime = build().expect("exporter runtime");
        let exporter = OnRuntime::new(
            ThreadRecorder::default(),
            runtime.handle().clone(),
            Duration::from_secs(5),
        );
        drop(runtime);
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("caller runtime");
        let result = caller.block_on(exporter.export(Vec::new()));
        assert!(result.is_err(), "{result:?}");
    }

    #[test]
    fn drops_inside_a_current_thread_runtime() {
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("caller runtime");
        caller.block_on(async {
            let runtime = build().expect("exporter runtime");
            drop(runtime);
        });
    }
}
