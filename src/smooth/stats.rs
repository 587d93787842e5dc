//! Statistics of randomized smoothing (SMOOTH-2 in `proofs/SMOOTHING.md`): Φ and Φ⁻¹, one-sided
//! Clopper–Pearson bounds and the exact two-sided binomial test at p = ½.
//!
//! Beta quantiles are not taken from statrs (they are non-conservative at extreme shapes); each bound is
//! found by bisection on the regularized incomplete beta function I_p(a, b) (statrs), each tail value
//! taken as uncertain by [`tail_error_allowance`] (relative), so that the returned lower bound is below
//! the exact Clopper–Pearson value (and an upper bound above it). Every later step rounds in the
//! safe direction: 1 − p̲ up, Φ⁻¹ down (or up) by [`QUANTILE_MARGIN_REL`], σ·z down (SMOOTH-7).
//!
//! What the margins rest on (SMOOTH-7 in `proofs/SMOOTHING.md`): statrs' I_p and Φ⁻¹ are not proven
//! to any accuracy, so their errors are measured against independent 50-digit values (mpmath,
//! `tests/data/stats_fixture.json`, n up to 10⁶, counts 0, 1, 2, n/100, n/2, n − 1, n, α from 1e-9 to
//! 0.05) and each margin is set well above the largest error seen there (`tests/smoothing_stats.rs`
//! fails if a bound crosses the exact value).
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::checked_beta_reg;

/// Floor of the relative error allowance of statrs' incomplete beta function.
pub const CDF_MARGIN_REL: f64 = 1e-9;

/// The relative error allowed for statrs' P(X ≥ k | p) = I_p(k, n − k + 1): max(1e-9, 64·u·L) with
/// L = k|ln p| + (n − k + 1)|ln(1 − p)| + lnΓ(n + 2) + lnΓ(k) + lnΓ(n − k + 2). statrs (as Numerical
/// Recipes' `betai`) multiplies a continued fraction by exp(a ln p + b ln(1 − p) − ln B(a, b)); the
/// exponent is a sum of terms of total size ≈ L, so its rounding error is a small multiple of u·L and
/// the exponential makes that a relative error. Measured against 50-digit values (SMOOTH-7): at most
/// 1.2e-9 at n = 10⁶, where this allowance is ≈ 1.8e-7; `tests/smoothing_stats.rs` requires 10× room
/// at every fixture point.
pub fn tail_error_allowance(k: u64, n: u64, p: f64) -> f64 {
    use statrs::function::gamma::ln_gamma;
    let (k, n) = (k as f64, n as f64);
    let l = k * p.ln().abs() + (n - k + 1.0) * (-p).ln_1p().abs() + ln_gamma(n + 2.0).abs() + ln_gamma(k.max(1.0)).abs() + ln_gamma(n - k + 2.0).abs();
    crate::rigor::up(64.0 * crate::rigor::UNIT_ROUNDOFF * l).max(CDF_MARGIN_REL)
}
/// Relative (and, near z = 0, absolute) error allowance for statrs' Φ⁻¹.
pub const QUANTILE_MARGIN_REL: f64 = 1e-13;
pub const QUANTILE_MARGIN_ABS: f64 = 1e-15;

/// Φ⁻¹(p), the standard normal quantile (statrs; not a bound, see [`normal_quantile_down`]).
pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
}

/// A lower bound of Φ⁻¹(p): statrs' value moved down by its error allowance, rounded down (SMOOTH-7).
pub fn normal_quantile_down(p: f64) -> f64 {
    let z = normal_quantile(p);
    crate::rigor::down(z - crate::rigor::up(crate::rigor::up(z.abs() * QUANTILE_MARGIN_REL) + QUANTILE_MARGIN_ABS))
}

/// An upper bound of Φ⁻¹(p): statrs' value moved up by its error allowance, rounded up (SMOOTH-7).
pub fn normal_quantile_up(p: f64) -> f64 {
    let z = normal_quantile(p);
    crate::rigor::up(z + crate::rigor::up(crate::rigor::up(z.abs() * QUANTILE_MARGIN_REL) + QUANTILE_MARGIN_ABS))
}

/// Cohen's radius σ·Φ⁻¹(p̲) rounded down at every step: a lower bound of the exact value (SMOOTH-7).
pub fn cohen_radius(sigma: f64, pa: f64) -> f64 {
    crate::rigor::down(sigma * normal_quantile_down(pa)).max(0.0)
}

/// The two-class radius σ/2·(Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)) rounded down at every step (SMOOTH-7).
pub fn two_class_radius(sigma: f64, pa: f64, pb: f64) -> f64 {
    let gap = crate::rigor::down(normal_quantile_down(pa) - normal_quantile_up(pb));
    crate::rigor::down(crate::rigor::down(0.5 * sigma) * gap).max(0.0)
}

