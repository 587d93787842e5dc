// Per-thread math shared by the kernels and mirrored by the Rust CPU path (src/rng.rs): Philox4x32-10,
// the open-unit uniform, and the project's own ln and sincos (only + − × ÷ √, compiled without FMA
// contraction: NVRTC --fmad=false, g++ -ffp-contract=off), so a draw is the same bits on both sides.
// Compiles as CUDA (NVRTC) and as plain C++ (the CPU mirror test in tests/kernels.rs).
#pragma once
#ifdef __CUDACC__
#define RP_FN __device__ __forceinline__
RP_FN unsigned long long rp_bits(double x) { return (unsigned long long)__double_as_longlong(x); }
RP_FN double rp_from_bits(unsigned long long b) { return __longlong_as_double((long long)b); }
RP_FN double rp_sqrt(double x) { return sqrt(x); }  // IEEE correctly rounded (--prec-sqrt=true)
#else
#include <cmath>
#define RP_FN static inline
RP_FN unsigned long long rp_bits(double x) { unsigned long long b; __builtin_memcpy(&b, &x, 8); return b; }
RP_FN double rp_from_bits(unsigned long long b) { double x; __builtin_memcpy(&x, &b, 8); return x; }
RP_FN double rp_sqrt(double x) { return std::sqrt(x); }
#endif

typedef unsigned int rp_u32;
typedef unsigned long long rp_u64;

// Philox4x32 with 10 rounds (Salmon et al., SC'11); same word order as rng::philox4x32_10.
RP_FN void rp_philox(rp_u32 c[4], rp_u32 k0, rp_u32 k1) {
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        rp_u64 p0 = (rp_u64)0xD2511F53u * (rp_u64)c[0];
        rp_u64 p1 = (rp_u64)0xCD9E8D57u * (rp_u64)c[2];
        rp_u32 n0 = ((rp_u32)(p1 >> 32)) ^ c[1] ^ k0;
        rp_u32 n1 = (rp_u32)p1;
        rp_u32 n2 = ((rp_u32)(p0 >> 32)) ^ c[3] ^ k1;
        rp_u32 n3 = (rp_u32)p0;
        c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
    }
}

// (hi·2²⁰ + lo>>12 + ½)·2⁻⁵²: never 0 or 1 (rng::open_unit).
RP_FN double rp_open_unit(rp_u32 hi, rp_u32 lo) {
    rp_u64 bits52 = ((rp_u64)hi << 20) | ((rp_u64)lo >> 12);
    return (rp_from_bits(0x3ff0000000000000ull | bits52) - 1.0) + 1.0 / 9007199254740992.0;
}

// ln x for x in (0, 1] (rng::ln_unit).
RP_FN double rp_ln_unit(double x) {
    const double LN2_HI = 6.9314718036912381649e-1;
    const double LN2_LO = 1.9082149292705877000e-10;
    rp_u64 bits = rp_bits(x);
    double m = rp_from_bits((bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
    rp_u64 big = (m > 1.4142135623730951) ? 1ull : 0ull;
    m = rp_from_bits(rp_bits(m) - (big << 52));
    double e = rp_from_bits(0x4330000000000000ull | (((bits >> 52) & 0x7ffull) + big)) - (4503599627370496.0 + 1023.0);
    double s = (m - 1.0) / (m + 1.0);
    double z = s * s;
    const double c[10] = {2.0 / 21.0, 2.0 / 19.0, 2.0 / 17.0, 2.0 / 15.0, 2.0 / 13.0, 2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0};
    double p = 2.0 / 23.0;
    for (int i = 0; i < 10; ++i) p = p * z + c[i];
    return e * LN2_HI + (s * 2.0 + s * z * p + e * LN2_LO);
}

// (sin 2πu, cos 2πu) for u in [0, 1) (rng::sincos_turn).
RP_FN void rp_sincos_turn(double u, double* s_out, double* c_out) {
    double t = u * 8.0;
    int qi = (int)t;
    double r = t - (double)qi;
    rp_u64 octant = (rp_u64)qi & 7ull;
    rp_u64 odd = octant & 1ull;
    double a = rp_from_bits((rp_bits(1.0 - r) & (0ull - odd)) | (rp_bits(r) & (odd - 1ull))) * 0.78539816339744830962;
    double z = a * a;
    const double sc[7] = {1.0 / 1307674368000.0, -1.0 / 6227020800.0, 1.0 / 39916800.0, -1.0 / 362880.0, 1.0 / 5040.0, -1.0 / 120.0, 1.0 / 6.0};
    const double cc[7] = {-1.0 / 87178291200.0, 1.0 / 479001600.0, -1.0 / 3628800.0, 1.0 / 40320.0, -1.0 / 720.0, 1.0 / 24.0, -1.0 / 2.0};
    double sp = -1.0 / 355687428096000.0;
    double cp = 1.0 / 20922789888000.0;
    for (int i = 0; i < 7; ++i) {
        sp = sp * z + sc[i];
        cp = cp * z + cc[i];
    }
    double sin_a = a - a * z * sp;
    double cos_a = 1.0 + z * cp;
    rp_u64 swap = ((octant + 1ull) >> 1) & 1ull;
    rp_u64 sb = rp_bits(sin_a), cb = rp_bits(cos_a);
    rp_u64 mask = 0ull - swap;
    rp_u64 s = (cb & mask) | (sb & ~mask);
    rp_u64 c = (sb & mask) | (cb & ~mask);
    rp_u64 neg_s = (octant >> 2) & 1ull;
    rp_u64 neg_c = ((octant + 2ull) >> 2) & 1ull;
    *s_out = rp_from_bits(s ^ (neg_s << 63));
    *c_out = rp_from_bits(c ^ (neg_c << 63));
}

// Two standard normals for (seed, stream, index) by Box–Muller (rng::Philox::normal_pair).
RP_FN void rp_normal_pair(rp_u64 seed, rp_u64 stream, rp_u64 index, double* z0, double* z1) {
    rp_u32 c[4] = {(rp_u32)index, (rp_u32)(index >> 32), (rp_u32)stream, (rp_u32)(stream >> 32)};
    rp_philox(c, (rp_u32)seed, (rp_u32)(seed >> 32));
    double u1 = rp_open_unit(c[0], c[1]);
    double u2 = rp_open_unit(c[2], c[3]);
    double r = rp_sqrt(-2.0 * rp_ln_unit(u1));
    double s, co;
    rp_sincos_turn(u2, &s, &co);
    *z0 = r * co;
    *z1 = r * s;
}
