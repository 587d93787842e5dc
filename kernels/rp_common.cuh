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

// ---- Smoothing noise (SMOOTH-8; src/smooth/normals.rs, line by line) --------------------------------
// Normal number i of (seed, stream) is word i mod 4 of the Philox block (stream, i/4), turned into a
// normal by a table of 12·2⁸ cubics (inverse CDF on the octaves of v ∈ [2⁻¹³, ½)) or, for v < 2⁻¹³, by
// AS 241 on a fresh 52-bit uniform from block (stream | 2⁶³, 2·(i/4) + (i mod 4)/2).
#define RP_CELL_BITS 8
#define RP_CELLS (12 << RP_CELL_BITS)
#define RP_LOW_EXPONENT (1023ull - 13ull)
#define RP_TAIL_BITS (1u << 19)

// Φ⁻¹(p) for p in (0, ½] by Wichura's AS 241 (normals::ppnd16).
RP_FN double rp_ppnd16(double p) {
    double q = p - 0.5;
    if (q >= -0.425) {
        double r = 0.180625 - q * q;
        return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r
            + 13731.693765509461125) * r + 1971.5909503065514427) * r + 133.14166789178437745) * r + 3.387132872796366608)
            / (((((((r * 5226.495278852854561 + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r
                + 5394.1960214247511077) * r + 687.1870074920579083) * r + 42.313330701600911252) * r + 1.0);
    }
    double r = rp_sqrt(-rp_ln_unit(p));
    double v;
    if (r <= 5.0) {
        r = r - 1.6;
        v = (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r
            + 3.64784832476320460504) * r + 5.7694972214606914055) * r + 4.6303378461565452959) * r + 1.42343711074968357734)
            / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                + 0.68976733498510000455) * r + 1.6763848301838038494) * r + 2.05319162663775882187) * r + 1.0);
    } else {
        r = r - 5.0;
        v = (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
            + 0.29656057182850489123) * r + 1.7848265399172913358) * r + 5.4637849111641143699) * r + 6.6579046435011037772)
            / (((((((r * 2.04426310338993978564e-15 + 1.42151175831644588870e-7) * r + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                + 1.48753612908506148525e-2) * r + 0.13692988092273580531) * r + 0.59983220655588793769) * r + 1.0);
    }
    return -v;
}

// The cubic of cell i (normals::cell_cubic): table[4i + 0..3].
RP_FN void rp_cell_cubic(int i, double* out) {
    rp_u64 exponent = RP_LOW_EXPONENT + (rp_u64)(i >> RP_CELL_BITS);
    rp_u64 j = (rp_u64)(i & ((1 << RP_CELL_BITS) - 1));
    double a = rp_from_bits((exponent << 52) | (j << (52 - RP_CELL_BITS)));
    double h = rp_from_bits((exponent - RP_CELL_BITS) << 52);
    double y0 = rp_ppnd16(a);
    double y1 = rp_ppnd16(a + h / 3.0);
    double y2 = rp_ppnd16(a + h * 2.0 / 3.0);
    double y3 = rp_ppnd16(a + h);
    double d1 = y1 - y0;
    double d2 = (y2 - y1) - d1;
    double d3 = ((y3 - y2) - (y2 - y1)) - d2;
    out[0] = y0;
    out[1] = 3.0 * (d1 - d2 / 2.0 + d3 / 3.0);
    out[2] = 4.5 * (d2 - d3);
    out[3] = 4.5 * d3;
}

// q (<= 0) for a clear sign bit of w, -q for a set one (normals::with_sign).
RP_FN double rp_with_sign(double q, rp_u32 w) {
    return rp_from_bits(rp_bits(q) ^ ((rp_u64)(w >> 31) << 63));
}

// Normal number i of (seed, stream) with the table of RP_CELLS cubics (normals::normal).
RP_FN double rp_smooth_normal(rp_u64 seed, rp_u64 stream, rp_u64 i, const double* table) {
    rp_u64 block = i / 4;
    int word = (int)(i % 4);
    rp_u32 c[4] = {(rp_u32)block, (rp_u32)(block >> 32), (rp_u32)stream, (rp_u32)(stream >> 32)};
    rp_philox(c, (rp_u32)seed, (rp_u32)(seed >> 32));
    rp_u32 w = c[word];
    rp_u32 b = w & 0x7fffffffu;
    if (b < RP_TAIL_BITS) {
        rp_u64 tail_stream = stream | (1ull << 63);
        rp_u64 index = 2 * block + (rp_u64)(word >> 1);
        rp_u32 t[4] = {(rp_u32)index, (rp_u32)(index >> 32), (rp_u32)tail_stream, (rp_u32)(tail_stream >> 32)};
        rp_philox(t, (rp_u32)seed, (rp_u32)(seed >> 32));
        int k = 2 * (word & 1);
        double v = rp_open_unit(t[k], t[k + 1]) * (1.0 / 8192.0);
        return rp_with_sign(rp_ppnd16(v), w);
    }
    double v = (double)(int)b * (1.0 / 4294967296.0) + 1.0 / 8589934592.0;  // b >= RP_TAIL_BITS here
    rp_u64 bits = rp_bits(v);
    int cell = (int)((bits >> (52 - RP_CELL_BITS)) - (RP_LOW_EXPONENT << RP_CELL_BITS));
    double tt = rp_from_bits(0x3ff0000000000000ull | ((bits << RP_CELL_BITS) & 0x000fffffffffffffull)) - 1.0;
    const double* cc = table + 4 * cell;
    double q = cc[0] + tt * (cc[1] + tt * (cc[2] + tt * cc[3]));
    return rp_with_sign(q, w);
}
