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
    let rows = start.coef.nrows();
    let dims = net.boundary_dims().expect("validated");
    let mut alphas: Vec<Option<Array2<f64>>> = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Layer::Relu => {
                let ad = &ctx.relaxation(i).unwrap().pos_mult;
                Some(Array2::from_shape_fn((rows, dims[i]), |(r, j)| ad[[start.owner[r], j]]))
            }
            Layer::Affine(_) | Layer::Elementwise(_) | Layer::Reshape { .. } => None,
        })
        .collect();
    let mut moments: Vec<Option<(Array2<f64>, Array2<f64>)>> =
        alphas.iter().map(|a| a.as_ref().map(|a| (Array2::zeros(a.raw_dim()), Array2::zeros(a.raw_dim())))).collect();
    let mut best = Array1::from_elem(rows, f64::NEG_INFINITY);
    let mut lr = opts.learning_rate;
    let (beta1, beta2) = (0.9f64, 0.999f64);
    for step in 0..=opts.iterations {
        let mut tape = Tape::new();
        let lin = ctx.backward(net.layers.len(), start.clone(), Some(&alphas), Some(&mut tape));
        let lb = lin.concretize(regions);
        Zip::from(&mut best).and(&lb).for_each(|b, &v| *b = b.max(v));
        if step == opts.iterations {
            break;
        }
        let grads = gradient(&ctx, &lin, &tape, &alphas);
        let t = (step + 1) as i32;
        for ((g, a), m) in grads.into_iter().zip(alphas.iter_mut()).zip(moments.iter_mut()) {
            let (Some(g), Some(a), Some((m1, v1))) = (g, a.as_mut(), m.as_mut()) else { continue };
            Zip::from(a).and(&g).and(m1).and(v1).for_each(|a, &g, m1, v1| {
                *m1 = beta1 * *m1 + (1.0 - beta1) * g;
                *v1 = beta2 * *v1 + (1.0 - beta2) * g * g;
                let mhat = *m1 / (1.0 - beta1.powi(t));
                let vhat = *v1 / (1.0 - beta2.powi(t));
                // ascent on the bound; the projection onto [0, 1] keeps every iterate sound (ALPHA-1)
                *a = (*a + lr * mhat / (vhat.sqrt() + 1e-8)).clamp(0.0, 1.0);
            });
        }
        lr *= opts.lr_decay;
    }
    reshape_rows(best, regions.len())
}

/// ∂(bound of each row)/∂α for every ReLU layer, by reverse differentiation of the backward pass with
/// the relaxation choices held fixed (rounding-error terms are not differentiated).
fn gradient(ctx: &CrownBatch, lin: &LinearBatch, tape: &Tape, alphas: &[Option<Array2<f64>>]) -> Vec<Option<Array2<f64>>> {
    let net = ctx.network();
    let mut g = concretize_gradient(lin, ctx.regions());
    let mut grads: Vec<Option<Array2<f64>>> = vec![None; net.layers.len()];
    let mut entries = tape.iter().rev();
    for (i, layer) in net.layers.iter().enumerate() {
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
    grads
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
