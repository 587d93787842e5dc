//! Monte Carlo class counts of the base classifier under Gaussian noise, batched and in parallel.
//!
//! Noise scheme (SMOOTH-3 and SMOOTH-8 in `proofs/SMOOTHING.md`, mirrored by the CUDA kernel): for record
//! `row`, phase `phase` (0 = selection, 1 = estimation) and sample `s`, coordinate k of the standard
//! normal vector z is normal number s·m + k of stream 4·row + phase ([`normals`]: one Philox4x32-10 word
//! through a table-based inverse CDF, within total variation m·[`normals::TV_PER_NORMAL`] of N(0, I_m)).
//! In input space (m = d) the sample is x₀ + σz; in
//! first-layer space (m = h, the first affine layer's width) the first pre-activation is W₁x₀ + b₁ + Lz
//! with LLᵀ = σ²W₁W₁ᵀ, which has exactly the distribution of W₁(x₀ + σε) + b₁ (SMOOTH-5). Counts are
//! integers summed per record, so they are identical for every thread count, block order and sharding.
//!
//! Evaluation precision ([`Eval`]): `F64` runs the folded network in binary64; `F32` runs it as deployed
//! (ONNX weights are binary32): weights, activations and accumulation in binary32, on x₀ + σz computed in
//! binary64 and rounded to binary32 (first-layer space: W₁x₀ + b₁ and Lz rounded, Lz accumulated in
//! binary32). Either way the function smoothed is the base classifier as this module evaluates it.
use super::normals;
use crate::net::{Affine, Elementwise, Layer, Network};
use crate::rng::Philox;
use crate::spec::Decision;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView1, Axis, Zip};
use serde::{Deserialize, Serialize};
use rayon::prelude::*;

/// Samples per block: the unit of work and of buffer reuse (fixed, so work splitting never depends on
/// the thread count).
pub const BLOCK: u64 = 1024;

/// Which independent sample set a draw belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Cohen's n₀ samples that pick the candidate class.
    Selection = 0,
    /// The n samples that estimate its probability (also PREDICT's and always-label's samples).
    Estimation = 1,
}

/// Where the Gaussian noise is drawn (SMOOTH-5: both give the same distribution of every output).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseSpace {
    /// ε ~ N(0, σ²I) in model-input space: ⌈d/2⌉ normal pairs per sample.
    Input,
    /// W₁ε drawn directly as L·z, z ~ N(0, I_h), LLᵀ = σ²W₁W₁ᵀ: ⌈h/2⌉ pairs and an h×h product per
    /// sample instead of an h×d one. Needs a first affine layer with σ²W₁W₁ᵀ positive definite.
    FirstLayer,
    /// First-layer space when the first affine layer has fewer outputs than inputs and σ²W₁W₁ᵀ is
    /// positive definite, else input space.
    #[default]
    Auto,
}

/// The arithmetic in which the base network is evaluated on the noisy samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Eval {
    /// binary64 weights, activations and accumulation (the network's weights widened exactly).
    #[default]
    F64,
    /// binary32 weights, activations and accumulation: the float32 network of the file, as ONNX runtimes
    /// evaluate it (noisy inputs formed in binary64 and rounded to binary32).
    F32,
}

/// The sampling plan fixed for a network and σ.
enum Plan {
    Input,
    /// Noise enters after layer `layer` (the first affine layer) through the Cholesky factor `chol`.
    FirstLayer { layer: usize, chol_t: Array2<f64> },
}

/// One layer of the binary32 copy of the folded network.
enum Op32 {
    /// y = x·wt + b (wt: the weight transposed, in × out).
    Affine { wt: Array2<f32>, bias: Array1<f32> },
    Relu,
    Copy,
}

/// Preallocated buffers of one worker: every boundary's activations for a block (in the evaluation
/// precision), and its normals.
struct Workspace {
    acts: Vec<Array2<f64>>,
    acts32: Vec<Array2<f32>>,
    noise: Vec<f64>,
    logits: Array1<f64>,
    /// Samples per block the buffers hold.
    rows: usize,
}

/// The draws of one record: x₀ and its record id (which names its noise streams).
pub struct NoisyRecord<'a> {
    pub x: ArrayView1<'a, f64>,
    pub row: u64,
}

