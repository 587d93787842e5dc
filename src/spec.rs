//! Input sets (ℓp balls, optionally intersected with a domain box) and output specifications (rows of a
//! matrix C applied to the logits; margins `f_c − f_j` are the usual case).
use ndarray::{Array1, Array2, ArrayView1};
use serde::{Deserialize, Serialize};

/// The norm of a perturbation ball.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    Linf,
    L2,
    L1,
}

impl Norm {
    /// The name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Norm::Linf => "linf",
            Norm::L2 => "l2",
            Norm::L1 => "l1",
        }
    }

    /// An upper bound of the exact ‖a − b‖ₚ of two f64 vectors: every subtraction, square, sum and
    /// square root rounded up (FP-1, FP-2). The distance a witness is reported at.
    pub fn distance_upper(self, a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
        use crate::rigor::{nonneg_dot_upper, up};
        // |aᵢ − bᵢ| ≤ up(|fl(aᵢ − bᵢ)|): the rounded difference is within one rounding of the exact one
        let diff = a.iter().zip(b.iter()).map(|(x, y)| if x == y { 0.0 } else { up((x - y).abs()) });
        match self {
            Norm::Linf => diff.fold(0.0, f64::max),
            Norm::L1 => {
                let v: Vec<f64> = diff.collect();
                nonneg_dot_upper(v.iter().sum(), v.len())
            }
            Norm::L2 => {
                let v: Vec<f64> = diff.map(|d| up(d * d)).collect();
                up(nonneg_dot_upper(v.iter().sum(), v.len()).sqrt())
            }
        }
    }

    /// ‖v‖ₚ in this norm.
    pub fn norm(self, v: ArrayView1<f64>) -> f64 {
        match self {
            Norm::Linf => v.iter().fold(0.0, |m: f64, x| m.max(x.abs())),
            Norm::L2 => v.iter().map(|x| x * x).sum::<f64>().sqrt(),
            Norm::L1 => v.iter().map(|x| x.abs()).sum(),
        }
    }
}

/// An axis-aligned box of valid inputs (e.g. pixel range [0, 1]).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainBox {
    pub lower: Array1<f64>,
    pub upper: Array1<f64>,
}

impl DomainBox {
    /// The same interval [lo, hi] for every one of `dim` inputs.
    pub fn uniform(dim: usize, lo: f64, hi: f64) -> crate::Result<Self> {
        if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
            return Err(crate::Error::Option(format!("domain box [{lo}, {hi}] must be finite with lower ≤ upper")));
        }
        Ok(DomainBox { lower: Array1::from_elem(dim, lo), upper: Array1::from_elem(dim, hi) })
    }

    /// Whether `x` lies in the box.
    pub fn contains(&self, x: ArrayView1<f64>) -> bool {
        x.iter().zip(&self.lower).zip(&self.upper).all(|((v, l), u)| l <= v && v <= u)
    }
}

/// The input region { x : ‖x − center‖ₚ ≤ eps } ∩ domain.
#[derive(Clone, Debug)]
pub struct Region<'a> {
    pub center: ArrayView1<'a, f64>,
    pub eps: f64,
    pub norm: Norm,
    pub domain: Option<&'a DomainBox>,
}

impl Region<'_> {
    /// Whether `x` lies in the region (exact comparison in f64; used by tests and attacks).
    pub fn contains(&self, x: ArrayView1<f64>) -> bool {
        let d = &x - &self.center;
        self.norm.norm(d.view()) <= self.eps && self.domain.is_none_or(|b| b.contains(x))
    }

    /// Projects `x` onto the region (exact for ℓ∞ and ℓ2; for ℓ1 onto the ball by the sorting method).
    /// With a domain box the result is clipped to the box afterwards, which for ℓ∞ is exact and for the
    /// other norms keeps the point inside the ball only if it was — so the caller re-checks with
    /// [`Region::contains`].
    pub fn project(&self, x: ArrayView1<f64>) -> Array1<f64> {
        let mut d = &x - &self.center;
        match self.norm {
            Norm::Linf => d.mapv_inplace(|v| v.clamp(-self.eps, self.eps)),
            Norm::L2 => {
                let n = self.norm.norm(d.view());
                if n > self.eps {
                    d *= self.eps / n;
                }
            }
            Norm::L1 => project_l1(&mut d, self.eps),
        }
        let mut p = &self.center + &d;
        if let Some(b) = self.domain {
            for ((v, l), u) in p.iter_mut().zip(&b.lower).zip(&b.upper) {
                *v = v.clamp(*l, *u);
            }
        }
        p
    }
}

