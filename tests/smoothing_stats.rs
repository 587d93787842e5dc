//! Issue 11.6 / SMOOTH-7: smoothing's statistics checked against independent 50-digit values (mpmath,
//! `tests/data/stats_fixture.json`, made by `tests/data/make_stats_fixture.py`), compared in exact
//! rational arithmetic: every Clopper–Pearson lower bound is ≤ the exact one and every upper bound ≥
//! it (n up to 10⁶; counts 0, 1, 2, n/100, n/2, n − n/100, n − 2, n − 1, n; α from 1e-9 to 0.05), the
//! quantile bounds bracket the exact Φ⁻¹, radii never exceed σ·Φ⁻¹(p̲) exactly, and the binomial
//! test's p-value is never below the exact one. The margins are also shown to be needed-but-ample: the
//! worst error of the unshifted statrs values stays well inside them.
use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, ToPrimitive, Zero};
use rp::smooth::stats::*;

fn q(x: f64) -> BigRational {
    BigRational::from_float(x).expect("finite")
}

/// A decimal string such as "-1.25e-7" or "0.5" as an exact rational.
fn dec(s: &str) -> BigRational {
    let (mant, exp) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().unwrap()),
        None => (s, 0),
    };
    let neg = mant.starts_with('-');
    let mant = mant.trim_start_matches(['-', '+']);
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let digits: BigInt = format!("{int}{frac}").parse().unwrap();
    let scale = exp - frac.len() as i64;
    let ten = BigInt::from(10);
    let mut r = BigRational::from_integer(digits);
    if scale >= 0 {
        r *= BigRational::from_integer(num_traits::pow(ten, scale as usize));
    } else {
        r /= BigRational::from_integer(num_traits::pow(ten, (-scale) as usize));
    }
    if neg {
        -r
    } else {
        r
    }
}

fn fixture() -> serde_json::Value {
    serde_json::from_str(include_str!("data/stats_fixture.json")).expect("the fixture parses")
}

fn rel(a: &BigRational, b: &BigRational) -> f64 {
    if b.is_zero() {
        return a.abs().to_f64().unwrap();
    }
    ((a - b) / b).abs().to_f64().unwrap()
}

#[test]
fn clopper_pearson_bounds_are_conservative_against_mpmath() {
    let f = fixture();
    let cases = f["clopper_pearson"].as_array().unwrap();
    assert!(cases.len() > 200, "the fixture covers the grid");
    let (mut worst_lower, mut worst_upper) = (0.0f64, 0.0f64);
    for c in cases {
        let (k, n, alpha) = (c["k"].as_u64().unwrap(), c["n"].as_u64().unwrap(), c["alpha"].as_f64().unwrap());
        let (exact_lo, exact_hi) = (dec(c["lower"].as_str().unwrap()), dec(c["upper"].as_str().unwrap()));
        let lo = clopper_pearson_lower(k, n, alpha);
        let hi = clopper_pearson_upper(k, n, alpha);
        assert!(q(lo) <= exact_lo, "lower({k}, {n}, {alpha}) = {lo:e} exceeds the exact {}", c["lower"]);
        assert!(q(hi) >= exact_hi, "upper({k}, {n}, {alpha}) = {hi:e} is below the exact {}", c["upper"]);
        // and tight: within the margin's effect (α shrunk by 1e-9 relative moves p̲ by far less)
        worst_lower = worst_lower.max(rel(&q(lo), &exact_lo));
        worst_upper = worst_upper.max(rel(&q(hi), &exact_hi));
        // tight: within 1e-6 relative, or (for tiny α, where the absolute allowance 1e-13 on the tail
        // dominates) within 1e-12 absolute
        let tight = |a: &BigRational, b: &BigRational| rel(a, b) < 1e-6 || (a - b).abs().to_f64().unwrap() < 1e-12;
        assert!(tight(&q(lo), &exact_lo), "lower({k}, {n}, {alpha}) = {lo:e} is loose against {}", c["lower"]);
        assert!(tight(&q(hi), &exact_hi), "upper({k}, {n}, {alpha}) = {hi:e} is loose against {}", c["upper"]);
    }
    eprintln!("Clopper–Pearson: worst relative gap below the exact lower bound {worst_lower:.2e}, above the upper {worst_upper:.2e}");
}

