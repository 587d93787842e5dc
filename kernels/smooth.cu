// Randomized smoothing on the device, the CPU sampler's plan (src/smooth/sampler.rs) step by step:
// Gaussian draws from the project's counter-based scheme (SMOOTH-3, SMOOTH-8: the same bits as the CPU's;
// the table of cubics is built by rp_normal_table), noisy inputs (or first-layer noise), the affine
// layers as cuBLAS DGEMMs with these kernels adding the bias and applying ReLU, and per-class counting.
// Every index is 64-bit (grid-stride loops).
#include "rp_common.cuh"
#include "rp_bound.cuh"

#define RP_GRID_LOOP(i, count) \
    for (rp_u64 i = (rp_u64)blockIdx.x * blockDim.x + threadIdx.x; i < (count); i += (rp_u64)gridDim.x * blockDim.x)

// Samples first/m … of one record's stream, m values each: normal number first + t at out[t], as
// x0[t mod m] + sigma·z in input space (sampler::noisy_inputs) or z itself in first-layer space.
extern "C" __global__ void rp_noise_rows(rp_u64 seed, rp_u64 stream, rp_u64 first, rp_u64 count, rp_u64 m,
    const double* __restrict__ table, const double* __restrict__ x0, double sigma, int input_space, double* __restrict__ out)
{
    RP_GRID_LOOP(t, count) {
        double z = rp_smooth_normal(seed, stream, first + t, table);
        out[t] = input_space ? x0[t % m] + sigma * z : z;
    }
}

// y (rows × n) += b row by row, then ReLU (Rust's max(v, 0.0): a NaN becomes 0, as on the CPU) when asked.
extern "C" __global__ void rp_bias_act(double* __restrict__ y, rp_u64 rows, rp_u64 n, const double* __restrict__ b, int relu) {
    RP_GRID_LOOP(t, rows * n) {
        double v = y[t] + b[t % n];
        y[t] = relu ? rp_max(v, 0.0) : v;
    }
}

// y = max(x, 0) elementwise (a ReLU not fused with the affine layer before it).
extern "C" __global__ void rp_relu(const double* __restrict__ x, rp_u64 count, double* __restrict__ y) {
    RP_GRID_LOOP(t, count) y[t] = rp_max(x[t], 0.0);
}

// One count per sample (sampler::class_or_overflow): the first strict max (argmax) or min (argmin) of
// its k outputs, or slot k when their sum is not finite.
extern "C" __global__ void rp_decide_count(const double* __restrict__ logits, rp_u64 rows, rp_u64 k, int argmin, unsigned long long* __restrict__ counts) {
    RP_GRID_LOOP(s, rows) {
        const double* y = logits + s * k;
        double sum = 0.0;
        for (rp_u64 c = 0; c < k; ++c) sum += y[c];
        rp_u64 best = 0;
        if (!(sum - sum == 0.0)) {
            best = k;
        } else {
            for (rp_u64 c = 1; c < k; ++c) {
                if (argmin ? (y[c] < y[best]) : (y[c] > y[best])) best = c;
            }
        }
        atomicAdd(&counts[best], 1ull);
    }
}

// The standard normals of (seed, stream, pairs first … first+count−1), two per pair: for checking the
// device's draws against the CPU's bit for bit.
extern "C" __global__ void rp_normals(rp_u64 seed, rp_u64 stream, rp_u64 first, rp_u64 count, double* __restrict__ out) {
    RP_GRID_LOOP(i, count) {
        double z0, z1;
        rp_normal_pair(seed, stream, first + i, &z0, &z1);
        out[2 * i] = z0;
        out[2 * i + 1] = z1;
    }
}

// The table of cubics of the smoothing normals: one thread per cell (normals::table).
extern "C" __global__ void rp_normal_table(double* __restrict__ table) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < RP_CELLS) rp_cell_cubic(i, table + 4 * i);
}

// Smoothing normals number first … first+count−1 of (seed, stream): for checking the device's draws
// against the CPU's bit for bit.
extern "C" __global__ void rp_smooth_normals(rp_u64 seed, rp_u64 stream, rp_u64 first, rp_u64 count, const double* __restrict__ table, double* __restrict__ out) {
    RP_GRID_LOOP(i, count) out[i] = rp_smooth_normal(seed, stream, first + i, table);
}
