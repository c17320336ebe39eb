//! Repeated updates of a 32-bit page counter, in O(1): what `N` successive `folio_ref_add`,
//! `try_grab_folio` or `folio_put_refs` calls do to `_refcount` or `_pincount`
//! (include/linux/page_ref.h), so that `times N` costs the same for N = 1 and N = 2^40.
//!
//! The counters are the kernel's signed 32-bit `atomic_t`s and wrap as two's complement.

/// The outcome of `calls` successive increments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Added {
    /// The counter afterwards (wrapped).
    pub value: i32,
    /// Some increment's unsigned 32-bit result was below its operand: the counter passed
    /// through zero (`refcount-overflow`).
    pub overflowed: bool,
}

/// `calls` successive increments of `per_call` on `count`.
pub fn add_repeated(count: i32, per_call: u32, calls: u64) -> Added {
    let total = u128::from(per_call) * u128::from(calls);
    let sum = u128::from(count as u32) + total;
    Added {
        value: (sum % (1u128 << 32)) as u32 as i32,
        overflowed: sum >> 32 != 0,
    }
}

/// How many successive grabs of `per_call` GUP makes on a folio whose refcount is `count`
/// before it refuses one: `try_grab_folio` (mm/gup.c) refuses, with a WARN and -ENOMEM, to
/// grab a folio whose `folio_ref_count()` is not positive (the CVE-2019-11487 defence), so the
/// grab numbered `t` (from 0) is refused when `count + t·per_call` is negative or zero.
pub fn grabs_before_refusal(count: i32, per_call: u32) -> u64 {
    if count <= 0 {
        return 0;
    }
    // Refused once the value reaches 2^31 (negative as i32): t ≥ (2^31 - count) / per_call.
    let gap = (1u64 << 31) - count as u64;
    gap.div_ceil(u64::from(per_call.max(1)))
}

/// The outcome of `calls` successive decrements, each a dec-and-test as `put_page` and
/// `gup_put_folio` do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subtracted {
    /// The counter afterwards: 0 if it reached zero (the folio is then freed and later calls
    /// act on a freed folio).
    pub value: i32,
    /// The first call (from 1) whose decrement took the counter below zero, if any came before
    /// it reached zero.
    pub below_zero_at: Option<u64>,
    /// The call (from 1) after which the counter was exactly zero, if any.
    pub zero_at: Option<u64>,
}

/// `calls` successive decrements of `per_call` (at least 1) on `count`, stopping at zero.
pub fn sub_repeated(count: i32, per_call: u32, calls: u64) -> Subtracted {
    debug_assert!(per_call > 0);
    let c = u64::from(count as u32);
    let d = u64::from(per_call.max(1));
    if u128::from(c) > u128::from(d) * u128::from(calls) {
        // The usual case: the count stays positive throughout.
        return Subtracted {
            value: (c - d * calls) as u32 as i32,
            below_zero_at: None,
            zero_at: None,
        };
    }
    let zero_at = first_zero(c, d).filter(|&t| t <= calls);
    // Before any borrow the value before call t is c - (t-1)·d; the first borrow is at t where
    // that is below d.
    let borrow_at = c / d + 1;
    match zero_at {
        Some(t) if t < borrow_at => Subtracted {
            value: 0,
            below_zero_at: None,
            zero_at: Some(t),
        },
        _ => {
            let below_zero_at = (borrow_at <= calls).then_some(borrow_at);
            let value = match zero_at {
                Some(_) => 0,
                None => {
                    let total = (u128::from(d) * u128::from(calls)) % (1u128 << 32);
                    (c as u32).wrapping_sub(total as u32) as i32
                }
            };
            Subtracted {
                value,
                below_zero_at,
                zero_at,
            }
        }
    }
}

