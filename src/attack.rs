//! PGD attack (Madry et al. 2018) on the margin of the answer, with ℓ∞, ℓ2 and ℓ1 steps, random
//! restarts and seeded starts. Every counterexample is proven by a rigorous interval forward pass before
//! it is reported, so a reported distance is an upper bound of the robust radius (ATTACK-1 in
//! `proofs/EXACT.md`).
use crate::cert::{Batch, Certificate, Certifier, Extent, Radius};
use crate::net::Network;
use crate::progress::Progress;
use crate::rng::Philox;
use crate::spec::{Decision, DomainBox, Norm, Region};
use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};

/// Options of the attack and of its radius search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PgdOptions {
    /// Gradient steps per restart.
    pub steps: usize,
    /// Restarts (the first starts at x₀, the others at seeded random points of the ball).
    pub restarts: usize,
    /// Step length as a multiple of ε/steps (ℓ∞: per coordinate; ℓ2/ℓ1: of the step vector).
    pub step_scale: f64,
    /// Seed of the random starts (drawn per record from (seed, row)).
    pub seed: u64,
    /// The radius search stops when (upper − lower) ≤ rel_tol · upper.
    pub rel_tol: f64,
    /// First ε tried.
    pub eps_start: f64,
    /// Largest ε tried; without a counterexample up to it the upper bound is +∞.
    pub eps_max: f64,
}

/// A proven witness near a solver point p on (or near) the decision boundary: p itself, or p pushed away
/// from x₀ by a relative 1e-12 … 1e-7 (a boundary point may round to either side), clipped to the
/// domain box; its distance from x₀ rounded up, when the rigorous forward pass proves another answer
/// than `class` there (EXACT-0).
pub fn pushed_witness(net: &Network, decision: Decision, norm: Norm, domain: Option<&DomainBox>, x0: ArrayView1<f64>, p: ArrayView1<f64>, class: usize) -> Option<f64> {
    let pushed = |tau: f64| {
        let mut q = &x0 + &((&p - &x0) * (1.0 + tau));
        if let Some(d) = domain {
            ndarray::Zip::from(&mut q).and(&d.lower).and(&d.upper).for_each(|v, &l, &u| *v = v.clamp(l, u));
        }
        q
    };
    // a plain forward pass first: where even the farthest push leaves `class` ahead of every other
    // class, no rigorous pass is tried (a heuristic filter: only proofs are reported)
    let sign = if decision == Decision::Argmax { 1.0 } else { -1.0 };
    let far = net.forward(pushed(1e-7).view());
    if !(0..far.len()).any(|j| j != class && sign * (far[j] - far[class]) > 0.0) {
        return None;
    }
    for tau in [0.0, 1e-12, 1e-10, 1e-9, 1e-8, 1e-7] {
        let q = pushed(tau);
        if crate::bound::proves_other_answer(net, decision, q.view(), class) {
            return Some(norm.distance_upper(q.view(), x0));
        }
    }
    None
}

impl Default for PgdOptions {
    fn default() -> Self {
        PgdOptions { steps: 50, restarts: 5, step_scale: 2.5, seed: 0, rel_tol: 1e-3, eps_start: 0.1, eps_max: 1e3 }
    }
}

impl PgdOptions {
    /// Rejects options that cannot search, naming the option.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: String| Err(crate::Error::Option(m));
        if self.steps == 0 {
            return bad("--pgd-steps must be at least 1".into());
        }
        if self.restarts == 0 {
            return bad("--pgd-restarts must be at least 1".into());
        }
        if !(self.eps_max.is_finite() && self.eps_start > 0.0 && self.eps_start <= self.eps_max) {
            return bad(format!("--eps-start must lie in (0, --eps-max = {}], got {}", self.eps_max, self.eps_start));
        }
        if !(self.rel_tol > 0.0 && self.rel_tol < 1.0) {
            return bad(format!("the attack's bisection tolerance must lie in (0, 1), got {}", self.rel_tol));
        }
        Ok(())
    }
}

/// A verified counterexample: the answer of `point` differs from the original one.
#[derive(Clone, Debug, PartialEq)]
pub struct Counterexample {
    pub point: Array1<f64>,
    /// ‖point − x₀‖ in the attack's norm.
    pub distance: f64,
    pub class: usize,
}

/// The PGD attack on one network.
pub struct Pgd<'a> {
    pub net: &'a Network,
    pub decision: Decision,
    pub norm: Norm,
    pub domain: Option<&'a DomainBox>,
    pub options: PgdOptions,
}