/// Counts of the base classifier's answers over noisy copies of records.
pub struct Sampler<'a> {
    /// The network with elementwise layers folded into the next affine one ([`Network::fold_elementwise`]):
    /// Monte Carlo counts evaluate in floating point and prove nothing, so the fold's rounding is immaterial.
    net: std::borrow::Cow<'a, Network>,
    sigma: f64,
    rng: Philox,
    decision: Decision,
    plan: Plan,
    /// The binary32 network and first-layer factor when evaluating in [`Eval::F32`].
    f32_ops: Option<(Vec<Op32>, Option<Array2<f32>>)>,
    /// The layers after the noise enters, as a lane kernel, when they are a small dense ReLU chain (f32).
    narrow: Option<super::narrow::Narrow>,
    /// Workspaces of finished tasks, reused by later ones and later calls (fresh buffers of this size
    /// cost page faults that showed as a fifth of a small net's time).
    pool: std::sync::Mutex<Vec<Workspace>>,
}

/// A workspace taken from a sampler's pool, given back when dropped.
struct Pooled<'s> {
    ws: Option<Workspace>,
    pool: &'s std::sync::Mutex<Vec<Workspace>>,
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(ws), Ok(mut pool)) = (self.ws.take(), self.pool.lock()) {
            pool.push(ws);
        }
    }
}

impl<'a> Sampler<'a> {
    /// A sampler drawing in `space`; an explicit `FirstLayer` that the network cannot support is an error.
    pub fn new(net: &'a Network, sigma: f64, seed: u64, decision: Decision, space: NoiseSpace) -> crate::Result<Self> {
        let net = folded(net);
        let first = net.layers.iter().position(|l| !matches!(l, Layer::Reshape { .. }));
        let candidate = match first.map(|i| (i, &net.layers[i])) {
            Some((i, Layer::Affine(a))) => Some((i, a)),
            _ => None,
        };
        let plan = match (space, candidate) {
            (NoiseSpace::Input, _) => Plan::Input,
            (NoiseSpace::FirstLayer, None) => {
                return Err(crate::Error::Option("--noise-space first-layer needs a network that starts with an affine layer".into()))
            }
            (NoiseSpace::Auto, Some((_, a))) if a.out_dim() >= a.in_dim() => Plan::Input,
            (NoiseSpace::Auto, None) => Plan::Input,
            (NoiseSpace::FirstLayer | NoiseSpace::Auto, Some((i, a))) => {
                let cov = a.weight.dot(&a.weight.t()) * (sigma * sigma);
                match cholesky(&cov) {
                    Some(l) => Plan::FirstLayer { layer: i, chol_t: l.t().to_owned() },
                    None if space == NoiseSpace::Auto => Plan::Input,
                    None => {
                        return Err(crate::Error::Option(
                            "--noise-space first-layer: σ²W₁W₁ᵀ is not positive definite (the first layer's rows are linearly dependent); use --noise-space input".into(),
                        ))
                    }
                }
            }
        };
        Ok(Sampler { net, sigma, rng: Philox::new(seed), decision, plan, f32_ops: None, narrow: None, pool: Default::default() })
    }

    /// The same sampler evaluating the network in `eval` (the draws do not change).
    pub fn evaluated_in(mut self, eval: Eval) -> Self {
        self.f32_ops = match eval {
            Eval::F64 => None,
            Eval::F32 => {
                let ops = self
                    .net
                    .layers
                    .iter()
                    .map(|l| match l {
                        Layer::Affine(a) => Op32::Affine { wt: a.weight.t().mapv(|v| v as f32), bias: a.bias.mapv(|v| v as f32) },
                        Layer::Relu => Op32::Relu,
                        Layer::Reshape { .. } => Op32::Copy,
                        Layer::Elementwise(_) => unreachable!("folded into the next affine layer"),
                    })
                    .collect();
                let chol = match &self.plan {
                    Plan::Input => None,
                    Plan::FirstLayer { chol_t, .. } => Some(chol_t.mapv(|v| v as f32)),
                };
                Some((ops, chol))
            }
        };
        self.pool = Default::default();
        self.narrow = self.f32_ops.as_ref().and_then(|(ops, _)| narrow_chain(&ops[self.first_noisy_layer()..]));
        self
    }

    /// The index of the first layer evaluated on noisy values (after the first affine layer in
    /// first-layer space).
    fn first_noisy_layer(&self) -> usize {
        match &self.plan {
            Plan::Input => 0,
            Plan::FirstLayer { layer, .. } => layer + 1,
        }
    }

