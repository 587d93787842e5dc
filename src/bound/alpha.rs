//! α-CROWN (Xu et al. 2021), batched: the lower slopes of unstable ReLUs in the final backward pass
//! are optimized by projected Adam on the bound itself. Every α ∈ [0, 1] gives a sound bound (ALPHA-1
//! in `proofs/ALPHA.md`); the first iterate is CROWN's adaptive choice and the best bound per row is
//! kept, so the result is never looser than CROWN. Intermediate bounds are CROWN's (not re-optimized,
//! unlike auto_LiRPA's α-CROWN, which also optimizes the slopes used for intermediate layers).
use super::crown::{CrownBatch, Tape};
use super::linear::{reshape_rows, LinearBatch, ReluState};
use super::{Intermediate, RegionBatch};
use crate::net::{Layer, Network};
use crate::spec::Norm;
use ndarray::{Array1, Array2, ArrayView3, Axis, Zip};
use serde::{Deserialize, Serialize};

/// Options of the slope optimization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlphaCrownOptions {
    /// Adam iterations (auto_LiRPA's default: 20).
    pub iterations: usize,
    /// Adam step size (auto_LiRPA's `lr_alpha`: 0.5).
    pub learning_rate: f64,
    /// Multiplicative step-size decay per iteration (auto_LiRPA: 0.98).
    pub lr_decay: f64,
    /// Which neurons get CROWN intermediate bounds.
    pub intermediate: Intermediate,
}

impl Default for AlphaCrownOptions {
    fn default() -> Self {
        AlphaCrownOptions { iterations: 20, learning_rate: 0.5, lr_decay: 0.98, intermediate: Intermediate::default() }
    }
}

/// Sound α-CROWN lower bounds of spec[b]·f(x) over each region (rows × m), at least as tight as CROWN.
pub(crate) fn alpha_crown_lower_bounds(net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>, opts: &AlphaCrownOptions) -> Array2<f64> {
    let ctx = CrownBatch::new(net, regions.clone(), opts.intermediate);
    let start = LinearBatch::from_spec(spec);
    let alphas = adaptive_alphas(&ctx, &start);
    let steps = Steps { iterations: opts.iterations, lr_alpha: opts.learning_rate, lr_beta: 0.0, lr_decay: opts.lr_decay };
    let best = optimize(&ctx, net.layers.len(), &start, alphas, None, &steps, None);
    reshape_rows(best.bound, regions.len())
}

/// The adaptive (CROWN) lower slopes of every ReLU layer, one row per row of `start`.
pub(crate) fn adaptive_alphas(ctx: &CrownBatch, start: &LinearBatch) -> Vec<Option<Array2<f64>>> {
    let net = ctx.network();
    let dims = net.boundary_dims().expect("validated");
    let rows = start.coef.nrows();
    net.layers
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Layer::Relu => {
                let ad = &ctx.relaxation(i).unwrap().pos_mult;
                Some(Array2::from_shape_fn((rows, dims[i]), |(r, j)| ad[[start.owner[r], j]]))
            }
            Layer::Affine(_) | Layer::Elementwise(_) | Layer::Reshape { .. } => None,
        })
        .collect()
}

/// Adam schedule of a slope optimization.
#[derive(Clone, Debug)]
pub(crate) struct Steps {
    pub iterations: usize,
    pub lr_alpha: f64,
    pub lr_beta: f64,
    pub lr_decay: f64,
}

/// Split constraints of each row's sub-domain and their multipliers, per ReLU layer: `sign` is
/// owner-rows × neurons (+1: z ≥ 0, −1: z ≤ 0, 0: no split), `beta` is rows × neurons (β ≥ 0).
pub(crate) struct Splits {
    pub sign: Vec<Option<Array2<f64>>>,
    pub beta: Vec<Option<Array2<f64>>>,
}

/// The result of [`optimize`]: per row the best bound and the slopes (and multipliers) that gave it,
/// and the coefficients on each ReLU's output in the last backward pass (for branching).
pub(crate) struct Optimized {
    pub bound: Array1<f64>,
    pub alphas: Vec<Option<Array2<f64>>>,
    pub betas: Option<Vec<Option<Array2<f64>>>>,
    pub tape: Tape,
    /// The input coefficients of the last pass (rows × inputs).
    pub input_coef: Array2<f64>,
}

