//! The estimated start of the radius search (RADIUS-3): each row's radius under CROWN's relaxation of
//! the network *linearized at x₀*, found by the radius search itself on that cheap surrogate bound.
//!
//! For every ReLU input z_j the surrogate takes the bounds z_j(x₀) ± ε‖∇z_j(x₀)‖_q over the ε-ball,
//! which are the exact bounds while every earlier neuron is stable, and then runs CROWN's final backward
//! pass: the chord above an unstable neuron, the adaptive 0/1 slope below it. With one hidden layer this
//! is CROWN's own bound (its ReLU inputs are affine in x), so the estimate is CROWN's radius up to
//! rounding; with more layers CROWN's intermediate bounds also carry the earlier layers' relaxations, so
//! its bound is lower and its radius usually below the estimate (on ACAS Xu a median 0.76 of it).
//!
//! Plain floating point, no domain box: the estimate only picks the first ε the search checks, and enters
//! no certificate. Each row's value depends on that row alone (never on the rows batched with it).
use super::{RadiusSearch, SearchStart};
use crate::net::{Layer, Network};
use crate::spec::{Decision, Norm};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Whether the estimate is worth its cost. Up to the first ReLU the input tangents are the same for
/// every row (the first layers' weights, computed once per chunk of rows); past it each row carries its
/// own d tangents (d the input size) through the remaining layers, about what CROWN spends bounding the
/// neurons of a later ReLU layer when d is at most that layer's width. So: with one ReLU layer always,
/// else when d is at most the widest later ReLU layer.
pub fn affordable(net: &Network) -> bool {
    let mut width = net.input_dim();
    let mut relu_widths = Vec::new();
    for layer in &net.layers {
        match layer {
            Layer::Affine(a) => width = a.out_dim(),
            Layer::Relu => relu_widths.push(width),
            Layer::Elementwise(_) | Layer::Reshape { .. } => {}
        }
    }
    match relu_widths.split_first() {
        None => false,
        Some((_, later)) => later.iter().max().is_none_or(|&w| net.input_dim() <= w),
    }
}

/// The dual norm ‖g‖_q of a gradient (q = 1 for ℓ∞, 2 for ℓ2, ∞ for ℓ1), in plain floating point.
pub fn dual_norm(norm: Norm, g: ArrayView1<f64>) -> f64 {
    match norm {
        Norm::Linf => g.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => g.dot(&g).sqrt(),
        Norm::L1 => g.iter().fold(0.0f64, |a, v| a.max(v.abs())),
    }
}

/// For each row of `inputs` with answer `classes[b]` and linearized boundary distance `linear[b]`: the
/// surrogate's radius, searched by `search`'s root finder to `search.rel_tol / 4` from ⅔ · `linear[b]`;
/// NaN where the surrogate's margin at x₀ is not positive (a zero margin, a NaN) or the row has no
/// positive linear distance.
pub fn relaxed_radii(net: &Network, decision: Decision, norm: Norm, inputs: ArrayView2<f64>, classes: &[usize], linear: &[f64], search: &RadiusSearch) -> Vec<f64> {
    // rows per chunk: past the first ReLU its per-row tangents hold rows × input dim × width values
    // (at most 2²⁰ of them where one row's fit)
    let first_relu = net.layers.iter().position(|l| matches!(l, Layer::Relu)).unwrap_or(net.layers.len());
    let width = net.layers[first_relu..].iter().filter_map(|l| if let Layer::Affine(a) = l { Some(a.out_dim()) } else { None }).max().unwrap_or(1);
    let rows = ((1usize << 20) / (net.input_dim() * width).max(1)).max(1);
    let mut out = Vec::with_capacity(inputs.nrows());
    for (part, start) in inputs.axis_chunks_iter(Axis(0), rows).zip((0..).step_by(rows)) {
        let end = start + part.nrows();
        out.extend(Surrogate::new(net, decision, norm, part, &classes[start..end]).radii(&linear[start..end], search));
    }
    out
}

/// The surrogate bound of a chunk of rows: every ReLU layer's pre-activations at x₀ and the dual norms
/// of their input gradients, and the ε-independent part of the backward pass (the layers after the last
/// ReLU).
struct Surrogate<'a> {
    net: &'a Network,
    norm: Norm,
    x: ArrayView2<'a, f64>,
    /// Spec rows per batch row (k − 1).
    specs: usize,
    /// Per ReLU layer (in order): (z, ‖∇z‖_q), rows × width.
    relus: Vec<(Array2<f64>, Array2<f64>)>,
    /// The number of layers up to and including the last ReLU (0 without a ReLU).
    body: usize,
    /// The margins' coefficients at the last ReLU's output ((rows · specs) × width) and the constants
    /// the layers after it add.
    head: (Array2<f64>, Array1<f64>),
}

/// The input tangents of a chunk of rows at one layer: the same for every row until the first ReLU.
enum Tangents {
    /// diag(s), every row's (the input's own tangents, scaled by elementwise layers).
    Diagonal(Array1<f64>),
    /// d × width, every row's.
    Shared(Array2<f64>),
    /// (rows · d) × width, row b's in rows b·d..(b + 1)·d.
    PerRow(Array2<f64>),
}

