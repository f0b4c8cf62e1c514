//! The host-controlled clock. `proxy_get_current_time_nanoseconds` and WASI's
//! realtime and monotonic clocks all read it (proxy-wasm-cpp-host serves WASI
//! `clock_time_get` from the same time source as the proxy-wasm call), and it
//! only moves when a test calls [`PluginHost::advance`](super::PluginHost::advance).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// 2026-01-01T00:00:00Z, where every host's clock starts.
pub const START_UNIX_SECS: u64 = 1_767_225_600;

/// A shared virtual wall clock, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone)]
pub(crate) struct VirtualClock {
    nanos: Arc<AtomicU64>,
}

// === impl VirtualClock ===

impl VirtualClock {
    pub(crate) fn new() -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(START_UNIX_SECS * 1_000_000_000)),
        }
    }

    /// Nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }

    pub(crate) fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos())
    }

    pub(crate) fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            })
            .ok();
    }
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.unix_nanos())
    }
}

/// Monotonic time: nanoseconds since the host started.
#[derive(Debug, Clone)]
pub(crate) struct VirtualMonotonicClock(pub(crate) VirtualClock);

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.unix_nanos() - START_UNIX_SECS * 1_000_000_000
    }
}
