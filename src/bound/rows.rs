//! The CPU backend's per-row arithmetic of the backward steps (CROWN-1) over flat row-major slices,
//! compiled twice: for the baseline CPU and for AVX2, picked at run time. Both copies do the same IEEE
//! operations in the same order (Rust never contracts a·b + c into an FMA), so they give the same bits;
//! AVX2 only makes the vectorized loops wider. The kernels in `kernels/rp_bound.cuh` mirror these
//! rows (tested by `tests/kernels.rs`).
use super::linear::UpperLine;
use crate::rigor::{add_error, dot_error, down, gamma, nonneg_dot_upper, up, UNIT_ROUNDOFF};

/// The per-batch-row data of an affine layer's backward step (see `AffineMags`), flat.
pub(crate) struct AffineRowData<'a> {
    /// |W|·M per batch row (batch rows × n_out).
    pub weight_mag: &'a [f64],
    /// n_out·η·ΣM per batch row.
    pub tail: &'a [f64],
    pub bias: &'a [f64],
    pub abs_bias: &'a [f64],
}

/// CROWN-1's affine step on each row's constant and slack (the coefficients' product is the caller's):
/// the constant gains coef·b; the slack FP-2 on coef·W weighted by |h_in| (with the tail), FP-2 on
/// coef·b and FP-3 on the constant's addition. `coef` holds rows of length n = `bias.len()`. With AVX2
/// the two sums per row run on 4-lane registers, lane k holding accumulator k: the same operations in
/// the same order as [`eightfold_dot`] and [`abs_weighted_sums`], so the same bits.
pub(crate) fn affine_scalars(coef: &[f64], owner: &[usize], d: &AffineRowData<'_>, constant: &mut [f64], slack: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { lanes::affine_scalars(coef, owner, d, constant, slack) };
    }
    affine_scalars_with(coef, owner, d, constant, slack, eightfold_dot, abs_weighted_sums)
}

#[inline(always)]
fn affine_scalars_with(
    coef: &[f64],
    owner: &[usize],
    d: &AffineRowData<'_>,
    constant: &mut [f64],
    slack: &mut [f64],
    dot: impl Fn(&[f64], &[f64]) -> f64,
    sums: impl Fn(&[f64], &[f64], &[f64]) -> (f64, f64),
) {
    let n = d.bias.len();
    let g = gamma(n);
    for (r, &o) in owner.iter().enumerate() {
        let row = &coef[r * n..(r + 1) * n];
        let bias_term = dot(row, d.bias);
        let (s_w, s_b) = sums(row, &d.weight_mag[o * n..(o + 1) * n], d.abs_bias);
        let w_err = up(up(g * nonneg_dot_upper(s_w, n)) + d.tail[o]);
        let b_err = dot_error(n, nonneg_dot_upper(s_b, n));
        let c = constant[r] + bias_term;
        constant[r] = c;
        slack[r] = up(up(up(slack[r] + w_err) + b_err) + add_error(c));
    }
}