/// Maximizes each row's sound bound over the slopes α ∈ [0, 1] (and multipliers β ≥ 0 of the split
/// constraints) by projected Adam ascent, starting from the given values; every iterate is a sound
/// bound (ALPHA-1, BETA-1) and the best per row is kept, so the result is never looser than the start.
/// Each row is optimized on its own (its bound depends on that row's values only). `start` bounds
/// boundary `end` (the network's output: `net.layers.len()`).
///
/// `stop`, when given, ends the ascent as soon as it holds for the best bounds so far (e.g. every
/// sub-domain already proven): fewer iterations, still sound bounds.
pub(crate) fn optimize(
    ctx: &CrownBatch,
    end: usize,
    start: &LinearBatch,
    mut alphas: Vec<Option<Array2<f64>>>,
    mut splits: Option<Splits>,
    steps: &Steps,
    stop: Option<&dyn Fn(&Array1<f64>) -> bool>,
) -> Optimized {
    let rows = start.coef.nrows();
    let zeros_like = |v: &Vec<Option<Array2<f64>>>| -> Vec<Option<(Array2<f64>, Array2<f64>)>> {
        v.iter().map(|a| a.as_ref().map(|a| (Array2::zeros(a.raw_dim()), Array2::zeros(a.raw_dim())))).collect()
    };
    let mut moments = zeros_like(&alphas);
    let mut beta_moments = splits.as_ref().map(|s| zeros_like(&s.beta));
    let mut best = Array1::from_elem(rows, f64::NEG_INFINITY);
    let mut best_alphas = alphas.clone();
    let mut best_betas = splits.as_ref().map(|s| s.beta.clone());
    let (mut lr_a, mut lr_b) = (steps.lr_alpha, steps.lr_beta);
    let mut tape = Tape::new();
    let mut input_coef = Array2::zeros((0, 0));
    for step in 0..=steps.iterations {
        tape.clear();
        let signed = splits.as_ref().map(|s| signed_betas(s, start));
        let lin = ctx.backward(end, start.clone(), Some(&alphas), signed.as_deref(), Some(&mut tape));
        let lb = lin.concretize(ctx.regions());
        for r in 0..rows {
            if lb[r] > best[r] || (step == 0 && best[r] == f64::NEG_INFINITY) {
                best[r] = best[r].max(lb[r]);
                copy_row(&alphas, &mut best_alphas, r);
                if let (Some(s), Some(bb)) = (&splits, best_betas.as_mut()) {
                    copy_row(&s.beta, bb, r);
                }
            }
        }
        if step == steps.iterations || stop.is_some_and(|f| f(&best)) {
            input_coef = lin.coef;
            break;
        }
        let (grads, beta_grads) = gradient(ctx, end, &lin, &tape, &alphas, splits.as_ref().map(|s| &s.sign[..]));
        let t = (step + 1) as i32;
        // ascent on the bound; the projections onto [0, 1] and [0, ∞) keep every iterate sound
        adam(&mut alphas, &grads, &mut moments, t, lr_a, (0.0, 1.0));
        if let (Some(s), Some(bm)) = (splits.as_mut(), beta_moments.as_mut()) {
            adam(&mut s.beta, &beta_grads, bm, t, lr_b, (0.0, f64::INFINITY));
        }
        lr_a *= steps.lr_decay;
        lr_b *= steps.lr_decay;
    }
    Optimized { bound: best, alphas: best_alphas, betas: best_betas, tape, input_coef }
}

fn copy_row(from: &[Option<Array2<f64>>], to: &mut [Option<Array2<f64>>], r: usize) {
    for (f, t) in from.iter().zip(to.iter_mut()) {
        if let (Some(f), Some(t)) = (f, t.as_mut()) {
            t.row_mut(r).assign(&f.row(r));
        }
    }
}

/// β_j·s_j per row (exact: s = ±1).
fn signed_betas(s: &Splits, start: &LinearBatch) -> Vec<Option<Array2<f64>>> {
    s.beta
        .iter()
        .zip(&s.sign)
        .map(|(b, sg)| match (b, sg) {
            (Some(b), Some(sg)) => Some(Array2::from_shape_fn(b.raw_dim(), |(r, j)| b[[r, j]] * sg[[start.owner[r], j]])),
            _ => None,
        })
        .collect()
}

/// One projected Adam ascent step on every layer's parameters, clamped to `range`.
fn adam(params: &mut [Option<Array2<f64>>], grads: &[Option<Array2<f64>>], moments: &mut [Option<(Array2<f64>, Array2<f64>)>], t: i32, lr: f64, range: (f64, f64)) {
    let (beta1, beta2) = (0.9f64, 0.999f64);
    for ((g, a), m) in grads.iter().zip(params.iter_mut()).zip(moments.iter_mut()) {
        let (Some(g), Some(a), Some((m1, v1))) = (g, a.as_mut(), m.as_mut()) else { continue };
        Zip::from(a).and(g).and(m1).and(v1).for_each(|a, &g, m1, v1| {
            *m1 = beta1 * *m1 + (1.0 - beta1) * g;
            *v1 = beta2 * *v1 + (1.0 - beta2) * g * g;
            let mhat = *m1 / (1.0 - beta1.powi(t));
            let vhat = *v1 / (1.0 - beta2.powi(t));
            *a = (*a + lr * mhat / (vhat.sqrt() + 1e-8)).clamp(range.0, range.1);
        });
    }
}

