// Randomized smoothing on the device: Gaussian draws from the project's counter-based scheme (the same
// bits as the CPU path's input-space draws, SMOOTH-3 and SMOOTH-8; the table of cubics is built by
// rp_normal_table), the forward pass of a dense ReLU network, and
// per-class counting. One thread handles one (record, sample) at a time in a grid-stride loop.
#include "rp_common.cuh"

// Network layout: `layers` affine layers; layer l maps dims[l] → dims[l+1] with row-major weights at
// w + w_off[l] and biases at b + b_off[l]; ReLU between consecutive affine layers.
extern "C" __global__ void rp_smooth_counts(
    const double* __restrict__ x0,        // records × d
    rp_u64 records, int d,
    const rp_u64* __restrict__ rows,      // record ids (name the noise streams)
    double sigma, rp_u64 seed, rp_u64 phase, rp_u64 n,
    const double* __restrict__ w, const double* __restrict__ b,
    const rp_u64* __restrict__ w_off, const rp_u64* __restrict__ b_off,
    const int* __restrict__ dims, int layers, int max_width,
    int argmin,                           // 0: the answer is the argmax of the outputs, 1: the argmin
    const double* __restrict__ table,     // RP_CELLS × 4 cubics (rp_normal_table)
    double* __restrict__ scratch,         // (threads) × 2·max_width
    unsigned long long* __restrict__ counts)  // records × K
{
    rp_u64 tid = (rp_u64)blockIdx.x * blockDim.x + threadIdx.x;
    rp_u64 threads = (rp_u64)gridDim.x * blockDim.x;
    double* a = scratch + tid * 2 * (rp_u64)max_width;
    double* h = a + max_width;
    int k = dims[layers];
    for (rp_u64 job = tid; job < records * n; job += threads) {
        rp_u64 r = job / n, s = job % n;
        rp_u64 stream = 4 * rows[r] + phase;
        for (int i = 0; i < d; ++i) {
            double z = rp_smooth_normal(seed, stream, s * (rp_u64)d + (rp_u64)i, table);
            a[i] = x0[r * d + i] + sigma * z;
        }
        for (int l = 0; l < layers; ++l) {
            int n_in = dims[l], n_out = dims[l + 1];
            const double* wl = w + w_off[l];
            const double* bl = b + b_off[l];
            for (int o = 0; o < n_out; ++o) {
                double acc = 0.0;
                for (int i = 0; i < n_in; ++i) acc += wl[o * n_in + i] * a[i];
                acc += bl[o];
                h[o] = (l + 1 < layers && acc < 0.0) ? 0.0 : acc;
            }
            double* t = a; a = h; h = t;
        }
        int best = 0;
        for (int c = 1; c < k; ++c) {
            if (argmin ? (a[c] < a[best]) : (a[c] > a[best])) best = c;
        }
        atomicAdd(&counts[r * k + best], 1ull);
    }
}

// The standard normals of (seed, stream, pairs first … first+count−1), two per pair: for checking the
// device's draws against the CPU's bit for bit.
extern "C" __global__ void rp_normals(rp_u64 seed, rp_u64 stream, rp_u64 first, rp_u64 count, double* __restrict__ out) {
    rp_u64 i = (rp_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    double z0, z1;
    rp_normal_pair(seed, stream, first + i, &z0, &z1);
    out[2 * i] = z0;
    out[2 * i + 1] = z1;
}

// The table of cubics of the smoothing normals: one thread per cell (normals::table).
extern "C" __global__ void rp_normal_table(double* __restrict__ table) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < RP_CELLS) rp_cell_cubic(i, table + 4 * i);
}

// Smoothing normals number first … first+count−1 of (seed, stream): for checking the device's draws
// against the CPU's bit for bit.
extern "C" __global__ void rp_smooth_normals(rp_u64 seed, rp_u64 stream, rp_u64 first, rp_u64 count, const double* __restrict__ table, double* __restrict__ out) {
    rp_u64 i = (rp_u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= count) return;
    out[i] = rp_smooth_normal(seed, stream, first + i, table);
}
