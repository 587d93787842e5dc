//! Tighter bounds of the first ReLU layer's inputs on one sub-domain (EXACT-BAB-4 in
//! `proofs/EXACT.md`): the sub-domain is the ball ∩ the half-spaces its splits of that layer put on
//! the input, z_k(x) ≥ 0 or ≤ 0 with z = W x + b the first affine layer. For any λ ≥ 0,
//!   z_j(x) ≥ z_j(x) − Σ_k λ_k σ_k z_k(x) = gᵀx + c   on the sub-domain (σ_k z_k(x) ≥ 0 there),
//! and gᵀx + c ≥ gᵀx₀ + c − ρ‖g‖* over the ball ‖x − x₀‖ ≤ ρ (Hölder). The multipliers come from a
//! few steps of projected gradient ascent (not trusted); the bound is then evaluated with every
//! operation rounded outward. Upper bounds are lower bounds of −z_j.
use super::dual::{dual_norm, Boxes};
use crate::net::{Layer, Network};
use crate::rigor::{dot_error, down, nonneg_dot_upper, up};
use crate::spec::Norm;
use ndarray::{Array2, ArrayView1};

/// Gradient steps per bound.
const STEPS: usize = 10;

/// For a network Affine → ReLU → Affine and the flip sign·(h_j − h_c) ≥ 0: the hidden neurons whose
/// relaxation's upper side can bind, those with sign·(W₂[j, k] − W₂[c, k]) > 0 (the flip wants their
/// output large). For the others the relaxation's optimum lies on the ReLU's lower sides (y ≥ 0,
/// y ≥ z), which do not depend on the neuron's bounds, so tightening them cannot move it. None for other
/// networks (every neuron may matter).
pub fn upper_side_neurons(net: &Network, c: usize, j: usize, sign: f64) -> Option<Vec<bool>> {
    match net.layers.as_slice() {
        [Layer::Affine(_), Layer::Relu, Layer::Affine(out)] => Some((0..out.in_dim()).map(|k| sign * (out.weight[[j, k]] - out.weight[[c, k]]) > 0.0).collect()),
        _ => None,
    }
}

/// The first affine layer's index when the network starts `Affine, Relu` (the only case tightened).
fn first_layer(net: &Network) -> Option<usize> {
    match (net.layers.first(), net.layers.get(1)) {
        (Some(Layer::Affine(_)), Some(Layer::Relu)) => Some(0),
        _ => None,
    }
}

/// Tightens `boxes` (boundary 1, the first ReLU's inputs) of the sub-domain with `splits` (layer,
/// neuron, active), for the neurons `wanted` selects (all when None). Returns false when the bounds
/// prove the sub-domain empty (a lower bound above an upper bound). Every bound kept is proven; the
/// boxes only shrink.
pub fn first_layer_boxes(net: &Network, x0: ArrayView1<f64>, norm: Norm, boxes: &mut Boxes, splits: &[(usize, usize, bool)], wanted: Option<&[bool]>) -> bool {
    let Some(l0) = first_layer(net) else { return true };
    let Layer::Affine(a) = &net.layers[l0] else { return true };
    let rho = boxes.ball;
    if !rho.is_finite() {
        return true;
    }
    // the half-spaces σ_k z_k ≥ 0 of the splits of the first ReLU layer (layer index l0 + 1)
    let cuts: Vec<(usize, f64)> = splits.iter().filter(|s| s.0 == l0 + 1).map(|&(_, k, active)| (k, if active { 1.0 } else { -1.0 })).collect();
    if cuts.is_empty() {
        return true;
    }
    let d = x0.len();
    let z0: Vec<f64> = (0..a.out_dim()).map(|k| a.weight.row(k).dot(&x0) + a.bias[k]).collect();
    // the cuts' rows σ_k w_k and their values at x₀
    let mut cw = Array2::<f64>::zeros((cuts.len(), d));
    for (r, &(k, s)) in cuts.iter().enumerate() {
        cw.row_mut(r).assign(&(&a.weight.row(k) * s));
    }
    let cz: Vec<f64> = cuts.iter().map(|&(k, s)| s * z0[k]).collect();
    // ℓ2: the squared dual norm as a quadratic in λ, from the cuts' Gram matrix and their products with
    // every row (the ascent then costs O(cuts²) a step, not O(cuts · inputs))
    let gram = (matches!(norm, Norm::L2) && cuts.len() < d).then(|| (cw.dot(&cw.t()), cw.dot(&a.weight.t())));
    let (lo, hi) = (&mut boxes.lower[1], &mut boxes.upper[1]);
    for j in 0..a.out_dim() {
        if !(lo[j] < 0.0 && hi[j] > 0.0) || wanted.is_some_and(|w| !w[j]) {
            continue;
        }
        for dir in [1.0, -1.0] {
            let lambda = match &gram {
                Some((g, h)) => ascend_l2(rho, dir * dir * a.weight.row(j).dot(&a.weight.row(j)), &(&h.column(j) * dir), dir * z0[j], g, &cz),
                None => ascend(norm, rho, &(&a.weight.row(j) * dir), dir * z0[j], &cw, &cz),
            };
            let b = proven(norm, x0, rho, a.weight.row(j), a.bias[j], dir, &cuts, &lambda, a);
            if dir > 0.0 {
                lo[j] = lo[j].max(b);
            } else {
                hi[j] = hi[j].min(-b);
            }
        }
        if lo[j] > hi[j] {
            return false;
        }
    }
    true
}