/// ∂(bound of each row)/∂α for every ReLU layer, by reverse differentiation of the backward pass with
/// the relaxation choices held fixed (rounding-error terms are not differentiated).
/// With split constraints (`sign`), also ∂/∂β: coef_z = relu_back(coef) − β⊙s, so ∂/∂β_j = −s_j·∂/∂coef_z,j.
type Grads = (Vec<Option<Array2<f64>>>, Vec<Option<Array2<f64>>>);
fn gradient(ctx: &CrownBatch, end: usize, lin: &LinearBatch, tape: &Tape, alphas: &[Option<Array2<f64>>], sign: Option<&[Option<Array2<f64>>]>) -> Grads {
    let net = ctx.network();
    let mut g = concretize_gradient(lin, ctx.regions());
    let mut grads: Vec<Option<Array2<f64>>> = vec![None; net.layers.len()];
    let mut beta_grads: Vec<Option<Array2<f64>>> = vec![None; net.layers.len()];
    let mut entries = tape.iter().rev();
    for (i, layer) in net.layers[..end].iter().enumerate() {
        match layer {
            // coef_i = coef_{i+1}·W and constant += coef_{i+1}·b
            Layer::Affine(a) => g = g.dot(&a.weight.t()) + &a.bias.view().insert_axis(Axis(0)),
            // coef_i = coef_{i+1} ⊙ scale and constant += coef_{i+1}·shift
            Layer::Elementwise(e) => {
                let (scale, shift) = e.as_scale_shift();
                g = &g * &scale.view().insert_axis(Axis(0)) + &shift.view().insert_axis(Axis(0));
            }
            Layer::Relu => {
                let (layer, post) = entries.next().expect("one tape entry per ReLU");
                debug_assert_eq!(*layer, i);
                let rx = ctx.relaxation(i).unwrap();
                if let Some(sg) = sign.and_then(|s| s[i].as_ref()) {
                    beta_grads[i] = Some(Array2::from_shape_fn(g.raw_dim(), |(r, j)| -sg[[lin.owner[r], j]] * g[[r, j]]));
                }
                let alpha = alphas[i].as_ref().unwrap();
                let mut ga = Array2::zeros(alpha.raw_dim());
                let mut g_post = Array2::zeros(post.raw_dim());
                for ((r, j), &lam) in post.indexed_iter() {
                    let o = lin.owner[r];
                    let gp = g[[r, j]];
                    g_post[[r, j]] = match rx.state[[o, j]] {
                        ReluState::Active => gp,
                        ReluState::Inactive => 0.0,
                        ReluState::Unstable if lam >= 0.0 => {
                            ga[[r, j]] = gp * lam;
                            gp * alpha[[r, j]]
                        }
                        ReluState::Unstable => gp * rx.neg_mult[[o, j]] + rx.neg_intercept[[o, j]],
                    };
                }
                grads[i] = Some(ga);
                g = g_post;
            }
            Layer::Reshape { .. } => {}
        }
    }
    (grads, beta_grads)
}

/// ∂/∂a of the concretized bound of each row a (a subgradient at kinks).
fn concretize_gradient(lin: &LinearBatch, regions: &RegionBatch) -> Array2<f64> {
    let mut g = Array2::zeros(lin.coef.raw_dim());
    for (r, (mut gr, a)) in g.outer_iter_mut().zip(lin.coef.outer_iter()).enumerate() {
        let o = lin.owner[r];
        let (x0, eps) = (regions.centers.row(o), regions.eps[o]);
        if let Some(b) = regions.boxes {
            for (k, (&ak, gk)) in a.iter().zip(gr.iter_mut()).enumerate() {
                *gk = if ak >= 0.0 { b.lower[[o, k]] } else { b.upper[[o, k]] };
            }
            continue;
        }
        if let Some(dom) = regions.domain.filter(|_| regions.norm == Norm::Linf) {
            for (k, (&ak, gk)) in a.iter().zip(gr.iter_mut()).enumerate() {
                *gk = if ak >= 0.0 { (x0[k] - eps).max(dom.lower[k]) } else { (x0[k] + eps).min(dom.upper[k]) };
            }
            continue;
        }
        gr.assign(&x0);
        let sign = |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 };
        match regions.norm {
            Norm::Linf => Zip::from(&mut gr).and(&a).for_each(|gk, &ak| *gk -= eps * sign(ak)),
            Norm::L2 => {
                let n = a.dot(&a).sqrt();
                if n > 0.0 {
                    Zip::from(&mut gr).and(&a).for_each(|gk, &ak| *gk -= eps * ak / n);
                }
            }
            Norm::L1 => {
                let (k, ak) = a.iter().enumerate().fold((0, 0.0f64), |best, (k, &v)| if v.abs() > best.1.abs() { (k, v) } else { best });
                gr[k] -= eps * sign(ak);
            }
        }
    }
    g
}
