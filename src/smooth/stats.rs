//! Statistics of randomized smoothing (SMOOTH-2 in `proofs/SMOOTHING.md`): Φ and Φ⁻¹, one-sided
//! Clopper–Pearson bounds and the exact two-sided binomial test at p = ½.
//!
//! Beta quantiles are not taken from statrs (they are non-conservative at extreme shapes); each bound is
//! found by bisection on the regularized incomplete beta function I_p(a, b) (statrs, accurate to ~1e-12
//! absolute), against a target moved inwards by [`CDF_MARGIN`], so that the returned lower bound is
//! below the exact Clopper–Pearson value (and an upper bound above it).
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::checked_beta_reg;

/// Error allowance for the incomplete beta function: the target tail probability is shrunk by
/// max(α·1e-9, 1e-13) before solving, which covers statrs' measured error (tests compare with scipy).
const CDF_MARGIN_REL: f64 = 1e-9;
const CDF_MARGIN_ABS: f64 = 1e-13;

/// Φ⁻¹(p), the standard normal quantile.
pub fn normal_quantile(p: f64) -> f64 {
    Normal::standard().inverse_cdf(p)
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
    let target = alpha - (alpha * CDF_MARGIN_REL).max(CDF_MARGIN_ABS);
    // largest p with P(X ≥ k | p) ≤ target; the tail is increasing in p
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if binomial_upper_tail(k, n, mid) <= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// One-sided (1 − α) Clopper–Pearson upper bound from k successes in n trials (≥ the exact value).
pub fn clopper_pearson_upper(k: u64, n: u64, alpha: f64) -> f64 {
    1.0 - clopper_pearson_lower(n - k, n, alpha)
}

/// Two-sided exact binomial test of H₀: p = ½ for k successes in n trials (scipy's `binomtest`):
/// the probability of an outcome at least as far from n/2 as k.
pub fn binomial_test_half(k: u64, n: u64) -> f64 {
    assert!(k <= n, "binomial_test_half({k}, {n})");
    if n == 0 || 2 * k == n {
        return 1.0;
    }
    let far = k.max(n - k);
    (2.0 * binomial_upper_tail(far, n, 0.5)).min(1.0)
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