/// Euclidean projection of `d` onto the ℓ1 ball of radius `eps` (Duchi et al. 2008).
fn project_l1(d: &mut Array1<f64>, eps: f64) {
    let l1: f64 = d.iter().map(|v| v.abs()).sum();
    if l1 <= eps {
        return;
    }
    let mut a: Vec<f64> = d.iter().map(|v| v.abs()).collect();
    a.sort_by(|x, y| y.partial_cmp(x).unwrap());
    let (mut cum, mut theta) = (0.0, 0.0);
    for (i, &v) in a.iter().enumerate() {
        cum += v;
        let t = (cum - eps) / (i + 1) as f64;
        if v > t {
            theta = t;
        }
    }
    d.mapv_inplace(|v| v.signum() * (v.abs() - theta).max(0.0));
}

/// How a classifier turns its scores into an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The class with the largest score (lowest index on ties).
    #[default]
    Argmax,
    /// The class with the smallest score (ACAS Xu advisories).
    Argmin,
}

impl Decision {
    /// The decided class and whether it is strictly better than every other class.
    pub fn decide(self, scores: ArrayView1<f64>) -> (usize, bool) {
        match self {
            Decision::Argmax => crate::net::argmax(scores),
            Decision::Argmin => crate::net::argmax(scores.mapv(|v| -v).view()),
        }
    }

    /// [`Self::decide`] for row `row` of a batch, refusing what cannot be decided: a non-finite score
    /// (overflow: no radius may come from it) or fewer than two scores (argmax over one class is not
    /// a classifier; a single-logit model needs a threshold head, `net::Network::threshold_head`).
    pub fn decide_checked(self, scores: ArrayView1<f64>, row: usize) -> crate::Result<(usize, bool)> {
        check_classes(scores.len())?;
        if scores.iter().any(|v| !v.is_finite()) {
            return Err(crate::Error::NonFinite { row, what: "the network's output".into() });
        }
        Ok(self.decide(scores))
    }

    /// Some other class j when the answer at a point whose exact outputs lie in `enc` is provably not
    /// `class`: j strictly beats `class` everywhere in the enclosure (so a tie-break cannot matter).
    pub fn proven_other(self, enc: &crate::bound::Interval, class: usize) -> Option<usize> {
        let k = enc.lower.len();
        (0..k).filter(|&j| j != class).find(|&j| match self {
            Decision::Argmax => enc.lower[j] > enc.upper[class],
            Decision::Argmin => enc.upper[j] < enc.lower[class],
        })
    }

    /// The margin specification for answer `class` among `k` classes: one row per other class j, whose
    /// value is positive exactly when `class` beats j (`f_c − f_j` for argmax, `f_j − f_c` for argmin).
    pub fn margin_spec(self, class: usize, k: usize) -> Array2<f64> {
        let sign = match self {
            Decision::Argmax => 1.0,
            Decision::Argmin => -1.0,
        };
        let mut c = Array2::zeros((k - 1, k));
        for (r, j) in (0..k).filter(|&j| j != class).enumerate() {
            c[[r, class]] = sign;
            c[[r, j]] = -sign;
        }
        c
    }
}

/// An error unless a model with `k` outputs is a classifier rp can certify (k ≥ 2).
pub fn check_classes(k: usize) -> crate::Result<()> {
    if k < 2 {
        return Err(crate::Error::Option(format!(
            "the model has {k} output; argmax over one class certifies nothing. For a binary model with one logit \
             (BCE-style) use --decision threshold (class 1 when the logit exceeds --threshold, default 0: sigmoid > ½)"
        )));
    }
    Ok(())
}

/// The specification [I; −I] whose lower bounds give lower bounds and (negated) upper bounds of every
/// logit.
pub fn logit_spec(k: usize) -> Array2<f64> {
    let mut c = Array2::zeros((2 * k, k));
    for j in 0..k {
        c[[j, j]] = 1.0;
        c[[k + j, j]] = -1.0;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn margin_rows() {
        let c = Decision::Argmax.margin_spec(1, 3);
        assert_eq!(c, array![[-1.0, 1.0, 0.0], [0.0, 1.0, -1.0]]);
        let c = Decision::Argmin.margin_spec(0, 2);
        assert_eq!(c, array![[-1.0, 1.0]]);
    }

    #[test]
    fn l1_projection_lands_on_the_ball() {
        let mut d = array![3.0, -1.0, 0.5];
        project_l1(&mut d, 2.0);
        assert!((d.iter().map(|v| v.abs()).sum::<f64>() - 2.0).abs() < 1e-12);
        assert_eq!(d, array![2.0, 0.0, 0.0]);
    }
}
