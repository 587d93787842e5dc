//! Smoothing along one attribute: class counts of the base classifier under noise at every point
//! x₀ + t_j·e_k of a grid, for the APE analysis (SPEC §1, §4.1).
//!
//! Two noise schemes ([`GridNoise`]); in both, each grid point's counts have the distribution of a
//! separate smoothing run at that point, so every per-point certificate keeps its 1 − α guarantee
//! (SMOOTH-6 in `proofs/SMOOTHING.md`):
//! - `Shared` (common random numbers): sample s at grid point j is x₀ + t_j·e_k + σ·ε_s with ε_s the
//!   record's SMOOTH-3 draw — exactly the draw `Sampler` makes for that record in input space. The first
//!   affine layer is applied once per sample, a_s = W₁(x₀ + σε_s) + b₁, and each grid point adds t_j·W₁e_k
//!   (equal to W₁(x₀ + t_j e_k + σε_s) + b₁ up to rounding). Failures of neighbouring points are
//!   correlated; the estimated inference set is smooth.
//! - `Independent`: every grid point is a separate query with its own draws (Philox stream
//!   4·(row·2²⁰ + j) + phase; coordinate i of sample s is its normal number s·a + i for the a drawn
//!   inputs), as when an observer queries a deployed smoothed model value by value; the
//!   failures of different points are independent, so their number is comparable with α × queries.
//!   Only inputs whose first-layer column is non-zero are drawn: the others cannot change any output, so
//!   the distribution of every answer is unchanged, and a model that reads few inputs is cheap to smooth.
use super::sampler::{add_counts, class_or_overflow, fill_noisy_inputs, for_task_chunks, forward_block, without_overflow, NoisyRecord, Phase, BLOCK};
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

/// How the draws at different grid points of a record relate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GridNoise {
    /// The same draws at every grid point of a record (common random numbers).
    Shared,
    /// Separate draws at every grid point (independent queries).
    #[default]
    Independent,
}

/// Grid points per record that `Independent` streams can name.
pub const MAX_GRID_POINTS: usize = 1 << 20;

/// Counts along a line for a network with an affine first layer (after any reshapes).
pub struct LineSampler<'a> {
    /// The network with elementwise layers folded into the next affine one ([`Network::fold_elementwise`]):
    /// Monte Carlo counts evaluate in floating point and prove nothing, so the fold's rounding is immaterial.
    net: std::borrow::Cow<'a, Network>,
    sigma: f64,
    rng: Philox,
    decision: Decision,
    noise: GridNoise,
    /// Index of the first affine layer.
    first: usize,
    /// Inputs with a non-zero first-layer column, and those columns (h × a) scaled by σ.
    active: Vec<usize>,
    active_cols_t: Array2<f64>,
}

impl<'a> LineSampler<'a> {
    /// A sampler for `net`; a network whose first non-reshape layer is not affine is an error.
    pub fn new(net: &'a Network, sigma: f64, seed: u64, decision: Decision, noise: GridNoise) -> crate::Result<Self> {
        let net = super::sampler::folded(net);
        let first = net.layers.iter().position(|l| !matches!(l, Layer::Reshape { .. }));
        let (first, a) = match first.map(|i| (i, &net.layers[i])) {
            Some((i, Layer::Affine(a))) => (i, a),
            _ => return Err(crate::Error::Option("smoothing along an attribute needs a network that starts with an affine layer".into())),
        };
        let active: Vec<usize> = (0..a.in_dim()).filter(|&c| a.weight.column(c).iter().any(|&w| w != 0.0)).collect();
        let active_cols_t = Array2::from_shape_fn((active.len(), a.out_dim()), |(i, o)| sigma * a.weight[[o, active[i]]]);
        Ok(LineSampler { net, sigma, rng: Philox::new(seed), decision, noise, first, active, active_cols_t })
    }

    /// Number of inputs whose noise can change the output (non-zero first-layer column).
    pub fn active_inputs(&self) -> usize {
        self.active.len()
    }

    /// For each record and each of its attribute values v_j (model units), the class counts over `n`
    /// draws of `phase` at x₀ with x₀_k replaced by v_j: `out[record][j][class]`. Work is split over
    /// (record, block of samples), so a call with many records keeps every core busy.
    /// An error names the record when some draw's outputs are not finite.
    pub fn counts(&self, records: &[LineRecord], k: usize, phase: Phase, n: u64) -> crate::Result<Vec<Vec<Vec<u64>>>> {
        let with_overflow = match self.noise {
            GridNoise::Shared => self.counts_shared(records, k, phase, n),
            GridNoise::Independent => self.counts_independent(records, k, phase, n),
        };
        with_overflow
            .into_iter()
            .zip(records)
            .map(|(grid, rec)| grid.into_iter().map(|c| without_overflow(c, rec.row, n)).collect())
            .collect()
    }

