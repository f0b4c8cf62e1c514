//! The host-controlled clock and the root context's tick timer.
//!
//! `proxy_get_current_time_nanoseconds` and WASI's realtime clock read the
//! same virtual wall clock (proxy-wasm-cpp-host serves WASI `clock_time_get`
//! from the proxy's time source), WASI's monotonic clock a virtual monotonic
//! one; both only move when a test calls
//! [`PluginHost::advance`](super::PluginHost::advance) or
//! [`PluginHost::advance_with_ticks`](super::PluginHost::advance_with_ticks)
//! ([`PluginHost::set_time`](super::PluginHost::set_time) steps the wall
//! clock only, as an NTP step would).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// 2026-01-01T00:00:00Z, where every host's wall clock starts.
pub const START_UNIX_SECS: u64 = 1_767_225_600;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Shared virtual clocks, in nanoseconds: wall time since the Unix epoch and
/// monotonic time since the host started.
#[derive(Debug, Clone)]
pub(crate) struct VirtualClock {
    wall: Arc<AtomicU64>,
    monotonic: Arc<AtomicU64>,
}

// === impl VirtualClock ===

impl VirtualClock {
    pub(crate) fn new() -> Self {
        Self {
            wall: Arc::new(AtomicU64::new(START_UNIX_SECS * NANOS_PER_SEC)),
            monotonic: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Wall time, nanoseconds since the Unix epoch.
    pub(crate) fn unix_nanos(&self) -> u64 {
        self.wall.load(Ordering::SeqCst)
    }

    /// Monotonic time, nanoseconds since the host started.
    pub(crate) fn monotonic_nanos(&self) -> u64 {
        self.monotonic.load(Ordering::SeqCst)
    }

    pub(crate) fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_nanos())
    }

    /// Moves both clocks forward.
    pub(crate) fn advance(&self, by: Duration) {
        let by = saturating_nanos(by);
        for clock in [&self.wall, &self.monotonic] {
            // The closure always returns `Some`, so this cannot fail.
            let _ = clock.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
        }
    }

    /// Sets the wall clock (either way); the monotonic clock does not move.
    pub(crate) fn set_wall(&self, to: SystemTime) {
        let since_epoch = to.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.wall
            .store(saturating_nanos(since_epoch), Ordering::SeqCst);
    }
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.unix_nanos())
    }
}

/// WASI's monotonic clock, backed by [`VirtualClock`].
#[derive(Debug, Clone)]
pub(crate) struct VirtualMonotonicClock(pub(crate) VirtualClock);

impl HostMonotonicClock for VirtualMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.monotonic_nanos()
    }
}

/// The root context's tick timer, as proxy-wasm-cpp-host runs it
/// (`WasmBase::setTickPeriod`, `tickHandler`): setting a period arms the
/// timer only if it is not already running, so a new period takes effect
/// after the pending tick; each tick re-arms it with the period current
/// then; a zero period stops it.
#[derive(Debug, Default)]
pub(crate) struct TickTimer {
    period: Duration,
    /// Monotonic nanoseconds of the next tick, while armed.
    next: Option<u64>,
}

// === impl TickTimer ===

impl TickTimer {
    /// `proxy_set_tick_period_milliseconds`.
    pub(crate) fn set_period(&mut self, period_ms: u32, now: u64) {
        self.period = Duration::from_millis(period_ms.into());
        if self.period.is_zero() {
            self.next = None;
        } else if self.next.is_none() {
            self.next = Some(now.saturating_add(saturating_nanos(self.period)));
        }
    }

    /// The period, `None` when zero (never set, or stopped).
    pub(crate) fn period(&self) -> Option<Duration> {
        (!self.period.is_zero()).then_some(self.period)
    }

    /// Monotonic nanoseconds of the next tick, while armed.
    pub(crate) fn next(&self) -> Option<u64> {
        self.next
    }

    /// A tick fired at `now`: re-arm with the current period, if any. Call
    /// it before delivering `proxy_on_tick`, which may change the period.
    pub(crate) fn fired(&mut self, now: u64) {
        self.next = self
            .period()
            .map(|period| now.saturating_add(saturating_nanos(period)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn set_time_moves_the_wall_clock_only() {
        let clock = VirtualClock::new();
        clock.advance(Duration::from_millis(5));
        clock.set_wall(UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(clock.now(), UNIX_EPOCH + Duration::from_secs(10));
        assert_eq!(clock.monotonic_nanos(), 5 * MS, "monotonic stays");
        clock.set_wall(UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(clock.unix_nanos(), 0, "clamped to the epoch");
    }

    #[test]
    fn a_new_period_applies_after_the_pending_tick() {
        let mut timer = TickTimer::default();
        assert_eq!(timer.next(), None, "never armed");
        timer.set_period(100, 0);
        assert_eq!(timer.next(), Some(100 * MS));
        timer.set_period(10, 50 * MS);
        assert_eq!(timer.next(), Some(100 * MS), "running: not re-armed");
        timer.fired(100 * MS);
        assert_eq!(timer.next(), Some(110 * MS), "re-armed with the new period");
        timer.set_period(0, 105 * MS);
        assert_eq!((timer.next(), timer.period()), (None, None), "stopped");
    }
}
