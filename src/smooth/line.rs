//! Smoothing along one attribute: class counts of the base classifier under noise at every point
//! x₀ + t_j·e_k of a grid, for the APE analysis (SPEC §1, §4.1).
//!
//! All grid points of a record share the noise draws (common random numbers): sample s at grid point j
//! is x₀ + t_j·e_k + σ·ε_s with ε_s the record's SMOOTH-3 draw — exactly the draw `Sampler` makes for
//! that record in input space. Each grid point's counts therefore have the distribution of an
//! independent run at that point, so every per-point certificate keeps its 1 − α guarantee (SMOOTH-6 in
//! `proofs/SMOOTHING.md`); only the failures of different grid points are correlated. The work is shared:
//! the first affine layer is applied once per sample, a_s = W₁(x₀ + σε_s) + b₁, and each grid point
//! adds t_j·W₁e_k (equal to W₁(x₀ + t_j e_k + σε_s) + b₁ up to floating-point rounding).
use super::sampler::{fill_noisy_inputs, NoisyRecord, Phase, BLOCK};
use crate::net::{Layer, Network};
use crate::rng::Philox;
use crate::spec::Decision;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView1, Axis, Zip};
use rayon::prelude::*;

/// A record and the attribute values (model units) to count at.
pub struct LineRecord<'a> {
    pub x: ArrayView1<'a, f64>,
    /// Record id: names the noise streams, as in `Sampler`.
    pub row: u64,
    pub values: &'a [f64],
}

/// Counts along a line for a network with an affine first layer (after any reshapes).
pub struct LineSampler<'a> {
    net: &'a Network,
    sigma: f64,
    rng: Philox,
    decision: Decision,
    /// Index of the first affine layer.
    first: usize,
}

impl<'a> LineSampler<'a> {
    /// A sampler for `net`; a network whose first non-reshape layer is not affine is an error.
    pub fn new(net: &'a Network, sigma: f64, seed: u64, decision: Decision) -> crate::Result<Self> {
        let first = net.layers.iter().position(|l| !matches!(l, Layer::Reshape { .. }));
        match first.map(|i| (i, &net.layers[i])) {
            Some((i, Layer::Affine(_))) => Ok(LineSampler { net, sigma, rng: Philox::new(seed), decision, first: i }),
            _ => Err(crate::Error::Option("smoothing along an attribute needs a network that starts with an affine layer".into())),
        }
    }

    /// For each record and each of its attribute values v_j (model units), the class counts over `n`
    /// draws of `phase` at x₀ with x₀_k replaced by v_j: `out[record][j][class]`. Work is split over
    /// (record, block of samples), so a call with many records keeps every core busy.
    pub fn counts(&self, records: &[LineRecord], k: usize, phase: Phase, n: u64) -> Vec<Vec<Vec<u64>>> {
        let classes = self.net.output_dim();
        let Layer::Affine(first) = &self.net.layers[self.first] else { unreachable!("checked in new") };
        let wk: Array1<f64> = first.weight.column(k).to_owned();
        let tasks: Vec<(usize, u64)> = (0..records.len()).flat_map(|r| (0..n.div_ceil(BLOCK)).map(move |b| (r, b * BLOCK))).collect();
        let parts: Vec<(usize, Vec<u64>)> = tasks
            .par_iter()
            .map(|&(r, start)| {
                let len = BLOCK.min(n - start) as usize;
                let rec = &records[r];
                let ts: Vec<f64> = rec.values.iter().map(|&v| v - rec.x[k]).collect();
                (r, self.block_counts(&NoisyRecord { x: rec.x, row: rec.row }, &wk, &ts, phase, start, len))
            })
            .collect();
        let mut out: Vec<Vec<Vec<u64>>> = records.iter().map(|r| vec![vec![0u64; classes]; r.values.len()]).collect();
        for (r, c) in parts {
            for (j, counts) in c.chunks_exact(classes).enumerate() {
                for (o, v) in out[r][j].iter_mut().zip(counts) {
                    *o += v;
                }
            }
        }
        out
    }

