//! Parent-based sampling with a ratio for new root traces.
//!
//! A request with a valid `traceparent` follows the parent's sampled flag
//! (OpenTelemetry `ParentBased`). A new root is sampled with probability
//! `ratio`, decided from the trace id alone so that every proxy with the same
//! ratio makes the same decision for the same trace: the rightmost 56 bits of
//! the trace id (random by the W3C Level 2 random flag) are compared with a
//! rejection threshold, as in OpenTelemetry's consistent probability sampling.
//! <https://opentelemetry.io/docs/specs/otel/trace/tracestate-probability-sampling/>
//! <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>

use crate::traceparent::TraceId;

const RANDOMNESS_BITS: u32 = 56;
const MAX_THRESHOLD: u64 = 1 << RANDOMNESS_BITS;

/// Decides whether new root traces are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    /// Traces whose 56-bit randomness is below this are not sampled:
    /// 0 samples everything, `2^56` nothing.
    threshold: u64,
}

// === impl Sampler ===

impl Sampler {
    /// A sampler keeping `ratio` of new traces; out-of-range ratios clamp.
    pub fn ratio(ratio: f64) -> Self {
        let threshold = if ratio.is_nan() || ratio <= 0.0 {
            MAX_THRESHOLD
        } else if ratio >= 1.0 {
            0
        } else {
            // (1 - ratio) * 2^56, rounded; the cast saturates.
            ((1.0 - ratio) * MAX_THRESHOLD as f64).round() as u64
        };
        Self { threshold }
    }

    /// Whether a new root trace with this id is sampled.
    pub fn sample_root(&self, trace_id: &TraceId) -> bool {
        let id = u128::from_be_bytes(trace_id.to_bytes());
        let randomness = (id as u64) & (MAX_THRESHOLD - 1);
        randomness >= self.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdGenerator;

    fn rate(ratio: f64) -> f64 {
        let sampler = Sampler::ratio(ratio);
        let mut ids = IdGenerator::from_seed(99);
        let n = 20_000;
        let kept = (0..n)
            .filter(|_| sampler.sample_root(&ids.trace_id()))
            .count();
        kept as f64 / n as f64
    }

    #[test]
    fn ratio_one_keeps_everything_and_zero_nothing() {
        assert_eq!(rate(1.0), 1.0);
        assert_eq!(rate(0.0), 0.0);
        assert_eq!(rate(-3.0), 0.0, "negative clamps to never");
        assert_eq!(rate(f64::NAN), 0.0, "NaN clamps to never");
    }

    #[test]
    fn ratio_is_respected_statistically() {
        for ratio in [0.01, 0.25, 0.5, 0.9] {
            let got = rate(ratio);
            assert!((got - ratio).abs() < 0.02, "ratio {ratio} sampled {got}");
        }
    }

    #[test]
    fn decision_depends_only_on_the_trace_id() {
        let a = Sampler::ratio(0.5);
        let b = Sampler::ratio(0.5);
        let mut ids = IdGenerator::from_seed(5);
        for _ in 0..100 {
            let id = ids.trace_id();
            assert_eq!(a.sample_root(&id), b.sample_root(&id));
        }
    }

    #[test]
    fn lower_ratio_samples_a_subset_of_higher_ratio() {
        let low = Sampler::ratio(0.2);
        let high = Sampler::ratio(0.6);
        let mut ids = IdGenerator::from_seed(11);
        for _ in 0..2_000 {
            let id = ids.trace_id();
            if low.sample_root(&id) {
                assert!(high.sample_root(&id), "consistent sampling");
            }
        }
    }
}