#[cfg(target_arch = "x86_64")]
mod lanes {
    use super::{affine_scalars_with, AffineRowData};
    use std::arch::x86_64::{__m256d, _mm256_add_pd, _mm256_and_pd, _mm256_castsi256_pd, _mm256_loadu_pd, _mm256_mul_pd, _mm256_set1_epi64x, _mm256_setzero_pd, _mm256_storeu_pd};

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn affine_scalars(coef: &[f64], owner: &[usize], d: &AffineRowData<'_>, constant: &mut [f64], slack: &mut [f64]) {
        affine_scalars_with(coef, owner, d, constant, slack, |a, b| eightfold_dot(a, b), |a, w, v| abs_weighted_sums(a, w, v))
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn lanes(v: __m256d) -> [f64; 4] {
        let mut out = [0.0f64; 4];
        // SAFETY: out holds 4 values.
        unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) };
        out
    }

    /// [`super::eightfold_dot`]: accumulators 0–3 and 4–7 in two registers, multiply then add (no FMA).
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn eightfold_dot(a: &[f64], b: &[f64]) -> f64 {
        let n = a.len();
        let b = &b[..n];
        let whole = n / 8 * 8;
        let (mut lo, mut hi) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for c in (0..whole).step_by(8) {
            // SAFETY: c + 7 < whole ≤ n, inside both slices.
            unsafe {
                lo = _mm256_add_pd(lo, _mm256_mul_pd(_mm256_loadu_pd(a.as_ptr().add(c)), _mm256_loadu_pd(b.as_ptr().add(c))));
                hi = _mm256_add_pd(hi, _mm256_mul_pd(_mm256_loadu_pd(a.as_ptr().add(c + 4)), _mm256_loadu_pd(b.as_ptr().add(c + 4))));
            }
        }
        let (p, q) = (lanes(lo), lanes(hi));
        let mut sum = 0.0;
        sum += p[0] + q[0];
        sum += p[1] + q[1];
        sum += p[2] + q[2];
        sum += p[3] + q[3];
        for (x, y) in a[whole..].iter().zip(&b[whole..]) {
            sum += x * y;
        }
        sum
    }

    /// [`super::abs_weighted_sums`]: its four accumulators per sum in one register each.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn abs_weighted_sums(a: &[f64], w: &[f64], v: &[f64]) -> (f64, f64) {
        let n = a.len();
        let (w, v) = (&w[..n], &v[..n]);
        let whole = n / 4 * 4;
        let abs_mask = _mm256_castsi256_pd(_mm256_set1_epi64x(i64::MAX));
        let (mut acc, mut bcc) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        for c in (0..whole).step_by(4) {
            // SAFETY: c + 3 < whole ≤ n, inside all three slices.
            unsafe {
                let x = _mm256_and_pd(_mm256_loadu_pd(a.as_ptr().add(c)), abs_mask);
                acc = _mm256_add_pd(acc, _mm256_mul_pd(x, _mm256_loadu_pd(w.as_ptr().add(c))));
                bcc = _mm256_add_pd(bcc, _mm256_mul_pd(x, _mm256_loadu_pd(v.as_ptr().add(c))));
            }
        }
        let (mut ta, mut tb) = (0.0, 0.0);
        for ((x, y), z) in a[whole..].iter().zip(&w[whole..]).zip(&v[whole..]) {
            let x = x.abs();
            ta += x * y;
            tb += x * z;
        }
        let (p, q) = (lanes(acc), lanes(bcc));
        ((p[0] + p[1]) + (p[2] + p[3]) + ta, (q[0] + q[1]) + (q[2] + q[3]) + tb)
    }
}

/// One ReLU layer's relaxation for the ReLU step, flat (batch rows × neurons; see `ReluRelax`).
pub(crate) struct ReluRowData<'a> {
    pub n: usize,
    pub pos_mult: &'a [f64],
    pub neg_mult: &'a [f64],
    pub neg_intercept: &'a [f64],
    pub keep: &'a [f64],
    pub mag: &'a [f64],
    /// The unstable neurons of each batch row.
    pub unstable: &'a [Vec<usize>],
    /// η·Σmag per batch row, rounded up.
    pub eta_mag: &'a [f64],
    /// Lower slopes per linear-bound row (rows × neurons) replacing `pos_mult`, when given.
    pub alpha: Option<&'a [f64]>,
}

