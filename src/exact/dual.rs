//! A proven lower bound of the minimal distortion over one sub-domain from *any* Lagrange multipliers
//! (EXACT-BAB-2 in `proofs/EXACT.md`): the solver's multipliers make it tight, and nothing the solver
//! computes is trusted — every product and sum is rounded outward here.
//!
//! The sub-domain's problem is min ‖x − x₀‖ over the boundaries h⁰ = x, h¹, …, hᴸ of the network, with
//! each boundary in its box (sound CROWN bounds over the ball, clamped by the splits), each linear layer
//! an equality hᵢ₊₁ = F(hᵢ), each ReLU neuron on its graph, and sign·(hᴸ_j − hᴸ_c) ≥ 0. For
//! multipliers μ (free) of the equalities and ν ≥ 0 of the margin, weak duality gives
//!   min ≥ Σ_blocks min over the block's set of (its coefficients)·(its values) + constant,
//! where a ReLU layer's pre- and post-activations form one block per neuron whose set is the graph of
//! the ReLU on the neuron's interval (a linear function is smallest at a vertex of its hull), and the
//! input block carries the norm term.
use crate::net::{ElemOp, Layer, Network};
use crate::rigor::{down, dot_error, nonneg_dot_upper, up};
use crate::spec::Norm;
use ndarray::Array1;

/// Sound bounds of each boundary of the network on the sub-domain: boundary 0 is the input box (the
/// domain ∩ the ball's bounding box), boundary i + 1 the output of layer i.
#[derive(Clone, Debug, PartialEq)]
pub struct Boxes {
    pub lower: Vec<Array1<f64>>,
    pub upper: Vec<Array1<f64>>,
    /// Every point of the sub-domain also lies in the ball ‖x − x₀‖ ≤ ball (the norm's).
    pub ball: f64,
}

/// Multipliers: one vector per linear layer (affine or elementwise; `None` for the others) and the
/// margin's.
#[derive(Clone, Debug, PartialEq)]
pub struct Multipliers {
    pub layers: Vec<Option<Array1<f64>>>,
    pub margin: f64,
    /// The share of the input's coefficients to minimize over the input box (the rest over the
    /// ball); any split is valid, the solver's box multipliers make it tight.
    pub input_box: Option<Vec<f64>>,
}

/// The competing class: sign·(logit_j − logit_c) ≥ 0 is "j can be the answer instead of c".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Flip {
    pub c: usize,
    pub j: usize,
    pub sign: f64,
}

