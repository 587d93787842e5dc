//! β-CROWN (Wang et al. 2021) bounds for the sub-domains of ReLU splitting, batched (BETA-1, BETA-2 in
//! `proofs/BAB.md`). A sub-domain is an input box with split constraints s·z ≥ 0 on some ReLU inputs z
//! (s = +1: the neuron is active, −1: inactive). Its intermediate bounds are its parent's (sound on any
//! subset of the parent's region) with each split neuron's bound clamped at 0 on the split side; the
//! final bound's slopes α and the split constraints' Lagrange multipliers β ≥ 0 are optimized together
//! by projected Adam, warm-started from the parent. Every iterate is a sound bound.
use super::alpha::{adaptive_alphas, optimize, Splits, Steps};
use super::crown::CrownBatch;
use super::linear::LinearBatch;
use super::{BoxBatch, BoxView, Intermediate, RegionBatch};
use crate::net::{Layer, Network};
use ndarray::{s, Array1, Array2, Array3};
use rayon::prelude::*;

/// A split: neuron `neuron` of the input of ReLU layer `layer` (an index into `Network::layers`) is
/// constrained to z ≥ 0 (`active`) or z ≤ 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Split {
    pub layer: usize,
    pub neuron: usize,
    pub active: bool,
}

/// Sound bounds of every ReLU layer's input over one input box: `relu[i]` for each ReLU layer i
/// (`None` for other layers).
#[derive(Clone, Debug)]
pub struct ReluBounds {
    pub relu: Vec<Option<(Array1<f64>, Array1<f64>)>>,
}

impl ReluBounds {
    /// CROWN's bounds over the box [lo, hi] (`Intermediate::UnstableOnly`).
    pub fn of_box(net: &Network, lo: &[f64], hi: &[f64]) -> ReluBounds {
        let lower = Array2::from_shape_vec((1, lo.len()), lo.to_vec()).expect("one row");
        let upper = Array2::from_shape_vec((1, hi.len()), hi.to_vec()).expect("one row");
        let centers = (&lower + &upper) * 0.5;
        let zeros = Array1::zeros(1);
        let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
        let ctx = CrownBatch::new(net, regions, Intermediate::UnstableOnly);
        let relu = net
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                Layer::Relu => {
                    let b = ctx.boundary_box(i);
                    Some((b.lower.row(0).to_owned(), b.upper.row(0).to_owned()))
                }
                Layer::Affine(_) | Layer::Elementwise(_) | Layer::Reshape { .. } => None,
            })
            .collect();
        ReluBounds { relu }
    }

    /// CROWN's bounds over the box [lo, hi] tightened by optimizing, layer after layer, the slopes of
    /// the earlier layers for each unstable neuron's own lower and upper bound (α-CROWN for intermediate
    /// layers, as auto_LiRPA's `optimize_bound_args` does). Every slope choice gives sound bounds
    /// (ALPHA-1); the result is intersected with CROWN's, so it is never looser. Past `until` the
    /// remaining layers keep CROWN's bounds (still sound).
    pub fn optimized(net: &Network, lo: &[f64], hi: &[f64], opts: &BetaOptions, until: Option<std::time::Instant>) -> ReluBounds {
        let mut out = Self::of_box(net, lo, hi);
        let lower = Array2::from_shape_vec((1, lo.len()), lo.to_vec()).expect("one row");
        let upper = Array2::from_shape_vec((1, hi.len()), hi.to_vec()).expect("one row");
        let centers = (&lower + &upper) * 0.5;
        let zeros = Array1::zeros(1);
        let steps = Steps { iterations: opts.iterations, lr_alpha: opts.lr_alpha, lr_beta: 0.0, lr_decay: opts.lr_decay };
        let relu_layers: Vec<usize> = (0..net.layers.len()).filter(|&i| out.relu[i].is_some()).collect();
        for &i in relu_layers.iter().skip(1) {
            if until.is_some_and(|t| std::time::Instant::now() >= t) {
                break;
            }
            let Some(Layer::Affine(a)) = i.checked_sub(1).map(|p| &net.layers[p]) else { continue };
            let (l, u) = out.relu[i].clone().expect("ReLU layer");
            let pairs: Vec<(usize, usize)> = (0..l.len()).filter(|&j| l[j] < 0.0 && u[j] > 0.0).map(|j| (0, j)).collect();
            if pairs.is_empty() {
                continue;
            }
            let given: Vec<Option<BoxBatch>> = out
                .relu
                .iter()
                .enumerate()
                .map(|(q, b)| {
                    b.as_ref().filter(|_| q < i).map(|(l, u)| BoxBatch { lower: l.clone().insert_axis(ndarray::Axis(0)), upper: u.clone().insert_axis(ndarray::Axis(0)) })
                })
                .collect();
            let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
            let ctx = CrownBatch::with_relu_bounds(net, regions, &given);
            let start = super::linear::signed_affine_rows(&pairs, a);
            let alphas = adaptive_alphas(&ctx, &start);
            let best = optimize(&ctx, i - 1, &start, alphas, None, &steps, None);
            let (lm, um) = out.relu[i].as_mut().expect("ReLU layer");
            for (k, &(_, j)) in pairs.iter().enumerate() {
                lm[j] = lm[j].max(best.bound[2 * k]);
                um[j] = um[j].min(-best.bound[2 * k + 1]);
            }
        }
        out
    }

    /// The bounds under `splits` (BETA-2): an active neuron's lower bound becomes max(l, 0), an
    /// inactive one's upper bound min(u, 0). `None` when some bound becomes empty (l > u): then no
    /// point of the box meets the splits.
    pub fn with_splits(&self, splits: &[Split]) -> Option<ReluBounds> {
        let mut out = self.clone();
        for sp in splits {
            let (l, u) = out.relu[sp.layer].as_mut().expect("splits name ReLU layers");
            if sp.active {
                l[sp.neuron] = l[sp.neuron].max(0.0);
            } else {
                u[sp.neuron] = u[sp.neuron].min(0.0);
            }
            if !(l[sp.neuron] <= u[sp.neuron]) {
                return None;
            }
        }
        Some(out)
    }

    /// The unstable neurons (l < 0 < u) as (layer, neuron).
    pub fn unstable(&self) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for (i, b) in self.relu.iter().enumerate() {
            if let Some((l, u)) = b {
                v.extend((0..l.len()).filter(|&j| l[j] < 0.0 && u[j] > 0.0).map(|j| (i, j)));
            }
        }
        v
    }
}