with_avx2! {
    /// CROWN-1's ReLU step on rows of `coef` (length `d.n`) in place, with their constants and slacks: a
    /// coefficient λ ≥ 0 on an unstable neuron becomes λ·pos_mult (or λ·α), λ < 0 becomes λ·neg_mult
    /// and adds λ·neg_intercept; stable neurons are multiplied by keep (exact); the products' and the
    /// intercepts' rounding goes to the slack (FP-1, FP-2, FP-3).
    pub(crate) fn relu_rows(coef: &mut [f64], owner: &[usize], d: &ReluRowData<'_>, constant: &mut [f64], slack: &mut [f64]) => relu_rows_any
}

#[inline(always)]
fn relu_rows_any(coef: &mut [f64], owner: &[usize], d: &ReluRowData<'_>, constant: &mut [f64], slack: &mut [f64]) {
    let n = d.n;
    for (r, &o) in owner.iter().enumerate() {
        let row = &mut coef[r * n..(r + 1) * n];
        let span = o * n..(o + 1) * n;
        let (neg_mult, neg_intercept, mag) = (&d.neg_mult[span.clone()], &d.neg_intercept[span.clone()], &d.mag[span.clone()]);
        let pos_mult = match d.alpha {
            Some(a) => &a[r * n..(r + 1) * n],
            None => &d.pos_mult[span.clone()],
        };
        let unstable = &d.unstable[o];
        // Unstable neurons: relaxed products, accumulated error terms (FP-1, FP-2); the line is
        // picked by the coefficient's sign without a branch (the sign is unpredictable)
        let (mut abs_mul_mag, mut intercepts, mut abs_intercepts) = (0.0, 0.0, 0.0);
        for &j in unstable {
            let lam = row[j];
            let (nm, pm, ni) = (neg_mult[j], pos_mult[j], neg_intercept[j]);
            // select by bit masks: a compiled branch here mispredicts about half the time
            // (black_box keeps the optimizer from turning the masks back into a branch)
            let mask = std::hint::black_box((lam < 0.0) as u64).wrapping_neg();
            let mult = f64::from_bits((nm.to_bits() & mask) | (pm.to_bits() & !mask));
            let t = f64::from_bits(ni.to_bits() & mask);
            let prod = lam * mult;
            abs_mul_mag += (prod * mag[j]).abs();
            let lt = lam * t;
            intercepts += lt;
            abs_intercepts += lt.abs();
            row[j] = prod;
        }
        // Stable neurons: ×1 (active) or ×0 (inactive), exact; unstable ones keep their new value.
        for (v, &k) in row.iter_mut().zip(&d.keep[span]) {
            *v *= k;
        }
        if unstable.is_empty() {
            continue;
        }
        let count = unstable.len();
        // rounding of λ·mult (u|λ'| + η per neuron, times |z| ≤ mag), of Σλt, and of the constant
        let mul_err = up(up(UNIT_ROUNDOFF * nonneg_dot_upper(abs_mul_mag, count)) + d.eta_mag[o]);
        let c = constant[r] + intercepts;
        constant[r] = c;
        let t_err = dot_error(count, nonneg_dot_upper(abs_intercepts, count));
        slack[r] = up(up(up(slack[r] + mul_err) + t_err) + add_error(c));
    }
}

/// Σ aᵢbᵢ in ndarray's order for a contiguous dot product (eight accumulators, then the tail), so
/// that a fused pass keeps the bits of `ArrayView1::dot`.
#[inline(always)]
pub(crate) fn eightfold_dot(a: &[f64], b: &[f64]) -> f64 {
    let b = &b[..a.len()];
    let mut p = [0.0f64; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for k in 0..8 {
            p[k] += x[k] * y[k];
        }
    }
    let mut sum = 0.0;
    sum += p[0] + p[4];
    sum += p[1] + p[5];
    sum += p[2] + p[6];
    sum += p[3] + p[7];
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}

/// Σ aᵢ in ndarray's order for a contiguous sum (`ArrayBase::sum`: eight accumulators, then the tail).
#[inline(always)]
pub(crate) fn eightfold_sum(a: &[f64]) -> f64 {
    let mut p = [0.0f64; 8];
    let chunks = a.chunks_exact(8);
    let rest = chunks.remainder();
    for x in chunks {
        for k in 0..8 {
            p[k] += x[k];
        }
    }
    let mut sum = 0.0;
    sum += p[0] + p[4];
    sum += p[1] + p[5];
    sum += p[2] + p[6];
    sum += p[3] + p[7];
    for x in rest {
        sum += x;
    }
    sum
}

/// (Σ |aᵢ|·wᵢ, Σ |aᵢ|·vᵢ) in plain floating point, in one pass with four independent accumulators
/// each (so it vectorizes; kernels' `rp_abs_weighted_sum` sums each the same way); callers bound the
/// rounding with FP-2, which holds for any summation order.
#[inline(always)]
pub(crate) fn abs_weighted_sums(a: &[f64], w: &[f64], v: &[f64]) -> (f64, f64) {
    let n = a.len();
    let (w, v) = (&w[..n], &v[..n]);
    let (mut acc, mut bcc) = ([0.0f64; 4], [0.0f64; 4]);
    let (ac, wc, vc) = (a.chunks_exact(4), w.chunks_exact(4), v.chunks_exact(4));
    let (ar, wr, vr) = (ac.remainder(), wc.remainder(), vc.remainder());
    for ((x, y), z) in ac.zip(wc).zip(vc) {
        let x = [x[0].abs(), x[1].abs(), x[2].abs(), x[3].abs()];
        acc = [acc[0] + x[0] * y[0], acc[1] + x[1] * y[1], acc[2] + x[2] * y[2], acc[3] + x[3] * y[3]];
        bcc = [bcc[0] + x[0] * z[0], bcc[1] + x[1] * z[1], bcc[2] + x[2] * z[2], bcc[3] + x[3] * z[3]];
    }
    let (mut ta, mut tb) = (0.0, 0.0);
    for ((x, y), z) in ar.iter().zip(wr).zip(vr) {
        let x = x.abs();
        ta += x * y;
        tb += x * z;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3]) + ta, (bcc[0] + bcc[1]) + (bcc[2] + bcc[3]) + tb)
}

