//! Linear lower bounds `C·f(x) ≥ Λ·h + c − slack` over a boundary variable h, moved backward through the
//! layers (CROWN's backward pass) and concretized over the input region — with every rounding error of
//! f64 arithmetic either rounded outward or added to the non-negative slack (`proofs/FP.md`).
use super::Interval;
use crate::net::Affine;
use crate::rigor::{abs_dot_up, add_error, down, dot_error, gamma, l1_norm_up, l2_norm_up, linf_norm, mul_error, up, MIN_SUBNORMAL};
use crate::spec::{Norm, Region};
use ndarray::{Array1, Array2, ArrayView1, Axis, Zip};

/// For each row i and all x in the region: `spec_i · f(x) ≥ coef_i · h(x) + constant_i − slack_i`,
/// in exact real arithmetic with the stored f64 values (invariant CROWN-1 of `proofs/CROWN.md`).
#[derive(Clone, Debug)]
pub(crate) struct LinearLower {
    pub coef: Array2<f64>,
    pub constant: Array1<f64>,
    pub slack: Array1<f64>,
}

/// Upper relaxation of an unstable ReLU: relu(z) ≤ slope·z + intercept on [l, u], rigorously valid
/// in exact arithmetic for the stored f64 values (FP-4).
#[derive(Clone, Copy, Debug)]
pub(crate) struct UpperLine {
    pub slope: f64,
    pub intercept: f64,
}

impl UpperLine {
    /// The chord through (l, 0) and (u, u) for l < 0 < u, with the intercept rounded up so the line
    /// stays above relu at both ends.
    pub fn chord(l: f64, u: f64) -> Self {
        let slope = u / (u - l);
        let at_l = up(-(slope * l));
        let at_u = up(u * up(1.0 - slope));
        UpperLine { slope, intercept: at_l.max(at_u).max(0.0) }
    }
}

/// How the stability of a ReLU neuron with input bounds [l, u] treats it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ReluState {
    Active,
    Inactive,
    Unstable,
}

pub(crate) fn relu_state(l: f64, u: f64) -> ReluState {
    if l >= 0.0 {
        ReluState::Active
    } else if u <= 0.0 {
        ReluState::Inactive
    } else {
        ReluState::Unstable
    }
}

/// The lower slope auto_LiRPA's CROWN uses by default ("adaptive"): 1 when the chord slope u/(u−l)
/// exceeds ½, else 0.
pub(crate) fn adaptive_slope(l: f64, u: f64) -> f64 {
    if UpperLine::chord(l, u).slope > 0.5 {
        1.0
    } else {
        0.0
    }
}

impl LinearLower {
    /// The trivial bound `spec · f(x) ≥ spec · f(x)` over the network output.
    pub fn identity(spec: Array2<f64>) -> Self {
        let m = spec.nrows();
        LinearLower { coef: spec, constant: Array1::zeros(m), slack: Array1::zeros(m) }
    }

    /// Moves the bound from an affine layer's output to its input h_in. `mag_in` bounds |h_in|
    /// elementwise over the region and `weight_mag` = |W|·mag_in rounded up (precomputed per layer).
    pub fn through_affine(&mut self, a: &Affine, mag_in_sum: f64, weight_mag: ArrayView1<f64>) {
        let n = a.out_dim();
        let new_coef = self.coef.dot(&a.weight);
        let abs_bias = a.bias.mapv(f64::abs);
        let bias_term = self.coef.dot(&a.bias);
        let tail = up(n as f64 * up(MIN_SUBNORMAL * mag_in_sum));
        Zip::from(self.coef.rows())
            .and(&bias_term)
            .and(&mut self.constant)
            .and(&mut self.slack)
            .for_each(|row, &cb, c, s| {
                let row = row.as_slice().expect("standard layout");
                // FP-2 on coef·W, weighted by |h_in| (proofs/CROWN.md, CROWN-1 affine step)
                let w_err = up(up(gamma(n) * abs_dot_up(row, weight_mag.as_slice().unwrap())) + tail);
                let b_err = dot_error(n, abs_dot_up(row, abs_bias.as_slice().unwrap()));
                *c += cb;
                *s = up(up(up(*s + w_err) + b_err) + add_error(*c));
            });
        self.coef = new_coef;
    }

    /// Moves the bound from a ReLU's output to its input, relaxing unstable neurons: a coefficient
    /// λ ≥ 0 uses relu(z) ≥ α·z with α = `lower_slope(row, neuron)` ∈ [0, 1], λ < 0 uses the chord.
    pub fn through_relu(&mut self, pre: &Interval, lines: &[Option<UpperLine>], lower_slope: impl Fn(usize, usize) -> f64) {
        let mag = pre.magnitude();
        for (i, (mut row, (c, s))) in
            self.coef.rows_mut().into_iter().zip(self.constant.iter_mut().zip(self.slack.iter_mut())).enumerate()
        {
            for (j, lam) in row.iter_mut().enumerate() {
                match relu_state(pre.lower[j], pre.upper[j]) {
                    ReluState::Active => {}
                    ReluState::Inactive => *lam = 0.0,
                    ReluState::Unstable => {
                        let line = lines[j].expect("chord for every unstable neuron");
                        if *lam >= 0.0 {
                            let alpha = lower_slope(i, j);
                            debug_assert!((0.0..=1.0).contains(&alpha));
                            let prod = *lam * alpha;
                            if alpha != 0.0 && alpha != 1.0 {
                                *s = up(*s + up(mul_error(prod) * mag[j]));
                            }
                            *lam = prod;
                        } else {
                            let prod = *lam * line.slope;
                            *s = up(*s + up(mul_error(prod) * mag[j]));
                            *c += down(*lam * line.intercept);
                            *s = up(*s + add_error(*c));
                            *lam = prod;
                        }
                    }
                }
            }
        }
    }

