//! The least distance from x₀ to the points of a box where a linear lower bound of a margin lets the
//! margin reach 0 (EXACT-BAB-5 in `proofs/EXACT.md`): the bound of one input-splitting sub-domain.
//!
//! If margin(x) ≥ aᵀx + c for every x of the box B, every point of B where the margin is ≤ 0 has
//! aᵀx + c ≤ 0, so its distance to x₀ is at least D = min{‖x − x₀‖ : x ∈ B, aᵀx + c ≤ 0}. With
//! d = x − x₀ ∈ [p, q] (the box shifted, its ends rounded outward) and c' ≤ c + aᵀx₀ (rounded down with
//! the dot product's error, FP-2), D ≥ min{‖d‖ : d ∈ [p, q], aᵀd + c' ≤ 0}, computed as:
//! - ℓ∞ and ℓ1: the largest s at which a rigorous lower bound of min{aᵀd : d ∈ [p, q], ‖d‖ ≤ s} + c'
//!   is still > 0 (then no such point lies within s), found by bisection on s; the minimum over the
//!   box ∩ ball is separable in ℓ∞ (each coordinate at an end of its clipped interval) and a
//!   fractional knapsack in ℓ1 (exact, computed with every capacity and budget rounded up);
//! - ℓ2: √φ(λ) for the Lagrangian φ(λ) = λc' + Σᵢ min over dᵢ ∈ [pᵢ, qᵢ] of (dᵢ² + λaᵢdᵢ) ≤ min ‖d‖₂²
//!   (weak duality, any λ ≥ 0; each term concave in its multiplier, so the two outward roundings of
//!   λaᵢ bound it), λ maximizing φ by bisection on its derivative (exact by strong duality).
//!
//! Every value here is a bound whatever the bisections return; only their tightness depends on them.
use crate::rigor::{dot_error, down, nonneg_dot_upper, up};
use crate::spec::Norm;

/// What [`nearest`] proves: every point of the box with aᵀx + c ≤ 0 lies at distance ≥ `lower` from
/// x₀ (+∞: the box has no such point); `point` is (an estimate of) the nearest such point, for a
/// witness — not trusted.
#[derive(Clone, Debug, PartialEq)]
pub struct Nearest {
    pub lower: f64,
    pub point: Option<Vec<f64>>,
}

/// The box shifted to d = x − x₀, its ends rounded outward.
struct ShiftedBox {
    p: Vec<f64>,
    q: Vec<f64>,
}

impl ShiftedBox {
    fn new(x0: &[f64], lo: &[f64], hi: &[f64]) -> Self {
        let n = x0.len();
        ShiftedBox { p: (0..n).map(|i| down(lo[i] - x0[i])).collect(), q: (0..n).map(|i| up(hi[i] - x0[i])).collect() }
    }

    /// The half-space aᵀx + c ≤ 0 over this box: aᵀd + c' ≤ 0 with c' ≤ c + aᵀx₀ (rounded down with the
    /// dot product's error, FP-2).
    fn half<'a>(&'a self, x0: &[f64], a: &'a [f64], c: f64) -> Shifted<'a> {
        let n = x0.len();
        let (mut dot, mut abs) = (0.0f64, 0.0f64);
        for i in 0..n {
            let v = a[i] * x0[i];
            dot += v;
            abs += v.abs();
        }
        let err = dot_error(n, nonneg_dot_upper(abs, n));
        let c = down(down(c + dot) - err);
        Shifted { p: &self.p, q: &self.q, a, c: if c.is_nan() { f64::NEG_INFINITY } else { c } }
    }
}

/// A half-space over a shifted box: d ∈ [p, q], aᵀd + c' ≤ 0.
struct Shifted<'a> {
    p: &'a [f64],
    q: &'a [f64],
    a: &'a [f64],
    c: f64,
}

/// Bisection steps on s or λ (each halves the bracket; the loops also stop when it reaches one ulp).
const STEPS: usize = 200;