/// (Σ aᵢxᵢ, Σ |aᵢxᵢ|) in plain floating point with four accumulators each (see `abs_weighted_sums`).
#[inline(always)]
pub(crate) fn dot_and_abs(a: &[f64], x: &[f64]) -> (f64, f64) {
    let (mut d, mut s) = ([0.0f64; 4], [0.0f64; 4]);
    let (ac, xc) = (a.chunks_exact(4), x.chunks_exact(4));
    let (ar, xr) = (ac.remainder(), xc.remainder());
    for (p, q) in ac.zip(xc) {
        for k in 0..4 {
            let v = p[k] * q[k];
            d[k] += v;
            s[k] += v.abs();
        }
    }
    let (mut dt, mut st) = (0.0, 0.0);
    for (p, q) in ar.iter().zip(xr) {
        dt += p * q;
        st += (p * q).abs();
    }
    ((d[0] + d[1]) + (d[2] + d[3]) + dt, (s[0] + s[1]) + (s[2] + s[3]) + st)
}

/// A rounded-down value of dot + c − penalty, where `penalty` ≥ 0 collects every error term. A NaN
/// (from ∞ − ∞ in an overflowed bound) becomes −∞, the only sound reading.
#[inline(always)]
pub(crate) fn finish(dot: f64, c: f64, penalty: f64) -> f64 {
    let v = down(down(dot + c) - penalty);
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// The products of an affine layer over balls (IBP-1): per batch row and neuron, the center's image
/// W·x₀ (`center`), Σ|W||x₀| (`abs`); per row ε; per neuron an upper bound of ‖W_j‖_q and b_j.
pub(crate) struct BallParts<'a> {
    pub center: &'a [f64],
    pub abs: &'a [f64],
    pub eps: &'a [f64],
    pub norms: &'a [f64],
    pub bias: &'a [f64],
    /// The layer's input width (the products' length).
    pub d: usize,
}

with_avx2! {
    /// Each neuron's range W_j·x + b_j over the ball, rounded outward: W_j·x₀ + b_j ± (ε‖W_j‖_q + the
    /// dot product's rounding error), into `lower` and `upper` (batch rows × neurons).
    pub(crate) fn ball_finish(p: &BallParts<'_>, lower: &mut [f64], upper: &mut [f64]) => ball_finish_any
}

#[inline(always)]
fn ball_finish_any(p: &BallParts<'_>, lower: &mut [f64], upper: &mut [f64]) {
    let n = p.bias.len();
    for (b, &eps) in p.eps.iter().enumerate() {
        let span = b * n..(b + 1) * n;
        let (c_row, a_row) = (&p.center[span.clone()], &p.abs[span.clone()]);
        let (lo, hi) = (&mut lower[span.clone()], &mut upper[span]);
        for j in 0..n {
            let pen = up(up(eps * p.norms[j]) + dot_error(p.d, nonneg_dot_upper(a_row[j], p.d)));
            lo[j] = finish(c_row[j], p.bias[j], pen);
            hi[j] = -finish(-c_row[j], -p.bias[j], pen);
        }
    }
}

/// The products of an affine layer over boxes in midpoint–radius form (IBP-1): per batch row and
/// neuron W·mid (`center`), |W|·rad (`spread`) and |W|·|mid| (`abs_center`); b per neuron.
pub(crate) struct BoxParts<'a> {
    pub center: &'a [f64],
    pub spread: &'a [f64],
    pub abs_center: &'a [f64],
    pub bias: &'a [f64],
    /// The layer's input width (the products' length).
    pub n: usize,
}