/// Interval coefficients [lo, hi] of one boundary's values in the Lagrangian.
#[derive(Clone, Debug)]
struct Coef {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl Coef {
    fn zeros(n: usize) -> Self {
        Coef { lo: vec![0.0; n], hi: vec![0.0; n] }
    }
    /// Adds the interval [a_lo, a_hi] to entry k, rounding outward.
    fn add(&mut self, k: usize, a_lo: f64, a_hi: f64) {
        self.lo[k] = down(self.lo[k] + a_lo);
        self.hi[k] = up(self.hi[k] + a_hi);
    }
}

/// min of c·v over c ∈ [c_lo, c_hi], v ∈ [l, u] (a bilinear function: smallest at a corner), rounded
/// down.
/// (−∞ if any product is undefined, 0·∞: never a silently dropped term.)
fn corner_min(c_lo: f64, c_hi: f64, l: f64, u: f64) -> f64 {
    [c_lo * l, c_lo * u, c_hi * l, c_hi * u].into_iter().map(|v| if v.is_nan() { f64::NEG_INFINITY } else { down(v) }).fold(f64::INFINITY, f64::min)
}

/// The exact real scale and shift of an elementwise layer's element k as intervals: y = s·x + t.
fn elementwise_interval(op: ElemOp, v: f64) -> ((f64, f64), (f64, f64)) {
    match op {
        ElemOp::Add => ((1.0, 1.0), (v, v)),
        ElemOp::Sub => ((1.0, 1.0), (-v, -v)),
        ElemOp::SubFrom => ((-1.0, -1.0), (v, v)),
        ElemOp::Mul => ((v, v), (0.0, 0.0)),
        ElemOp::Div => {
            let r = 1.0 / v; // one rounding
            ((down(r), up(r)), (0.0, 0.0))
        }
        ElemOp::DivSqrt => {
            // √v ∈ [down(q), up(q)] (one rounding), then 1/· of a positive interval, rounded outward
            let q = v.sqrt();
            let (ql, qh) = (down(q).max(f64::MIN_POSITIVE), up(q));
            ((down(1.0 / qh), up(1.0 / ql)), (0.0, 0.0))
        }
    }
}

/// Which variable block each boundary belongs to (a reshape's output is its input) and, per ReLU
/// layer, the (pre, post) blocks it pairs. An error for shapes the bound does not cover.
pub(crate) fn blocks(net: &Network) -> crate::Result<Vec<usize>> {
    let mut block = vec![0usize];
    let mut paired = vec![false];
    for (i, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Reshape { .. } => block.push(block[i]),
            Layer::Relu => {
                if paired[block[i]] || block[i] == 0 {
                    return Err(crate::Error::Option(
                        "--method exact needs a linear layer before every ReLU (this network applies a ReLU to its input or to another ReLU's output)".into(),
                    ));
                }
                paired[block[i]] = true;
                block.push(paired.len());
                paired.push(true);
            }
            Layer::Affine(_) | Layer::Elementwise(_) => {
                block.push(paired.len());
                paired.push(false);
            }
        }
    }
    Ok(block)
}

/// What one evaluation of the Lagrangian gives, from one pass over the network's coefficients.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    /// A proven lower bound of ‖x − x₀‖ over the sub-domain's points where `flip` holds (within the
    /// boxes and the ball), from the multipliers (any values: ν is clamped to ≥ 0).
    pub distortion: f64,
    /// The bound of the constraints alone (the Lagrangian without the distortion term): a value > 0
    /// proves the sub-domain has no such point at all (the multipliers of an infeasible relaxation are a
    /// Farkas certificate: any scale).
    pub constraints: f64,
    /// Per ReLU layer (indexed by layer), per unstable neuron, how much splitting it would raise the
    /// bound with these multipliers (the sum over the two children of the rise of the neuron's term; 0
    /// for fixed neurons): a branching score in the spirit of BaBSR. Not part of any proof.
    pub gains: Vec<Option<Vec<f64>>>,
}

