//! The binary32 forward pass and decision for small dense ReLU networks (`--eval f32`), eight samples at
//! a time with the samples in SIMD lanes: every weight is used for eight samples per load, and no GEMM
//! packing is paid for layers a few units wide (a 7→48→3 net is 480 multiply-adds per sample).
//!
//! Arithmetic (part of SMOOTH-9's definition of the f32 classifier for such nets): each output unit is
//! b_o + Σ_i w_oi·a_i accumulated in input order i = 0, 1, … by binary32 fused multiply-adds
//! (acc ← fma(w_oi, a_i, acc), one rounding each: `f32::mul_add`, the same bits with or without FMA
//! hardware), then ReLU where the network has one; the answer is the first index of the
//! largest (argmax) or smallest (argmin) output, or "non-finite" when some output is not finite.
use crate::spec::Decision;
use ndarray::ArrayView2;

/// Samples per tile (one AVX2 register of binary32).
const LANES: usize = 8;

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

    /// Adds each row's answer of `inputs` (len × n_in) to `counts` (K classes + the non-finite slot).
    pub fn count(&self, inputs: ArrayView2<f32>, decision: Decision, counts: &mut [u64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { self.count_avx2(inputs, decision, counts) };
        }
        self.count_lanes(inputs, decision, counts)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn count_avx2(&self, inputs: ArrayView2<f32>, decision: Decision, counts: &mut [u64]) {
        self.count_lanes(inputs, decision, counts)
    }

    #[inline(always)]
    fn count_lanes(&self, inputs: ArrayView2<f32>, decision: Decision, counts: &mut [u64]) {
        let mut a = vec![[0.0f32; LANES]; self.width];
        let mut b = vec![[0.0f32; LANES]; self.width];
        let rows = inputs.nrows();
        let mut start = 0;
        while start < rows {
            let take = LANES.min(rows - start);
            for (i, slot) in a[..self.layers[0].n_in].iter_mut().enumerate() {
                *slot = [0.0; LANES];
                for l in 0..take {
                    slot[l] = inputs[[start + l, i]];
                }
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
    fn apply(&self, a: &[[f32; LANES]], out: &mut [[f32; LANES]]) {
        let a = &a[..self.n_in];
        for (block, (weights, bias)) in self.weight.chunks_exact(self.n_in * OUTS).zip(self.bias.chunks_exact(OUTS)).enumerate() {
            let mut acc: [[f32; LANES]; OUTS] = std::array::from_fn(|j| [bias[j]; LANES]);
            for (w, x) in weights.chunks_exact(OUTS).zip(a) {
                for j in 0..OUTS {
                    for l in 0..LANES {
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
    fn activate(&self, mut v: [f32; LANES]) -> [f32; LANES] {
        if self.relu {
            for x in &mut v {
                *x = x.max(0.0);
            }
        }
        v
    }
}

/// The answer of lane `l` over the outputs, or K when one is not finite.
#[inline(always)]
fn decide(out: &[[f32; LANES]], l: usize, decision: Decision) -> usize {
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