    /// Sound lower bounds of the bound's rows over the input region (CROWN-2): a·x₀ + c − ε‖a‖_q for a
    /// ball; for a ball intersected with a domain box the better of that and the exact minimum over the
    /// box that contains the intersection (exact for ℓ∞).
    pub fn concretize(&self, region: &Region) -> Array1<f64> {
        let x0 = region.center.to_owned();
        let abs_x0 = x0.mapv(f64::abs);
        let input_box = region.domain.map(|_| input_box(region));
        let d = x0.len();
        let mut out = Array1::zeros(self.coef.nrows());
        Zip::from(&mut out).and(self.coef.rows()).and(&self.constant).and(&self.slack).for_each(|o, row, &c, &s| {
            let ball = || {
                let dot = row.dot(&x0);
                let err = dot_error(d, abs_dot_up(row.as_slice().unwrap(), abs_x0.as_slice().unwrap()));
                let nrm = dual_norm_up(region.norm, row.as_slice().unwrap());
                let eps_nrm = up(region.eps * nrm);
                finish(dot, c, up(up(s + err) + eps_nrm))
            };
            *o = match (&input_box, region.norm) {
                (None, _) => ball(),
                (Some(b), Norm::Linf) => box_min(row, b, c, s),
                (Some(b), Norm::L2 | Norm::L1) => ball().max(box_min(row, b, c, s)),
            };
        });
        out
    }

    /// Sound lower bounds of the bound's rows when h ranges over the box `b`.
    pub fn concretize_box(&self, b: &Interval) -> Array1<f64> {
        let mut out = Array1::zeros(self.coef.nrows());
        Zip::from(&mut out)
            .and(self.coef.rows())
            .and(&self.constant)
            .and(&self.slack)
            .for_each(|o, row, &c, &s| *o = box_min(row, b, c, s));
        out
    }
}

/// A rounded-down value of dot + c − penalty, where `penalty` ≥ 0 collects every error term.
/// A NaN (from ∞ − ∞ in an overflowed bound) becomes −∞, the only sound reading.
fn finish(dot: f64, c: f64, penalty: f64) -> f64 {
    let v = down(down(dot + c) - penalty);
    if v.is_nan() {
        f64::NEG_INFINITY
    } else {
        v
    }
}

/// Exact-arithmetic minimum of row·h over the box, rounded down, plus c − s.
fn box_min(row: ArrayView1<f64>, b: &Interval, c: f64, s: f64) -> f64 {
    let corner: Array1<f64> = Zip::from(&row).and(&b.lower).and(&b.upper).map_collect(|&a, &l, &u| if a >= 0.0 { l } else { u });
    let dot = row.dot(&corner);
    let abs_corner = corner.mapv(f64::abs);
    let err = dot_error(row.len(), abs_dot_up(row.as_slice().unwrap(), abs_corner.as_slice().unwrap()));
    finish(dot, c, up(s + err))
}

/// Upper bound of the dual norm ‖a‖_q of a row (q = 1 for ℓ∞, 2 for ℓ2, ∞ for ℓ1).
pub(crate) fn dual_norm_up(norm: Norm, a: &[f64]) -> f64 {
    match norm {
        Norm::Linf => l1_norm_up(a),
        Norm::L2 => l2_norm_up(a),
        Norm::L1 => linf_norm(a),
    }
}

/// A box containing the region: [x₀ − ε, x₀ + ε] rounded outward, intersected with the domain.
pub(crate) fn input_box(region: &Region) -> Interval {
    let mut lower = region.center.mapv(|x| down(x - region.eps));
    let mut upper = region.center.mapv(|x| up(x + region.eps));
    if let Some(d) = region.domain {
        Zip::from(&mut lower).and(&d.lower).for_each(|l, &dl| *l = l.max(dl));
        Zip::from(&mut upper).and(&d.upper).for_each(|u, &du| *u = u.min(du));
    }
    Interval { lower, upper }
}

/// |W|·mag rounded up: per output neuron, Σ_k |W_jk|·mag_k.
pub(crate) fn weight_magnitude(a: &Affine, mag: &Array1<f64>) -> Array1<f64> {
    let m = mag.as_slice().unwrap();
    a.weight.axis_iter(Axis(0)).map(|row| abs_dot_up(row.as_slice().unwrap(), m)).collect()
}

/// Σ mag rounded up.
pub(crate) fn sum_up(mag: &Array1<f64>) -> f64 {
    mag.iter().fold(0.0, |s, v| up(s + v))
}