/// The Lagrangian bounds of the sub-domain from the multipliers `m` (EXACT-BAB-2).
pub fn lower_bound(net: &Network, x0: &[f64], boxes: &Boxes, flip: Flip, m: &Multipliers, norm: Norm) -> Bound {
    let block = blocks(net).expect("checked when the engine was built");
    let n_blocks = block.iter().max().map_or(1, |b| b + 1);
    let dims: Vec<usize> = (0..boxes.lower.len()).map(|b| boxes.lower[b].len()).collect();
    let mut coef: Vec<Option<Coef>> = vec![None; n_blocks];
    for (b, &k) in block.iter().enumerate() {
        coef[k].get_or_insert_with(|| Coef::zeros(dims[b]));
    }
    let mut constant = 0.0f64; // a lower bound of the constant part, accumulated rounding down
    for (i, layer) in net.layers.iter().enumerate() {
        let Some(mu) = m.layers.get(i).and_then(|v| v.as_ref()) else { continue };
        let (p, q) = (block[i], block[i + 1]);
        // μᵀ h_{i+1}
        for (k, &v) in mu.iter().enumerate() {
            coef[q].as_mut().expect("block").add(k, v, v);
        }
        match layer {
            Layer::Affine(a) => {
                // −μᵀ(W h_i + b): coefficients −Wᵀμ with the dot products' rounding error (FP-2)
                let g = a.weight.t().dot(mu);
                let abs_mu = mu.mapv(f64::abs);
                let abs_g = a.weight.mapv(f64::abs).t().dot(&abs_mu);
                let n = mu.len();
                let cp = coef[p].as_mut().expect("block");
                for k in 0..g.len() {
                    let e = dot_error(n, nonneg_dot_upper(abs_g[k], n));
                    cp.add(k, down(-g[k] - e), up(e - g[k]));
                }
                let bmu = a.bias.dot(mu);
                let e = dot_error(n, nonneg_dot_upper(a.bias.mapv(f64::abs).dot(&abs_mu), n));
                constant = down(constant + down(-bmu - e));
            }
            Layer::Elementwise(e) => {
                let cp = coef[p].as_mut().expect("block");
                for (k, &v) in e.value.iter().enumerate() {
                    let ((sl, sh), (tl, th)) = elementwise_interval(e.op, v);
                    let w = mu[k];
                    // −μ·s and −μ·t as intervals
                    let (a, b) = (-w * sl, -w * sh);
                    cp.add(k, down(a.min(b)), up(a.max(b)));
                    let (a, b) = (-w * tl, -w * th);
                    constant = down(constant + down(a.min(b)));
                }
            }
            Layer::Relu | Layer::Reshape { .. } => {}
        }
    }
    // the margin: −ν·sign·(h_j − h_c)
    let nu = m.margin.max(0.0);
    let last = block[net.layers.len()];
    {
        let cl = coef[last].as_mut().expect("block");
        let v = nu * flip.sign;
        cl.add(flip.j, -v, -v);
        cl.add(flip.c, v, v);
    }
    // minimize block by block: the totals with (0) and without (1) the distortion term share every
    // term but the input's
    let mut gains = vec![None; net.layers.len()];
    let mut totals = [constant; 2];
    let mut done = vec![false; n_blocks];
    for (i, layer) in net.layers.iter().enumerate() {
        if let Layer::Relu = layer {
            let (p, q) = (block[i], block[i + 1]);
            let (cp, cq) = (coef[p].as_ref().expect("block"), coef[q].as_ref().expect("block"));
            let mut layer_gains = vec![0.0; dims[i]];
            for j in 0..dims[i] {
                let (l, u) = (boxes.lower[i][j], boxes.upper[i][j]);
                // vertices of the hull of {(z, max(z, 0)) : z ∈ [l, u]}
                let verts: &[(f64, f64)] = if l >= 0.0 {
                    &[(l, l), (u, u)]
                } else if u <= 0.0 {
                    &[(l, 0.0), (u, 0.0)]
                } else {
                    &[(l, 0.0), (0.0, 0.0), (u, u)]
                };
                let value = |&(z, a): &(f64, f64)| down(corner_min(cp.lo[j], cp.hi[j], z, z) + corner_min(cq.lo[j], cq.hi[j], a, a));
                let best = verts.iter().map(value).fold(f64::INFINITY, f64::min);
                totals = totals.map(|t| down(t + best));
                if l < 0.0 && u > 0.0 {
                    let (vl, v0, vu) = (value(&(l, 0.0)), value(&(0.0, 0.0)), value(&(u, u)));
                    layer_gains[j] = (v0.min(vu) - best) + (vl.min(v0) - best);
                }
            }
            gains[i] = Some(layer_gains);
            done[p] = true;
            done[q] = true;
        }
    }
    for (b, &k) in block.iter().enumerate() {
        if done[k] {
            continue;
        }
        done[k] = true;
        let c = coef[k].as_ref().expect("block");
        let (l, u) = (&boxes.lower[b], &boxes.upper[b]);
        if k == 0 {
            let (l, u) = (l.as_slice().expect("contiguous"), u.as_slice().expect("contiguous"));
            for (t, w) in totals.iter_mut().zip([1.0, 0.0]) {
                let by_box = input_part(norm, x0, l, u, c, w);
                let by_ball = m.input_box.as_ref().map_or(f64::NEG_INFINITY, |cb| input_part_ball(norm, x0, l, u, boxes.ball, c, cb, w));
                *t = down(*t + by_box.max(by_ball));
            }
            continue;
        }
        for j in 0..c.lo.len() {
            let v = corner_min(c.lo[j], c.hi[j], l[j], u[j]);
            totals = totals.map(|t| down(t + v));
        }
    }
    let [distortion, constraints] = totals.map(|t| if t.is_nan() { f64::NEG_INFINITY } else { t });
    Bound { distortion, constraints, gains }
}