/// The gradient of ‖g‖* (a subgradient where it is not smooth).
fn dual_norm_grad(norm: Norm, g: &[f64]) -> Vec<f64> {
    match norm {
        Norm::L2 => {
            let n = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            g.iter().map(|v| if n > 0.0 { v / n } else { 0.0 }).collect()
        }
        Norm::Linf => g.iter().map(|v| v.signum() * (*v != 0.0) as u8 as f64).collect(),
        Norm::L1 => {
            let (k, _) = g.iter().enumerate().fold((0, 0.0f64), |(bk, bv), (k, v)| if v.abs() > bv { (k, v.abs()) } else { (bk, bv) });
            let mut e = vec![0.0; g.len()];
            e[k] = g[k].signum();
            e
        }
    }
}

/// Projected gradient ascent over λ ≥ 0 from λ = 0 with an adaptive step (×1.5 after an accepted
/// step, halved until a step raises `value`; stops below 10⁻¹² or when `gradient` returns false): a
/// heuristic, since any λ ≥ 0 gives a proven bound.
fn projected_ascent(m: usize, mut step: f64, mut value: impl FnMut(&[f64]) -> f64, mut gradient: impl FnMut(&[f64], &mut [f64]) -> bool) -> Vec<f64> {
    let (mut lam, mut cand, mut grad) = (vec![0.0; m], vec![0.0; m], vec![0.0; m]);
    let mut f = value(&lam);
    for _ in 0..STEPS {
        if !gradient(&lam, &mut grad) {
            return lam;
        }
        loop {
            for k in 0..m {
                cand[k] = (lam[k] + step * grad[k]).max(0.0);
            }
            let fc = value(&cand);
            if fc > f {
                std::mem::swap(&mut lam, &mut cand);
                f = fc;
                step *= 1.5;
                break;
            }
            step *= 0.5;
            if step < 1e-12 {
                return lam;
            }
        }
    }
    lam
}

/// Multipliers λ ≥ 0 that make f(λ) = (z₀ − Σλ_k cz_k) − ρ‖w − Σλ_k cw_k‖* large.
fn ascend(norm: Norm, rho: f64, w: &ndarray::Array1<f64>, z0: f64, cw: &Array2<f64>, cz: &[f64]) -> Vec<f64> {
    let (m, d) = (cz.len(), w.len());
    let cw = cw.as_slice().expect("standard layout"); // row k: cw[k·d .. (k + 1)·d]
    // g = w − Cᵀλ into `g` (plain floating point: a heuristic)
    let fill = |lam: &[f64], g: &mut [f64]| {
        g.copy_from_slice(w.as_slice().expect("contiguous"));
        for (k, &l) in lam.iter().enumerate() {
            if l != 0.0 {
                for (gi, ci) in g.iter_mut().zip(&cw[k * d..(k + 1) * d]) {
                    *gi -= l * ci;
                }
            }
        }
    };
    let plain_norm = |g: &[f64]| match norm {
        Norm::L2 => g.iter().map(|v| v * v).sum::<f64>().sqrt(),
        Norm::Linf => g.iter().map(|v| v.abs()).sum(),
        Norm::L1 => g.iter().fold(0.0f64, |a, v| a.max(v.abs())),
    };
    let (mut gv, mut gg) = (vec![0.0; d], vec![0.0; d]);
    let value = |lam: &[f64]| {
        fill(lam, &mut gv);
        z0 - lam.iter().zip(cz).map(|(l, c)| l * c).sum::<f64>() - rho * plain_norm(&gv)
    };
    // ∂f/∂λ_k = −cz_k + ρ·cw_k·∇‖g‖*
    let gradient = |lam: &[f64], grad: &mut [f64]| {
        fill(lam, &mut gg);
        let dg = dual_norm_grad(norm, &gg);
        for k in 0..m {
            grad[k] = -cz[k] + rho * cw[k * d..(k + 1) * d].iter().zip(&dg).map(|(a, b)| a * b).sum::<f64>();
        }
        true
    };
    let scale = (0..m).map(|k| cw[k * d..(k + 1) * d].iter().map(|v| v * v).sum::<f64>()).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    projected_ascent(m, 1.0 / (rho * scale.sqrt() + scale), value, gradient)
}