#[test]
fn quantile_bounds_bracket_the_exact_normal_quantile() {
    let f = fixture();
    let mut worst = 0.0f64;
    for c in f["normal_quantile"].as_array().unwrap() {
        let p = c["p"].as_f64().unwrap();
        let z = dec(c["z"].as_str().unwrap());
        // the fixture's z is Φ⁻¹ at the binary64 p exactly (it is ill-conditioned near 1)
        assert_eq!(dec(c["p_exact"].as_str().unwrap()), q(p), "the fixture's p is the binary64 value");
        let (lo, hi) = (normal_quantile_down(p), normal_quantile_up(p));
        assert!(q(lo) <= z && z <= q(hi), "Φ⁻¹({p}): [{lo}, {hi}] misses {}", c["z"]);
        if !z.is_zero() {
            worst = worst.max(rel(&q(normal_quantile(p)), &z));
        }
        for sigma in [0.12, 0.25, 1.0, 3.7] {
            let r = cohen_radius(sigma, p);
            assert!(q(r) <= q(sigma) * z.clone().max(BigRational::zero()), "σ = {sigma}, p = {p}: radius {r} above σ·Φ⁻¹(p)");
        }
    }
    eprintln!("Φ⁻¹: worst relative error of statrs {worst:.2e} (allowance {QUANTILE_MARGIN_REL:e})");
    assert!(worst * 10.0 < QUANTILE_MARGIN_REL, "the quantile allowance must be at least 10× the measured error");
}

#[test]
fn binomial_test_p_values_are_never_underestimated() {
    let f = fixture();
    for c in f["binomial_test_half"].as_array().unwrap() {
        let (k, n) = (c["k"].as_u64().unwrap(), c["n"].as_u64().unwrap());
        let exact = dec(c["p_value"].as_str().unwrap());
        let p = binomial_test_half(k, n);
        assert!(q(p) >= exact, "binomial_test_half({k}, {n}) = {p:e} below the exact {}", c["p_value"]);
        assert!(rel(&q(p), &exact) < 1e-6 || q(p) - &exact < q(1e-12), "binomial_test_half({k}, {n}) = {p:e} loose against {}", c["p_value"]);
    }
}

/// Counts where one step of the radius would round the wrong way without its safe rounding: the
/// upper bound is 1 − p̲ rounded up, so it is ≥ the exact complement even where 1 − x is inexact.
#[test]
fn upper_bounds_round_the_complement_up() {
    let mut inexact = 0;
    for (k, n, alpha) in [(99_997u64, 100_000u64, 0.001), (6, 7, 0.01), (999_998, 1_000_000, 1e-6), (990, 1000, 0.01), (3, 100_000, 0.001)] {
        let lo = clopper_pearson_lower(n - k, n, alpha);
        let hi = clopper_pearson_upper(k, n, alpha);
        let complement = BigRational::from_integer(1.into()) - q(lo);
        inexact += (q(1.0 - lo) != complement) as usize;
        assert!(q(hi) >= complement, "({k}, {n}): {hi} < 1 − {lo}");
    }
    assert!(inexact > 0, "the cases include complements that round");
}
/// The allowance [`tail_error_allowance`] is measured, not proven: at every fixture point (where the
/// exact tail equals α by construction) statrs' tail must be within a tenth of it.
#[test]
fn statrs_tail_errors_stay_well_inside_the_allowance() {
    let f = fixture();
    let mut worst: (f64, String) = (0.0, String::new());
    for c in f["clopper_pearson"].as_array().unwrap() {
        let (k, n, alpha) = (c["k"].as_u64().unwrap(), c["n"].as_u64().unwrap(), c["alpha"].as_f64().unwrap());
        let exact = dec(c["lower"].as_str().unwrap());
        if exact.is_zero() || k == n {
            continue; // closed forms, no incomplete beta
        }
        let p = exact.to_f64().unwrap();
        // rounding p to f64 changes the exact tail by at most ~2k·|Δp/p| relative (tail ≈ C·pᵏ near p̲)
        let from_rounding = ((q(p) - &exact) / &exact).to_f64().unwrap().abs() * 2.0 * k as f64;
        let err = (binomial_upper_tail(k, n, p) / alpha - 1.0).abs() - from_rounding;
        let allowance = tail_error_allowance(k, n, p);
        assert!(err * 10.0 <= allowance, "k = {k}, n = {n}, α = {alpha}: statrs' tail is off by {err:e}, allowance {allowance:e}");
        if err / allowance > worst.0 {
            worst = (err / allowance, format!("k = {k}, n = {n}, α = {alpha}: error {err:.2e}, allowance {allowance:.2e}"));
        }
    }
    eprintln!("incomplete beta: worst error / allowance {:.3} at {}", worst.0, worst.1);
}