/// One sub-domain to bound.
#[derive(Clone, Debug)]
pub struct SplitDomain<'a> {
    pub lower: &'a [f64],
    pub upper: &'a [f64],
    /// Its ReLU bounds (already clamped by `splits`, see [`ReluBounds::with_splits`]).
    pub bounds: ReluBounds,
    pub splits: &'a [Split],
    /// m × outputs: bound spec·f(x) from below.
    pub spec: Array2<f64>,
    /// Warm start (from the parent), else CROWN's slopes and β = 0.
    pub warm: Option<&'a Warm>,
    /// Per spec row, the value its lower bound must exceed to prove the sub-domain (one row suffices);
    /// when every domain of a chunk has one proven, the optimization stops early.
    pub goal: Option<Array1<f64>>,
    /// `Some(k)`: recompute the CROWN bounds of the unstable neurons of every ReLU layer after layer k
    /// under these bounds (BETA-3), e.g. k = the layer of the newest split; `None`: keep `bounds`.
    pub refine_after: Option<usize>,
}

/// Slopes of every ReLU layer (m rows × neurons per layer) and multipliers, one per split (m rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Warm {
    pub alpha: Vec<Option<Array2<f32>>>,
    /// β for splits[k] in column k (m × splits).
    pub beta: Array2<f32>,
}

impl Warm {
    /// The warm start of a child with one more split: the parent's values, the new multiplier at 0.
    pub fn with_new_split(&self) -> Warm {
        let (m, k) = self.beta.dim();
        let mut beta = Array2::zeros((m, k + 1));
        beta.slice_mut(s![.., ..k]).assign(&self.beta);
        Warm { alpha: self.alpha.clone(), beta }
    }
}

/// What bounding a sub-domain gives.
#[derive(Clone, Debug)]
pub struct SplitResult {
    /// Sound lower bounds of spec·f over the sub-domain (m).
    pub lower: Array1<f64>,
    /// The slopes and multipliers of the best iterate.
    pub warm: Warm,
    /// For branching: per ReLU layer, the coefficients (m × neurons) on its output in the last pass.
    pub relu_coef: Vec<Option<Array2<f64>>>,
    /// Per spec row, the corner of the box minimizing the last pass's linear bound: a candidate point
    /// of the unsafe set (to be checked, never trusted).
    pub vertex: Array2<f64>,
    /// The sub-domain's ReLU bounds after the recomputation `refine_after` asked for (else `None`).
    pub bounds: Option<ReluBounds>,
}