    /// Normals drawn per sample (the m of SMOOTH-8's total-variation bound m·TV_PER_NORMAL).
    pub fn normals_per_sample(&self) -> usize {
        self.noise_width()
    }

    fn noise_width(&self) -> usize {
        match &self.plan {
            Plan::Input => self.net.input_dim(),
            Plan::FirstLayer { chol_t, .. } => chol_t.nrows(),
        }
    }

    /// Whether draws are made in first-layer space.
    pub fn first_layer_space(&self) -> bool {
        matches!(self.plan, Plan::FirstLayer { .. })
    }

    /// The noise's standard deviation.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// The seed of the draws.
    pub fn seed(&self) -> u64 {
        let [lo, hi] = self.rng.key();
        lo as u64 | (hi as u64) << 32
    }

    /// How each sample's outputs are turned into an answer.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The network the sampler evaluates (elementwise layers folded into the affine layer after them).
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// In first-layer space: the affine layer the noise enters after and Lᵀ (LLᵀ = σ²W₁W₁ᵀ), so that a
    /// sample's pre-activation is z·Lᵀ + W₁x₀ + b₁ for its normals z (a device reproduces the plan).
    pub fn first_layer_plan(&self) -> Option<(usize, &Array2<f64>)> {
        match &self.plan {
            Plan::Input => None,
            Plan::FirstLayer { layer, chol_t } => Some((*layer, chol_t)),
        }
    }

