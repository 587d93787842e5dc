// Interval bound propagation through one dense layer with directed rounding (IEEE round-down for lower
// ends, round-up for upper ends), so every device interval contains the exact real image (IBP-1 without
// the CPU path's FP slack: the rounding mode itself is the proof).
#include "rp_common.cuh"

// One thread per (row, output): [lo_out, hi_out] ⊇ W·relu?([lo_in, hi_in]) + b.
extern "C" __global__ void rp_ibp_affine(
    const double* __restrict__ lo_in, const double* __restrict__ hi_in, int rows, int n_in,
    const double* __restrict__ w, const double* __restrict__ b, int n_out,
    int relu_first,                      // apply ReLU to the input interval first
    double* __restrict__ lo_out, double* __restrict__ hi_out)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * n_out) return;
    int r = t / n_out, o = t % n_out;
    double lo = b[o], hi = b[o];
    for (int i = 0; i < n_in; ++i) {
        double l = lo_in[r * n_in + i], u = hi_in[r * n_in + i];
        if (relu_first) { l = fmax(l, 0.0); u = fmax(u, 0.0); }
        double wi = w[o * n_in + i];
        if (wi >= 0.0) {
            lo = __dadd_rd(lo, __dmul_rd(wi, l));
            hi = __dadd_ru(hi, __dmul_ru(wi, u));
        } else {
            lo = __dadd_rd(lo, __dmul_rd(wi, u));
            hi = __dadd_ru(hi, __dmul_ru(wi, l));
        }
    }
    lo_out[t] = lo;
    hi_out[t] = hi;
}

// The input box of a region: the ℓ∞ box of radius eps_r (every ℓp ball lies in it) ∩ the domain box.
extern "C" __global__ void rp_input_box(
    const double* __restrict__ x0, const double* __restrict__ eps, int rows, int d,
    const double* __restrict__ dom_lo, const double* __restrict__ dom_hi, int has_domain,
    double* __restrict__ lo, double* __restrict__ hi)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= rows * d) return;
    int r = t / d, j = t % d;
    double l = __dsub_rd(x0[t], eps[r]), u = __dadd_ru(x0[t], eps[r]);
    if (has_domain) { l = fmax(l, dom_lo[j]); u = fmin(u, dom_hi[j]); }
    lo[t] = l;
    hi[t] = u;
}