impl Shifted<'_> {
    /// A lower bound of min over the box of aᵀd + c', rounded down.
    fn box_min(&self) -> f64 {
        let mut t = self.c;
        for i in 0..self.p.len() {
            t = down(t + lin_min(self.a[i], self.p[i], self.q[i]));
        }
        t
    }

    /// The coordinate closest to 0 in [pᵢ, qᵢ].
    fn closest(&self, i: usize) -> f64 {
        0.0f64.clamp(self.p[i], self.q[i])
    }

    /// A lower bound of the box's distance from 0 (the least ‖d‖ over the box).
    fn box_distance(&self, norm: Norm) -> f64 {
        let n = self.p.len();
        let far = |i: usize| self.closest(i).abs();
        match norm {
            Norm::Linf => (0..n).map(far).fold(0.0, f64::max),
            Norm::L1 => (0..n).fold(0.0, |t, i| down(t + far(i))),
            Norm::L2 => down((0..n).fold(0.0, |t, i| down(t + down(far(i) * far(i)))).sqrt()).max(0.0),
        }
    }

    /// ℓ∞: a lower bound of min over d ∈ [p, q] with ‖d‖∞ ≤ s of aᵀd + c', rounded down (+∞ when
    /// that set is empty).
    fn linf_min(&self, s: f64) -> f64 {
        let mut t = self.c;
        for i in 0..self.p.len() {
            let (l, u) = (self.p[i].max(-s), self.q[i].min(s));
            if l > u {
                return f64::INFINITY;
            }
            t = down(t + lin_min(self.a[i], l, u));
        }
        t
    }

    /// ℓ∞ or ℓ1: a lower bound of min over d ∈ [p, q] with ‖d‖ ≤ s of aᵀd + c' (+∞ when that set is
    /// empty); > 0 proves that no point of the box within s lies in the half-space.
    fn min_within(&self, norm: Norm, s: f64) -> f64 {
        match norm {
            Norm::Linf => self.linf_min(s),
            _ => self.l1_min(s).map_or(f64::INFINITY, |v| v.0),
        }
    }

    /// ℓ∞ or ℓ1: the point of the box within s minimizing aᵀd (estimated).
    fn point_within(&self, norm: Norm, s: f64) -> Vec<f64> {
        match norm {
            Norm::Linf => self.linf_point(s),
            _ => self.l1_min(s).map_or_else(|| self.linf_point(s), |v| v.1),
        }
    }

    /// ℓ∞: the minimizing d at radius s (the end of each clipped interval that a favours).
    fn linf_point(&self, s: f64) -> Vec<f64> {
        (0..self.p.len())
            .map(|i| {
                let (l, u) = (self.p[i].max(-s), self.q[i].min(s).max(self.p[i].max(-s)));
                if self.a[i] > 0.0 {
                    l
                } else if self.a[i] < 0.0 {
                    u
                } else {
                    self.closest(i)
                }
            })
            .collect()
    }

    /// ℓ1: the fractional knapsack from the box's point closest to 0 with budget s − its norm, every
    /// capacity and the budget rounded up (so the value is a lower bound of the true minimum); returns
    /// the value and the allocation's point.
    fn l1_min(&self, s: f64) -> Option<(f64, Vec<f64>)> {
        let n = self.p.len();
        let z: Vec<f64> = (0..n).map(|i| self.closest(i)).collect();
        let used = (0..n).fold(0.0, |t, i| down(t + z[i].abs()));
        let mut budget = up(s - used);
        if budget < 0.0 {
            return None;
        }
        let mut t = self.c;
        for i in 0..n {
            t = down(t + lin_min(self.a[i], z[i], z[i]));
        }
        let mut order: Vec<usize> = (0..n).filter(|&i| self.a[i] != 0.0).collect();
        order.sort_by(|&i, &j| self.a[j].abs().total_cmp(&self.a[i].abs()).then(i.cmp(&j)));
        let mut point = z.clone();
        for i in order {
            if budget <= 0.0 {
                break;
            }
            // moving away from 0 towards the end a favours
            let cap = if self.a[i] > 0.0 { up(z[i] - self.p[i]) } else { up(self.q[i] - z[i]) };
            let step = cap.min(budget);
            if step <= 0.0 {
                continue;
            }
            t = down(t - up(self.a[i].abs() * step));
            budget = up(budget - step);
            point[i] = if self.a[i] > 0.0 { z[i] - step } else { z[i] + step };
        }
        Some((t, point))
    }

    /// ℓ2: a rigorous lower bound of φ(λ) (see the module's doc), and φ's derivative in plain floating
    /// point (for the bisection).
    fn l2_phi(&self, lambda: f64) -> (f64, f64) {
        let mut t = down(lambda * self.c);
        let mut slope = self.c;
        for i in 0..self.p.len() {
            let (p, q) = (self.p[i], self.q[i]);
            let exact = lambda * self.a[i];
            let term = |beta: f64| {
                let ends = down(down(p * p) + down(beta * p)).min(down(down(q * q) + down(beta * q)));
                let stationary = -0.5 * beta;
                if stationary >= p && stationary <= q {
                    ends.min(-up(up(beta * beta) * 0.25))
                } else {
                    ends
                }
            };
            t = down(t + term(down(exact)).min(term(up(exact))));
            slope += self.a[i] * (-0.5 * exact).clamp(p, q);
        }
        (if t.is_nan() { f64::NEG_INFINITY } else { t }, slope)
    }

    fn l2_point(&self, lambda: f64) -> Vec<f64> {
        (0..self.p.len()).map(|i| (-0.5 * lambda * self.a[i]).clamp(self.p[i], self.q[i])).collect()
    }
}