with_avx2! {
    /// Each neuron's interval W_j·mid + b_j ± (|W_j|·rad + the rounding errors), rounded outward, into
    /// `lower` and `upper`; a NaN end makes the interval (−∞, ∞).
    pub(crate) fn box_finish(p: &BoxParts<'_>, lower: &mut [f64], upper: &mut [f64]) => box_finish_any
}

#[inline(always)]
fn box_finish_any(p: &BoxParts<'_>, lower: &mut [f64], upper: &mut [f64]) {
    let (m, n) = (p.bias.len(), p.n);
    for start in (0..lower.len()).step_by(m.max(1)) {
        let span = start..start + m;
        let (center, spread, abs_center) = (&p.center[span.clone()], &p.spread[span.clone()], &p.abs_center[span.clone()]);
        let (lo, hi) = (&mut lower[span.clone()], &mut upper[span]);
        for j in 0..m {
            let value = center[j] + p.bias[j];
            let pen = up(up(nonneg_dot_upper(spread[j], n) + dot_error(n, nonneg_dot_upper(abs_center[j], n))) + add_error(value));
            (lo[j], hi[j]) = (down(value - pen), up(value + pen));
            if lo[j].is_nan() || hi[j].is_nan() {
                (lo[j], hi[j]) = (f64::NEG_INFINITY, f64::INFINITY);
            }
        }
    }
}

/// One ReLU layer's relaxation, neuron by neuron (batch rows × neurons each; see `ReluRelax`).
pub(crate) struct RelaxColumns<'a> {
    pub pos_mult: &'a mut [f64],
    pub neg_mult: &'a mut [f64],
    pub neg_intercept: &'a mut [f64],
    pub keep: &'a mut [f64],
    pub mag: &'a mut [f64],
}

with_avx2! {
    /// Each neuron's relaxation from its bounds [l, u] (state, chord, adaptive lower slope) and its
    /// magnitude max(|l'|, |u'|) from the tight bounds [l', u'] of the same value. Every candidate is
    /// computed and the state's selected, without branches (the state is as unpredictable as the data),
    /// so the loop vectorizes.
    pub(crate) fn relax_neurons(lower: &[f64], upper: &[f64], t_lower: &[f64], t_upper: &[f64], out: RelaxColumns<'_>) => relax_neurons_any
}

#[inline(always)]
fn relax_neurons_any(lower: &[f64], upper: &[f64], t_lower: &[f64], t_upper: &[f64], out: RelaxColumns<'_>) {
    let n = lower.len();
    let (upper, t_lower, t_upper) = (&upper[..n], &t_lower[..n], &t_upper[..n]);
    let (pos_mult, neg_mult, neg_intercept, keep, mag) = (&mut out.pos_mult[..n], &mut out.neg_mult[..n], &mut out.neg_intercept[..n], &mut out.keep[..n], &mut out.mag[..n]);
    for j in 0..n {
        let (l, u) = (lower[j], upper[j]);
        // relu_state's tests, as flags
        let active = l >= 0.0;
        let inactive = !active & (u <= 0.0);
        let unstable = !active & !inactive;
        let chord = UpperLine::chord(l, u); // used only when unstable (l < 0 < u: no division by zero)
        let select = |c: bool, a: f64, b: f64| if c { a } else { b };
        let slope = select(unstable, chord.slope, select(active, 1.0, 0.0));
        neg_mult[j] = slope;
        neg_intercept[j] = select(unstable, chord.intercept, 0.0);
        pos_mult[j] = select(unstable, (chord.slope > 0.5) as u8 as f64, slope);
        keep[j] = (!inactive) as u8 as f64;
        mag[j] = t_lower[j].abs().max(t_upper[j].abs()); // as BoxBatch::magnitude
    }
}

/// Output columns per register tile of [`product_rows`] (eight AVX2 registers of accumulators); the
/// last tile of a row is 8, 16 or 24 wide.
const TILE: usize = 32;

/// Row stride of W as [`product_rows`] takes it: W's width rounded up to a multiple of 8 (zero-padded).
pub(crate) fn padded_width(n_in: usize) -> usize {
    n_in.div_ceil(8) * 8
}

/// `out` = `coef`·W for row-major `coef` (rows × n) and `out` (rows × n_in), with W (n × n_in) in `w`
/// at row stride [`padded_width`]`(n_in)` (zero-padded): each entry accumulated over k in order from +0
/// with fused multiply-adds — matrixmultiply's f64 kernel for one k-block — leaving out the columns
/// that are ±0 in every row of an owner's block (after a ReLU step: its inactive neurons). A term ±0·w
/// (w finite) changes no such accumulator (it is never −0), so the result is the full product's, bit
/// for bit; a NaN or infinite coefficient keeps its column. With AVX2 and FMA the tiles run on
/// registers of four lanes (the same fused operations lane by lane).
pub(crate) fn product_rows(coef: &[f64], owner: &[usize], w: &[f64], n_in: usize, out: &mut [f64]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { fma::product_rows(coef, owner, w, n_in, out) };
    }
    product_rows_with(coef, owner, w, n_in, out, |row, kept, w, stride, first, target| match target_tile(stride, first) {
        8 => tile::<8>(row, kept, w, stride, first, target),
        16 => tile::<16>(row, kept, w, stride, first, target),
        24 => tile::<24>(row, kept, w, stride, first, target),
        _ => tile::<TILE>(row, kept, w, stride, first, target),
    })
}

