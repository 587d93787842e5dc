//! The binary32 forward pass and decision for small dense ReLU networks (`--eval f32`), a tile of samples
//! at a time with the samples in SIMD lanes (32 with AVX-512: two registers per activation, [`OUTS`]
//! outputs × two registers giving eight independent sums that hide the FMA latency; else 8, one AVX2
//! register): every weight is used for a whole tile per load, and no GEMM packing is paid for layers a
//! few units wide (a 7→48→3 net is 480 multiply-adds per sample). [`Narrow::count_noisy`] also forms the
//! noisy inputs straight into the lanes (no separate pass over a block); with AVX-512 it decides and
//! counts with vector compares and popcounts.
//!
//! Arithmetic (part of SMOOTH-9's definition of the f32 classifier for such nets): each output unit is
//! b_o + Σ_i w_oi·a_i accumulated in input order i = 0, 1, … by binary32 fused multiply-adds
//! (acc ← fma(w_oi, a_i, acc), one rounding each: `f32::mul_add`, the same bits with or without FMA
//! hardware), then ReLU where the network has one; the answer is the first index of the
//! largest (argmax) or smallest (argmin) output, or "non-finite" when some output is not finite.
use crate::spec::Decision;
use ndarray::ArrayView2;

/// Largest total weight count evaluated here (the weights stay in L1/L2); wider nets use sgemm.
pub const MAX_WEIGHTS: usize = 1 << 14;

/// Outputs computed together: independent sums that hide the adder's latency.
const OUTS: usize = 4;

/// One affine layer, its weights in blocks of [`OUTS`] outputs (padded with zero rows), input-major
/// inside a block, and whether a ReLU follows it.
struct Dense {
    n_in: usize,
    n_out: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
}

/// A chain of affine layers with optional ReLUs between them, in binary32.
pub struct Narrow {
    layers: Vec<Dense>,
    width: usize,
}

/// The layer kinds [`Narrow::new`] accepts.
pub enum Step<'a> {
    /// Weight (out × in, row-major) and bias.
    Affine { weight: &'a [f32], n_in: usize, bias: &'a [f32] },
    Relu,
    /// A layer that only reshapes.
    Copy,
}