    /// Counts of one block of samples at every grid point, flattened as [j·K + class].
    fn block_counts(&self, rec: &NoisyRecord, wk: &Array1<f64>, ts: &[f64], phase: Phase, start: u64, len: usize) -> Vec<u64> {
        let d = rec.x.len();
        let mut noisy = Array2::<f64>::zeros((len, d));
        let mut noise = vec![0.0; len * 2 * d.div_ceil(2)];
        fill_noisy_inputs(&self.rng, self.sigma, rec, phase, start, &mut noise, noisy.view_mut());
        let Layer::Affine(first) = &self.net.layers[self.first] else { unreachable!("checked in new") };
        let mut base = Array2::<f64>::zeros((len, first.out_dim()));
        general_mat_mul(1.0, &noisy, &first.weight.t(), 0.0, &mut base);
        base += &first.bias.view().insert_axis(Axis(0));
        let rest = &self.net.layers[self.first + 1..];
        let mut acts: Vec<Array2<f64>> = Vec::with_capacity(rest.len() + 1);
        acts.push(Array2::zeros(base.dim()));
        let mut width = first.out_dim();
        for layer in rest {
            width = match layer {
                Layer::Affine(a) => a.out_dim(),
                Layer::Relu | Layer::Reshape { .. } => width,
            };
            acts.push(Array2::zeros((len, width)));
        }
        let classes = self.net.output_dim();
        let mut out = vec![0u64; ts.len() * classes];
        for (j, &t) in ts.iter().enumerate() {
            Zip::from(acts[0].rows_mut()).and(base.rows()).for_each(|mut o, a| {
                Zip::from(&mut o).and(&a).and(wk).for_each(|o, &a, &w| *o = a + t * w);
            });
            for (i, layer) in rest.iter().enumerate() {
                let (done, next) = acts.split_at_mut(i + 1);
                let (h, out) = (&done[i], &mut next[0]);
                match layer {
                    Layer::Affine(a) => {
                        general_mat_mul(1.0, h, &a.weight.t(), 0.0, out);
                        *out += &a.bias.view().insert_axis(Axis(0));
                    }
                    Layer::Relu => Zip::from(out).and(h).for_each(|o, &v| *o = v.max(0.0)),
                    Layer::Reshape { .. } => out.assign(h),
                }
            }
            for logits in acts.last().expect("at least the first layer's output").outer_iter() {
                out[j * classes + self.decision.decide(logits).0] += 1;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::init::seeded_mlp;
    use crate::smooth::sampler::{NoiseSpace, Sampler};

    /// At t = 0 the line counts are the input-space sampler's counts for the same record (same draws,
    /// same first-layer product); at t ≠ 0 they match a sampler run at the moved point up to the
    /// rounding of W₁(x + t·e_k) versus W₁x + t·W₁e_k (a label flip needs a near-tie: allow 2 draws).
    #[test]
    fn matches_the_sampler_on_and_off_the_grid_origin() {
        let net = seeded_mlp(&[5, 16, 3], 9);
        let x = ndarray::array![0.3, -0.2, 0.5, 0.1, -0.7];
        let ls = LineSampler::new(&net, 0.8, 4, Decision::Argmax).unwrap();
        let ts = [0.0, -0.5, 1.25];
        let values: Vec<f64> = ts.iter().map(|t| x[2] + t).collect();
        let got = ls.counts(&[LineRecord { x: x.view(), row: 7, values: &values }], 2, Phase::Estimation, 3000);
        let sampler = Sampler::new(&net, 0.8, 4, Decision::Argmax, NoiseSpace::Input).unwrap();
        for (j, &t) in ts.iter().enumerate() {
            let mut moved = x.clone();
            moved[2] = values[j];
            let want = sampler.counts(&[NoisyRecord { x: moved.view(), row: 7 }], Phase::Estimation, 3000);
            let diff: u64 = got[0][j].iter().zip(&want[0]).map(|(a, b)| a.abs_diff(*b)).sum();
            if t == 0.0 {
                assert_eq!(got[0][j], want[0]);
            } else {
                assert!(diff <= 4, "t = {t}: {:?} vs {:?}", got[0][j], want[0]);
            }
        }
    }
}
