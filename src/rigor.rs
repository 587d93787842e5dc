//! Rigorous floating-point error control for the sound path (statement and proof: `proofs/FP.md`,
//! id FP-1 … FP-4).
//!
//! The bound computations run in ordinary round-to-nearest f64. Every place where rounding could make a
//! lower bound too large (or an upper bound too small) either rounds the result outward with
//! [`down`]/[`up`] (one correctly rounded operation: the exact value lies in `[down(fl), up(fl)]`), or
//! adds a rigorous bound on the rounding error of a dot product to a non-negative *slack* that is
//! subtracted at the end. Error terms themselves are computed with every operation rounded up, so they
//! are upper bounds without further argument.

/// Unit roundoff u = 2⁻⁵³ of binary64 with round-to-nearest.
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;
/// Smallest positive subnormal 2⁻¹⁰⁷⁴: the absolute error floor of one rounded product (FP-1).
pub const MIN_SUBNORMAL: f64 = f64::from_bits(1);

/// An f64 not smaller than the exact result of the one correctly rounded operation that gave `x` (FP-1):
/// `x.next_up()`, bit for bit, computed without branches (selects on the special cases), so that loops
/// of rounding-error terms stay straight-line code. ±0 gives the least subnormal, +∞ and NaN themselves,
/// −∞ gives −MAX, any other value moves one unit in the last place toward +∞.
#[inline(always)]
pub fn up(x: f64) -> f64 {
    let b = x.to_bits();
    let stepped = b.wrapping_add(1).wrapping_sub((b >> 63) << 1); // +1 ulp for x > 0, −1 in the bits for x < 0
    let r = if b << 1 == 0 { 1 } else { stepped };
    let keep = x.is_nan() | (b == f64::INFINITY.to_bits());
    f64::from_bits(if keep { b } else { r })
}

/// An f64 not larger than the exact result of the one correctly rounded operation that gave `x` (FP-1):
/// `x.next_down()` bit for bit (−up(−x)).
#[inline(always)]
pub fn down(x: f64) -> f64 {
    -up(-x)
}

/// An upper bound on γₙ = n·u/(1−n·u): exactly 2·n·u, valid while n·u ≤ ½ (FP-2).
pub fn gamma(n: usize) -> f64 {
    assert!((n as f64) * UNIT_ROUNDOFF <= 0.5, "dot product of length {n} is too long for FP-2");
    2.0 * n as f64 * UNIT_ROUNDOFF
}

/// Upper bound on |fl(xᵀy) − xᵀy| for a dot product of length `n` computed in any order, with or
/// without FMA, including gradual underflow, given `abs_sum_up` ≥ Σ|xᵢ||yᵢ| (FP-2).
#[inline]
pub fn dot_error(n: usize, abs_sum_up: f64) -> f64 {
    up(up(gamma(n) * abs_sum_up) + eta_times(n))
}

/// n·η exactly (η = MIN_SUBNORMAL), the same bits as `n as f64 * MIN_SUBNORMAL`, without a
/// multiplication with a subnormal result (which costs a microcode assist on x86): for n < 2⁵² the
/// product is the subnormal whose significand is n; from 2⁵² on it is normal, and two exact scalings by
/// 2⁻⁵³⁷ give it. Branch-free: the large case is computed for every n (on at least 2⁵², so its
/// products stay normal) and selected, because the compiler evaluates both arms of the branch anyway.
#[inline]
pub fn eta_times(n: usize) -> f64 {
    const TWO_POW_52: f64 = (1u64 << 52) as f64;
    let small = f64::from_bits(n as u64);
    let large = (n as f64).max(TWO_POW_52) * HALF_ETA_SCALE * HALF_ETA_SCALE;
    if (n as u64) < (1u64 << 52) {
        small
    } else {
        large
    }
}

/// 2⁻⁵³⁷, whose square is η = 2⁻¹⁰⁷⁴ (see [`eta_times`]).
const HALF_ETA_SCALE: f64 = f64::from_bits((1023 - 537) << 52);