/// The width of the tile starting at column `first` (W's padded row stride `stride`).
#[inline(always)]
fn target_tile(stride: usize, first: usize) -> usize {
    stride.min(first + TILE) - first
}

/// The driver of [`product_rows`]: per owner block, the kept columns; per row and tile of columns,
/// `tile(row, kept, w, stride, first column, target)`.
#[inline(always)]
fn product_rows_with(coef: &[f64], owner: &[usize], w: &[f64], n_in: usize, out: &mut [f64], tile: impl Fn(&[f64], &[usize], &[f64], usize, usize, &mut [f64])) {
    let stride = padded_width(n_in);
    let n = w.len() / stride.max(1);
    let mut nonzero = vec![false; n];
    let mut kept = Vec::with_capacity(n);
    let mut start = 0;
    while start < owner.len() {
        let end = start + owner[start..].iter().take_while(|&&o| o == owner[start]).count();
        nonzero.iter_mut().for_each(|z| *z = false);
        for row in coef[start * n..end * n].chunks_exact(n.max(1)) {
            for (z, &v) in nonzero.iter_mut().zip(row) {
                *z |= v != 0.0; // NaN != 0 keeps its column
            }
        }
        kept.clear();
        kept.extend((0..n).filter(|&k| nonzero[k]));
        for q in start..end {
            let row = &coef[q * n..(q + 1) * n];
            let dst = &mut out[q * n_in..(q + 1) * n_in];
            for first in (0..n_in).step_by(TILE) {
                let width = (n_in - first).min(TILE);
                tile(row, &kept, w, stride, first, &mut dst[first..first + width]);
            }
        }
        start = end;
    }
}

/// Columns first … first + T − 1 of row·W over the kept k, into `target` (its first entries).
#[inline(always)]
fn tile<const T: usize>(row: &[f64], kept: &[usize], w: &[f64], stride: usize, first: usize, target: &mut [f64]) {
    let mut acc = [0.0f64; T];
    for &k in kept {
        let c = row[k];
        let wk = &w[k * stride + first..k * stride + first + T];
        for t in 0..T {
            acc[t] = c.mul_add(wk[t], acc[t]);
        }
    }
    let width = target.len();
    target.copy_from_slice(&acc[..width]);
}

#[cfg(target_arch = "x86_64")]
mod fma {
    use super::{product_rows_with, target_tile, TILE};
    use std::arch::x86_64::{__m256d, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_set1_pd, _mm256_setzero_pd, _mm256_storeu_pd};