impl<'a> Surrogate<'a> {
    /// One forward pass of the rows with their input tangents (the identity at x₀), and the backward
    /// pass through the layers after the last ReLU.
    fn new(net: &'a Network, decision: Decision, norm: Norm, x: ArrayView2<'a, f64>, classes: &[usize]) -> Self {
        let (rows, d) = x.dim();
        let body = net.layers.iter().rposition(|l| matches!(l, Layer::Relu)).map_or(0, |i| i + 1);
        let mut h = x.as_standard_layout().into_owned();
        let mut t = Tangents::Diagonal(Array1::ones(d));
        let mut relus = Vec::new();
        for (i, layer) in net.layers[..body].iter().enumerate() {
            match layer {
                Layer::Affine(a) => {
                    h = h.dot(&a.weight.t()) + a.bias.view().insert_axis(Axis(0));
                    t = match t {
                        Tangents::Diagonal(s) => {
                            let mut w = a.weight.t().as_standard_layout().into_owned();
                            w.outer_iter_mut().zip(&s).for_each(|(mut r, &si)| r *= si);
                            Tangents::Shared(w)
                        }
                        Tangents::Shared(t) => Tangents::Shared(t.dot(&a.weight.t())),
                        Tangents::PerRow(t) => Tangents::PerRow(t.dot(&a.weight.t())),
                    };
                }
                Layer::Elementwise(e) => {
                    e.apply_rows(&mut h);
                    let scale = e.as_scale_shift().0;
                    match &mut t {
                        Tangents::Diagonal(s) => *s *= &scale,
                        Tangents::Shared(t) | Tangents::PerRow(t) => *t *= &scale.view().insert_axis(Axis(0)),
                    }
                }
                Layer::Relu => {
                    let dual = match &t {
                        Tangents::Diagonal(s) => Array2::from_shape_fn((rows, s.len()), |(_, j)| s[j].abs()),
                        Tangents::Shared(t) => {
                            let one = dual_norms(norm, t.view());
                            Array2::from_shape_fn((rows, one.len()), |(_, j)| one[j])
                        }
                        Tangents::PerRow(t) => {
                            let per: Vec<Array1<f64>> = (0..rows).map(|b| dual_norms(norm, t.slice(ndarray::s![b * d..(b + 1) * d, ..]))).collect();
                            Array2::from_shape_fn((rows, h.ncols()), |(b, j)| per[b][j])
                        }
                    };
                    // past the ReLU each row's tangents of its inactive neurons vanish (not needed past
                    // the last ReLU)
                    if i + 1 < body {
                        let mut per_row = match std::mem::replace(&mut t, Tangents::Shared(Array2::zeros((0, 0)))) {
                            Tangents::Diagonal(s) => Array2::from_shape_fn((rows * d, d), |(q, j)| if q % d == j { s[j] } else { 0.0 }),
                            Tangents::Shared(t) => Array2::from_shape_fn((rows * d, t.ncols()), |(q, j)| t[[q % d, j]]),
                            Tangents::PerRow(t) => t,
                        };
                        for (q, mut tq) in per_row.outer_iter_mut().enumerate() {
                            tq.zip_mut_with(&h.row(q / d), |v, &z| *v = if z > 0.0 { *v } else { 0.0 });
                        }
                        t = Tangents::PerRow(per_row);
                    }
                    relus.push((h.clone(), dual));
                    h.mapv_inplace(|v| v.max(0.0));
                }
                Layer::Reshape { .. } => {}
            }
        }
        let k = net.output_dim();
        let specs = k - 1;
        let by_class: Vec<Array2<f64>> = (0..k).map(|c| decision.margin_spec(c, k)).collect();
        let mut lam = Array2::from_shape_fn((rows * specs, k), |(q, o)| by_class[classes[q / specs]][[q % specs, o]]);
        let mut c = Array1::zeros(rows * specs);
        for layer in net.layers[body..].iter().rev() {
            back_linear(layer, &mut lam, &mut c);
        }
        Surrogate { net, norm, x, specs, relus, body, head: (lam, c) }
    }