/// The least t ≥ 1 with c - t·d ≡ 0 (mod 2^32), if any (d in 1..2^32).
fn first_zero(c: u64, d: u64) -> Option<u64> {
    // t·d ≡ c (mod 2^32). With g = gcd(d, 2^32) = 2^tz(d), solvable iff g | c; then
    // t ≡ (c/g)·inv(d/g) (mod 2^32/g).
    let g = 1u64 << d.trailing_zeros();
    if c % g != 0 {
        return None;
    }
    let modulus = (1u64 << 32) / g;
    let odd = d / g;
    // Newton's iteration doubles the correct low bits of an inverse of an odd number mod 2^k.
    let mut inv: u64 = odd;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv))) & 0xffff_ffff;
    }
    let t = ((c / g) % modulus) * (inv % modulus) % modulus;
    Some(if t == 0 { modulus } else { t })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The same, one call at a time.
    fn sub_slowly(count: i32, d: u32, calls: u64) -> Subtracted {
        let mut v = count as u32;
        let mut below = None;
        for t in 1..=calls {
            if v < d && below.is_none() {
                below = Some(t);
            }
            v = v.wrapping_sub(d);
            if v == 0 {
                return Subtracted {
                    value: 0,
                    below_zero_at: below,
                    zero_at: Some(t),
                };
            }
        }
        Subtracted {
            value: v as i32,
            below_zero_at: below,
            zero_at: None,
        }
    }

    #[test]
    fn small_cases() {
        assert_eq!(
            add_repeated(1, 1024, 1),
            Added {
                value: 1025,
                overflowed: false
            }
        );
        assert_eq!(
            add_repeated(-1, 1, 1),
            Added {
                value: 0,
                overflowed: true
            }
        );
        assert_eq!(
            add_repeated(1, 1, u64::from(u32::MAX)),
            Added {
                value: 0,
                overflowed: true
            }
        );
        // 1 + 1024·5,000,000 = 5,120,000,001 ≡ 825,032,705 (mod 2^32).
        assert_eq!(
            add_repeated(1, 1024, 5_000_000),
            Added {
                value: 825_032_705,
                overflowed: true
            }
        );
        assert_eq!(
            sub_repeated(1025, 1024, 1),
            Subtracted {
                value: 1,
                below_zero_at: None,
                zero_at: None
            }
        );
        assert_eq!(
            sub_repeated(1, 1, 3),
            Subtracted {
                value: 0,
                below_zero_at: None,
                zero_at: Some(1)
            }
        );
        assert_eq!(
            sub_repeated(2, 1024, 1),
            Subtracted {
                value: 2 - 1024,
                below_zero_at: Some(1),
                zero_at: None
            }
        );
    }

    #[test]
    fn refusal_threshold_is_the_sign_bit() {
        // A small folio mapped once takes 2^21 pins; the next is refused.
        assert_eq!(grabs_before_refusal(1, 1024), 2_097_152);
        let after = add_repeated(1, 1024, 2_097_152).value;
        assert!(after < 0);
        assert!(add_repeated(1, 1024, 2_097_151).value > 0);
        assert_eq!(grabs_before_refusal(after, 1024), 0);
        assert_eq!(grabs_before_refusal(1, 1), (1 << 31) - 1);
        assert_eq!(grabs_before_refusal(0, 1), 0);
    }

    proptest! {
        #[test]
        fn sub_matches_one_call_at_a_time(
            count in prop_oneof![any::<i32>(), -3000i32..3000],
            d in prop_oneof![Just(1u32), Just(1024), 1u32..5000],
            calls in 0u64..3000,
        ) {
            prop_assert_eq!(sub_repeated(count, d, calls), sub_slowly(count, d, calls));
        }

        #[test]
        fn add_matches_one_call_at_a_time(count: i32, d in 0u32..5000, calls in 0u64..2000) {
            let mut v = count as u32;
            let mut over = false;
            for _ in 0..calls {
                let n = v.wrapping_add(d);
                over |= n < v;
                v = n;
            }
            prop_assert_eq!(add_repeated(count, d, calls), Added { value: v as i32, overflowed: over });
        }

        #[test]
        fn refusal_matches_one_grab_at_a_time(count in prop_oneof![any::<i32>(), (i32::MAX - 5000)..=i32::MAX], d in prop_oneof![Just(1u32), Just(1024)]) {
            let t = grabs_before_refusal(count, d);
            // Grab t is refused and every one before it was not.
            let at = |n: u64| add_repeated(count, d, n).value;
            prop_assert!(at(t) <= 0);
            if t > 0 { prop_assert!(at(t - 1) > 0); }
        }

        #[test]
        fn sub_finds_wrapped_zeroes(count in 0i32..4, calls in (1u64<<32)-8..(1u64<<32)+8) {
            // After wrapping all the way round, a dec-and-test of 1 meets zero again.
            let s = sub_repeated(count, 1, calls);
            if count == 0 {
                prop_assert_eq!(s.below_zero_at, Some(1));
                prop_assert_eq!(s.zero_at, (calls >= 1u64 << 32).then_some(1u64 << 32));
            } else {
                prop_assert_eq!(s.zero_at, Some(count as u64));
            }
        }
    }
}
