//! Unpredictable enough names and passwords for a test, without a random-number crate.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::time::{SystemTime, UNIX_EPOCH};

/// 16 hex digits. std seeds each thread's hash keys at random and changes them with every
/// `RandomState::new()`, so two calls differ even within the same nanosecond.
pub(crate) fn random_hex() -> String {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}