    /// For each listed row b (an index into the chunk) at its ε: the least of the surrogate's lower bounds
    /// of the answer's margins over the ε-ball (NaN as −∞).
    fn least_margins(&self, rows: &[usize], eps: &[f64]) -> Vec<f64> {
        let s = self.specs;
        let head: Vec<usize> = rows.iter().flat_map(|&b| b * s..(b + 1) * s).collect();
        let mut lam = self.head.0.select(Axis(0), &head);
        let mut c = self.head.1.select(Axis(0), &head);
        let mut relu = self.relus.len();
        let mut intercepts = Vec::new();
        for layer in self.net.layers[..self.body].iter().rev() {
            if !matches!(layer, Layer::Relu) {
                back_linear(layer, &mut lam, &mut c);
                continue;
            }
            relu -= 1;
            let (z, dual) = &self.relus[relu];
            intercepts.resize(z.ncols(), 0.0);
            for (q, (mut coef, cq)) in lam.outer_iter_mut().zip(c.iter_mut()).enumerate() {
                let (b, e) = (rows[q / s], eps[q / s]);
                let coef = coef.as_slice_mut().expect("a row of a standard-layout array");
                let (zb, gb) = (z.row(b), dual.row(b));
                let (zb, gb) = (zb.as_slice().expect("standard layout"), gb.as_slice().expect("standard layout"));
                for (((a, ic), &zj), &gj) in coef.iter_mut().zip(intercepts.iter_mut()).zip(zb).zip(gb) {
                    (*a, *ic) = relax(*a, zj - e * gj, zj + e * gj);
                }
                *cq += fourfold_sum(&intercepts);
            }
        }
        let mut least = vec![f64::INFINITY; rows.len()];
        for (q, coef) in lam.outer_iter().enumerate() {
            let (i, b) = (q / s, rows[q / s]);
            let v = coef.dot(&self.x.row(b)) + c[q] - eps[i] * dual_norm(self.norm, coef);
            least[i] = if v.is_nan() { f64::NEG_INFINITY } else { least[i].min(v) };
        }
        least
    }

    /// Each row's surrogate radius by the radius search (RADIUS-1/2 on the surrogate), in lockstep.
    fn radii(&self, linear: &[f64], search: &RadiusSearch) -> Vec<f64> {
        let search = RadiusSearch { rel_tol: search.rel_tol / 4.0, start: SearchStart::Linearized, ..search.clone() };
        let all: Vec<usize> = (0..linear.len()).collect();
        let zeros = vec![0.0; all.len()];
        let margin0 = self.least_margins(&all, &zeros);
        let mut states: Vec<_> = linear.iter().zip(&margin0).map(|(&l, &m0)| {
            let mut st = search.start_guessed(m0, l, f64::NAN);
            st.done = !(m0 > 0.0 && l.is_finite() && l > 0.0);
            st
        }).collect();
        loop {
            let active: Vec<usize> = (0..states.len()).filter(|&b| !states[b].done).collect();
            if active.is_empty() {
                break;
            }
            let eps: Vec<f64> = active.iter().map(|&b| states[b].eps).collect();
            for (&b, m) in active.iter().zip(self.least_margins(&active, &eps)) {
                search.step_margin(&mut states[b], m);
            }
        }
        states.iter().map(|st| if st.checks > 0 && st.certified() > 0.0 { st.certified() } else { f64::NAN }).collect()
    }
}

/// A lower bound's backward pass through a layer other than a ReLU: coefficients `lam` of its output
/// become those of its input, and its constants join `c`.
fn back_linear(layer: &Layer, lam: &mut Array2<f64>, c: &mut Array1<f64>) {
    match layer {
        Layer::Affine(a) => {
            *c += &lam.dot(&a.bias);
            *lam = lam.dot(&a.weight);
        }
        Layer::Elementwise(e) => {
            let (scale, shift) = e.as_scale_shift();
            *c += &lam.dot(&shift);
            *lam *= &scale.view().insert_axis(Axis(0));
        }
        Layer::Relu => unreachable!("the surrogate relaxes ReLUs itself"),
        Layer::Reshape { .. } => {}
    }
}

/// The dual norms of the columns of `t` (each a neuron's gradient over the input's d coordinates).
fn dual_norms(norm: Norm, t: ArrayView2<f64>) -> Array1<f64> {
    let mut acc = Array1::zeros(t.ncols());
    for row in t.outer_iter() {
        acc.zip_mut_with(&row, |a: &mut f64, &v| {
            *a = match norm {
                Norm::Linf => *a + v.abs(),
                Norm::L2 => v.mul_add(v, *a),
                Norm::L1 => a.max(v.abs()),
            }
        });
    }
    if norm == Norm::L2 {
        acc.mapv_inplace(f64::sqrt);
    }
    acc
}

/// CROWN's relaxation of one ReLU with input bounds [l, u] in a lower bound's backward pass: the
/// coefficient `a` of its output becomes that of its input (the first value), and an upper chord adds
/// its intercept's share to the constant (the second value); auto_LiRPA's adaptive lower slope is 1
/// where the chord's slope exceeds ½, else 0. Branch-free, so that the neuron loop vectorizes.
#[inline(always)]
fn relax(a: f64, l: f64, u: f64) -> (f64, f64) {
    let select = |c: bool, x: f64, y: f64| if c { x } else { y };
    let active = l >= 0.0;
    let inactive = !active & (u <= 0.0);
    let unstable = !active & !inactive;
    let slope = u / (u - l); // used only for an unstable neuron (l < 0 < u)
    let chord = unstable & (a < 0.0);
    let kept = active | (unstable & (a >= 0.0) & (slope > 0.5));
    (select(chord, a * slope, select(kept, a, 0.0)), select(chord, a * (-slope * l), 0.0))
}

/// A sum on four accumulators (fixed order: the same value for the same terms on every run).
fn fourfold_sum(v: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = v.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}