    /// A workspace for blocks of up to `rows` samples: a pooled one when one is large enough.
    fn pooled(&self, rows: usize) -> Pooled<'_> {
        let reused = self.pool.lock().ok().and_then(|mut pool| {
            let i = pool.iter().position(|ws| ws.noise.len() >= rows * self.noise_width() && ws.rows >= rows)?;
            Some(pool.swap_remove(i))
        });
        Pooled { ws: Some(reused.unwrap_or_else(|| self.workspace(rows))), pool: &self.pool }
    }

    /// Buffers for blocks of up to `rows` samples, in the evaluation precision only.
    fn workspace(&self, rows: usize) -> Workspace {
        let dims = self.net.boundary_dims().expect("validated");
        let (wide, narrow) = if self.f32_ops.is_some() { (0, rows) } else { (rows, 0) };
        Workspace {
            acts: dims.iter().map(|&d| Array2::zeros((wide, d))).collect(),
            acts32: dims.iter().map(|&d| Array2::zeros((narrow, d))).collect(),
            noise: vec![0.0; rows * self.noise_width()],
            logits: Array1::zeros(self.net.output_dim()),
            rows,
        }
    }

    /// For each record, the class counts over `n` draws of `phase` (one Vec of length K per record); an
    /// error naming the record when some draw's outputs are not finite (no count is made of them).
    pub fn counts(&self, records: &[NoisyRecord], phase: Phase, n: u64) -> crate::Result<Vec<Vec<u64>>> {
        let k = self.net.output_dim();
        // first-layer space: the noiseless pre-activation W₁x₀ + b₁ of each record
        let bases: Vec<Option<Array1<f64>>> = records
            .iter()
            .map(|r| match &self.plan {
                Plan::Input => None,
                Plan::FirstLayer { layer, .. } => match &self.net.layers[*layer] {
                    Layer::Affine(a) => Some(a.weight.dot(&r.x) + &a.bias),
                    Layer::Elementwise(_) | Layer::Relu | Layer::Reshape { .. } => unreachable!("plan points at an affine layer"),
                },
            })
            .collect();
        // (record, block) tasks in parallel, in chunks so that memory stays bounded whatever n; integer
        // sums do not depend on the order
        let blocks = n.div_ceil(BLOCK);
        let rows = BLOCK.min(n) as usize;
        let mut out = vec![vec![0u64; k + 1]; records.len()];
        for_task_chunks(records.len() as u64 * blocks, |range| {
            let parts: Vec<(usize, Vec<u64>)> = range
                .into_par_iter()
                .map_init(
                    || self.pooled(rows),
                    |pooled, t| {
                        let ws = pooled.ws.as_mut().expect("a workspace until dropped");
                        let (r, start) = ((t / blocks) as usize, (t % blocks) * BLOCK);
                        let len = BLOCK.min(n - start);
                        (r, self.block_counts(ws, &records[r], bases[r].as_ref(), phase, start, len))
                    },
                )
                .collect();
            for (r, c) in parts {
                add_counts(&mut out[r], &c);
            }
        });
        out.into_iter().zip(records).map(|(c, rec)| without_overflow(c, rec.row, n)).collect()
    }

    fn block_counts(&self, ws: &mut Workspace, rec: &NoisyRecord, base: Option<&Array1<f64>>, phase: Phase, start: u64, len: u64) -> Vec<u64> {
        let len = len as usize;
        let m = self.noise_width();
        let noise = &mut ws.noise[..len * m];
        normals::fill(&self.rng, 4 * rec.row + phase as u64, start * m as u64, noise);
        let z = ndarray::ArrayView2::from_shape((len, m), &*noise).expect("block of normals");
        let mut counts = vec![0u64; self.net.output_dim() + 1];
        match &self.f32_ops {
            None => {
                let first = match &self.plan {
                    Plan::Input => {
                        noisy_inputs(rec, self.sigma, z, ws.acts[0].slice_mut(ndarray::s![..len, ..]));
                        0
                    }
                    Plan::FirstLayer { layer, chol_t } => {
                        let mut pre = ws.acts[layer + 1].slice_mut(ndarray::s![..len, ..]);
                        general_mat_mul(1.0, &z, chol_t, 0.0, &mut pre);
                        pre += &base.expect("base pre-activation").view().insert_axis(Axis(0));
                        layer + 1
                    }
                };
                forward_block(&self.net.layers[first..], &mut ws.acts[first..], len);
                let out = ws.acts.last().expect("an output").slice(ndarray::s![..len, ..]);
                match out.as_slice() {
                    // row-major block: each row's answer from its slice (no view per row)
                    Some(flat) if out.ncols() > 0 => {
                        for logits in flat.chunks_exact(out.ncols()) {
                            counts[class_or_overflow(self.decision, ArrayView1::from(logits))] += 1;
                        }
                    }
                    _ => {
                        for logits in out.outer_iter() {
                            counts[class_or_overflow(self.decision, logits)] += 1;
                        }
                    }
                }
            }
            Some((ops, chol32)) => {
                if let (Some(narrow), Plan::Input) = (&self.narrow, &self.plan) {
                    // the noisy inputs formed straight into the kernel's lanes (the same binary32 values)
                    let x0 = rec.x.as_slice().map(std::borrow::Cow::Borrowed).unwrap_or_else(|| std::borrow::Cow::Owned(rec.x.to_vec()));
                    narrow.count_noisy(&x0, self.sigma, &noise[..], self.decision, &mut counts);
                    return counts;
                }
                let first = match (&self.plan, chol32) {
                    (Plan::FirstLayer { layer, .. }, Some(chol32)) => {
                        let z32 = z.mapv(|v| v as f32);
                        let mut pre = ws.acts32[layer + 1].slice_mut(ndarray::s![..len, ..]);
                        general_mat_mul(1.0, &z32, chol32, 0.0, &mut pre);
                        let base32 = base.expect("base pre-activation").mapv(|v| v as f32);
                        pre += &base32.view().insert_axis(Axis(0));
                        layer + 1
                    }
                    _ => {
                        noisy_inputs_f32(rec, self.sigma, z, ws.acts32[0].slice_mut(ndarray::s![..len, ..]));
                        0
                    }
                };
                if let Some(narrow) = &self.narrow {
                    narrow.count(ws.acts32[first].slice(ndarray::s![..len, ..]), self.decision, &mut counts);
                    return counts;
                }
                forward_block_f32(&ops[first..], &mut ws.acts32[first..], len);
                for logits in ws.acts32.last().expect("an output").slice(ndarray::s![..len, ..]).outer_iter() {
                    ws.logits.zip_mut_with(&logits, |o, &v| *o = v as f64);
                    counts[class_or_overflow(self.decision, ws.logits.view())] += 1;
                }
            }
        }
        counts
    }
}

