//! The one random-number scheme of the project: Philox4x32-10 (Salmon et al., SC'11), a counter-based
//! generator. A draw is a pure function of (seed, stream, index), so results do not depend on thread
//! count, sharding or evaluation order; the CUDA kernels implement the same function.

pub(crate) const PHILOX_M0: u32 = 0xD251_1F53;
pub(crate) const PHILOX_M1: u32 = 0xCD9E_8D57;
pub(crate) const PHILOX_W0: u32 = 0x9E37_79B9;
pub(crate) const PHILOX_W1: u32 = 0xBB67_AE85;

/// Philox4x32 with 10 rounds: maps a 128-bit counter and a 64-bit key to 128 random bits.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let p0 = (PHILOX_M0 as u64) * (c[0] as u64);
        let p1 = (PHILOX_M1 as u64) * (c[2] as u64);
        c = [
            ((p1 >> 32) as u32) ^ c[1] ^ k[0],
            p1 as u32,
            ((p0 >> 32) as u32) ^ c[3] ^ k[1],
            p0 as u32,
        ];
    }
    c
}

/// A seeded stream family: `block(stream, index)` gives 128 fresh bits for every distinct pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Philox {
    key: [u32; 2],
}

impl Philox {
    /// The generator keyed by `seed`.
    pub fn new(seed: u64) -> Self {
        Philox { key: [seed as u32, (seed >> 32) as u32] }
    }

    /// The key (the seed's low and high words), for vectorized mirrors of [`philox4x32_10`].
    pub(crate) fn key(&self) -> [u32; 2] {
        self.key
    }

    /// Four 32-bit words for the counter (stream, index).
    pub fn block(&self, stream: u64, index: u64) -> [u32; 4] {
        philox4x32_10([index as u32, (index >> 32) as u32, stream as u32, (stream >> 32) as u32], self.key)
    }

    /// Two uniforms in the open interval (0, 1) (24-bit resolution is not enough for tails; 32-bit
    /// words are combined pairwise into 52-bit fractions).
    pub fn uniform_pair(&self, stream: u64, index: u64) -> [f64; 2] {
        let w = self.block(stream, index);
        [open_unit(w[0], w[1]), open_unit(w[2], w[3])]
    }

    /// Two independent standard normals for (stream, index) by the Box–Muller transform, with the
    /// project's own [`ln_unit`] and [`sincos_turn`] (only +, −, ×, ÷, √ in a fixed order, so the CUDA
    /// kernel reproduces every draw bit for bit).
    pub fn normal_pair(&self, stream: u64, index: u64) -> [f64; 2] {
        let [u1, u2] = self.uniform_pair(stream, index);
        let r = (-2.0 * ln_unit(u1)).sqrt();
        let (s, c) = sincos_turn(u2);
        [r * c, r * s]
    }