/// [`ascend`] for ℓ2 with ‖w − Cᵀλ‖² = ww − 2λᵀh + λᵀGλ (h = Cw, G = CCᵀ): O(cuts²) a step.
fn ascend_l2(rho: f64, ww: f64, h: &ndarray::Array1<f64>, z0: f64, gram: &Array2<f64>, cz: &[f64]) -> Vec<f64> {
    let m = cz.len();
    let gram_times = |lam: &[f64], gl: &mut [f64]| {
        for k in 0..m {
            gl[k] = gram.row(k).iter().zip(lam).map(|(g, l)| g * l).sum();
        }
    };
    let norm_of = |lam: &[f64], gl: &[f64]| {
        let q: f64 = ww - 2.0 * lam.iter().zip(h).map(|(l, v)| l * v).sum::<f64>() + lam.iter().zip(gl).map(|(l, v)| l * v).sum::<f64>();
        q.max(0.0).sqrt()
    };
    let (mut gv, mut gg) = (vec![0.0; m], vec![0.0; m]);
    let value = |lam: &[f64]| {
        gram_times(lam, &mut gv);
        z0 - lam.iter().zip(cz).map(|(l, c)| l * c).sum::<f64>() - rho * norm_of(lam, &gv)
    };
    // ∂f/∂λ_k = −cz_k + ρ(h_k − (Gλ)_k)/‖g‖ (none where g = 0)
    let gradient = |lam: &[f64], grad: &mut [f64]| {
        gram_times(lam, &mut gg);
        let nrm = norm_of(lam, &gg);
        for k in 0..m {
            grad[k] = -cz[k] + rho * (h[k] - gg[k]) / nrm;
        }
        nrm > 0.0
    };
    let scale = (0..m).map(|k| gram[[k, k]]).fold(0.0f64, f64::max).max(f64::MIN_POSITIVE);
    projected_ascent(m, 1.0 / (rho * scale.sqrt() + scale), value, gradient)
}

