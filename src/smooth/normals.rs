//! The Gaussian noise of randomized smoothing (SMOOTH-8 in `proofs/SMOOTHING.md`): one Philox4x32-10 word
//! per standard normal, turned into a normal by a table-based inverse CDF.
//!
//! Normal number i of (seed, stream) uses word i mod 4 of the Philox block (stream, ⌊i/4⌋). Of a word w,
//! the top bit is the sign and the other 31 bits b give v = (2b + 1)·2⁻³³ ∈ (0, ½); the draw is ∓Q(v)
//! with Q = Φ⁻¹ approximated by a cubic on each of 2⁸ cells of every octave [2⁻ᵉ⁻¹, 2⁻ᵉ), e = 1…12.
//! The cubic interpolates Φ⁻¹ (Wichura's AS 241, [`ppnd16`]) at the cell's ends and thirds. For
//! v < 2⁻¹³ (probability 2⁻¹² per draw) a slow path draws v afresh, uniform on (0, 2⁻¹³) with 52 bits,
//! from a second Philox block (stream | 2⁶³, 2⌊i/4⌋ + ⌊(i mod 4)/2⌋), and returns AS 241 itself.
//! Guarantee: the draws are i.i.d. with a law within total variation [`TV_PER_NORMAL`] of N(0, 1)
//! (in real arithmetic; measured by `tv_distance_is_within_the_stated_bound`), a pure function of
//! (seed, stream, i). Only +, −, ×, ÷, √ and [`ln_unit`] are used, so the CUDA mirror
//! (`kernels/rp_common.cuh`, `rp_smooth_normal`) gives the same bits.
use crate::rng::{ln_unit, open_unit, Philox};
use std::sync::OnceLock;

/// Cells per octave: 2^CELL_BITS.
pub const CELL_BITS: u32 = 8;
/// Octaves of v covered by the table: [2⁻¹³, ½).
pub const OCTAVES: usize = 12;
/// Table entries (cells), each the four coefficients of a cubic in the cell's local t ∈ [0, 1).
pub const CELLS: usize = OCTAVES << CELL_BITS;
/// Biased binary64 exponent of the lowest octave [2⁻¹³, 2⁻¹²).
const LOW_EXPONENT: u64 = 1023 - 13;
/// Words whose low 31 bits are below this take the tail path (v < 2⁻¹³).
const TAIL_BITS: u32 = 1 << 19;
/// Total-variation distance between the law of one draw and N(0, 1): an upper bound (with a margin of
/// over 10×) of the value computed cell by cell in the tests.
pub const TV_PER_NORMAL: f64 = 1e-9;