    /// A uniform in [lo, hi).
    pub fn uniform_in(&self, stream: u64, index: u64, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.uniform_pair(stream, index)[0] - f64::EPSILON / 4.0).max(0.0)
    }

    /// Fill `out` with standard normals of (stream, indices start..): entry i uses pair index
    /// start/2 + i/2 (the same numbers as [`fill_normal_pairs`](Self::fill_normal_pairs) from start/2).
    pub fn fill_normal(&self, stream: u64, start: u64, out: &mut [f64]) {
        self.fill_normal_pairs(stream, start / 2, out)
    }

    /// `out[2i], out[2i+1] = normal_pair(stream, first + i)` (an odd last entry gets the first of its
    /// pair): bit-identical to [`normal_pair`](Self::normal_pair), computed four pairs at a time so that
    /// the compiler vectorizes it, with AVX2 when the CPU has it.
    pub fn fill_normal_pairs(&self, stream: u64, first: u64, out: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { self.fill_normal_pairs_avx2(stream, first, out) };
        }
        self.fill_normal_pairs_lanes(stream, first, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_normal_pairs_avx2(&self, stream: u64, first: u64, out: &mut [f64]) {
        self.fill_normal_pairs_lanes(stream, first, out)
    }

    #[inline(always)]
    fn fill_normal_pairs_lanes(&self, stream: u64, first: u64, out: &mut [f64]) {
        const L: usize = 4;
        let mut chunks = out.chunks_exact_mut(2 * L);
        let mut index = first;
        for chunk in &mut chunks {
            let (a, b) = self.normal_lanes::<L>(stream, index);
            for l in 0..L {
                chunk[2 * l] = a[l];
                chunk[2 * l + 1] = b[l];
            }
            index += L as u64;
        }
        for pair in chunks.into_remainder().chunks_mut(2) {
            let z = self.normal_pair(stream, index);
            for (o, v) in pair.iter_mut().zip(z) {
                *o = v;
            }
            index += 1;
        }
    }

    /// The Philox blocks of L consecutive indices first…first+L−1, lane by lane (structure of arrays:
    /// `c[w][l]` is word w of index first + l), so that the compiler vectorizes the rounds.
    #[inline(always)]
    pub(crate) fn block_lanes<const L: usize>(&self, stream: u64, first: u64) -> [[u32; L]; 4] {
        let mut c = [[0u32; L]; 4];
        for l in 0..L {
            let index = first + l as u64;
            c[0][l] = index as u32;
            c[1][l] = (index >> 32) as u32;
            c[2][l] = stream as u32;
            c[3][l] = (stream >> 32) as u32;
        }
        let mut k = self.key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(PHILOX_W0);
                k[1] = k[1].wrapping_add(PHILOX_W1);
            }
            let mut next = [[0u32; L]; 4];
            for l in 0..L {
                let p0 = (PHILOX_M0 as u64) * (c[0][l] as u64);
                let p1 = (PHILOX_M1 as u64) * (c[2][l] as u64);
                next[0][l] = ((p1 >> 32) as u32) ^ c[1][l] ^ k[0];
                next[1][l] = p1 as u32;
                next[2][l] = ((p0 >> 32) as u32) ^ c[3][l] ^ k[1];
                next[3][l] = p0 as u32;
            }
            c = next;
        }
        c
    }

    /// `normal_pair` of L consecutive indices, lane by lane (structure of arrays).
    #[inline(always)]
    fn normal_lanes<const L: usize>(&self, stream: u64, first: u64) -> ([f64; L], [f64; L]) {
        let c = self.block_lanes::<L>(stream, first);
        let (mut a, mut b) = ([0.0; L], [0.0; L]);
        for l in 0..L {
            let u1 = open_unit(c[0][l], c[1][l]);
            let u2 = open_unit(c[2][l], c[3][l]);
            let r = (-2.0 * ln_unit(u1)).sqrt();
            let (s, co) = sincos_turn(u2);
            a[l] = r * co;
            b[l] = r * s;
        }
        (a, b)
    }
}

/// ln(x) for x in (0, 1], to a few ulps: x = m·2ᵉ with m ∈ [√½, √2), ln m = 2·atanh(s),
/// s = (m − 1)/(m + 1), by its odd series to s²³ (truncation < 1e-18).
#[inline]
pub fn ln_unit(x: f64) -> f64 {
    const LN2_HI: f64 = 6.931_471_803_691_238_164_9e-1; // ln 2 split so that e·LN2_HI is exact
    const LN2_LO: f64 = 1.908_214_929_270_587_700_0e-10;
    let bits = x.to_bits();
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    // m > √2: halve it (exponent − 1, exact) and count one more power of two, without a branch
    let big = (m > std::f64::consts::SQRT_2) as u64;
    let m = f64::from_bits(m.to_bits() - (big << 52));
    // the exponent as an f64 without an int→float conversion: 2⁵² + biased exponent, exactly
    let e = f64::from_bits(0x4330_0000_0000_0000 | (((bits >> 52) & 0x7ff) + big)) - (4_503_599_627_370_496.0 + 1023.0);
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    // 2/(2k+1) for k = 11 … 1
    let mut p = 2.0 / 23.0;
    for c in [2.0 / 21.0, 2.0 / 19.0, 2.0 / 17.0, 2.0 / 15.0, 2.0 / 13.0, 2.0 / 11.0, 2.0 / 9.0, 2.0 / 7.0, 2.0 / 5.0, 2.0 / 3.0] {
        p = p * z + c;
    }
    e * LN2_HI + (s * 2.0 + s * z * p + e * LN2_LO)
}