/// The dual norm of v, rounded up.
pub(crate) fn dual_norm(norm: Norm, v: &[f64]) -> f64 {
    let n = v.len();
    match norm {
        Norm::L2 => up(nonneg_dot_upper(v.iter().map(|x| x * x).sum(), n).sqrt()),
        Norm::Linf => nonneg_dot_upper(v.iter().map(|x| x.abs()).sum(), n),
        Norm::L1 => v.iter().fold(0.0, |a: f64, x| a.max(x.abs())),
    }
}

/// c ∈ [c.lo, c.hi] as a midpoint m and radius r: c ∈ [m − r, m + r] (r rounded up).
fn mid_rad(c: &Coef) -> (Vec<f64>, Vec<f64>) {
    let mid: Vec<f64> = c.lo.iter().zip(&c.hi).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
    let rad = c.lo.iter().zip(&c.hi).zip(&mid).map(|((a, b), m)| up((b - m).max(m - a))).collect();
    (mid, rad)
}

/// A lower bound of min over x ∈ [l, u] with ‖x − x₀‖ ≤ ρ of w·‖x − x₀‖ + cᵀx (w ∈ {0, 1}), splitting
/// c = (c − b) + b: cᵀx₀ + min over the ball of (w‖d‖ + (c − b)ᵀd) + min over the box of bᵀd, where
/// the first is ρ·min(0, w − ‖c − b‖*) (Hölder).
#[allow(clippy::too_many_arguments)]
fn input_part_ball(norm: Norm, x0: &[f64], l: &[f64], u: &[f64], rho: f64, c: &Coef, b: &[f64], w: f64) -> f64 {
    if !(rho.is_finite() && b.len() == x0.len()) {
        return f64::NEG_INFINITY;
    }
    let mut rest = c.clone();
    for (k, &v) in b.iter().enumerate() {
        rest.add(k, -v, -v);
    }
    let (mid, rad) = mid_rad(&rest);
    let excess = down(w - up(dual_norm(norm, &mid) + dual_norm(norm, &rad)));
    let ball = if excess >= 0.0 { 0.0 } else { down(up(rho) * excess) };
    let mut total = ball;
    for i in 0..x0.len() {
        let (dl, du) = (down(l[i] - x0[i]), up(u[i] - x0[i]));
        total = down(total + corner_min(b[i], b[i], dl, du));
        total = down(total + corner_min(c.lo[i], c.hi[i], x0[i], x0[i]));
    }
    total
}

/// The y with ‖y‖₂ ≤ 1 that maximizes Σᵢ min over dᵢ ∈ [aᵢ, bᵢ] of (mᵢ + yᵢ)dᵢ (m the midpoint of c)
/// when every interval contains 0: yᵢ = −sign(mᵢ)·tᵢ, where moving mᵢ toward 0 by tᵢ ≤ |mᵢ| gains
/// tᵢ times the end it multiplies, |aᵢ| or bᵢ; the best t under Σtᵢ² ≤ 1 is tᵢ = min(|mᵢ|, gainᵢ/η)
/// (water filling, η by bisection). Not trusted: any y gives a proven bound.
fn l2_box_multiplier(c: &Coef, ends: &[(f64, f64)]) -> Vec<f64> {
    let n = ends.len();
    let m: Vec<f64> = c.lo.iter().zip(&c.hi).map(|(a, b)| 0.5 * a + 0.5 * b).collect();
    let gain: Vec<f64> = (0..n).map(|i| if m[i] > 0.0 { (-ends[i].0).max(0.0) } else { ends[i].1.max(0.0) }).collect();
    let t_of = |eta: f64| -> Vec<f64> { (0..n).map(|i| m[i].abs().min(if eta > 0.0 { gain[i] / eta } else { f64::INFINITY })).collect() };
    let sq = |t: &[f64]| t.iter().map(|v| v * v).sum::<f64>();
    let t = if sq(&t_of(0.0)) <= 1.0 {
        t_of(0.0)
    } else {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while sq(&t_of(hi)) > 1.0 && hi < 1e300 {
            hi *= 2.0;
        }
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if sq(&t_of(mid)) > 1.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        t_of(hi)
    };
    (0..n).map(|i| -m[i].signum() * t[i]).collect()
}

