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
fn dual_norm(norm: Norm, v: &[f64]) -> f64 {
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

/// A lower bound of min over x ∈ [l, u] of w·‖x − x₀‖ + cᵀx (w ∈ {0, 1}), c ∈ [c.lo, c.hi]: with
/// c = m ± r, cᵀx₀ + min_d (w‖d‖ + mᵀd − rᵀ|d|) ≥ cᵀx₀ + (1 − θ)·Σᵢ min over dᵢ's ends (mᵢdᵢ − rᵢ|dᵢ|),
/// where θ = min(1, w/(‖m‖* + ‖r‖*)) (w‖d‖ absorbs θ·(mᵀd − rᵀ|d|) by Hölder) and
/// d = x − x₀ ∈ [l − x₀, u − x₀].
fn input_part(norm: Norm, x0: &[f64], l: &[f64], u: &[f64], c: &Coef, w: f64) -> f64 {
    let n = x0.len();
    let (mid, rad) = mid_rad(c);
    let total_norm = up(dual_norm(norm, &mid) + dual_norm(norm, &rad));
    let theta = if total_norm <= w { 1.0 } else { down(w / total_norm) };
    let mut s = 0.0f64; // Σ min over the ends, ≤ 0 since each interval contains 0
    let mut at_x0 = 0.0f64;
    for i in 0..n {
        let (dl, du) = (down(l[i] - x0[i]).min(0.0), up(u[i] - x0[i]).max(0.0));
        let end = |d: f64| down(down(mid[i] * d) - up(rad[i] * d.abs()));
        s = down(s + end(dl).min(end(du)));
        at_x0 = down(at_x0 + corner_min(c.lo[i], c.hi[i], x0[i], x0[i]));
    }
    let s = s.min(0.0);
    down(at_x0 + down(up(1.0 - theta) * s))
}
