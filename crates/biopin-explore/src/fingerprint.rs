//! Stable 64-bit fingerprints of states.

use std::hash::{Hash, Hasher};

use xxhash_rust::xxh3::Xxh3Default;

/// The fingerprint of a value: XXH3-64 with the default (fixed) seed over the value's `Hash`
/// stream, so the same state gives the same fingerprint in every run of the same build.
///
/// Two distinct states share a fingerprint with probability about n²/2⁶⁵ for n states; the
/// explorer then treats the second as visited. At the 10⁶–10⁷ states a check visits that is
/// below 10⁻⁵.
pub fn fingerprint<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = Xxh3Default::new();
    value.hash(&mut hasher);
    hasher.finish()
}