impl Pgd<'_> {
    /// Searches the ε-ball around x₀ for a point whose answer is not `class`; returns the closest
    /// verified one found (by the exact forward pass).
    pub fn attack(&self, x0: ArrayView1<f64>, class: usize, eps: f64, row: u64) -> Option<Counterexample> {
        let region = Region { center: x0.reborrow(), eps, norm: self.norm, domain: self.domain };
        let rng = Philox::new(self.options.seed);
        let d = x0.len();
        let step = self.options.step_scale * eps / self.options.steps.max(1) as f64;
        let mut best: Option<Counterexample> = None;
        for restart in 0..self.options.restarts.max(1) {
            let mut x = if restart == 0 {
                x0.to_owned()
            } else {
                let mut z = vec![0.0; d + 1];
                rng.fill_normal(row, (restart as u64) << 32, &mut z);
                let dir = Array1::from(z[..d].to_vec());
                let n = self.norm.norm(dir.view()).max(1e-300);
                region.project((&x0 + &(dir * (eps * rng.uniform_pair(row, (restart as u64) << 33)[0] / n))).view())
            };
            for _ in 0..self.options.steps {
                if let Some(c) = self.verify(&x, x0, class) {
                    if best.as_ref().is_none_or(|b| c.distance < b.distance) {
                        best = Some(c);
                    }
                    break;
                }
                let logits = self.net.forward(x.view());
                // ascend the largest competing margin f_j − f_c (argmax) or f_c − f_j (argmin)
                let sign = match self.decision {
                    Decision::Argmax => 1.0,
                    Decision::Argmin => -1.0,
                };
                let j = (0..logits.len()).filter(|&j| j != class).fold(None, |b: Option<usize>, j| match b {
                    Some(b) if sign * logits[b] >= sign * logits[j] => Some(b),
                    _ => Some(j),
                });
                let Some(j) = j else { return None };
                let mut w = Array1::zeros(logits.len());
                w[j] = sign;
                w[class] = -sign;
                let g = self.net.input_gradient(x.view(), w.view());
                let delta = steepest_step(&g, self.norm, step);
                x = region.project((&x + &delta).view());
            }
            if let Some(c) = self.verify(&x, x0, class) {
                if best.as_ref().is_none_or(|b| c.distance < b.distance) {
                    best = Some(c);
                }
            }
        }
        best
    }

    /// The point as a counterexample if its answer is provably not `class`: a rigorous interval
    /// forward pass shows another class strictly ahead (ATTACK-1); its distance is rounded up.
    fn verify(&self, x: &Array1<f64>, x0: ArrayView1<f64>, class: usize) -> Option<Counterexample> {
        let (k, _) = self.decision.decide(self.net.forward(x.view()).view());
        if k == class || !crate::bound::proves_other_answer(self.net, self.decision, x.view(), class) {
            return None;
        }
        Some(Counterexample { point: x.clone(), distance: self.norm.distance_upper(x.view(), x0), class: k })
    }

    /// The smallest verified counterexample distance found by a search over ε (+∞ if none up to
    /// eps_max), with the number of attacks run.
    pub fn radius_upper_bound(&self, x0: ArrayView1<f64>, class: usize, row: u64) -> (f64, Option<Counterexample>) {
        let o = &self.options;
        let (mut lo, mut eps) = (0.0f64, o.eps_start);
        let mut best: Option<Counterexample> = None;
        for _ in 0..200 {
            match self.attack(x0, class, eps, row) {
                Some(c) => {
                    if best.as_ref().is_none_or(|b| c.distance < b.distance) {
                        best = Some(c);
                    }
                }
                None => lo = lo.max(eps),
            }
            match &best {
                None if eps >= o.eps_max => break,
                None => eps = (2.0 * eps).min(o.eps_max),
                Some(b) => {
                    if b.distance - lo <= o.rel_tol * b.distance || lo >= b.distance {
                        break;
                    }
                    eps = 0.5 * (lo + b.distance);
                }
            }
        }
        (best.as_ref().map_or(f64::INFINITY, |b| b.distance), best)
    }
}

/// The step of length `len` in `norm` that increases a linear function with gradient g the most.
fn steepest_step(g: &Array1<f64>, norm: Norm, len: f64) -> Array1<f64> {
    match norm {
        Norm::Linf => g.mapv(|v| len * v.signum() * (v != 0.0) as u8 as f64),
        Norm::L2 => {
            let n = g.dot(g).sqrt();
            if n > 0.0 {
                g * (len / n)
            } else {
                Array1::zeros(g.len())
            }
        }
        Norm::L1 => {
            let (k, _) = g.iter().enumerate().fold((0, 0.0f64), |b, (k, &v)| if v.abs() > b.1 { (k, v.abs()) } else { b });
            let mut e = Array1::zeros(g.len());
            e[k] = len * g[k].signum();
            e
        }
    }
}

/// Upper bounds of the robust radius by PGD (guarantee `upper-bound`; +∞ when no counterexample was
/// found up to eps_max).
pub struct PgdCertifier {
    pub net: Network,
    pub decision: Decision,
    pub norm: Norm,
    pub domain: Option<DomainBox>,
    pub options: PgdOptions,
}

impl Certifier for PgdCertifier {
    fn method(&self) -> &'static str {
        "pgd"
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        let o = &self.options;
        o.validate()?;
        let pgd = Pgd { net: &self.net, decision: self.decision, norm: self.norm, domain: self.domain.as_ref(), options: self.options.clone() };
        batch.per_row(&self.net, self.decision, Extent::Ball(self.norm), Radius::Uncertified, progress, |x, class, row| {
            let r = pgd.radius_upper_bound(x, class, row as u64).0;
            Ok(if r.is_finite() { Radius::UpperBound(r) } else { Radius::Uncertified })
        })
    }
}