/// Φ⁻¹(p) for p ∈ (0, ½] by Wichura's AS 241 (PPND16, relative error ~10⁻¹⁶), with the project's own
/// ln: only +, −, ×, ÷, √ in a fixed order, so the CUDA mirror computes the same bits.
#[allow(clippy::excessive_precision)] // AS 241's coefficients as published
pub fn ppnd16(p: f64) -> f64 {
    let q = p - 0.5;
    if q >= -0.425 {
        let r = 0.180625 - q * q;
        return q * (((((((r * 2509.0809287301226727 + 33430.575583588128105) * r + 67265.770927008700853) * r + 45921.953931549871457) * r
            + 13731.693765509461125)
            * r
            + 1971.5909503065514427)
            * r
            + 133.14166789178437745)
            * r
            + 3.387132872796366608)
            / (((((((r * 5226.495278852854561 + 28729.085735721942674) * r + 39307.89580009271061) * r + 21213.794301586595867) * r
                + 5394.1960214247511077)
                * r
                + 687.1870074920579083)
                * r
                + 42.313330701600911252)
                * r
                + 1.0);
    }
    let r = (-ln_unit(p)).sqrt();
    let v = if r <= 5.0 {
        let r = r - 1.6;
        (((((((r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r + 0.24178072517745061177) * r + 1.27045825245236838258) * r
            + 3.64784832476320460504)
            * r
            + 5.7694972214606914055)
            * r
            + 4.6303378461565452959)
            * r
            + 1.42343711074968357734)
            / (((((((r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r + 0.0151986665636164571966) * r + 0.14810397642748007459) * r
                + 0.68976733498510000455)
                * r
                + 1.6763848301838038494)
                * r
                + 2.05319162663775882187)
                * r
                + 1.0)
    } else {
        let r = r - 5.0;
        (((((((r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r + 1.24266094738807843860e-3) * r + 2.65321895265761230930e-2) * r
            + 0.29656057182850489123)
            * r
            + 1.7848265399172913358)
            * r
            + 5.4637849111641143699)
            * r
            + 6.6579046435011037772)
            / (((((((r * 2.04426310338993978564e-15 + 1.42151175831644588870e-7) * r + 1.84631831751005468180e-5) * r + 7.86869131145613259100e-4) * r
                + 1.48753612908506148525e-2)
                * r
                + 0.13692988092273580531)
                * r
                + 0.59983220655588793769)
                * r
                + 1.0)
    };
    -v
}

/// The cubic of cell `i`: coefficients (c₀, c₁, c₂, c₃) of c₀ + t(c₁ + t(c₂ + t·c₃)), interpolating
/// [`ppnd16`] at t = 0, ⅓, ⅔, 1 of the cell [a, a + h).
pub fn cell_cubic(i: usize) -> [f64; 4] {
    let exponent = LOW_EXPONENT + (i >> CELL_BITS) as u64;
    let j = (i & ((1 << CELL_BITS) - 1)) as u64;
    let a = f64::from_bits((exponent << 52) | (j << (52 - CELL_BITS)));
    let h = f64::from_bits((exponent - CELL_BITS as u64) << 52);
    let y0 = ppnd16(a);
    let y1 = ppnd16(a + h / 3.0);
    let y2 = ppnd16(a + h * 2.0 / 3.0);
    let y3 = ppnd16(a + h);
    // forward differences at step ⅓, then the Newton form expanded in t
    let d1 = y1 - y0;
    let d2 = (y2 - y1) - d1;
    let d3 = ((y3 - y2) - (y2 - y1)) - d2;
    [y0, 3.0 * (d1 - d2 / 2.0 + d3 / 3.0), 4.5 * (d2 - d3), 4.5 * d3]
}

/// The table of every cell's cubic, built once (deterministically: the same bits on every machine).
pub fn table() -> &'static [[f64; 4]] {
    static TABLE: OnceLock<Vec<[f64; 4]>> = OnceLock::new();
    TABLE.get_or_init(|| (0..CELLS).map(cell_cubic).collect())
}

/// The table path for word `w` (its value is garbage, but finite, when the word takes the tail path).
#[inline(always)]
fn table_normal(table: &[[f64; 4]], w: u32) -> f64 {
    let b = w & 0x7fff_ffff;
    // v = (2b + 1)·2⁻³³ exactly; clamped into the table's range for tail words (overwritten later)
    let v = (b.max(TAIL_BITS) as i32 as f64) * (1.0 / 4_294_967_296.0) + 1.0 / 8_589_934_592.0;
    let bits = v.to_bits();
    let cell = ((bits >> (52 - CELL_BITS)) - (LOW_EXPONENT << CELL_BITS)) as usize;
    // t: the mantissa bits below the cell's, as a fraction in [0, 1) (exact)
    let t = f64::from_bits(0x3ff0_0000_0000_0000 | ((bits << CELL_BITS) & 0x000f_ffff_ffff_ffff)) - 1.0;
    let c = table[cell.min(CELLS - 1)];
    let q = c[0] + t * (c[1] + t * (c[2] + t * c[3]));
    with_sign(q, w)
}

/// q (≤ 0) for a clear sign bit of `w`, −q for a set one.
#[inline(always)]
fn with_sign(q: f64, w: u32) -> f64 {
    f64::from_bits(q.to_bits() ^ (((w >> 31) as u64) << 63))
}

/// The tail path of normal `word` (0…3) of block `block`: v uniform on (0, 2⁻¹³) from a second block.
fn tail_normal(rng: &Philox, stream: u64, block: u64, word: usize, w: u32) -> f64 {
    let c = rng.block(stream | 1 << 63, 2 * block + (word >> 1) as u64);
    let k = 2 * (word & 1);
    let v = open_unit(c[k], c[k + 1]) * (1.0 / 8192.0);
    with_sign(ppnd16(v), w)
}

/// Whether word `w` takes the tail path.
#[inline(always)]
fn is_tail(w: u32) -> bool {
    (w & 0x7fff_ffff) < TAIL_BITS
}

/// Normal number `i` of (seed, stream): the reference definition, one draw at a time.
pub fn normal(rng: &Philox, stream: u64, i: u64) -> f64 {
    let (block, word) = (i / 4, (i % 4) as usize);
    let w = rng.block(stream, block)[word];
    if is_tail(w) {
        tail_normal(rng, stream, block, word, w)
    } else {
        table_normal(table(), w)
    }
}

/// Writes normals number first, first + 1, … of (seed, stream) into `out`: bit-identical to
/// [`normal`], sixteen Philox blocks (64 draws) at a time with AVX-512, eight with AVX2, else four so
/// that the compiler vectorizes it.
pub fn fill(rng: &Philox, stream: u64, first: u64, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU supports AVX-512F (and so AVX2; checked just above).
        return unsafe { fill_avx512(rng, stream, first, out) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { fill_avx2(rng, stream, first, out) };
    }
    fill_lanes(rng, stream, first, out)
}

/// [`fill`] sixteen Philox blocks (64 draws) at a time in 512-bit registers: the same operations in the
/// same order as [`table_normal`], so the same bits (1.9 vs 2.5 ns per draw for AVX2 on a Zen 4 core).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
unsafe fn fill_avx512(rng: &Philox, stream: u64, first: u64, out: &mut [f64]) {
    let lead = (((4 - first % 4) % 4) as usize).min(out.len());
    let (head, rest) = out.split_at_mut(lead);
    for (k, o) in head.iter_mut().enumerate() {
        *o = normal(rng, stream, first + k as u64);
    }
    let table = table();
    let mut block = (first + lead as u64) / 4;
    let mut chunks = rest.chunks_exact_mut(64);
    let key = rng.key();
    for chunk in &mut chunks {
        // SAFETY: AVX-512F is enabled for this function; `chunk` holds 64 doubles.
        let tail = unsafe {
            let c = avx512::philox_16(key, stream, block);
            let tail = avx512::table_normals_16(table, &c, chunk);
            if tail {
                let mut words = [[0u32; 16]; 4];
                for (o, v) in words.iter_mut().zip(c) {
                    std::arch::x86_64::_mm512_storeu_si512(o.as_mut_ptr() as *mut _, v);
                }
                Some(words)
            } else {
                None
            }
        };
        if let Some(words) = tail {
            for l in 0..16 {
                for (w, word) in words.iter().enumerate() {
                    if is_tail(word[l]) {
                        chunk[4 * l + w] = tail_normal(rng, stream, block + l as u64, w, word[l]);
                    }
                }
            }
        }
        block += 16;
    }
    // SAFETY: AVX2 is enabled for this function.
    unsafe { fill_avx2(rng, stream, 4 * block, chunks.into_remainder()) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn fill_avx2(rng: &Philox, stream: u64, first: u64, out: &mut [f64]) {
    let lead = (((4 - first % 4) % 4) as usize).min(out.len());
    let (head, rest) = out.split_at_mut(lead);
    for (k, o) in head.iter_mut().enumerate() {
        *o = normal(rng, stream, first + k as u64);
    }
    let table = table();
    let mut block = (first + lead as u64) / 4;
    let mut chunks = rest.chunks_exact_mut(32);
    let key = rng.key();
    for chunk in &mut chunks {
        // SAFETY: AVX2 is enabled for this function; `chunk` holds 32 doubles.
        let c = unsafe { avx2::philox_8(key, stream, block) };
        let (lo, hi) = chunk.split_at_mut(16);
        for (half, out) in [(0usize, lo), (4, hi)] {
            let words: [[u32; 4]; 4] = std::array::from_fn(|w| std::array::from_fn(|l| c[w][half + l]));
            // SAFETY: as above; `out` holds 16 doubles.
            if unsafe { avx2::table_normals_4x4(table, &words, out) } {
                fix_tails(rng, stream, block + half as u64, &words, out);
            }
        }
        block += 8;
    }
    for (k, o) in chunks.into_remainder().iter_mut().enumerate() {
        *o = normal(rng, stream, 4 * block + k as u64);
    }
}

/// Replaces the table values of tail words among four blocks' words (`c[w][l]`: word w of block + l).
fn fix_tails(rng: &Philox, stream: u64, block: u64, c: &[[u32; 4]; 4], chunk: &mut [f64]) {
    for l in 0..4 {
        for (w, words) in c.iter().enumerate() {
            if is_tail(words[l]) {
                chunk[4 * l + w] = tail_normal(rng, stream, block + l as u64, w, words[l]);
            }
        }
    }
}

/// [`table_normal`] four lanes at a time with AVX2 intrinsics (the same operations in the same order,
/// so the same bits).
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{CELL_BITS, LOW_EXPONENT, TAIL_BITS};
    use std::arch::x86_64::*;

    /// Philox4x32-10 of the blocks (stream, first + l), l = 0…7, as `c[w][l]` (word w of block l): eight
    /// lanes of 32×32→64-bit products per instruction pair (even and odd lanes).
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn philox_8(key: [u32; 2], stream: u64, first: u64) -> [[u32; 8]; 4] {
        // SAFETY (whole body): AVX2 is enabled; stores write the 4×8 words of `out`.
        unsafe {
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            // index words: first + l may carry into the high word
            let lo0 = _mm256_set1_epi32(first as u32 as i32);
            let c0 = _mm256_add_epi32(lo0, lanes);
            let carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo0, _mm256_set1_epi32(i32::MIN)), _mm256_xor_si256(c0, _mm256_set1_epi32(i32::MIN)));
            let mut c = [
                c0,
                _mm256_sub_epi32(_mm256_set1_epi32((first >> 32) as u32 as i32), carry),
                _mm256_set1_epi32(stream as u32 as i32),
                _mm256_set1_epi32((stream >> 32) as u32 as i32),
            ];
            let (m0, m1) = (_mm256_set1_epi32(crate::rng::PHILOX_M0 as i32), _mm256_set1_epi32(crate::rng::PHILOX_M1 as i32));
            let mut k = key;
            for round in 0..10 {
                if round > 0 {
                    k[0] = k[0].wrapping_add(crate::rng::PHILOX_W0);
                    k[1] = k[1].wrapping_add(crate::rng::PHILOX_W1);
                }
                let (h0, l0) = mul_hi_lo(m0, c[0]);
                let (h1, l1) = mul_hi_lo(m1, c[2]);
                c = [
                    _mm256_xor_si256(_mm256_xor_si256(h1, c[1]), _mm256_set1_epi32(k[0] as i32)),
                    l1,
                    _mm256_xor_si256(_mm256_xor_si256(h0, c[3]), _mm256_set1_epi32(k[1] as i32)),
                    l0,
                ];
            }
            let mut out = [[0u32; 8]; 4];
            for (o, v) in out.iter_mut().zip(c) {
                _mm256_storeu_si256(o.as_mut_ptr() as *mut __m256i, v);
            }
            out
        }
    }

    /// High and low 32-bit halves of m·x in every lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn mul_hi_lo(m: __m256i, x: __m256i) -> (__m256i, __m256i) {
        let even = _mm256_mul_epu32(m, x);
        let odd = _mm256_mul_epu32(_mm256_srli_epi64::<32>(m), _mm256_srli_epi64::<32>(x));
        let lo = _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd));
        let hi = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
        (hi, lo)
    }

    /// `out[4l + w] = table_normal(c[w][l])` for four blocks l; whether any word takes the tail path.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn table_normals_4x4(table: &[[f64; 4]], c: &[[u32; 4]; 4], out: &mut [f64]) -> bool {
        assert!(out.len() >= 16 && table.len() == super::CELLS);
        // SAFETY (whole body): AVX2 is enabled; loads read the 4×4 words of `c`, stores write out[..16],
        // loads read table cells < CELLS (v ∈ [2⁻¹³, ½) puts every cell index in range).
        unsafe {
            // transpose the words so that register l holds the four words of block l
            let r: [__m128i; 4] = std::array::from_fn(|w| _mm_loadu_si128(c[w].as_ptr() as *const __m128i));
            let t0 = _mm_unpacklo_epi32(r[0], r[1]);
            let t1 = _mm_unpacklo_epi32(r[2], r[3]);
            let t2 = _mm_unpackhi_epi32(r[0], r[1]);
            let t3 = _mm_unpackhi_epi32(r[2], r[3]);
            let blocks = [_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1), _mm_unpacklo_epi64(t2, t3), _mm_unpackhi_epi64(t2, t3)];
            let low31 = _mm_set1_epi32(0x7fff_ffff);
            let tail_bits = _mm_set1_epi32(TAIL_BITS as i32);
            let mut tail = _mm_setzero_si128();
            let base = table.as_ptr() as *const f64;
            for (l, &w) in blocks.iter().enumerate() {
                let b = _mm_and_si128(w, low31);
                tail = _mm_or_si128(tail, _mm_cmpgt_epi32(tail_bits, b));
                let v = _mm256_add_pd(
                    _mm256_mul_pd(_mm256_cvtepi32_pd(_mm_max_epi32(b, tail_bits)), _mm256_set1_pd(1.0 / 4_294_967_296.0)),
                    _mm256_set1_pd(1.0 / 8_589_934_592.0),
                );
                let bits = _mm256_castpd_si256(v);
                let cell = _mm256_sub_epi64(_mm256_srli_epi64::<{ 52 - CELL_BITS as i32 }>(bits), _mm256_set1_epi64x((LOW_EXPONENT << CELL_BITS) as i64));
                // the four cells' cubics: one 32-byte load each, transposed into coefficient vectors
                // (cheaper than four gathers)
                let mut at = [0u64; 4];
                _mm256_storeu_si256(at.as_mut_ptr() as *mut __m256i, cell);
                let rows: [__m256d; 4] = std::array::from_fn(|i| _mm256_loadu_pd(base.add(4 * at[i] as usize)));
                let (t0, t1) = (_mm256_unpacklo_pd(rows[0], rows[1]), _mm256_unpackhi_pd(rows[0], rows[1]));
                let (t2, t3) = (_mm256_unpacklo_pd(rows[2], rows[3]), _mm256_unpackhi_pd(rows[2], rows[3]));
                let frac = _mm256_and_si256(_mm256_slli_epi64::<{ CELL_BITS as i32 }>(bits), _mm256_set1_epi64x(0x000f_ffff_ffff_ffff));
                let t = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(frac, _mm256_set1_epi64x(0x3ff0_0000_0000_0000))), _mm256_set1_pd(1.0));
                let c0 = _mm256_permute2f128_pd::<0x20>(t0, t2);
                let c1 = _mm256_permute2f128_pd::<0x20>(t1, t3);
                let c2 = _mm256_permute2f128_pd::<0x31>(t0, t2);
                let c3 = _mm256_permute2f128_pd::<0x31>(t1, t3);
                let q = _mm256_add_pd(c0, _mm256_mul_pd(t, _mm256_add_pd(c1, _mm256_mul_pd(t, _mm256_add_pd(c2, _mm256_mul_pd(t, c3))))));
                let sign = _mm256_slli_epi64::<63>(_mm256_cvtepu32_epi64(_mm_srli_epi32::<31>(w)));
                let z = _mm256_castsi256_pd(_mm256_xor_si256(_mm256_castpd_si256(q), sign));
                _mm256_storeu_pd(out.as_mut_ptr().add(4 * l), z);
            }
            _mm_movemask_epi8(tail) != 0
        }
    }
}