impl Narrow {
    /// The chain of `steps`, or None unless it is affine layers with at most one ReLU after each but the
    /// last, of at most [`MAX_WEIGHTS`] weights in all.
    pub fn new<'a>(steps: impl IntoIterator<Item = Step<'a>>) -> Option<Self> {
        let mut layers: Vec<Dense> = Vec::new();
        for step in steps {
            match step {
                Step::Affine { weight, n_in, bias } => {
                    if layers.last().is_some_and(|l| l.n_out != n_in) || weight.len() != n_in * bias.len() {
                        return None;
                    }
                    let padded = bias.len().div_ceil(OUTS) * OUTS;
                    // blocks of OUTS outputs, input-major inside a block: w[(o/OUTS)·n_in·OUTS + i·OUTS + o%OUTS]
                    let mut w = vec![0.0f32; padded * n_in];
                    for (o, row) in weight.chunks_exact(n_in).enumerate() {
                        for (i, &v) in row.iter().enumerate() {
                            w[(o / OUTS) * n_in * OUTS + i * OUTS + o % OUTS] = v;
                        }
                    }
                    let mut b = bias.to_vec();
                    b.resize(padded, 0.0);
                    layers.push(Dense { n_in, n_out: bias.len(), weight: w, bias: b, relu: false });
                }
                Step::Relu => match layers.last_mut() {
                    Some(l) if !l.relu => l.relu = true,
                    _ => return None,
                },
                Step::Copy => {}
            }
        }
        let weights: usize = layers.iter().map(|l| l.weight.len()).sum();
        if layers.is_empty() || layers.last().is_some_and(|l| l.relu) || weights > MAX_WEIGHTS {
            return None;
        }
        let width = layers.iter().map(|l| l.n_in.max(l.bias.len())).max().unwrap_or(0);
        Some(Narrow { layers, width })
    }

    /// Inputs per sample.
    pub fn n_in(&self) -> usize {
        self.layers[0].n_in
    }

    /// Adds each row's answer of `inputs` (len × n_in) to `counts` (K classes + the non-finite slot).
    pub fn count(&self, inputs: ArrayView2<f32>, decision: Decision, counts: &mut [u64]) {
        let load = |start: usize, take: usize, a: &mut [[f32; 16]]| {
            for (i, slot) in a[..inputs.ncols()].iter_mut().enumerate() {
                for l in 0..take {
                    slot[l] = inputs[[start + l, i]];
                }
            }
        };
        self.count_with(inputs.nrows(), load, decision, counts)
    }

    /// Adds the answers on the noisy inputs x₀ + σ·z_s to `counts`, for the rows z_s of `z` (len × n_in,
    /// row-major): each input formed in binary64 and rounded to binary32, exactly as
    /// `(x0[i] + sigma * z[s][i]) as f32`. The same counts as [`Narrow::count`] on those inputs.
    pub fn count_noisy(&self, x0: &[f64], sigma: f64, z: &[f64], decision: Decision, counts: &mut [u64]) {
        let m = self.n_in();
        assert!(x0.len() == m && z.len() % m == 0, "x0 and z must have n_in columns");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return unsafe { avx512::count_noisy(self, x0, sigma, z, decision, counts) };
        }
        self.count_noisy_lanes(x0, sigma, z, decision, counts)
    }

    /// [`Narrow::count_noisy`] by the AVX2 or portable kernel.
    fn count_noisy_lanes(&self, x0: &[f64], sigma: f64, z: &[f64], decision: Decision, counts: &mut [u64]) {
        let m = self.n_in();
        let load = |start: usize, take: usize, a: &mut [[f32; 16]]| {
            for (i, slot) in a[..m].iter_mut().enumerate() {
                for l in 0..take {
                    slot[l] = (x0[i] + sigma * z[(start + l) * m + i]) as f32;
                }
            }
        };
        self.count_with(z.len() / m, load, decision, counts)
    }

    /// The lane kernel on `rows` samples, `load(start, take, a)` writing inputs start..start + take into
    /// lanes 0..take of `a[..n_in]`.
    #[inline(always)]
    fn count_with(&self, rows: usize, load: impl Fn(usize, usize, &mut [[f32; 16]]), decision: Decision, counts: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { self.count_avx2(rows, &load, decision, counts) };
        }
        self.count_lanes::<8>(rows, &load, decision, counts)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn count_avx2(&self, rows: usize, load: &impl Fn(usize, usize, &mut [[f32; 16]]), decision: Decision, counts: &mut [u64]) {
        // one register per activation (LLVM leaves 16-wide tiles of this generic code scalar)
        self.count_lanes::<8>(rows, load, decision, counts)
    }

    /// Tiles of `T` ≤ 16 samples (`load` fills lanes of 16-wide rows; lanes T.. are unused). A generic
    /// 16-wide tile is left scalar by LLVM (3.5× slower than 8 with AVX2): keep T = 8 here.
    #[inline(always)]
    fn count_lanes<const T: usize>(&self, rows: usize, load: &impl Fn(usize, usize, &mut [[f32; 16]]), decision: Decision, counts: &mut [u64]) {
        let mut staged = vec![[0.0f32; 16]; self.width];
        let mut a = vec![[0.0f32; T]; self.width];
        let mut b = vec![[0.0f32; T]; self.width];
        let mut start = 0;
        while start < rows {
            let take = T.min(rows - start);
            for s in &mut staged[..self.layers[0].n_in] {
                *s = [0.0; 16];
            }
            load(start, take, &mut staged);
            for (d, s) in a.iter_mut().zip(&staged[..self.layers[0].n_in]) {
                d.copy_from_slice(&s[..T]);
            }
            for layer in &self.layers {
                layer.apply(&a, &mut b);
                std::mem::swap(&mut a, &mut b);
            }
            let k = self.layers.last().expect("at least one layer").n_out;
            for l in 0..take {
                counts[decide(&a[..k], l, decision)] += 1;
            }
            start += take;
        }
    }
}