/// The proven lower bound of dir·z_j over the sub-domain from λ (every operation rounded outward).
#[allow(clippy::too_many_arguments)]
fn proven(norm: Norm, x0: ArrayView1<f64>, rho: f64, wj: ArrayView1<f64>, bj: f64, dir: f64, cuts: &[(usize, f64)], lambda: &[f64], a: &crate::net::Affine) -> f64 {
    let d = x0.len();
    let n = cuts.len() + 1;
    // g_i = dir·w_ji − Σ λ_k σ_k w_ki and c = dir·b_j − Σ λ_k σ_k b_k, each with its dot-product error
    let (mut mid, mut rad) = (vec![0.0; d], vec![0.0; d]);
    for i in 0..d {
        let (mut v, mut abs) = (dir * wj[i], wj[i].abs());
        for (&(k, s), &l) in cuts.iter().zip(lambda) {
            v -= l * s * a.weight[[k, i]];
            abs += l * a.weight[[k, i]].abs();
        }
        mid[i] = v;
        rad[i] = dot_error(n, nonneg_dot_upper(abs, n));
    }
    let (mut c, mut cabs) = (dir * bj, bj.abs());
    for (&(k, s), &l) in cuts.iter().zip(lambda) {
        c -= l * s * a.bias[k];
        cabs += l * a.bias[k].abs();
    }
    let c_lo = down(c - dot_error(n, nonneg_dot_upper(cabs, n)));
    // gᵀx₀ ≥ Σ min over g_i ∈ [mid ± rad] of g_i x₀_i
    let mut total = c_lo;
    for i in 0..d {
        let (gl, gh) = (down(mid[i] - rad[i]), up(mid[i] + rad[i]));
        total = down(total + down((gl * x0[i]).min(gh * x0[i])));
    }
    // −ρ‖g‖* ≥ −ρ(‖mid‖* + ‖rad‖*)
    let pen = up(up(rho) * up(dual_norm(norm, &mid) + dual_norm(norm, &rad)));
    let b = down(total - pen);
    if b.is_nan() {
        f64::NEG_INFINITY
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Philox;
    use ndarray::Array1;
    use proptest::prelude::*;

    /// A point of the norm ball of radius rho around x0 (a random direction, a random fraction of the
    /// radius, so that the ball's inside and its surface are both reached).
    fn ball_point(rng: &Philox, k: u64, norm: Norm, x0: &Array1<f64>, rho: f64) -> Array1<f64> {
        let d = x0.len();
        let dir: Array1<f64> = (0..d).map(|i| rng.normal_pair(1, k * 64 + i as u64)[0]).collect();
        let n = norm.norm(dir.view());
        let f = if k % 3 == 0 { 1.0 } else { rng.uniform_in(2, k, 0.0, 1.0) };
        x0 + &(dir * (rho * f * (1.0 - 1e-12) / n))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        /// EXACT-BAB-4: no sampled point of the ball that satisfies the splits' half-spaces has a
        /// first-layer pre-activation outside the tightened box, the box only shrinks, and a sub-domain
        /// declared empty has no such point.
        #[test]
        fn tightened_boxes_hold_on_the_sub_domain(d in 2usize..=4, h in 3usize..=6, seed in any::<u64>(), rho in 0.1f64..3.0,
                                                  norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)], n_splits in 1usize..=3) {
            let net = crate::net::init::seeded_mlp(&[d, h, 2], seed);
            let Layer::Affine(a) = &net.layers[0] else { unreachable!() };
            let rng = Philox::new(seed);
            let x0: Array1<f64> = (0..d).map(|i| rng.uniform_in(0, i as u64, -1.0, 1.0)).collect();
            // the ball's exact boxes of z (what CROWN gives for one affine layer), then splits: the phases
            // at a random point of the ball for the first neurons, the last one flipped half the time
            let dn = |w: ndarray::ArrayView1<f64>| match norm { Norm::L2 => w.dot(&w).sqrt(), Norm::Linf => w.iter().map(|v| v.abs()).sum(), Norm::L1 => w.iter().fold(0.0f64, |m, v| m.max(v.abs())) };
            let z = |x: &Array1<f64>| a.weight.dot(x) + &a.bias;
            let z0 = z(&x0);
            let lower: Array1<f64> = (0..h).map(|j| z0[j] - rho * dn(a.weight.row(j)) * (1.0 + 1e-9) - 1e-9).collect();
            let upper: Array1<f64> = (0..h).map(|j| z0[j] + rho * dn(a.weight.row(j)) * (1.0 + 1e-9) + 1e-9).collect();
            let p = ball_point(&rng, 999, norm, &x0, rho);
            let zp = z(&p);
            let splits: Vec<(usize, usize, bool)> = (0..n_splits.min(h)).map(|j| (1, j, (zp[j] >= 0.0) ^ (j + 1 == n_splits && seed % 2 == 0))).collect();
            let mut boxes = Boxes { lower: vec![Array1::from_elem(d, f64::NEG_INFINITY), lower.clone(), lower.mapv(|v| v.max(0.0)), Array1::from_elem(2, f64::NEG_INFINITY)],
                                    upper: vec![Array1::from_elem(d, f64::INFINITY), upper.clone(), upper.mapv(|v| v.max(0.0)), Array1::from_elem(2, f64::INFINITY)], ball: rho };
            for &(_, j, active) in &splits {
                if active { boxes.lower[1][j] = boxes.lower[1][j].max(0.0) } else { boxes.upper[1][j] = boxes.upper[1][j].min(0.0) }
            }
            let before = boxes.clone();
            let nonempty = first_layer_boxes(&net, x0.view(), norm, &mut boxes, &splits, None);
            for j in 0..h {
                prop_assert!(boxes.lower[1][j] >= before.lower[1][j] && boxes.upper[1][j] <= before.upper[1][j]);
            }
            for k in 0..3000u64 {
                let x = ball_point(&rng, k, norm, &x0, rho);
                let zx = z(&x);
                if splits.iter().all(|&(_, j, active)| if active { zx[j] >= 0.0 } else { zx[j] <= 0.0 }) {
                    prop_assert!(nonempty, "declared empty, yet {x:?} is in the sub-domain");
                    for j in 0..h {
                        prop_assert!(zx[j] >= boxes.lower[1][j] && zx[j] <= boxes.upper[1][j], "z{j} = {} outside [{}, {}]", zx[j], boxes.lower[1][j], boxes.upper[1][j]);
                    }
                }
            }
        }
    }
}