    /// [`super::product_rows`] with tiles of V registers of four lanes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn product_rows(coef: &[f64], owner: &[usize], w: &[f64], n_in: usize, out: &mut [f64]) {
        product_rows_with(coef, owner, w, n_in, out, |row, kept, w, stride, first, target| match target_tile(stride, first) {
            8 => tile::<2>(row, kept, w, stride, first, target),
            16 => tile::<4>(row, kept, w, stride, first, target),
            24 => tile::<6>(row, kept, w, stride, first, target),
            _ => tile::<{ TILE / 4 }>(row, kept, w, stride, first, target),
        })
    }

    /// [`super::tile`] for T = 4·V columns: lane t of register i accumulates column 4i + t with the same
    /// fused multiply-adds in the same order.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn tile<const V: usize>(row: &[f64], kept: &[usize], w: &[f64], stride: usize, first: usize, target: &mut [f64]) {
        let mut acc: [__m256d; V] = [_mm256_setzero_pd(); V];
        for &k in kept {
            let c = _mm256_set1_pd(row[k]);
            let wk = &w[k * stride + first..k * stride + first + 4 * V];
            for (i, a) in acc.iter_mut().enumerate() {
                // SAFETY: wk holds 4·V values, so lanes 4i … 4i + 3 are in bounds.
                *a = _mm256_fmadd_pd(c, unsafe { _mm256_loadu_pd(wk.as_ptr().add(4 * i)) }, *a);
            }
        }
        // whole registers straight into the target, the last partial one lane by lane (no memmove call)
        let width = target.len();
        for (i, a) in acc.iter().enumerate() {
            if 4 * i + 4 <= width {
                // SAFETY: lanes 4i … 4i + 3 lie inside target.
                unsafe { _mm256_storeu_pd(target.as_mut_ptr().add(4 * i), *a) };
            } else if 4 * i < width {
                let mut lanes = [0.0f64; 4];
                // SAFETY: lanes holds 4 values.
                unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), *a) };
                for (t, v) in target[4 * i..].iter_mut().zip(lanes) {
                    *t = v;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// `product_rows` equals matrixmultiply's `dot` bit for bit (on CPUs with FMA, where matrixmultiply
    /// fuses too), with columns that are zero in a whole owner's block (skipped), ±0 entries, a NaN
    /// coefficient (kept) and every tile width.
    #[test]
    fn product_rows_is_matrixmultiplys_product() {
        let rng = crate::rng::Philox::new(16);
        for (case, &(n, n_in)) in [(50usize, 50usize), (7, 5), (64, 11), (33, 90), (3, 8), (20, 24)].iter().enumerate() {
            let owner: Vec<usize> = (0..12).map(|r| r / 4).collect();
            let mut z = vec![0.0; owner.len() * n + n * n_in];
            rng.fill_normal(case as u64, 0, &mut z);
            let mut coef = Array2::from_shape_vec((owner.len(), n), z[..owner.len() * n].to_vec()).unwrap();
            let w = Array2::from_shape_vec((n, n_in), z[owner.len() * n..].to_vec()).unwrap();
            for (r, &o) in owner.iter().enumerate() {
                for j in (o % 3..n).step_by(3) {
                    coef[[r, j]] = if r % 2 == 0 { 0.0 } else { -0.0 }; // zero columns of owner o
                }
            }
            coef[[5, 1.min(n - 1)]] = f64::NAN;
            let stride = padded_width(n_in);
            let mut padded = vec![0.0; n * stride];
            for (dst, src) in padded.chunks_exact_mut(stride).zip(w.rows()) {
                dst[..n_in].copy_from_slice(src.as_slice().unwrap());
            }
            let mut out = vec![0.0; owner.len() * n_in];
            product_rows(coef.as_slice().unwrap(), &owner, &padded, n_in, &mut out);
            let want = coef.dot(&w);
            #[cfg(target_arch = "x86_64")]
            let fused = std::arch::is_x86_feature_detected!("fma");
            #[cfg(not(target_arch = "x86_64"))]
            let fused = false;
            for (g, e) in out.iter().zip(want.iter()) {
                if fused {
                    assert!(g.to_bits() == e.to_bits() || (g.is_nan() && e.is_nan()), "case {case}: {g:e} vs {e:e}");
                } else {
                    assert!((g - e).abs() <= 1e-12 * e.abs().max(1.0) || (g.is_nan() && e.is_nan()), "case {case}: {g:e} vs {e:e}");
                }
            }
        }
    }
}