/// The `k` unstable neurons with the largest relaxation loss |λ|·gap for the constraint nearest to
/// proven (λ < 0: the chord's gap at 0, −u·l/(u − l); λ ≥ 0: the lower line's largest gap
/// max((1−α)u, −αl)), best first; when every score is zero, the widest unstable neuron.
pub fn babsr(bounds: &ReluBounds, res: &SplitResult, row: usize, k: usize) -> Vec<(usize, usize)> {
    let unstable = bounds.unstable();
    if unstable.is_empty() {
        return vec![];
    }
    let score = |&(i, j): &(usize, usize)| {
        let (l, u) = bounds.relu[i].as_ref().map(|(l, u)| (l[j], u[j])).expect("ReLU layer");
        let lam = res.relu_coef[i].as_ref().map_or(0.0, |c| c[[row, j]]);
        if lam < 0.0 {
            -lam * (-u * l / (u - l))
        } else {
            let a = res.warm.alpha[i].as_ref().map_or(0.0, |a| a[[row, j]] as f64);
            lam * ((1.0 - a) * u).max(-a * l)
        }
    };
    let mut ranked: Vec<((usize, usize), f64)> = unstable.iter().map(|n| (*n, score(n))).filter(|(_, s)| *s > 0.0).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if !ranked.is_empty() {
        return ranked.into_iter().take(k).map(|(n, _)| n).collect();
    }
    let width = |&(i, j): &(usize, usize)| bounds.relu[i].as_ref().map_or(0.0, |(l, u)| u[j].min(-l[j]));
    unstable.iter().copied().max_by(|a, b| width(a).total_cmp(&width(b)).then(b.cmp(a))).into_iter().collect()
}

/// Options of the β-CROWN optimization.
#[derive(Clone, Debug, PartialEq)]
pub struct BetaOptions {
    pub iterations: usize,
    pub lr_alpha: f64,
    pub lr_beta: f64,
    pub lr_decay: f64,
}

impl Default for BetaOptions {
    /// α,β-CROWN's BaB defaults, with fewer iterations (warm starts carry the optimization on).
    fn default() -> Self {
        BetaOptions { iterations: 8, lr_alpha: 0.1, lr_beta: 0.05, lr_decay: 0.98 }
    }
}

/// Domains per parallel task (a constant: results never depend on the grouping).
const DOMAINS_PER_TASK: usize = 64;

/// Sound β-CROWN lower bounds for each sub-domain (all with the same m). Each domain's result depends
/// only on that domain.
pub fn beta_crown(net: &Network, domains: &[SplitDomain], opts: &BetaOptions) -> Vec<SplitResult> {
    domains.par_chunks(DOMAINS_PER_TASK).flat_map_iter(|chunk| bound_chunk(net, chunk, opts)).collect()
}