impl Dense {
    /// out[o] = act(b_o + Σ_i w_oi·a[i]) lane by lane, for the padded outputs; [`OUTS`] outputs at a
    /// time (each sum still runs in input order).
    #[inline(always)]
    fn apply<const T: usize>(&self, a: &[[f32; T]], out: &mut [[f32; T]]) {
        let a = &a[..self.n_in];
        for (block, (weights, bias)) in self.weight.chunks_exact(self.n_in * OUTS).zip(self.bias.chunks_exact(OUTS)).enumerate() {
            let mut acc: [[f32; T]; OUTS] = std::array::from_fn(|j| [bias[j]; T]);
            for (w, x) in weights.chunks_exact(OUTS).zip(a) {
                for j in 0..OUTS {
                    for l in 0..T {
                        acc[j][l] = w[j].mul_add(x[l], acc[j][l]);
                    }
                }
            }
            for (j, acc) in acc.iter().enumerate() {
                out[block * OUTS + j] = self.activate(*acc);
            }
        }
    }

    #[inline(always)]
    fn activate<const T: usize>(&self, mut v: [f32; T]) -> [f32; T] {
        if self.relu {
            for x in &mut v {
                *x = x.max(0.0);
            }
        }
        v
    }
}

/// The AVX-512 kernel: tiles of 32 samples, each activation two 16-lane registers; the same operations
/// per sample as the portable kernel (binary32 FMAs in input order, ReLU as max(v, 0)), so the same
/// answers.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Dense, Narrow, OUTS};
    use crate::spec::Decision;
    use std::arch::x86_64::*;

    /// Samples per tile.
    const T: usize = 32;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn count_noisy(net: &Narrow, x0: &[f64], sigma: f64, z: &[f64], decision: Decision, counts: &mut [u64]) {
        let m = net.n_in();
        let rows = z.len() / m;
        let zero = _mm512_setzero_ps();
        let mut a = vec![[zero; 2]; net.width];
        let mut b = vec![[zero; 2]; net.width];
        // x₀ repeated for a tile's samples, so that a tile's inputs form in one contiguous pass
        let xrep: Vec<f64> = (0..T * m).map(|q| x0[q % m]).collect();
        let mut staged = vec![0.0f32; T * m];
        let step = _mm512_set1_epi32(m as i32);
        let lane = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), step);
        let offsets = [lane, _mm512_add_epi32(lane, _mm512_set1_epi32(16 * m as i32))];
        let k = net.layers.last().expect("at least one layer").n_out;
        let mut start = 0;
        while start < rows {
            let take = T.min(rows - start);
            let n = take * m;
            for ((s, &x), &z) in staged[..n].iter_mut().zip(&xrep[..n]).zip(&z[start * m..start * m + n]) {
                *s = (x + sigma * z) as f32;
            }
            staged[n..].fill(0.0);
            // SAFETY (block): AVX-512F is enabled; every gathered offset l·m + i < T·m = staged.len().
            unsafe {
                for (i, slot) in a[..m].iter_mut().enumerate() {
                    let base = staged.as_ptr().add(i);
                    *slot = [_mm512_i32gather_ps::<4>(offsets[0], base), _mm512_i32gather_ps::<4>(offsets[1], base)];
                }
            }
            for layer in &net.layers {
                dense(layer, &a, &mut b);
                std::mem::swap(&mut a, &mut b);
            }
            for (half, lanes) in [take.min(16), take.saturating_sub(16)].into_iter().enumerate() {
                let valid: u32 = (1u32 << lanes) - 1;
                let inf = _mm512_set1_ps(f32::INFINITY);
                let mut finite: u32 = 0xffff;
                for v in &a[..k] {
                    finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(v[half]), inf) as u32;
                }
                let mut best = a[0][half];
                let mut idx = _mm512_setzero_si512();
                for (c, v) in a[..k].iter().enumerate().skip(1) {
                    let better = match decision {
                        Decision::Argmax => _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v[half], best),
                        Decision::Argmin => _mm512_cmp_ps_mask::<_CMP_LT_OQ>(v[half], best),
                    };
                    best = _mm512_mask_blend_ps(better, best, v[half]);
                    idx = _mm512_mask_blend_epi32(better, idx, _mm512_set1_epi32(c as i32));
                }
                let ok = finite & valid;
                for (c, n) in counts[..k].iter_mut().enumerate() {
                    *n += (_mm512_cmpeq_epi32_mask(idx, _mm512_set1_epi32(c as i32)) as u32 & ok).count_ones() as u64;
                }
                counts[k] += (!finite & valid).count_ones() as u64;
            }
            start += take;
        }
    }

    /// out[o] = act(b_o + Σ_i w_oi·a[i]) for o < n_out, [`OUTS`] outputs × 2 registers at a time (the
    /// last block only its outputs < n_out: no work on the zero padding).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn dense(layer: &Dense, a: &[[__m512; 2]], out: &mut [[__m512; 2]]) {
        let a = &a[..layer.n_in];
        let (full, rest) = (layer.n_out / OUTS, layer.n_out % OUTS);
        let blocks = layer.weight.chunks_exact(layer.n_in * OUTS).zip(layer.bias.chunks_exact(OUTS)).zip(out.chunks_mut(OUTS));
        for (block, ((weights, bias), out)) in blocks.enumerate() {
            match (block < full, rest) {
                (true, _) => outputs::<OUTS>(weights, bias, a, out, layer.relu),
                (false, 1) => outputs::<1>(weights, bias, a, out, layer.relu),
                (false, 2) => outputs::<2>(weights, bias, a, out, layer.relu),
                _ => outputs::<3>(weights, bias, a, out, layer.relu),
            }
        }
    }

    /// Outputs 0..J of one block of [`OUTS`] (input-major weights `w[i·OUTS + j]`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn outputs<const J: usize>(weights: &[f32], bias: &[f32], a: &[[__m512; 2]], out: &mut [[__m512; 2]], relu: bool) {
        let mut acc = [[_mm512_setzero_ps(); 2]; J];
        for (acc, &b) in acc.iter_mut().zip(bias) {
            *acc = [_mm512_set1_ps(b); 2];
        }
        for (w, x) in weights.chunks_exact(OUTS).zip(a) {
            for j in 0..J {
                let wj = _mm512_set1_ps(w[j]);
                acc[j][0] = _mm512_fmadd_ps(wj, x[0], acc[j][0]);
                acc[j][1] = _mm512_fmadd_ps(wj, x[1], acc[j][1]);
            }
        }
        let zero = _mm512_setzero_ps();
        for (o, acc) in out.iter_mut().zip(acc) {
            // max(v, 0) returns its second operand when v is NaN or ±0, as f32::max(v, 0.0) up to the
            // sign of a zero (which no later sum or comparison can see)
            *o = if relu { [_mm512_max_ps(acc[0], zero), _mm512_max_ps(acc[1], zero)] } else { acc };
        }
    }
}