    fn counts_independent(&self, records: &[LineRecord], k: usize, phase: Phase, n: u64) -> Vec<Vec<Vec<u64>>> {
        let classes = self.net.output_dim();
        assert!(records.iter().all(|r| r.values.len() <= MAX_GRID_POINTS), "at most 2^20 grid points per record");
        let Layer::Affine(first) = &self.net.layers[self.first] else { unreachable!("checked in new") };
        let blocks = n.div_ceil(BLOCK);
        // (record, grid point, block) tasks, summed by a fold: memory O(threads·records·grid·K) for any n
        let offsets: Vec<u64> = records.iter().scan(0u64, |acc, r| {
            let o = *acc;
            *acc += r.values.len() as u64 * blocks;
            Some(o)
        }).collect();
        let total = records.iter().map(|r| r.values.len() as u64 * blocks).sum::<u64>();
        let mut out: Vec<Vec<Vec<u64>>> = records.iter().map(|r| vec![vec![0u64; classes + 1]; r.values.len()]).collect();
        for_task_chunks(total, |range| {
            let parts: Vec<(usize, usize, Vec<u64>)> = range
                .into_par_iter()
                .map_init(
                    || self.buffers(),
                    |ws, t| {
                        let r = offsets.partition_point(|&o| o <= t) - 1;
                        let local = t - offsets[r];
                        let (j, start) = ((local / blocks) as usize, (local % blocks) * BLOCK);
                        let rec = &records[r];
                        let len = BLOCK.min(n - start) as usize;
                        let mut x = rec.x.to_owned();
                        x[k] = rec.values[j];
                        let base = first.weight.dot(&x) + &first.bias;
                        // coordinate i of sample s is normal number s·a + i of the stream (no padding)
                        let a = self.active.len();
                        let stream = 4 * ((rec.row << 20) | j as u64) + phase as u64;
                        let noise = &mut ws.noise[..len * a];
                        super::normals::fill(&self.rng, stream, start * a as u64, noise);
                        let z = ndarray::ArrayView2::from_shape((len, a), &*noise).expect("block of normals");
                        let mut pre = ws.acts[0].slice_mut(ndarray::s![..len, ..]);
                        general_mat_mul(1.0, &z, &self.active_cols_t, 0.0, &mut pre);
                        pre += &base.view().insert_axis(Axis(0));
                        let mut counts = vec![0u64; classes + 1];
                        self.finish(&mut ws.acts, len, |c| counts[c] += 1);
                        (r, j, counts)
                    },
                )
                .collect();
            for (r, j, c) in parts {
                add_counts(&mut out[r][j], &c);
            }
        });
        out
    }

    /// Buffers for one block: the first layer's output and every later boundary, and the normals.
    fn buffers(&self) -> Buffers {
        let dims = self.net.boundary_dims().expect("validated");
        Buffers {
            acts: dims[self.first + 1..].iter().map(|&d| Array2::zeros((BLOCK as usize, d))).collect(),
            noise: vec![0.0; BLOCK as usize * self.active.len()],
        }
    }

    /// Runs the layers after the first affine one on the first `len` rows of `acts[0]` and reports each
    /// row's answer.
    fn finish(&self, acts: &mut [Array2<f64>], len: usize, mut answer: impl FnMut(usize)) {
        // one hidden layer (the paper's model): ReLU and the output layer fused per row, no buffers
        if let [Layer::Relu, Layer::Affine(out)] = &self.net.layers[self.first + 1..] {
            let w = out.weight.as_standard_layout();
            let mut logits = Array1::<f64>::zeros(out.out_dim());
            for pre in acts[0].slice(ndarray::s![..len, ..]).outer_iter() {
                let pre = pre.as_slice().expect("rows of a standard-layout buffer");
                for ((l, row), &b) in logits.iter_mut().zip(w.outer_iter()).zip(&out.bias) {
                    let row = row.to_slice().expect("standard layout");
                    *l = b + row.iter().zip(pre).map(|(&wv, &p)| wv * p.max(0.0)).sum::<f64>();
                }
                answer(class_or_overflow(self.decision, logits.view()));
            }
            return;
        }
        forward_block(&self.net.layers[self.first + 1..], acts, len);
        for logits in acts.last().expect("the first layer's output at least").slice(ndarray::s![..len, ..]).outer_iter() {
            answer(class_or_overflow(self.decision, logits));
        }
    }

    fn counts_shared(&self, records: &[LineRecord], k: usize, phase: Phase, n: u64) -> Vec<Vec<Vec<u64>>> {
        let classes = self.net.output_dim();
        let Layer::Affine(first) = &self.net.layers[self.first] else { unreachable!("checked in new") };
        let wk: Array1<f64> = first.weight.column(k).to_owned();
        let blocks = n.div_ceil(BLOCK);
        let total = records.len() as u64 * blocks;
        let mut out: Vec<Vec<Vec<u64>>> = records.iter().map(|r| vec![vec![0u64; classes + 1]; r.values.len()]).collect();
        for_task_chunks(total, |range| {
            let parts: Vec<(usize, Vec<u64>)> = range
                .into_par_iter()
                .map(|t| {
                    let (r, start) = ((t / blocks) as usize, (t % blocks) * BLOCK);
                    let len = BLOCK.min(n - start) as usize;
                    let rec = &records[r];
                    let ts: Vec<f64> = rec.values.iter().map(|&v| v - rec.x[k]).collect();
                    (r, self.block_counts(&NoisyRecord { x: rec.x, row: rec.row }, &wk, &ts, phase, start, len))
                })
                .collect();
            for (r, c) in parts {
                for (j, counts) in c.chunks_exact(classes + 1).enumerate() {
                    add_counts(&mut out[r][j], counts);
                }
            }
        });
        out
    }