/// Writes x₀ + σz (binary64) into the rows of `out`.
fn noisy_inputs(rec: &NoisyRecord, sigma: f64, z: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f64>) {
    let d = rec.x.len();
    if let (Some(o), Some(zs), Some(x)) = (out.as_slice_mut(), z.as_slice(), rec.x.as_slice()) {
        // row-major blocks: one flat pass, x₀ repeating with period d (the same operations)
        for (o, z) in o.chunks_exact_mut(d).zip(zs.chunks_exact(d)) {
            for ((o, &z), &x) in o.iter_mut().zip(z).zip(x) {
                *o = x + sigma * z;
            }
        }
        return;
    }
    for (mut row, z) in out.outer_iter_mut().zip(z.outer_iter()) {
        Zip::from(&mut row).and(&rec.x).and(&z).for_each(|o, &x, &z| *o = x + sigma * z);
    }
}

/// Writes x₀ + σz, formed in binary64 and rounded to binary32, into the rows of `out`.
fn noisy_inputs_f32(rec: &NoisyRecord, sigma: f64, z: ndarray::ArrayView2<f64>, mut out: ndarray::ArrayViewMut2<f32>) {
    for (mut row, z) in out.outer_iter_mut().zip(z.outer_iter()) {
        Zip::from(&mut row).and(&rec.x).and(&z).for_each(|o, &x, &z| *o = (x + sigma * z) as f32);
    }
}

/// The lane kernel of `ops` when they form a small dense ReLU chain.
fn narrow_chain(ops: &[Op32]) -> Option<super::narrow::Narrow> {
    use super::narrow::{Narrow, Step};
    // the kernel wants out × in row-major weights; `wt` is in × out
    let weights: Vec<(Vec<f32>, usize)> = ops
        .iter()
        .filter_map(|op| match op {
            Op32::Affine { wt, .. } => Some((wt.t().iter().copied().collect(), wt.nrows())),
            Op32::Relu | Op32::Copy => None,
        })
        .collect();
    let mut next = weights.iter();
    Narrow::new(ops.iter().map(|op| match op {
        Op32::Affine { bias, .. } => {
            let (w, n_in) = next.next().expect("one weight per affine op");
            Step::Affine { weight: w, n_in: *n_in, bias: bias.as_slice().expect("contiguous bias") }
        }
        Op32::Relu => Step::Relu,
        Op32::Copy => Step::Copy,
    }))
}

/// [`forward_block`] in binary32 (sgemm with binary32 accumulation; bias and ReLU in binary32).
fn forward_block_f32(ops: &[Op32], acts: &mut [Array2<f32>], len: usize) {
    for (i, op) in ops.iter().enumerate() {
        let (done, rest) = acts.split_at_mut(i + 1);
        let h = done[i].slice(ndarray::s![..len, ..]);
        let mut out = rest[0].slice_mut(ndarray::s![..len, ..]);
        match op {
            Op32::Affine { wt, bias } => {
                general_mat_mul(1.0f32, &h, wt, 0.0f32, &mut out);
                out += &bias.view().insert_axis(Axis(0));
            }
            Op32::Relu => Zip::from(&mut out).and(&h).for_each(|o, &v| *o = v.max(0.0)),
            Op32::Copy => out.assign(&h),
        }
    }
}

/// The decided class of one draw, or K (one past the classes) when its outputs are not all finite.
#[inline]
pub(crate) fn class_or_overflow(decision: Decision, logits: ArrayView1<f64>) -> usize {
    // a sum is finite exactly when every term is (∞ and NaN propagate; ∞ − ∞ is NaN); overflow of the
    // sum of finite logits beyond f64::MAX is refused too, which costs nothing in practice
    if logits.sum().is_finite() {
        // Decision::decide's answer (the first strict maximum, or minimum: all scores are finite here, so
        // argmax of the negated scores is the first strict minimum), without its uniqueness pass or a
        // negated copy per draw
        let mut best = 0;
        for (c, &v) in logits.iter().enumerate() {
            let better = match decision {
                Decision::Argmax => v > logits[best],
                Decision::Argmin => v < logits[best],
            };
            if better {
                best = c;
            }
        }
        best
    } else {
        logits.len()
    }
}

/// Tasks per chunk of a parallel count: enough to keep every core busy, few enough that the per-task
/// results of one chunk take little memory.
const TASK_CHUNK: u64 = 1 << 16;

/// Runs `f` on consecutive ranges of task indices 0..total, each at most [`TASK_CHUNK`] long.
pub(crate) fn for_task_chunks(total: u64, mut f: impl FnMut(std::ops::Range<u64>)) {
    let mut start = 0;
    while start < total {
        let end = (start + TASK_CHUNK).min(total);
        f(start..end);
        start = end;
    }
}