/// Upper bound of the exact value S of a sum of `n` non-negative products whose floating-point value
/// (any order, with or without FMA) is `fl`: from |fl − S| ≤ γₙ·S + n·η (FP-2),
/// S ≤ (fl + n·η)/(1 − γₙ) ≤ (fl + n·η)·(1 + 2γₙ).
#[inline]
pub fn nonneg_dot_upper(fl: f64, n: usize) -> f64 {
    up(up(fl + eta_times(n)) * (1.0 + 2.0 * gamma(n)))
}

/// The ℓ∞ norm, exact.
#[inline]
pub fn linf_norm(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m: f64, x| m.max(x.abs()))
}

/// Upper bound on the rounding error of `fl(a + b)` given the rounded result `sum` (FP-3).
#[inline]
pub fn add_error(sum: f64) -> f64 {
    up(UNIT_ROUNDOFF * sum.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// up and down are `next_up` and `next_down` bit for bit: every special value, the neighbours of the
    /// boundaries between binades and signs, and a million random bit patterns (NaNs included).
    #[test]
    fn up_and_down_are_next_up_and_next_down() {
        let check = |x: f64| {
            assert_eq!(up(x).to_bits(), x.next_up().to_bits(), "up({x:e}) bits {:016x}", x.to_bits());
            assert_eq!(down(x).to_bits(), x.next_down().to_bits(), "down({x:e}) bits {:016x}", x.to_bits());
        };
        let specials = [0.0, -0.0, MIN_SUBNORMAL, -MIN_SUBNORMAL, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, 1.0, -1.0, f64::MAX, f64::MIN, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, -f64::NAN, f64::EPSILON];
        for x in specials {
            check(x);
            check(x.next_up());
            check(x.next_down());
        }
        for bits in [0x7ff0_0000_0000_0001u64, 0xfff8_0000_0000_0000, 0x7fff_ffff_ffff_ffff, 0xffff_ffff_ffff_ffff, 0x000f_ffff_ffff_ffff, 0x800f_ffff_ffff_ffff, 0x8000_0000_0000_0001] {
            check(f64::from_bits(bits));
        }
        let rng = crate::rng::Philox::new(7);
        for i in 0..500_000u64 {
            let w = rng.uniform_pair(i, 3);
            let bits = (w[0].to_bits() << 12) ^ w[1].to_bits().rotate_left(29) ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            check(f64::from_bits(bits));
            check(f64::from_bits(bits ^ (1 << 63)));
        }
    }

    #[test]
    fn eta_times_is_the_product() {
        for n in [0usize, 1, 2, 3, 7, 50, 64, 1000, 123_456_789, (1 << 52) - 1, 1 << 52, (1 << 52) + 1, 1 << 60, (1 << 53) + 1, usize::MAX] {
            assert_eq!(eta_times(n).to_bits(), (n as f64 * MIN_SUBNORMAL).to_bits(), "n = {n}");
        }
    }

    #[test]
    fn up_and_down_bracket_exact_results() {
        // 0.1 + 0.2 is not exact in binary64; the exact sum of the two stored values lies in [down, up].
        let (a, b) = (0.1f64, 0.2f64);
        let s = a + b;
        // exact sum computed with twosum
        let bb = s - a;
        let err = (a - (s - bb)) + (b - bb);
        assert!(down(s) <= s + err && s + err <= up(s));
        assert!(down(s) < s && s < up(s));
    }

    #[test]
    fn gamma_is_twice_nu() {
        assert_eq!(gamma(1), f64::EPSILON);
        assert!(gamma(1000) > 1000.0 * UNIT_ROUNDOFF / (1.0 - 1000.0 * UNIT_ROUNDOFF));
    }

    #[test]
    fn nonneg_sums_are_bounded_above() {
        let v = [0.1f64, 0.2, 0.3];
        let fl: f64 = v.iter().sum();
        assert!(nonneg_dot_upper(fl, 3) >= fl && nonneg_dot_upper(fl, 3) < fl * (1.0 + 1e-14));
        assert_eq!(linf_norm(&[0.1, -0.2, 0.3]), 0.3);
    }
}