/// The answer of lane `l` over the outputs, or K when one is not finite.
#[inline(always)]
fn decide<const T: usize>(out: &[[f32; T]], l: usize, decision: Decision) -> usize {
    let mut best = 0;
    for (c, v) in out.iter().enumerate() {
        if !v[l].is_finite() {
            return out.len();
        }
        let better = match decision {
            Decision::Argmax => v[l] > out[best][l],
            Decision::Argmin => v[l] < out[best][l],
        };
        if better {
            best = c;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// The plain row-by-row binary32 evaluation of a d→h→k ReLU net: the answer, or k when not finite.
    fn plain(w1: &[f32], b1: &[f32], w2: &[f32], b2: &[f32], row: &[f32], decision: Decision) -> usize {
        let (d, h, k) = (row.len(), b1.len(), b2.len());
        let hid: Vec<f32> = (0..h).map(|o| (0..d).fold(b1[o], |s, i| w1[o * d + i].mul_add(row[i], s)).max(0.0)).collect();
        let out: Vec<f32> = (0..k).map(|o| (0..h).fold(b2[o], |s, i| w2[o * h + i].mul_add(hid[i], s))).collect();
        if out.iter().any(|v| !v.is_finite()) {
            return k;
        }
        (0..k).fold(0, |b, c| match decision {
            Decision::Argmax if out[c] > out[b] => c,
            Decision::Argmin if out[c] < out[b] => c,
            _ => b,
        })
    }

    /// count_noisy (the AVX-512 kernel where the CPU has it) answers as the plain evaluation on
    /// (x₀ + σz) as f32: widths that are not multiples of the output blocks, ragged tiles, both
    /// decisions, and draws whose outputs overflow.
    #[test]
    fn noisy_counts_match_a_plain_evaluation() {
        for (d, h, k) in [(7, 13, 3), (11, 64, 2), (3, 5, 1), (5, 8, 4)] {
            let w1: Vec<f32> = (0..h * d).map(|i| ((i * 37 % 17) as f32 - 8.0) / 7.0).collect();
            let b1: Vec<f32> = (0..h).map(|i| (i as f32 - 6.0) / 10.0).collect();
            let w2: Vec<f32> = (0..k * h).map(|i| ((i * 11 % 13) as f32 - 6.0) / 5.0).collect();
            let b2: Vec<f32> = (0..k).map(|i| 0.1 - 0.15 * i as f32).collect();
            let net = Narrow::new([
                Step::Affine { weight: &w1, n_in: d, bias: &b1 },
                Step::Relu,
                Step::Affine { weight: &w2, n_in: h, bias: &b2 },
            ])
            .unwrap();
            for rows in [1usize, 29, 32, 64, 100, 1024] {
                let x0: Vec<f64> = (0..d).map(|i| 0.3 * i as f64 - 0.5).collect();
                // with 100 rows, some inputs overflow binary32 (and so do those draws' outputs)
                let z: Vec<f64> = (0..rows * d).map(|q| if rows == 100 && q % 37 == 0 { 1e39 } else { ((q as f64) * 0.731).sin() * 2.0 }).collect();
                let sigma = 0.7;
                for decision in [Decision::Argmax, Decision::Argmin] {
                    let mut got = vec![0u64; k + 1];
                    net.count_noisy(&x0, sigma, &z, decision, &mut got);
                    let mut lanes = vec![0u64; k + 1];
                    net.count_noisy_lanes(&x0, sigma, &z, decision, &mut lanes);
                    assert_eq!(got, lanes, "{d}→{h}→{k}, {rows} rows, {decision:?}: the two kernels");
                    let mut want = vec![0u64; k + 1];
                    for r in 0..rows {
                        let row: Vec<f32> = (0..d).map(|i| (x0[i] + sigma * z[r * d + i]) as f32).collect();
                        want[plain(&w1, &b1, &w2, &b2, &row, decision)] += 1;
                    }
                    assert_eq!(got, want, "{d}→{h}→{k}, {rows} rows, {decision:?}");
                    if rows == 100 {
                        assert!(want[k] > 0 && want[k] < rows as u64, "the case has both finite and overflowing draws");
                    }
                }
            }
        }
    }

    /// The lane kernel answers as a plain row-by-row binary32 evaluation, ragged last tile included.
    #[test]
    fn lanes_match_a_plain_evaluation() {
        let (d, h, k) = (7, 13, 3);
        let w1: Vec<f32> = (0..h * d).map(|i| ((i * 37 % 17) as f32 - 8.0) / 7.0).collect();
        let b1: Vec<f32> = (0..h).map(|i| (i as f32 - 6.0) / 10.0).collect();
        let w2: Vec<f32> = (0..k * h).map(|i| ((i * 11 % 13) as f32 - 6.0) / 5.0).collect();
        let b2 = vec![0.1f32, -0.2, 0.05];
        let net = Narrow::new([
            Step::Affine { weight: &w1, n_in: d, bias: &b1 },
            Step::Relu,
            Step::Affine { weight: &w2, n_in: h, bias: &b2 },
        ])
        .unwrap();
        let x = Array2::from_shape_fn((29, d), |(r, c)| ((r * 7 + c) as f32 * 0.37).sin());
        for decision in [Decision::Argmax, Decision::Argmin] {
            let mut got = vec![0u64; k + 1];
            net.count(x.view(), decision, &mut got);
            let mut want = vec![0u64; k + 1];
            for row in x.outer_iter() {
                let hid: Vec<f32> = (0..h).map(|o| (0..d).fold(b1[o], |s, i| w1[o * d + i].mul_add(row[i], s)).max(0.0)).collect();
                let out: Vec<f32> = (0..k).map(|o| (0..h).fold(b2[o], |s, i| w2[o * h + i].mul_add(hid[i], s))).collect();
                let pick = (0..k).fold(0, |b, c| match decision {
                    Decision::Argmax if out[c] > out[b] => c,
                    Decision::Argmin if out[c] < out[b] => c,
                    _ => b,
                });
                want[pick] += 1;
            }
            assert_eq!(got, want);
        }
    }
}
