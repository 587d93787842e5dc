// CROWN backward pass for dense ReLU networks, batched over rows (each row its own center and ε) and
// over specification rows. The linear coefficients Λ are carried as intervals [Λlo, Λhi] computed with
// directed rounding, and every scalar bound is rounded outward, so the lower bounds are sound for the
// exact real network without the CPU path's separate slack terms (CROWN-1/2 with the rounding mode as
// the floating-point argument). Layout: Λ is rows × specs × width, row-major.
#include "rp_common.cuh"

// [a, b]·w for a scalar w, rounded outward.
RP_FN void rp_iscale(double a, double b, double w, double* lo, double* hi) {
    if (w >= 0.0) { *lo = __dmul_rd(a, w); *hi = __dmul_ru(b, w); }
    else { *lo = __dmul_rd(b, w); *hi = __dmul_ru(a, w); }
}

// Λ' = Λ·W through an affine layer (W: m × n, row-major), and c += min over Λ of Λ·bias.
// One thread per (row, spec, input j) for Λ'; the thread with j = 0 also accumulates the bias term.
extern "C" __global__ void rp_crown_affine(
    const double* __restrict__ lam_lo, const double* __restrict__ lam_hi, int rows, int specs, int m,
    const double* __restrict__ w, const double* __restrict__ bias, int n,
    double* __restrict__ out_lo, double* __restrict__ out_hi, double* __restrict__ c_lo)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * specs * n) return;
    int rs = t / n, j = t % n;
    const double* al = lam_lo + (long long)rs * m;
    const double* ah = lam_hi + (long long)rs * m;
    double lo = 0.0, hi = 0.0;
    for (int i = 0; i < m; ++i) {
        double pl, ph;
        rp_iscale(al[i], ah[i], w[i * n + j], &pl, &ph);
        lo = __dadd_rd(lo, pl);
        hi = __dadd_ru(hi, ph);
    }
    out_lo[t] = lo;
    out_hi[t] = hi;
    if (j == 0) {
        double c = c_lo[rs];
        for (int i = 0; i < m; ++i) {
            double pl, ph;
            rp_iscale(al[i], ah[i], bias[i], &pl, &ph);
            c = __dadd_rd(c, pl);
        }
        c_lo[rs] = c;
    }
}

// Back through ReLU with pre-activation bounds [l, u] (rows × n): CROWN's relaxation for a *lower*
// bound — the positive part of a coefficient takes the lower line (slope 1 if u ≥ −l else 0, for
// unstable neurons), the negative part the upper line s·(x − l) with s = u/(u − l) rounded up (a valid
// upper line) and intercept −s·l rounded up. One thread per (row, spec), looping over neurons so the
// constant term needs no atomics.
extern "C" __global__ void rp_crown_relu(
    double* __restrict__ lam_lo, double* __restrict__ lam_hi, int rows, int specs, int n,
    const double* __restrict__ pre_lo, const double* __restrict__ pre_hi,
    double* __restrict__ c_lo)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * specs) return;
    int r = t / specs;
    double* al = lam_lo + (long long)t * n;
    double* ah = lam_hi + (long long)t * n;
    double c = c_lo[t];
    for (int j = 0; j < n; ++j) {
        double l = pre_lo[r * n + j], u = pre_hi[r * n + j];
        double a = al[j], b = ah[j];
        if (u <= 0.0) { al[j] = 0.0; ah[j] = 0.0; continue; }
        if (l >= 0.0) continue;
        // split [a, b] into its positive part [max(a,0), max(b,0)] and negative part [min(a,0), min(b,0)]
        double pa = fmax(a, 0.0), pb = fmax(b, 0.0), na = fmin(a, 0.0), nb = fmin(b, 0.0);
        double lower_slope = (u >= -l) ? 1.0 : 0.0;
        double s = __ddiv_ru(u, __dsub_rd(u, l));
        double intercept = __dmul_ru(s, -l);
        double sl, sh;
        rp_iscale(na, nb, s, &sl, &sh);
        al[j] = __dadd_rd(pa * lower_slope, sl);
        ah[j] = __dadd_ru(pb * lower_slope, sh);
        // the negative part times the upper line's intercept (≥ 0): its minimum is na·intercept
        c = __dadd_rd(c, __dmul_rd(na, intercept));
    }
    c_lo[t] = c;
}

// Lower bound of Λ·x + c over the ball ‖x − x0‖_p ≤ ε (p = ∞, 2, 1 as norm = 0, 1, 2) ∩ the ℓ∞ box of
// radius ε: with mid/rad of the interval coefficients, Λ·x ≥ mid·x0 − ε‖mid‖_q − Σ rad_j(|x0_j| + ε).
extern "C" __global__ void rp_crown_concretize(
    const double* __restrict__ lam_lo, const double* __restrict__ lam_hi, int rows, int specs, int d,
    const double* __restrict__ x0, const double* __restrict__ eps, int norm,
    const double* __restrict__ c_lo, double* __restrict__ out)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * specs) return;
    int r = t / specs;
    const double* al = lam_lo + (long long)t * d;
    const double* ah = lam_hi + (long long)t * d;
    double e = eps[r];
    double dot = c_lo[t], dual = 0.0, spread = 0.0;
    for (int j = 0; j < d; ++j) {
        double mid = 0.5 * (al[j] + ah[j]);                 // any point of the interval works
        double rad = fmax(__dsub_ru(ah[j], mid), __dsub_ru(mid, al[j]));
        double x = x0[r * d + j];
        dot = __dadd_rd(dot, __dmul_rd(mid, x));
        double am = fabs(mid);
        if (norm == 0) dual = __dadd_ru(dual, am);
        else if (norm == 1) dual = __dadd_ru(dual, __dmul_ru(am, am));
        else dual = fmax(dual, am);
        spread = __dadd_ru(spread, __dmul_ru(rad, __dadd_ru(fabs(x), e)));
    }
    if (norm == 1) dual = __dsqrt_ru(dual);
    out[t] = __dsub_rd(__dsub_rd(dot, __dmul_ru(e, dual)), spread);
}

// Λ = S (the specification, specs × k, shared by all rows) as a point interval.
extern "C" __global__ void rp_crown_init(const double* __restrict__ spec, int rows, int specs, int k, double* __restrict__ lam_lo, double* __restrict__ lam_hi, double* __restrict__ c_lo) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * specs * k) return;
    int sk = t % (specs * k);
    lam_lo[t] = spec[sk];
    lam_hi[t] = spec[sk];
    if (t % k == 0) c_lo[t / k] = 0.0;
}
