//! α-CROWN (Xu et al. 2021): the lower slopes of unstable ReLUs in the final backward pass are
//! optimized by projected Adam on the bound itself. Every α ∈ [0, 1] gives a sound bound (ALPHA-1 in
//! `proofs/ALPHA.md`); the first iterate is CROWN's adaptive choice and the best bound per row is kept,
//! so the result is never looser than CROWN. Intermediate bounds are CROWN's (not re-optimized).
use super::crown::{CrownContext, Tape};
use super::linear::{relu_state, LinearLower, ReluState};
use crate::net::Layer;
use crate::spec::{Norm, Region};
use ndarray::{Array1, Array2, Axis, Zip};
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
}

impl Default for AlphaCrownOptions {
    fn default() -> Self {
        AlphaCrownOptions { iterations: 20, learning_rate: 0.5, lr_decay: 0.98 }
    }
}

/// Sound α-CROWN lower bounds of spec·f(x) over the region, at least as tight as CROWN's.
pub fn alpha_crown_lower_bounds(
    net: &crate::net::Network,
    region: &Region,
    spec: &Array2<f64>,
    opts: &AlphaCrownOptions,
) -> Array1<f64> {
    let ctx = CrownContext::new(net, region.clone());
    let spec = spec.as_standard_layout().to_owned();
    let m = spec.nrows();
    let dims = net.boundary_dims().expect("validated");
    // α per ReLU layer: (rows × neurons), initialised to CROWN's adaptive slopes.
    let mut alphas: Vec<Option<Array2<f64>>> = net
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| match l {
            Layer::Relu => {
                let ad = ctx.adaptive_slopes(i);
                Some(Array2::from_shape_fn((m, dims[i]), |(_, j)| ad[j]))
            }
            Layer::Affine(_) | Layer::Reshape { .. } => None,
        })
        .collect();
    let mut adam: Vec<Option<(Array2<f64>, Array2<f64>)>> =
        alphas.iter().map(|a| a.as_ref().map(|a| (Array2::zeros(a.raw_dim()), Array2::zeros(a.raw_dim())))).collect();
    let mut best = Array1::from_elem(m, f64::NEG_INFINITY);
    let mut lr = opts.learning_rate;
    let (beta1, beta2) = (0.9f64, 0.999f64);
    for step in 0..=opts.iterations {
        let mut tape = Tape::new();
        let slope = |layer: usize, row: usize, j: usize| alphas[layer].as_ref().unwrap()[[row, j]];
        let lin = ctx.backward(net.layers.len(), LinearLower::identity(spec.clone()), &slope, Some(&mut tape));
        let lb = lin.concretize(region);
        Zip::from(&mut best).and(&lb).for_each(|b, &v| *b = b.max(v));
        if step == opts.iterations {
            break;
        }
        let grads = gradient(&ctx, &lin, &tape, &alphas);
        let t = (step + 1) as i32;
        for (i, g) in grads.into_iter().enumerate() {
            let (Some(g), Some(a), Some((mom, vel))) = (g, alphas[i].as_mut(), adam[i].as_mut()) else { continue };
            Zip::from(a).and(&g).and(mom).and(vel).for_each(|a, &g, m1, v1| {
                *m1 = beta1 * *m1 + (1.0 - beta1) * g;
                *v1 = beta2 * *v1 + (1.0 - beta2) * g * g;
                let mhat = *m1 / (1.0 - beta1.powi(t));
                let vhat = *v1 / (1.0 - beta2.powi(t));
                // ascent on the bound; projection onto [0, 1] keeps every iterate sound
                *a = (*a + lr * mhat / (vhat.sqrt() + 1e-8)).clamp(0.0, 1.0);
            });
        }
        lr *= opts.lr_decay;
    }
    best
}

/// ∂(lower bound of each row)/∂α for every ReLU layer, by reverse differentiation of the backward
/// pass with the relaxation choices held fixed (rounding-error terms are not differentiated).
fn gradient(ctx: &CrownContext, lin: &LinearLower, tape: &Tape, alphas: &[Option<Array2<f64>>]) -> Vec<Option<Array2<f64>>> {
    let region = ctx.region();
    let net = ctx.network();
    let mut g = concretize_gradient(&lin.coef, region);
    let mut grads: Vec<Option<Array2<f64>>> = vec![None; net.layers.len()];
    let mut tape_iter = tape.iter().rev().peekable();
    for i in 0..net.layers.len() {
        match &net.layers[i] {
            Layer::Affine(a) => {
                // coef_i = coef_{i+1}·W and constant += coef_{i+1}·b
                g = g.dot(&a.weight.t()) + &a.bias.view().insert_axis(Axis(0));
            }
            Layer::Relu => {
                let (layer, post) = tape_iter.next().expect("one tape entry per ReLU");
                debug_assert_eq!(*layer, i);
                let pre = ctx.relu_input_bounds(i).unwrap();
                let lines = ctx.lines(i);
                let alpha = alphas[i].as_ref().unwrap();
                let mut ga = Array2::zeros(alpha.raw_dim());
                let mut g_post = Array2::zeros(post.raw_dim());
                for ((r, j), &lam) in post.indexed_iter() {
                    let gp = g[[r, j]];
                    g_post[[r, j]] = match relu_state(pre.lower[j], pre.upper[j]) {
                        ReluState::Active => gp,
                        ReluState::Inactive => 0.0,
                        ReluState::Unstable if lam >= 0.0 => {
                            ga[[r, j]] = gp * lam;
                            gp * alpha[[r, j]]
                        }
                        ReluState::Unstable => {
                            let line = lines[j].unwrap();
                            gp * line.slope + line.intercept
                        }
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
fn concretize_gradient(coef: &Array2<f64>, region: &Region) -> Array2<f64> {
    let x0 = region.center;
    let mut g = Array2::zeros(coef.raw_dim());
    for (mut gr, a) in g.rows_mut().into_iter().zip(coef.rows()) {
        if let Some(dom) = region.domain.filter(|_| region.norm == Norm::Linf) {
            for (k, (&ak, gk)) in a.iter().zip(gr.iter_mut()).enumerate() {
                *gk = if ak >= 0.0 { (x0[k] - region.eps).max(dom.lower[k]) } else { (x0[k] + region.eps).min(dom.upper[k]) };
            }
            continue;
        }
        gr.assign(&x0);
        match region.norm {
            Norm::Linf => Zip::from(&mut gr).and(&a).for_each(|gk, &ak| *gk -= region.eps * ak.signum() * (ak != 0.0) as u8 as f64),
            Norm::L2 => {
                let n = a.dot(&a).sqrt();
                if n > 0.0 {
                    Zip::from(&mut gr).and(&a).for_each(|gk, &ak| *gk -= region.eps * ak / n);
                }
            }
            Norm::L1 => {
                let (k, ak) = a.iter().enumerate().fold((0, 0.0f64), |best, (k, &v)| if v.abs() > best.1.abs() { (k, v) } else { best });
                gr[k] -= region.eps * ak.signum() * (ak != 0.0) as u8 as f64;
            }
        }
    }
    g
}