    /// Counts of one block of samples at every grid point, flattened as [j·K + class].
    fn block_counts(&self, rec: &NoisyRecord, wk: &Array1<f64>, ts: &[f64], phase: Phase, start: u64, len: usize) -> Vec<u64> {
        let d = rec.x.len();
        let mut noisy = Array2::<f64>::zeros((len, d));
        let mut noise = vec![0.0; len * d];
        fill_noisy_inputs(&self.rng, self.sigma, rec, phase, start, &mut noise, noisy.view_mut());
        let Layer::Affine(first) = &self.net.layers[self.first] else { unreachable!("checked in new") };
        let mut base = Array2::<f64>::zeros((len, first.out_dim()));
        general_mat_mul(1.0, &noisy, &first.weight.t(), 0.0, &mut base);
        base += &first.bias.view().insert_axis(Axis(0));
        let classes = self.net.output_dim() + 1; // the last slot counts non-finite draws
        let mut ws = self.buffers();
        let mut out = vec![0u64; ts.len() * classes];
        for (j, &t) in ts.iter().enumerate() {
            let mut pre = ws.acts[0].slice_mut(ndarray::s![..len, ..]);
            Zip::from(pre.rows_mut()).and(base.rows()).for_each(|mut o, a| {
                Zip::from(&mut o).and(&a).and(wk).for_each(|o, &a, &w| *o = a + t * w);
            });
            self.finish(&mut ws.acts, len, |c| out[j * classes + c] += 1);
        }
        out
    }
}

/// Per-worker buffers.
struct Buffers {
    acts: Vec<Array2<f64>>,
    noise: Vec<f64>,
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
        let ls = LineSampler::new(&net, 0.8, 4, Decision::Argmax, GridNoise::Shared).unwrap();
        let ts = [0.0, -0.5, 1.25];
        let values: Vec<f64> = ts.iter().map(|t| x[2] + t).collect();
        let got = ls.counts(&[LineRecord { x: x.view(), row: 7, values: &values }], 2, Phase::Estimation, 3000).unwrap();
        let sampler = Sampler::new(&net, 0.8, 4, Decision::Argmax, NoiseSpace::Input).unwrap();
        for (j, &t) in ts.iter().enumerate() {
            let mut moved = x.clone();
            moved[2] = values[j];
            let want = sampler.counts(&[NoisyRecord { x: moved.view(), row: 7 }], Phase::Estimation, 3000).unwrap();
            let diff: u64 = got[0][j].iter().zip(&want[0]).map(|(a, b)| a.abs_diff(*b)).sum();
            if t == 0.0 {
                assert_eq!(got[0][j], want[0]);
            } else {
                assert!(diff <= 4, "t = {t}: {:?} vs {:?}", got[0][j], want[0]);
            }
        }
    }
}

#[cfg(test)]
mod independent_tests {
    use super::*;
    use crate::net::{Affine, Network};
    use crate::smooth::stats::clopper_pearson_lower;

    /// A network that reads only input 0 (threshold at 0.5) among 6 inputs: the independent scheme draws
    /// one normal per sample, and its counts follow P(class 1) = Φ((v − 0.5)/σ) at each value v
    /// (two-sided 1e-4 Clopper–Pearson check at every point), with different draws at different points.
    #[test]
    fn independent_counts_follow_the_exact_probabilities() {
        let mut w = Array2::zeros((1, 6));
        w[[0, 0]] = 1.0;
        let net = Network::new(
            vec![6],
            vec![Layer::Affine(Affine::new(w, ndarray::array![-0.5])), Layer::Relu, Layer::Affine(Affine::new(ndarray::array![[0.0], [1.0]], ndarray::array![1e-9, 0.0]))],
        )
        .unwrap();
        let ls = LineSampler::new(&net, 0.7, 11, Decision::Argmax, GridNoise::Independent).unwrap();
        assert_eq!(ls.active_inputs(), 1);
        let x = Array1::zeros(6);
        let values = [0.0, 0.3, 0.5, 0.9, 0.9];
        let n = 20_000;
        let c = ls.counts(&[LineRecord { x: x.view(), row: 3, values: &values }], 0, Phase::Estimation, n).unwrap();
        for (j, &v) in values.iter().enumerate() {
            let p = crate::smooth::stats::normal_cdf((v - 0.5) / 0.7);
            let k = c[0][j][1];
            assert!(clopper_pearson_lower(k, n, 1e-4) <= p && p <= crate::smooth::stats::clopper_pearson_upper(k, n, 1e-4), "v = {v}: {k}/{n} vs p = {p}");
        }
        assert_ne!(c[0][3], c[0][4], "two queries at the same value must draw different noise");
    }
}
