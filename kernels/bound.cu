// The bound backend's small kernels (src/gpu/backend.rs): each applies one per-row or per-entry
// function of rp_bound.cuh over a grid-stride loop with 64-bit indices. The GEMMs around them are
// rp_gemm below, not cuBLAS: cuBLAS chooses its kernel (and so its summation order) by the matrices'
// shape, which made a row's bound depend on its batch on an H200 (GPU-5); FP-2 covers any order.
#include "rp_common.cuh"
#include "rp_bound.cuh"

#define RP_GRID_LOOP(i, count) \
    for (rp_u64 i = (rp_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += (rp_u64)gridDim.x * blockDim.x)

extern "C" __global__ void rp_affine_slack(const double* __restrict__ coef, rp_u64 rows, rp_u64 m, const rp_u64* __restrict__ owner,
    const double* __restrict__ weight_mag, const double* __restrict__ tail, const double* __restrict__ abs_bias, const double* __restrict__ bias,
    double* __restrict__ constant, double* __restrict__ slack)
{
    RP_GRID_LOOP(r, rows) {
        rp_u64 o = owner[r];
        rp_affine_slack_row(coef + r * m, m, weight_mag + o * m, abs_bias, bias, tail[o], constant + r, slack + r);
    }
}

extern "C" __global__ void rp_relu_back(double* __restrict__ coef, rp_u64 rows, rp_u64 n, const rp_u64* __restrict__ owner,
    const unsigned char* __restrict__ unstable, const double* __restrict__ pos_mult, const double* __restrict__ neg_mult,
    const double* __restrict__ neg_intercept, const double* __restrict__ keep, const double* __restrict__ mag, const double* __restrict__ mag_sum,
    const double* __restrict__ alpha, int has_alpha, double* __restrict__ constant, double* __restrict__ slack)
{
    RP_GRID_LOOP(r, rows) {
        rp_u64 o = owner[r], base = o * n;
        const double* pm = has_alpha ? alpha + r * n : pos_mult + base;
        rp_relu_row(coef + r * n, n, unstable + base, pm, neg_mult + base, neg_intercept + base, keep + base, mag + base, mag_sum[o], constant + r, slack + r);
    }
}

// mode 0: the ball; 1: the box; 2: the better of both (an l2/l1 ball inside a domain box).
extern "C" __global__ void rp_concretize(const double* __restrict__ coef, rp_u64 rows, rp_u64 d, const rp_u64* __restrict__ owner,
    const double* __restrict__ constant, const double* __restrict__ slack, const double* __restrict__ centers, const double* __restrict__ eps,
    int norm, int mode, const double* __restrict__ box_lo, const double* __restrict__ box_hi, double* __restrict__ out)
{
    RP_GRID_LOOP(r, rows) {
        rp_u64 o = owner[r];
        const double* a = coef + r * d;
        double c = constant[r], s = slack[r];
        double ball = 0.0, box = 0.0;
        if (mode != 1) ball = rp_ball_min(a, centers + o * d, d, eps[o], norm, c, s);
        if (mode != 0) box = rp_box_min(a, box_lo + o * d, box_hi + o * d, d, c, s);
        out[r] = mode == 0 ? ball : mode == 1 ? box : rp_max(ball, box);
    }
}

extern "C" __global__ void rp_constant_lower(const double* __restrict__ constant, const double* __restrict__ slack, rp_u64 rows, double* __restrict__ out) {
    RP_GRID_LOOP(r, rows) {
        double v = rp_down(constant[r] - slack[r]);
        out[r] = (v != v) ? -1.0 / 0.0 : v;
    }
}

// midpoint, radius and |midpoint| of boxes (ibp::affine_box's first lines)
extern "C" __global__ void rp_mid_rad(const double* __restrict__ lo, const double* __restrict__ hi, rp_u64 count, double* __restrict__ mid, double* __restrict__ rad, double* __restrict__ abs_mid) {
    RP_GRID_LOOP(i, count) {
        double m = 0.5 * lo[i] + 0.5 * hi[i];
        mid[i] = m;
        rad[i] = rp_max(rp_up(hi[i] - m), rp_up(m - lo[i]));
        abs_mid[i] = rp_abs(m);
    }
}

extern "C" __global__ void rp_abs_of(const double* __restrict__ x, rp_u64 count, double* __restrict__ out) {
    RP_GRID_LOOP(i, count) out[i] = rp_abs(x[i]);
}

extern "C" __global__ void rp_box_finish(const double* __restrict__ center, const double* __restrict__ spread, const double* __restrict__ abs_center,
    rp_u64 rows, rp_u64 n_out, const double* __restrict__ bias, rp_u64 n_in, double* __restrict__ lo, double* __restrict__ hi)
{
    RP_GRID_LOOP(i, rows * n_out) rp_box_finish_one(center[i], spread[i], abs_center[i], bias[i % n_out], n_in, lo + i, hi + i);
}

extern "C" __global__ void rp_ball_finish(const double* __restrict__ center, const double* __restrict__ abs, rp_u64 rows, rp_u64 n_out,
    const double* __restrict__ nrm, const double* __restrict__ eps, const double* __restrict__ bias, rp_u64 d, double* __restrict__ lo, double* __restrict__ hi)
{
    RP_GRID_LOOP(i, rows * n_out) rp_ball_finish_one(center[i], abs[i], nrm[i % n_out], eps[i / n_out], bias[i % n_out], d, lo + i, hi + i);
}

// weight_mag = nonneg_dot_upper(mag_in·|W|ᵀ, n_in) entrywise (AffineMags::new)
extern "C" __global__ void rp_mags_finish(double* __restrict__ wm, rp_u64 count, rp_u64 n_in) {
    RP_GRID_LOOP(i, count) wm[i] = rp_nonneg_dot_upper(wm[i], n_in);
}

extern "C" __global__ void rp_elementwise_back(double* __restrict__ coef, rp_u64 rows, rp_u64 n, const rp_u64* __restrict__ owner,
    const double* __restrict__ scale, const double* __restrict__ shift, const double* __restrict__ scale_err, const double* __restrict__ mag_in,
    int exact_products, double* __restrict__ constant, double* __restrict__ slack)
{
    RP_GRID_LOOP(r, rows) rp_elementwise_row(coef + r * n, n, scale, shift, scale_err, mag_in + owner[r] * n, exact_products, constant + r, slack + r);
}

extern "C" __global__ void rp_split_back(double* __restrict__ coef, rp_u64 rows, rp_u64 n, const rp_u64* __restrict__ owner,
    const double* __restrict__ signed_beta, const double* __restrict__ mag, double* __restrict__ slack)
{
    RP_GRID_LOOP(r, rows) rp_split_row(coef + r * n, n, signed_beta + r * n, mag + owner[r] * n, slack + r);
}

// C (r × n) = A (r × k) · B, or A · Bᵀ with b_transposed: one thread per entry, each summed in a fixed
// order (rp_gemm_entry), so every row's result is the same in any batch (GPU-5). Consecutive threads
// take consecutive columns of one row: the row of A is read as a broadcast, B (the weights) from cache.
extern "C" __global__ void rp_gemm(const double* __restrict__ a, rp_u64 r, rp_u64 k, const double* __restrict__ b, rp_u64 n, int b_transposed, double* __restrict__ c)
{
    RP_GRID_LOOP(t, r * n) {
        rp_u64 i = t / n, j = t - i * n;
        c[t] = rp_gemm_entry(a + i * k, k, b, n, j, b_transposed);
    }
}

// The rows ±e_j, or ±(W_j, b_j), of `pairs` (batch row, neuron) pairs, n coefficients each, built on the
// device (linear.rs's signed_unit_rows / signed_affine_rows): coef (2·pairs × n), constant and owner per
// row; the slack is the caller's zeroed buffer.
extern "C" __global__ void rp_signed_rows(const rp_u64* __restrict__ pair_owner, const rp_u64* __restrict__ pair_neuron, rp_u64 pairs, rp_u64 n,
    const double* __restrict__ w, const double* __restrict__ bias, int affine, double* __restrict__ coef, double* __restrict__ constant, rp_u64* __restrict__ owner)
{
    RP_GRID_LOOP(t, 2 * pairs * n) {
        rp_u64 row = t / n, c = t - row * n, p = row >> 1, j = pair_neuron[p];
        coef[t] = rp_signed_entry(row, c, j, w, n, affine);
        if (c == 0) {
            double b = affine ? bias[j] : 0.0;
            constant[row] = affine ? ((row & 1ull) ? -b : b) : 0.0;
            owner[row] = pair_owner[p];
        }
    }
}
