//! Trace and span id generation.
//!
//! Ids come from a xoshiro256++ generator seeded once per VM from the host's
//! CSPRNG (WASI `random_get`, which Envoy backs with its own random source),
//! so the per-request path makes no host call for randomness. Every bit of a
//! new trace id is random, which is what the Level 2 `random` trace flag
//! promises. <https://www.w3.org/TR/trace-context-2/#random-trace-id-flag>

use crate::traceparent::{SpanId, TraceId};

/// A fast, non-cryptographic id source, seeded from the host's CSPRNG.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    s: [u64; 4],
}

// === impl IdGenerator ===

impl IdGenerator {
    /// Seeds from the operating system / host random source. Falls back to
    /// `fallback_seed` (e.g. the current time) if the host has none, so id
    /// generation never fails.
    pub fn from_entropy(fallback_seed: u64) -> Self {
        let mut seed = [0u8; 8];
        match getrandom::fill(&mut seed) {
            Ok(()) => Self::from_seed(u64::from_le_bytes(seed)),
            Err(_) => Self::from_seed(fallback_seed),
        }
    }

    /// A generator from a fixed seed (expanded with splitmix64, as the
    /// xoshiro authors recommend).
    pub fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits (xoshiro256++).
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A new random trace id, never all zeros (an all-zero id is invalid).
    /// <https://www.w3.org/TR/trace-context-2/#trace-id>
    pub fn trace_id(&mut self) -> TraceId {
        loop {
            let hi = self.next_u64();
            let lo = self.next_u64();
            if hi | lo != 0 {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&hi.to_be_bytes());
                bytes[8..].copy_from_slice(&lo.to_be_bytes());
                return TraceId::from_bytes(bytes);
            }
        }
    }

    /// A new random span id, never all zeros.
    /// <https://www.w3.org/TR/trace-context-2/#parent-id>
    pub fn span_id(&mut self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId::from_bytes(v.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let mut ids = IdGenerator::from_seed(7);
        let a = ids.span_id();
        let b = ids.span_id();
        assert_ne!(a, b, "consecutive span ids must differ");
        assert!(a.is_valid() && b.is_valid());
        let t1 = ids.trace_id();
        let t2 = ids.trace_id();
        assert_ne!(t1, t2);
        assert!(t1.is_valid());
    }

    #[test]
    fn same_seed_same_sequence_different_seed_differs() {
        let mut a = IdGenerator::from_seed(42);
        let mut b = IdGenerator::from_seed(42);
        let mut c = IdGenerator::from_seed(43);
        let xa = a.next_u64();
        assert_eq!(xa, b.next_u64());
        assert_ne!(xa, c.next_u64());
    }

    #[test]
    fn entropy_seeded_generators_differ() {
        let mut a = IdGenerator::from_entropy(1);
        let mut b = IdGenerator::from_entropy(1);
        assert_ne!(a.trace_id(), b.trace_id(), "host entropy should seed");
    }

    #[test]
    fn bits_are_roughly_balanced() {
        let mut ids = IdGenerator::from_seed(1);
        let ones: u32 = (0..1000).map(|_| ids.next_u64().count_ones()).sum();
        let expected = 32_000;
        assert!(ones.abs_diff(expected) < 1_000, "{ones} ones in 64000 bits");
    }
}