/// Philox and the table path sixteen blocks at a time with AVX-512F intrinsics.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{CELLS, CELL_BITS, LOW_EXPONENT, TAIL_BITS};
    use std::arch::x86_64::*;

    /// Philox4x32-10 of the blocks (stream, first + l), l = 0…15: register w holds word w of every block.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn philox_16(key: [u32; 2], stream: u64, first: u64) -> [__m512i; 4] {
        let lo0 = _mm512_set1_epi32(first as u32 as i32);
        let c0 = _mm512_add_epi32(lo0, _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        // first + l may carry into the high word
        let carry = _mm512_cmplt_epu32_mask(c0, lo0);
        let hi0 = _mm512_set1_epi32((first >> 32) as u32 as i32);
        let mut c = [
            c0,
            _mm512_mask_add_epi32(hi0, carry, hi0, _mm512_set1_epi32(1)),
            _mm512_set1_epi32(stream as u32 as i32),
            _mm512_set1_epi32((stream >> 32) as u32 as i32),
        ];
        let (m0, m1) = (_mm512_set1_epi32(crate::rng::PHILOX_M0 as i32), _mm512_set1_epi32(crate::rng::PHILOX_M1 as i32));
        let mut k = key;
        for round in 0..10 {
            if round > 0 {
                k[0] = k[0].wrapping_add(crate::rng::PHILOX_W0);
                k[1] = k[1].wrapping_add(crate::rng::PHILOX_W1);
            }
            let (h0, l0) = mul_hi_lo(m0, c[0]);
            let (h1, l1) = mul_hi_lo(m1, c[2]);
            c = [
                _mm512_xor_si512(_mm512_xor_si512(h1, c[1]), _mm512_set1_epi32(k[0] as i32)),
                l1,
                _mm512_xor_si512(_mm512_xor_si512(h0, c[3]), _mm512_set1_epi32(k[1] as i32)),
                l0,
            ];
        }
        c
    }

    /// High and low 32-bit halves of m·x in every lane (m the same in every lane).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mul_hi_lo(m: __m512i, x: __m512i) -> (__m512i, __m512i) {
        let even = _mm512_mul_epu32(m, x);
        let odd = _mm512_mul_epu32(m, _mm512_srli_epi64::<32>(x));
        let lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64::<32>(odd));
        let hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64::<32>(even), odd);
        (hi, lo)
    }

    /// `out[4l + w] = table_normal(word w of block l)` for the sixteen blocks of `c`; whether any word
    /// takes the tail path.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) unsafe fn table_normals_16(table: &[[f64; 4]], c: &[__m512i; 4], out: &mut [f64]) -> bool {
        assert!(out.len() >= 64 && table.len() == CELLS);
        let base = table.as_ptr() as *const f64;
        let mut tail = _mm256_setzero_si256();
        for half in 0..2 {
            let words = if half == 0 {
                [_mm512_castsi512_si256(c[0]), _mm512_castsi512_si256(c[1]), _mm512_castsi512_si256(c[2]), _mm512_castsi512_si256(c[3])]
            } else {
                [_mm512_extracti64x4_epi64::<1>(c[0]), _mm512_extracti64x4_epi64::<1>(c[1]), _mm512_extracti64x4_epi64::<1>(c[2]), _mm512_extracti64x4_epi64::<1>(c[3])]
            };
            // SAFETY: `base` is the table of CELLS cubics.
            let n = unsafe { [table_8(base, words[0], &mut tail), table_8(base, words[1], &mut tail), table_8(base, words[2], &mut tail), table_8(base, words[3], &mut tail)] };
            // n[w] lane l is draw 4l + w: transpose to draw order
            let t0 = _mm512_unpacklo_pd(n[0], n[1]);
            let t1 = _mm512_unpackhi_pd(n[0], n[1]);
            let t2 = _mm512_unpacklo_pd(n[2], n[3]);
            let t3 = _mm512_unpackhi_pd(n[2], n[3]);
            let u0 = _mm512_shuffle_f64x2::<0x44>(t0, t2);
            let u1 = _mm512_shuffle_f64x2::<0x44>(t1, t3);
            let u2 = _mm512_shuffle_f64x2::<0xEE>(t0, t2);
            let u3 = _mm512_shuffle_f64x2::<0xEE>(t1, t3);
            let rows = [
                _mm512_shuffle_f64x2::<0x88>(u0, u1),
                _mm512_shuffle_f64x2::<0xDD>(u0, u1),
                _mm512_shuffle_f64x2::<0x88>(u2, u3),
                _mm512_shuffle_f64x2::<0xDD>(u2, u3),
            ];
            for (j, r) in rows.into_iter().enumerate() {
                // SAFETY: out holds 64 doubles.
                unsafe { _mm512_storeu_pd(out.as_mut_ptr().add(32 * half + 8 * j), r) };
            }
        }
        _mm256_movemask_epi8(tail) != 0
    }

    /// [`super::table_normal`] of eight words; ORs a mask of the tail words into `tail`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn table_8(base: *const f64, words: __m256i, tail: &mut __m256i) -> __m512d {
        let tail_bits = _mm256_set1_epi32(TAIL_BITS as i32);
        let b = _mm256_and_si256(words, _mm256_set1_epi32(0x7fff_ffff));
        *tail = _mm256_or_si256(*tail, _mm256_cmpgt_epi32(tail_bits, b));
        let v = _mm512_add_pd(
            _mm512_mul_pd(_mm512_cvtepi32_pd(_mm256_max_epi32(b, tail_bits)), _mm512_set1_pd(1.0 / 4_294_967_296.0)),
            _mm512_set1_pd(1.0 / 8_589_934_592.0),
        );
        let bits = _mm512_castpd_si512(v);
        let cell = _mm512_sub_epi64(_mm512_srli_epi64::<{ 52 - CELL_BITS }>(bits), _mm512_set1_epi64((LOW_EXPONENT << CELL_BITS) as i64));
        // the eight cells' cubics (v ∈ [2⁻¹³, ½) puts every cell below CELLS): one 32-byte load each,
        // transposed into coefficient vectors (cheaper than four gathers)
        let mut at = [0u64; 8];
        // SAFETY (block): `at` holds 8 u64; each load reads the 4 doubles of a cell < CELLS of `base`.
        let (r0, r1, r2, r3, r4, r5, r6, r7) = unsafe {
            _mm512_storeu_si512(at.as_mut_ptr() as *mut _, cell);
            let r = |i: usize| _mm256_loadu_pd(base.add(4 * at[i] as usize));
            (r(0), r(1), r(2), r(3), r(4), r(5), r(6), r(7))
        };
        // halves (cell 0 | cell 2), (1 | 3), (4 | 6), (5 | 7): the unpacks pair 0,1 / 2,3 / 4,5 / 6,7
        let a0 = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(r0), r2);
        let a1 = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(r1), r3);
        let a2 = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(r4), r6);
        let a3 = _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(r5), r7);
        let t0 = _mm512_unpacklo_pd(a0, a1);
        let t1 = _mm512_unpackhi_pd(a0, a1);
        let t2 = _mm512_unpacklo_pd(a2, a3);
        let t3 = _mm512_unpackhi_pd(a2, a3);
        let c0 = _mm512_shuffle_f64x2::<0x88>(t0, t2);
        let c1 = _mm512_shuffle_f64x2::<0x88>(t1, t3);
        let c2 = _mm512_shuffle_f64x2::<0xDD>(t0, t2);
        let c3 = _mm512_shuffle_f64x2::<0xDD>(t1, t3);
        let frac = _mm512_and_si512(_mm512_slli_epi64::<CELL_BITS>(bits), _mm512_set1_epi64(0x000f_ffff_ffff_ffff));
        let t = _mm512_sub_pd(_mm512_castsi512_pd(_mm512_or_si512(frac, _mm512_set1_epi64(0x3ff0_0000_0000_0000))), _mm512_set1_pd(1.0));
        let q = _mm512_add_pd(c0, _mm512_mul_pd(t, _mm512_add_pd(c1, _mm512_mul_pd(t, _mm512_add_pd(c2, _mm512_mul_pd(t, c3))))));
        let sign = _mm512_slli_epi64::<63>(_mm512_cvtepu32_epi64(_mm256_srli_epi32::<31>(words)));
        _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(q), sign))
    }
}