/// (sin 2πu, cos 2πu) for u in [0, 1), to a few ulps: exact reduction to an octant (u·8 is exact),
/// then Taylor polynomials of sin and cos on [0, π/4] (truncation < 1e-17).
#[inline]
pub fn sincos_turn(u: f64) -> (f64, f64) {
    let t = u * 8.0;
    let qi = t as i32; // truncation = floor for t ≥ 0
    let r = t - qi as f64;
    let octant = qi as u64 & 7;
    let odd = octant & 1;
    // odd octants measure the angle from the octant's upper end: a = (1 − r)·π/4
    let a = f64::from_bits(((1.0 - r).to_bits() & odd.wrapping_neg()) | (r.to_bits() & (odd.wrapping_sub(1)))) * std::f64::consts::FRAC_PI_4;
    let z = a * a;
    // sin a = a(1 − z/3! + z²/5! − …), cos a = 1 − z/2! + z²/4! − …, to a¹⁷ and a¹⁶
    let mut sp = -1.0 / 355_687_428_096_000.0; // −1/17!
    let mut cp = 1.0 / 20_922_789_888_000.0; // 1/16!
    for (sc, cc) in [
        (1.0 / 1_307_674_368_000.0, -1.0 / 87_178_291_200.0),
        (-1.0 / 6_227_020_800.0, 1.0 / 479_001_600.0),
        (1.0 / 39_916_800.0, -1.0 / 3_628_800.0),
        (-1.0 / 362_880.0, 1.0 / 40_320.0),
        (1.0 / 5_040.0, -1.0 / 720.0),
        (-1.0 / 120.0, 1.0 / 24.0),
        (1.0 / 6.0, -1.0 / 2.0),
    ] {
        sp = sp * z + sc;
        cp = cp * z + cc;
    }
    // sp = 1/3! − z/5! + …, cp = −1/2! + z/4! − …
    let sin_a = a - a * z * sp;
    let cos_a = 1.0 + z * cp;
    // octants 1, 2, 5, 6 swap sine and cosine; 4–7 negate the sine; 2–5 negate the cosine (branch-free)
    let swap = ((octant + 1) >> 1) & 1;
    let (sb, cb) = (sin_a.to_bits(), cos_a.to_bits());
    let mask = swap.wrapping_neg();
    let s = (cb & mask) | (sb & !mask);
    let c = (sb & mask) | (cb & !mask);
    let neg_s = (octant >> 2) & 1;
    let neg_c = ((octant + 2) >> 2) & 1;
    (f64::from_bits(s ^ (neg_s << 63)), f64::from_bits(c ^ (neg_c << 63)))
}

/// (hi·2²⁰ + lo>>12 + ½)·2⁻⁵²: a uniform on the 2⁵² midpoints of (0, 1), never 0 or 1 (every value is
/// exact in binary64).
pub(crate) fn open_unit(hi: u32, lo: u32) -> f64 {
    let bits52 = ((hi as u64) << 20) | ((lo as u64) >> 12);
    // (1 + bits52·2⁻⁵²) − 1 = bits52·2⁻⁵² exactly, without an int→float conversion; + 2⁻⁵³ is exact too
    (f64::from_bits(0x3ff0_0000_0000_0000 | bits52) - 1.0) + 1.0 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_matches_random123_known_answers() {
        // Known-answer vectors from Random123's kat_vectors for philox4x32_10.
        assert_eq!(philox4x32_10([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(
            philox4x32_10([0xffffffff; 4], [0xffffffff; 2]),
            [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]
        );
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    #[test]
    fn normals_have_unit_moments() {
        let g = Philox::new(7);
        let n = 200_000;
        let mut v = vec![0.0; n];
        g.fill_normal(3, 0, &mut v);
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "var {var}");
    }

    #[test]
    fn own_ln_and_sincos_match_libm() {
        let g = Philox::new(1);
        let (mut worst_ln, mut worst_sc) = (0.0f64, 0.0f64);
        for i in 0..200_000u64 {
            let [u1, u2] = g.uniform_pair(0, i);
            for u in [u1, u2, u1 * 1e-12, 1.0 - f64::EPSILON / 2.0] {
                let rel = (ln_unit(u) - u.ln()).abs() / u.ln().abs().max(1e-300);
                worst_ln = worst_ln.max(rel);
            }
            let (s, c) = sincos_turn(u2);
            let (s0, c0) = (std::f64::consts::TAU * u2).sin_cos();
            worst_sc = worst_sc.max((s - s0).abs()).max((c - c0).abs());
        }
        assert!(worst_ln < 4.0 * f64::EPSILON, "ln: {worst_ln}");
        // libm's own argument 2πu is rounded (error ~ 2πu·ε/2), so compare absolutely
        assert!(worst_sc < 8.0 * f64::EPSILON, "sincos: {worst_sc}");
        assert_eq!(ln_unit(1.0), 0.0);
        assert_eq!(sincos_turn(0.0), (0.0, 1.0));
        let (s, c) = sincos_turn(0.25);
        assert!((s - 1.0).abs() < 1e-15 && c.abs() < 1e-15);
    }

    #[test]
    fn lane_fill_is_bit_identical_to_pairs() {
        let g = Philox::new(0xDEADBEEF);
        for len in [0usize, 1, 2, 7, 8, 9, 64, 1001] {
            let mut v = vec![0.0; len];
            g.fill_normal_pairs(5, 123, &mut v);
            for (i, x) in v.iter().enumerate() {
                assert_eq!(x.to_bits(), g.normal_pair(5, 123 + i as u64 / 2)[i % 2].to_bits(), "len {len} entry {i}");
            }
        }
    }

    #[test]
    fn uniform_is_open() {
        assert!(open_unit(0, 0) > 0.0);
        assert!(open_unit(u32::MAX, u32::MAX) < 1.0);
    }
}
