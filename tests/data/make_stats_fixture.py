"""Independent high-precision reference values for rp's smoothing statistics (tests/smoothing_stats.rs).

Computed with mpmath at 50 significant digits, with nothing from statrs or scipy:
- one-sided (1 − α) Clopper–Pearson bounds: the lower bound p̲ solves P(X ≥ k | p̲) = α for
  X ~ Binomial(n, p), found by bisection on the binomial tail summed term by term (the tail above k
  decreases geometrically for p < k/n, so the sum stops when a term is below 1e-60 of the total);
  the upper bound is 1 − p̲(n − k);
- Φ⁻¹(p) (mpmath's erfinv-based normal quantile) at the probabilities where radii are taken (at the
  binary64 value of each p, exactly: near 1 the quantile is too ill-conditioned for a decimal stand-in);
Every α and p is converted from its binary64 value exactly.
- the two-sided binomial test at ½: 2·P(X ≥ max(k, n − k)), capped at 1.

Run: python3 tests/data/make_stats_fixture.py > tests/data/stats_fixture.json  (needs `pip install mpmath`)
"""
import json
import mpmath as mp

mp.mp.dps = 50


def upper_tail(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p), 0 < p < k/n, summed from i = k upwards."""
    if k == 0:
        return mp.mpf(1)
    lt = mp.loggamma(n + 1) - mp.loggamma(k + 1) - mp.loggamma(n - k + 1) + k * mp.log(p) + (n - k) * mp.log1p(-p)
    t = mp.e ** lt
    total = mp.mpf(0)
    r = p / (1 - p)
    i = k
    while True:
        total += t
        if i == n or t < total * mp.mpf("1e-60"):
            break
        t *= mp.mpf(n - i) / (i + 1) * r
        i += 1
    return total


def cp_lower(k, n, alpha):
    if k == 0:
        return mp.mpf(0)
    if k == n:
        return mp.mpf(alpha) ** (mp.mpf(1) / n)
    lo, hi = mp.mpf(0), mp.mpf(k) / n  # the tail at k/n exceeds every alpha < 1/2
    for _ in range(110):  # width 2^-110·k/n: far below the f64 resolution of any bound
        mid = (lo + hi) / 2
        if upper_tail(k, n, mid) <= alpha:
            lo = mid
        else:
            hi = mid
    return lo


def main():
    cases = []
    alphas = ["1e-9", "1e-6", "0.001", "0.01", "0.05"]
    for n in [7, 10, 100, 1000, 10_000, 100_000, 1_000_000]:
        ks = sorted({0, 1, 2, n // 100, n // 2, n - n // 100, n - 2, n - 1, n} & set(range(0, n + 1)))
        for k in ks:
            for a in alphas:
                alpha = mp.mpf(float(a))  # the binary64 value rp is given, exactly
                lower = cp_lower(k, n, alpha)
                upper = 1 - cp_lower(n - k, n, alpha)
                cases.append({"k": k, "n": n, "alpha": float(a), "lower": mp.nstr(lower, 40), "upper": mp.nstr(upper, 40)})
    quantiles = []
    for p in ["0.5", "0.5000001", "0.50073186", "0.6", "0.9", "0.95499259", "0.99", "0.995405417351527", "0.999", "0.999999", "0.999999999", "0.9999999999999"]:
        x = mp.mpf(float(p))  # Φ⁻¹ is ill-conditioned near 1: take the binary64 p rp evaluates, exactly
        z = mp.sqrt(2) * mp.erfinv(2 * x - 1)
        quantiles.append({"p": float(p), "p_exact": mp.nstr(x, 60), "z": mp.nstr(z, 40)})
    tests = []
    for n in [8, 100, 1000, 10_000]:
        for k in sorted({n // 2, n // 2 + 1, (6 * n) // 10, n - 1, n}):
            far = max(k, n - k)
            pv = min(mp.mpf(1), 2 * upper_tail(far, n, mp.mpf("0.5") - mp.mpf("1e-45")) if far > n / 2 else mp.mpf(1))
            tests.append({"k": k, "n": n, "p_value": mp.nstr(pv, 40)})
    print(json.dumps({"source": "mpmath " + mp.__version__ + ", 50 digits (tests/data/make_stats_fixture.py)", "clopper_pearson": cases, "normal_quantile": quantiles, "binomial_test_half": tests}, indent=1))


if __name__ == "__main__":
    main()