/// A lower bound of min over x ∈ [l, u] of w·‖x − x₀‖ + cᵀx (w ∈ {0, 1}), c ∈ [c.lo, c.hi], with
/// d = x − x₀ ∈ [l − x₀, u − x₀]: cᵀx₀ + min_d (w‖d‖ + cᵀd), where
/// - ℓ1 is separable: each w|dᵢ| + cᵢdᵢ is piecewise linear with its only kink at 0, so its least value
///   is at an end of dᵢ's interval or at 0 (exact);
/// - ℓ∞: min over s of s + Σᵢ min over |dᵢ| ≤ s (dᵢ in its interval) of cᵢdᵢ; between two
///   consecutive ends |dᵢ| the clipped ends are linear in s, so the sum is a minimum of linear
///   functions there (concave), and its least value is at one of the ends (exact);
/// - ℓ2: ‖d‖₂ ≥ yᵀd for every ‖y‖₂ ≤ 1, so the minimum is ≥ Σᵢ min over dᵢ's interval of (cᵢ + yᵢ)dᵢ;
///   y from [`l2_box_multiplier`] (the best such y when every interval contains 0).
fn input_part(norm: Norm, x0: &[f64], l: &[f64], u: &[f64], c: &Coef, w: f64) -> f64 {
    let n = x0.len();
    let mut at_x0 = 0.0f64;
    for i in 0..n {
        at_x0 = down(at_x0 + corner_min(c.lo[i], c.hi[i], x0[i], x0[i]));
    }
    let ends = |i: usize| (down(l[i] - x0[i]), up(u[i] - x0[i]));
    // min over c ∈ [c.lo, c.hi] of c·d for d in [a, b]
    let lin = |i: usize, a: f64, b: f64| corner_min(c.lo[i], c.hi[i], a, b);
    let rest = match norm {
        Norm::L1 => {
            let mut t = 0.0f64;
            for i in 0..n {
                let (a, b) = ends(i);
                let f = |d: f64| down(w * d.abs() + lin(i, d, d));
                let mut m = f(a).min(f(b));
                if a < 0.0 && b > 0.0 {
                    m = m.min(0.0);
                }
                t = down(t + m);
            }
            t
        }
        Norm::Linf => {
            // s ranges over [the farthest distance of 0 from an interval, the largest |end|]
            let (mut s_lo, mut s_hi) = (0.0f64, 0.0f64);
            for i in 0..n {
                let (a, b) = ends(i);
                s_lo = s_lo.max(a.max(0.0)).max((-b).max(0.0));
                s_hi = s_hi.max(a.abs()).max(b.abs());
            }
            let at = |s: f64| {
                let mut t = down(w * s);
                for i in 0..n {
                    let (a, b) = ends(i);
                    t = down(t + lin(i, a.max(-s), b.min(s)));
                }
                t
            };
            let mut best = at(s_lo).min(at(s_hi));
            for i in 0..n {
                let (a, b) = ends(i);
                for s in [-a, b] {
                    if s > s_lo && s < s_hi {
                        best = best.min(at(s));
                    }
                }
            }
            best
        }
        Norm::L2 => {
            // ‖d‖₂ ≥ yᵀd/κ for any y, κ ≥ ‖y‖₂, κ ≥ 1: so min ≥ Σᵢ min over dᵢ of (cᵢ + w·yᵢ/κ)dᵢ
            let y = if w > 0.0 { l2_box_multiplier(c, &(0..n).map(ends).collect::<Vec<_>>()) } else { vec![0.0; n] };
            let kappa = up(nonneg_dot_upper(y.iter().map(|v| v * v).sum(), n).sqrt()).max(1.0);
            let mut t = 0.0f64;
            for i in 0..n {
                let (a, b) = ends(i);
                let q = w * y[i] / kappa; // w ∈ {0, 1}: one rounding
                t = down(t + corner_min(down(c.lo[i] + down(q)), up(c.hi[i] + up(q)), a, b));
            }
            t
        }
    };
    down(at_x0 + rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// w‖x − x₀‖ + cᵀx at x with c a point of its interval.
    fn value(norm: Norm, x0: &[f64], x: &[f64], c: &[f64], w: f64) -> f64 {
        let d: Vec<f64> = x.iter().zip(x0).map(|(a, b)| a - b).collect();
        w * norm.norm(ndarray::ArrayView1::from(&d[..])) + c.iter().zip(x).map(|(a, b)| a * b).sum::<f64>()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        /// EXACT-BAB-2's input part over the box: never above the function on a grid of the box (any c
        /// of the interval), and in 2-D within 1e-3 (relative) of the grid's least value (ℓ1 and ℓ∞: the
        /// least value exactly, ℓ2: with the best y when x₀ is in the box; the grid's step bounds the gap).
        #[test]
        fn the_input_part_is_a_tight_lower_bound(x0 in prop::collection::vec(-2.0f64..2.0, 2), lo in prop::collection::vec(-2.0f64..0.0, 2),
                                                  hi in prop::collection::vec(0.0f64..2.0, 2), shift in prop::collection::vec(-1.0f64..1.0, 2),
                                                  c in prop::collection::vec(-3.0f64..3.0, 2), width in 0.0f64..1e-3, w in prop_oneof![Just(0.0), Just(1.0)],
                                                  norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)], contains in any::<bool>()) {
            // a box around x₀ (or shifted off it)
            let s = if contains { 0.0 } else { 1.0 };
            let l: Vec<f64> = (0..2).map(|i| x0[i] + lo[i] + s * shift[i] * 3.0).collect();
            let u: Vec<f64> = (0..2).map(|i| x0[i] + hi[i] + s * shift[i] * 3.0).collect();
            let coef = Coef { lo: c.iter().map(|v| v - width).collect(), hi: c.iter().map(|v| v + width).collect() };
            let bound = input_part(norm, &x0, &l, &u, &coef, w);
            let k = 200;
            let mut least = f64::INFINITY;
            for a in 0..=k {
                for b in 0..=k {
                    let x = [l[0] + (u[0] - l[0]) * a as f64 / k as f64, l[1] + (u[1] - l[1]) * b as f64 / k as f64];
                    // the corners of the coefficients' interval
                    for (p, q) in [(-1.0, -1.0), (-1.0, 1.0), (1.0, -1.0), (1.0, 1.0)] {
                        let cc = [c[0] + p * width, c[1] + q * width];
                        let v = value(norm, &x0, &x, &cc, w);
                        prop_assert!(bound <= v + 1e-12 * (1.0 + v.abs()), "bound {bound} > {v} at {x:?}");
                        least = least.min(v);
                    }
                }
            }
            // the grid's step (at most 4/200 per coordinate) times the slope bounds how far its least value
            // lies above the true one
            let slope = 1.0 + c.iter().map(|v| v.abs() + width).sum::<f64>();
            let exact_expected = contains || !matches!(norm, Norm::L2);
            if exact_expected {
                prop_assert!(bound >= least - slope * 0.05, "bound {bound} far below the least value {least}");
            }
        }
    }
}