fn bound_chunk(net: &Network, doms: &[SplitDomain], opts: &BetaOptions) -> Vec<SplitResult> {
    let n = doms.len();
    let d = doms[0].lower.len();
    let (m, k) = doms[0].spec.dim();
    let mut lower = Array2::zeros((n, d));
    let mut upper = Array2::zeros((n, d));
    let mut spec = Array3::zeros((n, m, k));
    for (r, dom) in doms.iter().enumerate() {
        lower.row_mut(r).assign(&ndarray::ArrayView1::from(dom.lower));
        upper.row_mut(r).assign(&ndarray::ArrayView1::from(dom.upper));
        spec.slice_mut(s![r, .., ..]).assign(&dom.spec);
    }
    let layers = net.layers.len();
    let given: Vec<Option<BoxBatch>> = (0..layers)
        .map(|i| {
            doms[0].bounds.relu[i].as_ref().map(|(l0, _)| {
                let mut bl = Array2::zeros((n, l0.len()));
                let mut bu = Array2::zeros((n, l0.len()));
                for (r, dom) in doms.iter().enumerate() {
                    let (l, u) = dom.bounds.relu[i].as_ref().expect("same network");
                    bl.row_mut(r).assign(l);
                    bu.row_mut(r).assign(u);
                }
                BoxBatch { lower: bl, upper: bu }
            })
        })
        .collect();
    let centers = (&lower + &upper) * 0.5;
    let zeros = Array1::zeros(n);
    let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
    let refine_after: Vec<Option<usize>> = doms.iter().map(|d| d.refine_after).collect();
    let ctx = CrownBatch::with_relu_bounds_refined(net, regions, &given, &refine_after);
    let start = LinearBatch::from_spec(spec.view());
    let mut alphas = adaptive_alphas(&ctx, &start);
    let mut sign: Vec<Option<Array2<f64>>> = given.iter().map(|g| g.as_ref().map(|b| Array2::zeros(b.lower.raw_dim()))).collect();
    let mut beta: Vec<Option<Array2<f64>>> = alphas.iter().map(|a| a.as_ref().map(|a| Array2::zeros(a.raw_dim()))).collect();
    let mut any_split = false;
    for (r, dom) in doms.iter().enumerate() {
        for (q, sp) in dom.splits.iter().enumerate() {
            any_split = true;
            sign[sp.layer].as_mut().expect("ReLU layer")[[r, sp.neuron]] = if sp.active { 1.0 } else { -1.0 };
            if let Some(w) = dom.warm.filter(|w| q < w.beta.ncols()) {
                for row in 0..m {
                    beta[sp.layer].as_mut().expect("ReLU layer")[[r * m + row, sp.neuron]] = (w.beta[[row, q]] as f64).max(0.0);
                }
            }
        }
        if let Some(w) = dom.warm {
            for (a, wa) in alphas.iter_mut().zip(&w.alpha) {
                if let (Some(a), Some(wa)) = (a.as_mut(), wa) {
                    for row in 0..m {
                        a.row_mut(r * m + row).assign(&wa.row(row).mapv(|v| (v as f64).clamp(0.0, 1.0)));
                    }
                }
            }
        }
    }
    let splits = any_split.then_some(Splits { sign, beta });
    let steps = Steps { iterations: opts.iterations, lr_alpha: opts.lr_alpha, lr_beta: opts.lr_beta, lr_decay: opts.lr_decay };
    let goals: Option<Vec<&Array1<f64>>> = doms.iter().map(|d| d.goal.as_ref()).collect();
    let proven = |b: &Array1<f64>| goals.as_ref().is_some_and(|g| g.iter().enumerate().all(|(r, g)| (0..m).any(|j| b[r * m + j] - g[j] > 0.0)));
    let best = optimize(&ctx, net.layers.len(), &start, alphas, splits, &steps, Some(&proven));
    let coef_of: Vec<Option<Array2<f64>>> = {
        let mut v: Vec<Option<Array2<f64>>> = vec![None; layers];
        for (i, c) in &best.tape {
            v[*i] = Some(c.clone());
        }
        v
    };
    (0..n)
        .map(|r| {
            let rows = s![r * m..(r + 1) * m, ..];
            let alpha = best.alphas.iter().map(|a| a.as_ref().map(|a| a.slice(rows).mapv(|v| v as f32))).collect();
            let beta = Array2::from_shape_fn((m, doms[r].splits.len()), |(row, q)| {
                let sp = doms[r].splits[q];
                best.betas.as_ref().and_then(|b| b[sp.layer].as_ref()).map_or(0.0, |b| b[[r * m + row, sp.neuron]] as f32)
            });
            SplitResult {
                lower: best.bound.slice(s![r * m..(r + 1) * m]).to_owned(),
                warm: Warm { alpha, beta },
                relu_coef: coef_of.iter().map(|c| c.as_ref().map(|c| c.slice(rows).to_owned())).collect(),
                vertex: Array2::from_shape_fn((m, d), |(row, i)| {
                    if best.input_coef[[r * m + row, i]] >= 0.0 { doms[r].lower[i] } else { doms[r].upper[i] }
                }),
                bounds: doms[r].refine_after.map(|_| ReluBounds {
                    relu: (0..layers)
                        .map(|i| given[i].as_ref().map(|_| (ctx.boundary_box(i).lower.row(r).to_owned(), ctx.boundary_box(i).upper.row(r).to_owned())))
                        .collect(),
                }),
            }
        })
        .collect()
}
