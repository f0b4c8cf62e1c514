//! The tokio runtime the harness's servers and clients run on.
//!
//! Fixtures do not run on the caller's runtime: a `#[tokio::test]` is
//! single-threaded, and a test that blocks it (a synchronous Envoy admin
//! call, a `std::thread::sleep`) would otherwise stall the OTLP receiver
//! and the apps behind Envoy, turning into timeouts that look like filter
//! bugs. One shared multi-threaded runtime serves every fixture of the
//! process and lives as long as the process.

use std::future::Future;
use std::io;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The shared runtime could not be built, or a task on it did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime could not be built (no threads available).
    #[error("cannot build the harness runtime: {0}")]
    Build(String),
    /// The task panicked or was cancelled (its message was printed).
    #[error("a harness task did not finish (it panicked; see its message above)")]
    Task,
}

impl From<RuntimeError> for io::Error {
    fn from(e: RuntimeError) -> Self {
        io::Error::other(e)
    }
}

/// The shared harness runtime.
///
/// # Errors
///
/// [`RuntimeError::Build`] when it cannot be built (the same error on
/// every later call).
pub fn runtime() -> Result<&'static Runtime, RuntimeError> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("meshtrace-harness")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| RuntimeError::Build(e.clone()))
}

/// Runs `fut` on the harness runtime and waits for it from any context: a
/// plain thread or inside another runtime (it blocks that thread, not the
/// harness runtime). Never call it from a harness task.
///
/// # Errors
///
/// [`RuntimeError`] when the runtime cannot be built or `fut` panics.
pub fn block_on<F>(fut: F) -> Result<F::Output, RuntimeError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        // The receiver only goes away if the caller is gone.
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| RuntimeError::Task)
}
