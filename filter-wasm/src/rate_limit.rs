//! The cap on sampling that callers force (an incoming context with the
//! `sampled` flag, or a B3 accept/debug decision): a token bucket per VM,
//! refilled at `max_sampled_per_second` and holding at most one second's
//! worth. A request beyond it continues its trace unsampled, so an
//! untrusted caller cannot make the mesh record more than the configured
//! rate (`trust.max_sampled_per_second`, counted in
//! `meshtrace.sampling_capped`). Envoy runs one VM per worker, so the cap
//! holds per worker.

/// Nanoseconds per second.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// A token bucket on the host clock, in whole tokens times 10⁹ so that it
/// needs no floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampledLimiter {
    /// Tokens per second, and the bucket's size.
    per_second: u64,
    /// Tokens held, times 10⁹.
    nano_tokens: u64,
    /// When the bucket was last refilled (Unix nanoseconds).
    last_nanos: u64,
}

// === impl SampledLimiter ===

impl SampledLimiter {
    /// A full bucket of `per_second` tokens at `now_nanos`.
    pub fn new(per_second: u32, now_nanos: u64) -> Self {
        let per_second = u64::from(per_second);
        Self {
            per_second,
            nano_tokens: per_second.saturating_mul(NANOS_PER_SECOND),
            last_nanos: now_nanos,
        }
    }

    /// Takes a token at `now_nanos`; `false` when the bucket is empty. A
    /// clock that goes back refills nothing.
    pub fn try_take(&mut self, now_nanos: u64) -> bool {
        let elapsed = now_nanos.saturating_sub(self.last_nanos);
        self.last_nanos = self.last_nanos.max(now_nanos);
        let capacity = self.per_second.saturating_mul(NANOS_PER_SECOND);
        self.nano_tokens = self
            .nano_tokens
            .saturating_add(elapsed.saturating_mul(self.per_second))
            .min(capacity);
        match self.nano_tokens.checked_sub(NANOS_PER_SECOND) {
            Some(left) => {
                self.nano_tokens = left;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_flood_gets_the_rate_and_a_burst_of_one_second() {
        let start = 1_700_000_000 * NANOS_PER_SECOND;
        let mut limiter = SampledLimiter::new(100, start);
        // 1,000 requests a second for 3 seconds, one per millisecond.
        let taken: Vec<u64> = (0..3)
            .map(|second| {
                (0..1_000)
                    .filter(|i| limiter.try_take(start + (second * 1_000 + i) * MS))
                    .count() as u64
            })
            .collect();
        // The first second spends the full bucket and what refills while it
        // drains; later seconds get the rate.
        assert!((100..=200).contains(&taken[0]), "{taken:?}");
        assert!((99..=101).contains(&taken[1]), "{taken:?}");
        assert!((99..=101).contains(&taken[2]), "{taken:?}");
    }

    #[test]
    fn a_quiet_period_refills_only_up_to_one_second() {
        let mut limiter = SampledLimiter::new(5, 0);
        assert_eq!((0..10).filter(|_| limiter.try_take(0)).count(), 5);
        assert!(!limiter.try_take(1), "empty");
        let later = 3600 * NANOS_PER_SECOND;
        assert_eq!(
            (0..10).filter(|_| limiter.try_take(later)).count(),
            5,
            "capped at 5"
        );
        assert!(
            !limiter.try_take(later - 1),
            "a clock going back refills nothing"
        );
    }

    #[test]
    fn zero_takes_nothing_and_huge_rates_do_not_overflow() {
        let mut none = SampledLimiter::new(0, 0);
        assert!(!none.try_take(10 * NANOS_PER_SECOND));
        let mut huge = SampledLimiter::new(u32::MAX, 0);
        assert!(huge.try_take(u64::MAX));
    }
}
