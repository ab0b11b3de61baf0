//! The random numbers of backoff jitter: spread, not quality.

/// A xorshift64* generator, seeded differently per instance and per run.
pub(crate) struct Jitter(u64);

impl Jitter {
    pub(crate) fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        // Never zero: xorshift stays at zero from there.
        Jitter(0x9e37_79b9_7f4a_7c15 ^ h.finish() | 1)
    }

    /// The next number, in [0, 1).
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}