/// Adds counts elementwise.
pub(crate) fn add_counts(acc: &mut [u64], c: &[u64]) {
    for (o, v) in acc.iter_mut().zip(c) {
        *o += v;
    }
}

/// The K class counts of a record whose last slot counted non-finite draws: an error when there were any.
pub(crate) fn without_overflow(mut counts: Vec<u64>, row: u64, n: u64) -> crate::Result<Vec<u64>> {
    let bad = counts.pop().expect("an overflow slot");
    if bad > 0 {
        return Err(crate::Error::NonFinite { row: row as usize, what: format!("the network's output at {bad} of {n} noisy draws") });
    }
    Ok(counts)
}

/// The steps of smoothing's forward pass on a device: each moves a block of samples (rows) from
/// boundary i's activations to boundary i+1's through layer i. The walk over the layers is written once
/// ([`forward_through`]); the CPU steps are below ([`CpuBlock`]), the GPU's in `crate::gpu::smooth`.
pub trait SampleDevice {
    type Error;
    /// h ↦ h·Wᵀ + b.
    fn affine(&mut self, i: usize, a: &Affine) -> Result<(), Self::Error>;
    /// h ↦ the layer's exact elementwise map.
    fn elementwise(&mut self, i: usize, e: &Elementwise) -> Result<(), Self::Error>;
    /// h ↦ max(h, 0) (a NaN becomes 0, as `f64::max` does).
    fn relu(&mut self, i: usize) -> Result<(), Self::Error>;
    /// h ↦ h (a reshape of flat rows).
    fn copy(&mut self, i: usize) -> Result<(), Self::Error>;
}

/// Moves a device's block from boundary `first` through `layers[first..]`: smoothing's one forward pass.
pub fn forward_through<D: SampleDevice>(dev: &mut D, layers: &[Layer], first: usize) -> Result<(), D::Error> {
    for (i, layer) in layers.iter().enumerate().skip(first) {
        match layer {
            Layer::Affine(a) => dev.affine(i, a)?,
            Layer::Elementwise(e) => dev.elementwise(i, e)?,
            Layer::Relu => dev.relu(i)?,
            Layer::Reshape { .. } => dev.copy(i)?,
        }
    }
    Ok(())
}

/// The CPU's block: the first `len` rows of preallocated buffers, one per boundary.
pub(crate) struct CpuBlock<'a> {
    pub acts: &'a mut [Array2<f64>],
    pub len: usize,
}

impl CpuBlock<'_> {
    /// Rows of boundary i (read) and boundary i + 1 (written).
    fn pair(&mut self, i: usize) -> (ndarray::ArrayView2<'_, f64>, ndarray::ArrayViewMut2<'_, f64>) {
        let (done, rest) = self.acts.split_at_mut(i + 1);
        (done[i].slice(ndarray::s![..self.len, ..]), rest[0].slice_mut(ndarray::s![..self.len, ..]))
    }
}

impl SampleDevice for CpuBlock<'_> {
    type Error = std::convert::Infallible;

    fn affine(&mut self, i: usize, a: &Affine) -> Result<(), Self::Error> {
        let (h, mut out) = self.pair(i);
        general_mat_mul(1.0, &h, &a.weight.t(), 0.0, &mut out);
        match (out.as_slice_mut(), a.bias.as_slice()) {
            // row-major block: the bias added row by row over flat slices (the same sums)
            (Some(o), Some(b)) if !b.is_empty() => flat::add_rows(o, b),
            _ => out += &a.bias.view().insert_axis(Axis(0)),
        }
        Ok(())
    }

    fn elementwise(&mut self, i: usize, e: &Elementwise) -> Result<(), Self::Error> {
        let (h, mut out) = self.pair(i);
        for (mut o, hr) in out.rows_mut().into_iter().zip(h.rows()) {
            for (j, (ov, &hv)) in o.iter_mut().zip(hr.iter()).enumerate() {
                *ov = e.apply(hv, j);
            }
        }
        Ok(())
    }

    fn relu(&mut self, i: usize) -> Result<(), Self::Error> {
        let (h, mut out) = self.pair(i);
        match (out.as_slice_mut(), h.as_slice()) {
            (Some(o), Some(h)) => flat::relu(o, h),
            _ => ndarray::Zip::from(&mut out).and(&h).for_each(|o, &v| *o = v.max(0.0)),
        }
        Ok(())
    }

    fn copy(&mut self, i: usize) -> Result<(), Self::Error> {
        let (h, mut out) = self.pair(i);
        out.assign(&h);
        Ok(())
    }
}