/// Φ(x), the standard normal distribution function.
pub fn normal_cdf(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// P(X ≥ k) for X ~ Binomial(n, p), via I_p(k, n − k + 1).
pub fn binomial_upper_tail(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    checked_beta_reg(k as f64, (n - k + 1) as f64, p).expect("valid incomplete beta arguments")
}

/// One-sided (1 − α) Clopper–Pearson lower bound on a binomial proportion from k successes in n
/// trials: the returned p̲ satisfies P(X ≥ k | p̲) ≤ α (so P(p̲ > p) ≤ α for the true p), and is at most
/// the exact quantile Beta⁻¹(α; k, n − k + 1), within ~1e-10 of it.
pub fn clopper_pearson_lower(k: u64, n: u64, alpha: f64) -> f64 {
    assert!(k <= n && n > 0 && alpha > 0.0 && alpha < 1.0, "clopper_pearson_lower({k}, {n}, {alpha})");
    if k == 0 {
        return 0.0;
    }
    if k == n {
        // P(X ≥ n | p) = pⁿ = α has the closed form α^(1/n); two ulps cover exp/ln rounding.
        return ((alpha.ln() / n as f64).exp()).next_down().next_down();
    }
    // largest p whose tail, widened by its error allowance, stays ≤ α; the tail is increasing in p
    let below = |p: f64| {
        let t = binomial_upper_tail(k, n, p);
        crate::rigor::up(t * (1.0 + tail_error_allowance(k, n, p))) <= alpha
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if below(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// One-sided (1 − α) Clopper–Pearson upper bound from k successes in n trials (≥ the exact value):
/// 1 − p̲(n − k), the subtraction rounded up.
pub fn clopper_pearson_upper(k: u64, n: u64, alpha: f64) -> f64 {
    crate::rigor::up(1.0 - clopper_pearson_lower(n - k, n, alpha)).min(1.0)
}

/// Two-sided exact binomial test of H₀: p = ½ for k successes in n trials (scipy's `binomtest`):
/// the probability of an outcome at least as far from n/2 as k.
pub fn binomial_test_half(k: u64, n: u64) -> f64 {
    assert!(k <= n, "binomial_test_half({k}, {n})");
    if n == 0 || 2 * k == n {
        return 1.0;
    }
    let far = k.max(n - k);
    // rounded up by the incomplete beta's error allowance: PREDICT abstains when p > α, so a p-value
    // must never be underestimated (SMOOTH-7)
    let p = 2.0 * binomial_upper_tail(far, n, 0.5);
    crate::rigor::up(p * (1.0 + tail_error_allowance(far, n, 0.5))).min(1.0)
}

/// The smallest number of samples n for which CERTIFY can return a radius at level α (n of n
/// successes give p̲ = α^(1/n) > ½ only when n > log(α)/log(½)).
pub fn min_samples_to_certify(alpha: f64) -> u64 {
    let mut n = (alpha.ln() / 0.5f64.ln()).floor().max(1.0) as u64;
    while clopper_pearson_lower(n, n, alpha) < 0.5 {
        n += 1;
    }
    n
}

/// The smallest n for which PREDICT can answer at level α (n to 0 must give a p-value ≤ α).
pub fn min_samples_to_predict(alpha: f64) -> u64 {
    let mut n = 1;
    while binomial_test_half(n, n) > alpha {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors of SPEC §2 (scipy), each to the digits printed there.
    #[test]
    fn spec_clopper_pearson_vectors() {
        let p = clopper_pearson_lower(1000, 1000, 0.01);
        assert!((p - 0.995405417351527).abs() <= 5e-16, "{p}");
        assert!(p <= 0.995405417351527 + 1e-16);
        assert!((normal_quantile(0.995405417351527) - 2.604935141811568).abs() <= 5e-15);
        assert!((clopper_pearson_lower(538, 1000, 0.01) - 0.50073186).abs() <= 5e-9);
        assert!((clopper_pearson_lower(537, 1000, 0.01) - 0.49973).abs() <= 5e-6);
        assert!(clopper_pearson_lower(538, 1000, 0.01) >= 0.5 && clopper_pearson_lower(537, 1000, 0.01) < 0.5);
        assert!((clopper_pearson_lower(900, 1000, 0.01) - 0.87581418).abs() <= 5e-9);
        assert!((clopper_pearson_lower(100, 100, 0.01) - 0.95499259).abs() <= 5e-9);
        assert!((clopper_pearson_lower(63, 100, 0.01) - 0.50927).abs() <= 5e-6);
    }

    #[test]
    fn spec_binomial_test_vectors() {
        for (k, n, want, tol) in [(542, 1000, 0.0086399, 5e-8), (541, 1000, 0.0103881, 5e-8), (64, 100, 0.0066371, 5e-8), (63, 100, 0.0120330, 5e-8)] {
            let p = binomial_test_half(k, n);
            assert!((p - want).abs() <= tol, "{k}/{n}: {p} vs {want}");
            assert_eq!(binomial_test_half(n - k, n), p, "symmetry");
        }
        assert_eq!(binomial_test_half(50, 100), 1.0);
    }

    #[test]
    fn bounds_are_conservative_and_ordered() {
        for (k, n) in [(1u64, 10u64), (5, 10), (9, 10), (3, 100_000), (99_997, 100_000), (500, 1000)] {
            for alpha in [1e-6, 0.001, 0.01, 0.2] {
                let lo = clopper_pearson_lower(k, n, alpha);
                let hi = clopper_pearson_upper(k, n, alpha);
                let phat = k as f64 / n as f64;
                assert!(lo < phat && phat < hi, "{k}/{n} α={alpha}: {lo} {hi}");
                // the defining property, with the exact tail
                assert!(binomial_upper_tail(k, n, lo) <= alpha, "{k}/{n} α={alpha}");
            }
        }
    }

    #[test]
    fn minimum_sample_sizes() {
        assert_eq!(min_samples_to_certify(0.01), 7); // 0.01^(1/7) = 0.518 > ½, 0.01^(1/6) = 0.464
        assert_eq!(min_samples_to_certify(0.001), 10);
        assert_eq!(min_samples_to_predict(0.01), 8); // 2·2⁻⁸ = 0.0078 ≤ 0.01 < 2·2⁻⁷
    }
}
