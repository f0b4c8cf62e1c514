//! The tokio runtime the fixtures' servers and clients run on.
//!
//! Fixtures do not run on the test's own runtime: a `#[tokio::test]` is
//! single-threaded, and a test that blocks it (a synchronous Envoy admin
//! call, a `std::thread::sleep`) would otherwise stall the OTLP receiver
//! and the apps behind Envoy, turning into timeouts that look like filter
//! bugs. One shared multi-threaded runtime serves every fixture of the test
//! process and lives as long as the process.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The shared fixture runtime.
///
/// # Panics
///
/// If the runtime cannot be built (no threads available).
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("meshtrace-fixture")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the fixture runtime: {e}"))
    })
}

/// Runs `fut` on the fixture runtime and waits for it from any context: a
/// plain thread or inside another runtime (it blocks that thread, not the
/// fixture runtime). Never call it from a fixture task.
///
/// # Panics
///
/// If `fut` panics.
pub(crate) fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime().spawn(async move {
        // The receiver only goes away if the caller is gone.
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .unwrap_or_else(|_| panic!("a fixture task panicked (see its message above)"))
}