#[inline(always)]
fn fill_lanes(rng: &Philox, stream: u64, first: u64, out: &mut [f64]) {
    const L: usize = 4;
    let table = table();
    // up to the next block boundary one at a time
    let lead = (((4 - first % 4) % 4) as usize).min(out.len());
    let (head, rest) = out.split_at_mut(lead);
    for (k, o) in head.iter_mut().enumerate() {
        *o = normal(rng, stream, first + k as u64);
    }
    let mut block = (first + lead as u64) / 4;
    let mut chunks = rest.chunks_exact_mut(4 * L);
    for chunk in &mut chunks {
        let c = rng.block_lanes::<L>(stream, block);
        let mut tail = false;
        for l in 0..L {
            for w in 0..4 {
                chunk[4 * l + w] = table_normal(table, c[w][l]);
                tail |= is_tail(c[w][l]);
            }
        }
        if tail {
            for l in 0..L {
                for w in 0..4 {
                    if is_tail(c[w][l]) {
                        chunk[4 * l + w] = tail_normal(rng, stream, block + l as u64, w, c[w][l]);
                    }
                }
            }
        }
        block += L as u64;
    }
    for (k, o) in chunks.into_remainder().iter_mut().enumerate() {
        *o = normal(rng, stream, 4 * block + k as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::{ContinuousCDF, Normal};

    #[test]
    fn ppnd16_matches_statrs() {
        let n = Normal::standard();
        let mut worst = 0.0f64;
        for k in 1..=100_000u64 {
            let p = 0.5 * (k as f64 / 100_000.0).powi(12);
            let (a, b) = (ppnd16(p), n.inverse_cdf(p));
            worst = worst.max((a - b).abs() / b.abs().max(1e-3));
        }
        assert!(worst < 1e-14, "worst relative error {worst}");
        assert_eq!(ppnd16(0.5), 0.0);
    }

    /// TV(law of a draw, N(0, 1)) = ∫₀^½ |1 − φ(T(v))·T′(v)| dv over the table's range [2⁻¹³, ½) (the
    /// tail path is AS 241 itself), by Gauss–Legendre on each quarter cell, plus the mass N(0, 1) puts
    /// where the cubics' range and Φ⁻¹'s differ at cell ends (SMOOTH-8). Also: every cubic increasing.
    #[test]
    fn tv_distance_is_within_the_stated_bound() {
        let gl = [
            (0.183_434_642_495_649_8, 0.362_683_783_378_362),
            (0.525_532_409_916_329, 0.313_706_645_877_887_3),
            (0.796_666_477_413_626_7, 0.222_381_034_453_374_5),
            (0.960_289_856_497_536_3, 0.101_228_536_290_376_3),
        ];
        let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let mut tv = 0.0;
        let mut gap = 0.0;
        let t = table();
        for (i, c) in t.iter().enumerate() {
            let exponent = LOW_EXPONENT + (i >> CELL_BITS) as u64;
            let h = f64::from_bits((exponent - CELL_BITS as u64) << 52);
            let eval = |t: f64| c[0] + t * (c[1] + t * (c[2] + t * c[3]));
            let slope = |t: f64| c[1] + t * (2.0 * c[2] + t * 3.0 * c[3]);
            for k in 0..=64 {
                assert!(slope(k as f64 / 64.0) > 0.0, "cell {i} not increasing");
            }
            let mut cell = 0.0;
            // 8-point Gauss–Legendre on each quarter of the cell
            for quarter in 0..4 {
                let lo = quarter as f64 / 4.0;
                for &(x, w) in &gl {
                    for s in [lo + 0.125 * (1.0 - x), lo + 0.125 * (1.0 + x)] {
                        cell += 0.125 * w * (1.0 - phi(eval(s)) * slope(s) / h).abs();
                    }
                }
            }
            tv += cell * h;
            if i + 1 < t.len() {
                gap += (eval(1.0) - t[i + 1][0]).abs() * phi(c[0]);
            }
        }
        gap += (t[0][0] - ppnd16(1.0 / 8192.0)).abs() * phi(t[0][0]);
        let last = t[CELLS - 1];
        gap += (last[0] + last[1] + last[2] + last[3]).abs() * phi(0.0);
        eprintln!("TV per normal: {tv:e} (+ end gaps {gap:e})");
        assert!(10.0 * (tv + gap) < TV_PER_NORMAL, "tv {tv:e} + {gap:e}");
    }

    /// The table path is Φ⁻¹ of the word's own v = (2b + 1)·2⁻³³ to within the interpolation error, at
    /// every octave and cell edge (a wrong bit in the word → (cell, t) map would show here first).
    #[test]
    fn table_path_is_the_quantile_of_the_words_own_v() {
        let t = table();
        let mut worst = 0.0f64;
        let words = (0..2_000_000u32).map(|k| k.wrapping_mul(2_654_435_761)).chain((0..31).flat_map(|e| [1u32 << e, (1u32 << e) - 1, (1u32 << e) + 1]));
        for w in words.chain([0x7fff_ffff, 0xffff_ffff, TAIL_BITS, TAIL_BITS | 1 << 31]) {
            if is_tail(w) {
                continue;
            }
            let v = ((w & 0x7fff_ffff) as f64 * 2.0 + 1.0) / 8_589_934_592.0;
            let want = with_sign(ppnd16(v), w);
            worst = worst.max((table_normal(t, w) - want).abs());
        }
        assert!(worst < 1e-9, "worst |table − Φ⁻¹(v)| = {worst:e}");
    }

    #[test]
    fn fill_is_bit_identical_to_normal_for_any_offset_and_length() {
        let g = Philox::new(0xC0FFEE);
        for first in [0u64, 1, 3, 4, 5, (1 << 32) - 13, 1 << 33] {
            for len in [0usize, 1, 3, 16, 17, 100, 1001] {
                let mut v = vec![0.0; len];
                fill(&g, 9, first, &mut v);
                for (k, x) in v.iter().enumerate() {
                    assert_eq!(x.to_bits(), normal(&g, 9, first + k as u64).to_bits(), "first {first} len {len} entry {k}");
                }
            }
        }
    }

    /// Chunking cannot change a draw: the same normals filled in one piece and in uneven pieces.
    #[test]
    fn draws_do_not_depend_on_chunking() {
        let g = Philox::new(3);
        let mut whole = vec![0.0; 5000];
        fill(&g, 2, 77, &mut whole);
        let mut pieces = vec![0.0; 5000];
        let mut at = 0;
        for len in [1usize, 7, 16, 33, 999, 3944] {
            fill(&g, 2, 77 + at as u64, &mut pieces[at..at + len]);
            at += len;
        }
        assert_eq!(whole.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), pieces.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }

    /// Moments and a Kolmogorov–Smirnov test on 2²⁰ draws, and the tail path's share (SMOOTH-8).
    #[test]
    fn draws_pass_moments_and_ks() {
        let g = Philox::new(11);
        let n = 1 << 20;
        let mut v = vec![0.0; n];
        fill(&g, 5, 0, &mut v);
        let mean = v.iter().sum::<f64>() / n as f64;
        let m2 = v.iter().map(|x| x * x).sum::<f64>() / n as f64;
        let m4 = v.iter().map(|x| x.powi(4)).sum::<f64>() / n as f64;
        // standard errors: 1/√n ≈ 0.001, √(2/n) ≈ 0.0014, √(96/n) ≈ 0.0096; 5 of them
        assert!(mean.abs() < 0.005, "mean {mean}");
        assert!((m2 - 1.0).abs() < 0.007, "E z² {m2}");
        // and the second moment of the body alone, whose deficit a skewed (cell, t) map would show
        let a = -ppnd16(1.0 / 8192.0);
        let body = v.iter().filter(|x| x.abs() < a).map(|x| x * x).sum::<f64>() / n as f64;
        let nd0 = Normal::standard();
        let pt = 2.0 * nd0.cdf(-a);
        let want = 1.0 - pt - 2.0 * a * (-a * a / 2.0f64).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((body - want).abs() < 0.004, "E z²·1{{|z| < a}} {body} vs {want}");
        assert!((m4 - 3.0).abs() < 0.05, "E z⁴ {m4}");
        v.sort_by(f64::total_cmp);
        let nd = Normal::standard();
        let d = v.iter().enumerate().map(|(i, &x)| {
            let f = nd.cdf(x);
            (f - i as f64 / n as f64).abs().max(((i + 1) as f64 / n as f64 - f).abs())
        }).fold(0.0, f64::max);
        // KS critical value at level 10⁻⁴: √(ln(2·10⁴)/2)/√n ≈ 2.23/√n
        assert!(d * (n as f64).sqrt() < 2.23, "KS statistic {}", d * (n as f64).sqrt());
        // tail draws beyond Φ⁻¹(2⁻¹³) ≈ 3.66 happen at rate 2⁻¹²
        let beyond = v.iter().filter(|x| x.abs() > -ppnd16(1.0 / 8192.0)).count() as f64 / n as f64;
        assert!((beyond - 1.0 / 4096.0).abs() < 5.0 * (1.0f64 / 4096.0 / n as f64).sqrt(), "tail share {beyond}");
    }
}