/// min of a·v over v ∈ [l, u], rounded down.
fn lin_min(a: f64, l: f64, u: f64) -> f64 {
    let v = if a >= 0.0 { down(a * l) } else { down(a * u) };
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// The largest s in [lo, hi] found by bisection with `clear(s)` (assumed true at lo, false at hi), to a
/// relative 10⁻¹³ (far inside the exact radii's tolerance).
fn largest_clear(mut lo: f64, mut hi: f64, clear: impl Fn(f64) -> bool) -> (f64, f64) {
    for _ in 0..STEPS {
        let mid = 0.5 * lo + 0.5 * hi;
        if !(mid > lo && mid < hi) || hi - lo <= 1e-13 * hi {
            break;
        }
        if clear(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo, hi)
}

/// A proven lower bound of min{‖x − x₀‖ : x ∈ [lo, hi], aᵀx + c ≤ 0} in exact real arithmetic (+∞ when
/// no point of the box has aᵀx + c ≤ 0), never below the box's distance from x₀, and an estimate of
/// the point attaining it.
pub fn nearest(norm: Norm, x0: &[f64], lo: &[f64], hi: &[f64], a: &[f64], c: f64) -> Nearest {
    let frame = ShiftedBox::new(x0, lo, hi);
    let sh = frame.half(x0, a, c);
    let at = |d: Vec<f64>| Some(d.iter().zip(x0).map(|(v, x)| x + v).collect());
    let floor = sh.box_distance(norm);
    if a.iter().any(|v| !v.is_finite()) || sh.c == f64::NEG_INFINITY {
        return Nearest { lower: floor, point: None };
    }
    if sh.box_min() > 0.0 {
        return Nearest { lower: f64::INFINITY, point: None };
    }
    let n = x0.len();
    match norm {
        Norm::Linf | Norm::L1 => {
            let far = match norm {
                Norm::Linf => (0..n).map(|i| up(sh.p[i].abs().max(sh.q[i].abs()))).fold(0.0, f64::max),
                _ => (0..n).fold(0.0, |t, i| up(t + sh.p[i].abs().max(sh.q[i].abs()))),
            };
            let clear = |s: f64| sh.min_within(norm, s) > 0.0;
            if !clear(floor) {
                return Nearest { lower: floor, point: at(sh.point_within(norm, floor)) };
            }
            let (lower, reach) = largest_clear(floor, far.max(floor), clear);
            Nearest { lower, point: at(sh.point_within(norm, reach)) }
        }
        Norm::L2 => {
            // φ is concave; its derivative falls from c' + aᵀd(0) to c' + min over the box of aᵀd ≤ 0
            if sh.l2_phi(0.0).1 <= 0.0 {
                return Nearest { lower: floor, point: at(sh.l2_point(0.0)) };
            }
            let mut hi = 1.0f64;
            while sh.l2_phi(hi).1 > 0.0 && hi < 1e300 {
                hi *= 2.0;
            }
            let mut lo = 0.0f64;
            for _ in 0..STEPS {
                let mid = 0.5 * lo + 0.5 * hi;
                if !(mid > lo && mid < hi) {
                    break;
                }
                if sh.l2_phi(mid).1 > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            let best = [lo, hi].into_iter().map(|l| sh.l2_phi(l).0).fold(f64::NEG_INFINITY, f64::max);
            let lower = if best > 0.0 { down(best.sqrt()) } else { 0.0 };
            Nearest { lower: lower.max(floor), point: at(sh.l2_point(hi)) }
        }
    }
}

/// The maximum of a unimodal f on [lo, hi] by golden section (the argument and value found).
fn golden_max(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64, iters: usize) -> (f64, f64) {
    let g = 0.5 * (5.0f64.sqrt() - 1.0);
    let (mut m1, mut m2) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut f1, mut f2) = (f(m1), f(m2));
    for _ in 0..iters {
        if f1 >= f2 {
            hi = m2;
            (m2, f2) = (m1, f1);
            m1 = hi - g * (hi - lo);
            f1 = f(m1);
        } else {
            lo = m1;
            (m1, f1) = (m2, f2);
            m2 = lo + g * (hi - lo);
            f2 = f(m2);
        }
        if !(hi - lo > 1e-15 * (1.0 + hi.abs())) {
            break;
        }
    }
    if f1 >= f2 {
        (m1, f1)
    } else {
        (m2, f2)
    }
}

/// A proven lower bound of min{‖x − x₀‖ : x ∈ [lo, hi], aᵀx + c ≤ 0, sᵀx + t ≤ 0} (two half-spaces: a
/// flip's and a piece's) by surrogate duality: every such point satisfies (a + μs)ᵀx + (c + μt) ≤ 0
/// for every μ ≥ 0 (and sᵀx + t ≤ 0 alone: μ = ∞), so no such point lies within r when some μ makes
/// the aggregated half-space miss the box ∩ r-ball. The aggregated coefficients are rounded and their
/// error over the box subtracted from the constant, so every such proof holds in exact arithmetic.
/// - ℓ∞ and ℓ1: for each r the aggregated half-space's least value over the box ∩ r-ball is concave in
///   μ (a minimum of functions linear in μ), maximized by golden section; the bound is the largest r
///   proven so, by bisection — exact by LP duality, up to the searches' resolution;
/// - ℓ2: the largest [`nearest`] over μ (quasi-concave in μ) on a logarithmic grid, then by golden
///   section.
///
/// The searches only decide how tight the bound is, never whether it holds.
#[allow(clippy::too_many_arguments)]
pub fn nearest_two(norm: Norm, x0: &[f64], lo: &[f64], hi: &[f64], a: &[f64], c: f64, s: &[f64], t: f64) -> Nearest {
    let n = x0.len();
    let mag: Vec<f64> = (0..n).map(|i| lo[i].abs().max(hi[i].abs())).collect();
    // (a + μs, c + μt − err): every point of both half-spaces in the box lies in this one
    let aggregate = |mu: f64| -> (Vec<f64>, f64) {
        let mut agg = Vec::with_capacity(n);
        let mut err = 0.0f64;
        for i in 0..n {
            let ms = mu * s[i];
            let v = a[i] + ms;
            agg.push(v);
            // |fl(aᵢ + fl(μsᵢ)) − (aᵢ + μsᵢ)| ≤ 2u(|v| + |μsᵢ|) + 2η, times |xᵢ| ≤ magᵢ
            let e = up(up(up(v.abs() + ms.abs()) * f64::EPSILON) + 2.0 * f64::from_bits(1));
            err = up(err + up(e * mag[i]));
        }
        let constant = down(down(c + down(mu * t)) - err);
        (agg, if constant.is_nan() { f64::NEG_INFINITY } else { constant })
    };
    if a.iter().chain(s).any(|v| !v.is_finite()) {
        return nearest(norm, x0, lo, hi, a, c);
    }
    let scale = {
        let (na, ns) = (a.iter().map(|v| v.abs()).sum::<f64>(), s.iter().map(|v| v.abs()).sum::<f64>());
        if ns > 0.0 && na > 0.0 && (na / ns).is_finite() {
            na / ns
        } else {
            1.0
        }
    };
    // μ = scale·u/(1 − u) maps u ∈ [0, 1) onto μ ∈ [0, ∞) monotonically (unimodality is kept)
    let mu_of = |u: f64| if u >= 1.0 { f64::INFINITY } else { scale * u / (1.0 - u) };
    let at = |d: Vec<f64>| Some(d.iter().zip(x0).map(|(v, x)| x + v).collect());
    match norm {
        Norm::Linf | Norm::L1 => {
            let frame = ShiftedBox::new(x0, lo, hi);
            let alone = frame.half(x0, s, t);
            // the best μ at radius r and its aggregated half-space's least value there (μ = ∞: the
            // piece's half-space alone)
            let best_at = |r: f64| -> (f64, f64) {
                let value = |u: f64| {
                    let (g, k) = aggregate(mu_of(u));
                    frame.half(x0, &g, k).min_within(norm, r)
                };
                let (u, v) = golden_max(value, 0.0, 1.0 - 1e-12, 48);
                let (v0, va) = (value(0.0), alone.min_within(norm, r));
                if va > v.max(v0) {
                    (f64::INFINITY, va)
                } else if v0 >= v {
                    (0.0, v0)
                } else {
                    (mu_of(u), v)
                }
            };
            let point = |r: f64| {
                let mu = best_at(r).0;
                if mu.is_infinite() {
                    return alone.point_within(norm, r);
                }
                let (g, k) = aggregate(mu);
                frame.half(x0, &g, k).point_within(norm, r)
            };
            let clear = |r: f64| best_at(r).1 > 0.0;
            let floor = frame.half(x0, a, c).box_distance(norm);
            let far = match norm {
                Norm::Linf => (0..n).map(|i| up(alone.p[i].abs().max(alone.q[i].abs()))).fold(0.0, f64::max),
                _ => (0..n).fold(0.0, |acc, i| up(acc + alone.p[i].abs().max(alone.q[i].abs()))),
            }
            .max(floor);
            if clear(far) {
                return Nearest { lower: f64::INFINITY, point: None };
            }
            if !clear(floor) {
                return Nearest { lower: floor, point: at(point(floor)) };
            }
            let (lower, reach) = largest_clear(floor, far, clear);
            Nearest { lower, point: at(point(reach)) }
        }
        Norm::L2 => {
            let value = |mu: f64| {
                if mu.is_infinite() {
                    return nearest(norm, x0, lo, hi, s, t);
                }
                let (g, k) = aggregate(mu);
                nearest(norm, x0, lo, hi, &g, k)
            };
            // a grid over μ = scale·4ᵏ (k = −15 … 15), 0 and ∞, then golden section in ln μ between the
            // best point's neighbours (a quasi-concave function's maximum lies there)
            let grid: Vec<f64> = (-15..=15).map(|k| scale * 4f64.powi(k)).collect();
            let mut best = value(0.0);
            let alone = value(f64::INFINITY);
            if alone.lower > best.lower {
                best = alone;
            }
            let mut best_k: Option<usize> = None;
            for (k, &mu) in grid.iter().enumerate() {
                let v = value(mu);
                if v.lower > best.lower {
                    (best, best_k) = (v, Some(k));
                }
            }
            let Some(kb) = best_k else { return best };
            let (l, h) = (grid[kb.saturating_sub(1)].ln(), grid[(kb + 1).min(grid.len() - 1)].ln());
            let (m, v) = golden_max(|lm| value(lm.exp()).lower, l, h, 50);
            if v > best.lower {
                best = value(m.exp());
            }
            best
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The least distance over a fine grid of the box's points with aᵀx + c ≤ 0 (∞ when none).
    fn grid_min(norm: Norm, x0: &[f64], lo: &[f64], hi: &[f64], a: &[f64], c: f64) -> f64 {
        let k = 300;
        let mut best = f64::INFINITY;
        for i in 0..=k {
            for j in 0..=k {
                let x = [lo[0] + (hi[0] - lo[0]) * i as f64 / k as f64, lo[1] + (hi[1] - lo[1]) * j as f64 / k as f64];
                if a[0] * x[0] + a[1] * x[1] + c <= 0.0 {
                    let d = ndarray::arr1(&[x[0] - x0[0], x[1] - x0[1]]);
                    best = best.min(norm.norm(d.view()));
                }
            }
        }
        best
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

        /// EXACT-BAB-5: never above the distance of any grid point of the box where aᵀx + c ≤ 0, and
        /// tight: its estimated point is a point of the set at that distance (the bound is the exact minimum
        /// in every norm).
        #[test]
        fn the_bound_is_the_least_distance(x0 in prop::collection::vec(-1.0f64..1.0, 2), lo in prop::collection::vec(-2.0f64..1.0, 2),
                                           w in prop::collection::vec(0.0f64..2.0, 2), a in prop::collection::vec(-3.0f64..3.0, 2), c in -3.0f64..3.0,
                                           norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)]) {
            let hi: Vec<f64> = lo.iter().zip(&w).map(|(l, w)| l + w).collect();
            let got = nearest(norm, &x0, &lo, &hi, &a, c);
            let grid = grid_min(norm, &x0, &lo, &hi, &a, c);
            prop_assert!(got.lower <= grid * (1.0 + 1e-12) + 1e-12, "bound {} above the grid's least distance {grid}", got.lower);
            if got.lower.is_finite() {
                // tight: the estimated point lies in the box, reaches the half-space and is at the bound's
                // distance (every such point is at least the true minimum away)
                let p = got.point.expect("a point when the set is not empty");
                for i in 0..2 {
                    prop_assert!(p[i] >= lo[i] - 1e-12 && p[i] <= hi[i] + 1e-12, "the point {p:?} leaves the box");
                }
                let d = ndarray::arr1(&[p[0] - x0[0], p[1] - x0[1]]);
                prop_assert!((norm.norm(d.view()) - got.lower).abs() <= 1e-9 * (1.0 + got.lower), "the point's distance {} is not the bound {}", norm.norm(d.view()), got.lower);
                prop_assert!(a[0] * p[0] + a[1] * p[1] + c <= 1e-9 * (1.0 + c.abs() + a[0].abs() + a[1].abs()), "the point does not reach the half-space");
            }
        }
    }

    /// The exact least distance (ℓ∞ or ℓ1) from x₀ to {x ∈ [lo, hi] : Gx ≤ h} in 2-D: the LP
    /// min t s.t. ‖x − x₀‖ ≤ t (as facets), the box and the rows, by enumerating its vertices (every
    /// triple of constraints made tight).
    fn lp_min(norm: Norm, x0: &[f64], lo: &[f64], hi: &[f64], rows: &[([f64; 2], f64)]) -> f64 {
        // constraints g·x − k·t ≤ h as (g, k, h)
        let mut cons: Vec<([f64; 2], f64, f64)> = Vec::new();
        let facets: &[[f64; 2]] = if norm == Norm::Linf { &[[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]] } else { &[[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]] };
        for f in facets {
            cons.push((*f, 1.0, f[0] * x0[0] + f[1] * x0[1]));
        }
        for i in 0..2 {
            let mut e = [0.0; 2];
            e[i] = 1.0;
            cons.push((e, 0.0, hi[i]));
            e[i] = -1.0;
            cons.push((e, 0.0, -lo[i]));
        }
        for (g, h) in rows {
            cons.push((*g, 0.0, *h));
        }
        let mut best = f64::INFINITY;
        let n = cons.len();
        for a in 0..n {
            for b in a + 1..n {
                for c in b + 1..n {
                    // solve [g1 g2 −k] [x; t] = h for the three
                    let m = [a, b, c].map(|r| [cons[r].0[0], cons[r].0[1], -cons[r].1, cons[r].2]);
                    let det = |m: &[[f64; 4]; 3], col: usize| {
                        let pick = |r: usize, j: usize| if j == col { m[r][3] } else { m[r][j] };
                        pick(0, 0) * (pick(1, 1) * pick(2, 2) - pick(1, 2) * pick(2, 1)) - pick(0, 1) * (pick(1, 0) * pick(2, 2) - pick(1, 2) * pick(2, 0))
                            + pick(0, 2) * (pick(1, 0) * pick(2, 1) - pick(1, 1) * pick(2, 0))
                    };
                    let d = det(&m, usize::MAX);
                    if d.abs() < 1e-12 {
                        continue;
                    }
                    let v = [det(&m, 0) / d, det(&m, 1) / d, det(&m, 2) / d];
                    if cons.iter().all(|(g, k, h)| g[0] * v[0] + g[1] * v[1] - k * v[2] <= h + 1e-9) {
                        best = best.min(v[2]);
                    }
                }
            }
        }
        best
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

        /// EXACT-BAB-6's surrogate bound of two half-spaces: never above the distance of any grid point
        /// in both, and in ℓ∞ and ℓ1 equal to the LP's exact minimum (LP duality; +∞ when no point of
        /// the box lies in both).
        #[test]
        fn two_half_spaces_bound_their_intersection_exactly(x0 in prop::collection::vec(-1.0f64..1.0, 2), lo in prop::collection::vec(-2.0f64..1.0, 2),
                                                            w in prop::collection::vec(0.1f64..2.0, 2), a in prop::collection::vec(-3.0f64..3.0, 2), c in -3.0f64..3.0,
                                                            s in prop::collection::vec(-3.0f64..3.0, 2), t in -3.0f64..3.0,
                                                            norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)]) {
            let hi: Vec<f64> = lo.iter().zip(&w).map(|(l, w)| l + w).collect();
            let got = nearest_two(norm, &x0, &lo, &hi, &a, c, &s, t);
            let k = 300;
            let mut grid = f64::INFINITY;
            for i in 0..=k {
                for j in 0..=k {
                    let x = [lo[0] + (hi[0] - lo[0]) * i as f64 / k as f64, lo[1] + (hi[1] - lo[1]) * j as f64 / k as f64];
                    if a[0] * x[0] + a[1] * x[1] + c <= 0.0 && s[0] * x[0] + s[1] * x[1] + t <= 0.0 {
                        grid = grid.min(norm.norm(ndarray::arr1(&[x[0] - x0[0], x[1] - x0[1]]).view()));
                    }
                }
            }
            prop_assert!(got.lower <= grid * (1.0 + 1e-12) + 1e-12, "bound {} above the grid's least distance {grid}", got.lower);
            if norm != Norm::L2 {
                let exact = lp_min(norm, &x0, &lo, &hi, &[([a[0], a[1]], -c), ([s[0], s[1]], -t)]);
                prop_assert!(got.lower <= exact + 1e-9 * (1.0 + exact.abs()), "bound {} above the LP's {exact}", got.lower);
                if exact.is_finite() {
                    prop_assert!(got.lower >= exact - 1e-7 * (1.0 + exact), "bound {} below the LP's {exact}", got.lower);
                } else {
                    prop_assert!(got.lower == f64::INFINITY, "no point lies in both, yet the bound is {}", got.lower);
                }
            }
        }
    }

    #[test]
    fn a_box_without_such_points_is_infinitely_far_and_the_box_distance_is_a_floor() {
        // aᵀx + c = x₀ + 5 > 0 on [−1, 1]²
        let got = nearest(Norm::Linf, &[0.0, 0.0], &[-1.0, -1.0], &[1.0, 1.0], &[1.0, 0.0], 5.0);
        assert_eq!(got.lower, f64::INFINITY);
        // every point of [2, 3] × [0, 1] is at ℓ∞ distance ≥ 2 from 0, and the half-space is everything
        for norm in [Norm::Linf, Norm::L1, Norm::L2] {
            let got = nearest(norm, &[0.0, 0.0], &[2.0, 0.0], &[3.0, 1.0], &[1.0, 0.0], -10.0);
            assert!(got.lower <= 2.0 && got.lower >= 2.0 * (1.0 - 1e-15), "{norm:?}: {}", got.lower);
        }
        // the closed form for a half-space through the whole plane: x₁ + x₂ ≤ −1 from 0: ℓ∞ ½, ℓ1 1, ℓ2 1/√2
        for (norm, want) in [(Norm::Linf, 0.5), (Norm::L1, 1.0), (Norm::L2, 0.5f64.sqrt())] {
            let got = nearest(norm, &[0.0, 0.0], &[-10.0, -10.0], &[10.0, 10.0], &[1.0, 1.0], 1.0);
            assert!(got.lower <= want && got.lower >= want * (1.0 - 1e-12), "{norm:?}: {} vs {want}", got.lower);
        }
    }
}