/// Runs `layers` on the first `len` rows of `acts[0]`, writing layer i's output into `acts[i + 1]`
/// (preallocated buffers of one block; shared by every batched sampler).
pub(crate) fn forward_block(layers: &[Layer], acts: &mut [Array2<f64>], len: usize) {
    match forward_through(&mut CpuBlock { acts, len }, layers, 0) {
        Ok(()) => {}
        Err(e) => match e {},
    }
}

/// Flat loops of [`forward_block`], in AVX2 where the CPU has it (the same operation on every element, so
/// the same values as the scalar loops).
mod flat {
    with_avx2! {
        /// o[r·d + j] += b[j] for every row r (d = b.len()).
        pub(super) fn add_rows(o: &mut [f64], b: &[f64]) => add_rows_any
    }

    #[inline(always)]
    fn add_rows_any(o: &mut [f64], b: &[f64]) {
        for row in o.chunks_exact_mut(b.len()) {
            for (o, &b) in row.iter_mut().zip(b) {
                *o += b;
            }
        }
    }

    with_avx2! {
        /// o[q] = max(h[q], 0).
        pub(super) fn relu(o: &mut [f64], h: &[f64]) => relu_any
    }

    #[inline(always)]
    fn relu_any(o: &mut [f64], h: &[f64]) {
        for (o, &v) in o.iter_mut().zip(h) {
            *o = v.max(0.0);
        }
    }
}

/// `net` with its elementwise layers folded into the following affine ones (borrowed when it has none).
pub(crate) fn folded(net: &Network) -> std::borrow::Cow<'_, Network> {
    if net.layers.iter().any(|l| matches!(l, Layer::Elementwise(_))) {
        std::borrow::Cow::Owned(net.fold_elementwise())
    } else {
        std::borrow::Cow::Borrowed(net)
    }
}

/// Writes x₀ + σ·ε_s for samples s = start..start+len of (record, phase) into the rows of `out`
/// (SMOOTH-3/SMOOTH-8's scheme: coordinate k of sample s is normal number s·d + k of stream 4·row + phase;
/// `noise` is scratch space of at least len·d).
pub(crate) fn fill_noisy_inputs(rng: &Philox, sigma: f64, rec: &NoisyRecord, phase: Phase, start: u64, noise: &mut [f64], out: ndarray::ArrayViewMut2<f64>) {
    let (len, d) = out.dim();
    let noise = &mut noise[..len * d];
    normals::fill(rng, 4 * rec.row + phase as u64, start * d as u64, noise);
    noisy_inputs(rec, sigma, ndarray::ArrayView2::from_shape((len, d), &*noise).expect("block of normals"), out);
}

/// The lower Cholesky factor of a symmetric positive definite matrix, or None if a pivot is not
/// positive.
fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut d = a[[j, j]];
        for k in 0..j {
            d -= l[[j, k]] * l[[j, k]];
        }
        if !(d > 0.0) {
            return None;
        }
        let d = d.sqrt();
        l[[j, j]] = d;
        for i in j + 1..n {
            let mut v = a[[i, j]];
            for k in 0..j {
                v -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = v / d;
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device reproduces the sampler from its accessors: the seed, σ and decision it was built with.
    #[test]
    fn accessors_give_back_what_the_sampler_was_built_with() {
        let net = crate::net::init::seeded_mlp(&[3, 4, 2], 1);
        for seed in [0u64, 1, u32::MAX as u64 + 7, u64::MAX] {
            let s = Sampler::new(&net, 0.375, seed, Decision::Argmin, NoiseSpace::Input).unwrap();
            assert_eq!((s.seed(), s.sigma(), s.decision()), (seed, 0.375, Decision::Argmin));
        }
    }

    #[test]
    fn cholesky_reconstructs_and_rejects_singular() {
        let a = ndarray::array![[4.0, 2.0, 0.6], [2.0, 5.0, 1.0], [0.6, 1.0, 3.0]];
        let l = cholesky(&a).unwrap();
        assert!((l.dot(&l.t()) - &a).iter().all(|v| v.abs() < 1e-14));
        assert!(cholesky(&ndarray::array![[1.0, 1.0], [1.0, 1.0]]).is_none());
    }
}
