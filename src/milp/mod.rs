//! Exact robust radii by mixed-integer linear programming in HiGHS (SPEC §2, MILP-1…3 in
//! `proofs/EXACT.md`).
//!
//! For a record with answer c and every other class j, HiGHS minimizes the distortion ‖x − x₀‖ (ℓ∞ and ℓ1
//! linearly, ℓ2 by tangent cuts added until the gap closes) subject to the big-M encoding of the network
//! and f_j(x) ≥ f_c(x), with big-M bounds from CROWN over the ball of the current upper bound. The radius
//! is the minimum over j. A time limit gives a *bracket* [proven lower bound, best found upper bound]
//! from HiGHS's MIP dual bound and incumbent — never an incumbent reported as exact.
//!
//! What is proven (EXACT-0 in `proofs/EXACT.md`): the upper end of every result is a witness whose
//! changed answer a rigorous interval forward pass proves (a solver point, pushed just across the
//! boundary, or the attack's point), at a distance rounded up. HiGHS's optimum, infeasibility and dual
//! bound are computed to tolerances, so a lower end resting on them is reported as a `solver-bracket`;
//! the radius is `exact` only when the sound bound propagation (CROWN, then α-CROWN) proves the ball
//! of the lower end robust and the two ends meet within `exact_rel_tol`.
mod encode;
pub mod leaf;

use crate::attack::{Pgd, PgdOptions};
use crate::bound::{CrownBatch, Intermediate, RegionBatch};
use crate::cert::{Batch, Bracket, Certificate, Certifier, Extent, Radius};
use crate::net::Network;
use crate::progress::Progress;
use crate::spec::{Decision, DomainBox, Norm};
use encode::{encode, Encoding, Goal};
use highs::{HighsModelStatus, Sense};
use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// How "some other class wins" is posed to HiGHS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Formulation {
    /// One MILP per competing class (after CROWN pruning); the radius is the smallest optimum.
    PerClass,
    /// One MILP with a binary selector over the competing classes (big-M on each margin). Faster on
    /// ACAS Xu (5 classes): 16.5 s against 87 s for three rows (README).
    #[default]
    Selector,
}

/// Options of the MILP certifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MilpOptions {
    /// Per-class MILPs or one MILP with a class selector.
    pub formulation: Formulation,
    /// Wall-clock limit per record, in seconds.
    pub time_limit: f64,
    /// ℓ2: stop adding tangent cuts when (upper − lower) ≤ l2_rel_tol · upper.
    pub l2_rel_tol: f64,
    /// Largest radius searched when no attack finds a counterexample.
    pub eps_max: f64,
    /// The attack that provides the first upper bound (and hence the big-M region).
    pub pgd: PgdOptions,
    /// A proven bracket [lower, upper] is reported as exact when upper − lower ≤ exact_rel_tol · upper.
    pub exact_rel_tol: f64,
}

impl Default for MilpOptions {
    fn default() -> Self {
        MilpOptions { formulation: Formulation::Selector, time_limit: 60.0, l2_rel_tol: 5e-7, eps_max: 1e3, pgd: PgdOptions { restarts: 3, steps: 40, ..Default::default() }, exact_rel_tol: crate::cert::EXACT_REL_TOL }
    }
}

/// Result of one MILP solve.
#[derive(Clone, Debug, PartialEq)]
enum Solve {
    /// Solved to optimality: optimal value and point.
    Optimal(f64, Array1<f64>),
    /// No feasible point.
    Infeasible,
    /// Stopped early: proven bound on the optimum, and the best point found with its value.
    Limit { bound: f64, incumbent: Option<(f64, Array1<f64>)> },
}

/// What one record's search found, before the lower end is proven: a proven upper end (a witness
/// distance, or +∞), the solver's lower end, and the proven lower end so far (CROWN's radius).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolverResult {
    /// The smallest distance of a proven witness (+∞ when none was found).
    pub upper: f64,
    /// The lower end the MILP solves give (their optimum, infeasibility or dual bound), ≤ upper.
    pub solver_lower: f64,
    /// A proven lower end (CROWN's certified radius), ≤ solver_lower.
    pub proven_lower: f64,
    /// Whether every solve finished (no time limit was hit).
    pub finished: bool,
}

/// Outcome of the feasibility question "is the ε-ball robust?".
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// HiGHS found no counterexample (to its tolerances; not a proof).
    Robust,
    /// A point of the ball whose changed answer a rigorous interval forward pass proves.
    Counterexample(Array1<f64>),
    /// The time limit was hit before either was proven.
    Unknown,
}

fn solve(enc: Encoding, sense: Sense, time_left: Duration) -> Solve {
    let n = enc.x.len();
    let x_cols: Vec<usize> = enc.x.iter().map(|c| c.index()).collect();
    let Ok(mut model) = enc.problem.try_optimise(sense) else {
        return Solve::Limit { bound: f64::NEG_INFINITY * sense_sign(sense), incumbent: None };
    };
    model.make_quiet();
    model.set_option("time_limit", time_left.as_secs_f64().max(0.01));
    model.set_option("mip_rel_gap", 1e-9);
    model.set_option("mip_abs_gap", 1e-10);
    model.set_option("primal_feasibility_tolerance", 1e-9);
    model.set_option("mip_feasibility_tolerance", 1e-9);
    model.set_option("threads", 1i32);
    let solved = match model.try_solve() {
        Ok(s) => s,
        Err(_) => return Solve::Limit { bound: f64::NEG_INFINITY * sense_sign(sense), incumbent: None },
    };
    let point = |s: &highs::SolvedModel| -> Array1<f64> {
        let sol = s.get_solution();
        let cols = sol.columns();
        (0..n).map(|i| cols[x_cols[i]]).collect()
    };
    match solved.status() {
        HighsModelStatus::Optimal => Solve::Optimal(solved.objective_value(), point(&solved)),
        HighsModelStatus::Infeasible => Solve::Infeasible,
        _ => {
            let bound = solved.double_info_value(c"mip_dual_bound").unwrap_or(f64::NEG_INFINITY * sense_sign(sense));
            let has_point = solved.primal_solution_status() == highs::HighsSolutionStatus::Feasible;
            let incumbent = has_point.then(|| (solved.objective_value(), point(&solved)));
            Solve::Limit { bound, incumbent }
        }
    }
}

/// +1 for minimization (a missing bound is −∞), −1 for maximization.
fn sense_sign(sense: Sense) -> f64 {
    match sense {
        Sense::Minimise => 1.0,
        Sense::Maximise => -1.0,
    }
}

/// The MILP certifier: `exact` when both ends are proven (EXACT-0), else a `solver-bracket` (the lower
/// end rests on HiGHS) or a `bracket`.
pub struct MilpCertifier {
    pub net: Network,
    pub decision: Decision,
    pub norm: Norm,
    pub domain: Option<DomainBox>,
    pub options: MilpOptions,
}

impl MilpCertifier {
    fn sign(&self) -> f64 {
        match self.decision {
            Decision::Argmax => 1.0,
            Decision::Argmin => -1.0,
        }
    }

    /// CROWN boxes of every boundary over the `radius`-ball around x₀ (∩ domain): the big-M bounds.
    fn boxes(&self, x0: ArrayView1<f64>, radius: f64) -> Vec<crate::bound::BoxBatch> {
        let eps = Array1::from_elem(1, radius);
        let regions = RegionBatch { centers: x0.reborrow().insert_axis(ndarray::Axis(0)), eps: eps.view(), norm: self.norm, domain: self.domain.as_ref(), boxes: None };
        let ctx = CrownBatch::new(&self.net, regions, Intermediate::UnstableOnly);
        (0..=self.net.layers.len()).map(|b| ctx.boundary_box(b).clone()).collect()
    }

    /// Whether the exact network's answer at x is provably not `class` (rigorous interval forward pass).
    fn flips(&self, x: &Array1<f64>, class: usize) -> bool {
        crate::bound::proves_other_answer(&self.net, self.decision, x.view(), class)
    }

    /// A proven witness near a solver point p (`attack::pushed_witness`).
    fn witness(&self, x0: ArrayView1<f64>, p: &Array1<f64>, class: usize) -> Option<f64> {
        crate::attack::pushed_witness(&self.net, self.decision, self.norm, self.domain.as_ref(), x0, p.view(), class)
    }

    /// The largest radius ≤ r that the sound bound propagation proves robust near r (CROWN, then
    /// α-CROWN, on the balls of r·(1 − 1e-9) and r·(1 − 1e-7)); 0 when neither does.
    fn prove_lower(&self, x0: ArrayView1<f64>, class: usize, r: f64) -> f64 {
        if !(r > 0.0 && r.is_finite()) {
            return 0.0;
        }
        let spec = self.decision.margin_spec(class, self.net.output_dim());
        let methods = [crate::bound::BoundMethod::crown(), crate::bound::BoundMethod::AlphaCrown(Default::default())];
        for m in &methods {
            for shrink in [1e-9, 1e-7] {
                let eps = r * (1.0 - shrink);
                let region = crate::spec::Region { center: x0.reborrow(), eps, norm: self.norm, domain: self.domain.as_ref() };
                if m.lower_bounds(&self.net, &region, &spec).iter().all(|&v| v > 0.0) {
                    return eps;
                }
            }
        }
        0.0
    }

    /// Minimal distortion for class j within the `radius`-ball: Optimal/Infeasible/Limit in terms of
    /// the distortion (ℓ2 by tangent cuts, MILP-3).
    fn min_distortion(
        &self,
        x0: ArrayView1<f64>,
        c: usize,
        js: &[usize],
        radius: f64,
        boxes: &[crate::bound::BoxBatch],
        hint: Option<&Array1<f64>>,
        floor: f64,
        deadline: Instant,
    ) -> Solve {
        let mut enc = encode(&self.net, x0, radius, self.norm, self.domain.as_ref(), boxes, Goal::MinDistortion);
        match js {
            [j] => enc.add_class_flip(c, *j, self.sign()),
            _ => enc.add_class_selector(c, js, self.sign(), boxes.last().expect("output bounds")),
        }
        if floor > 0.0 {
            enc.add_distortion_floor(floor);
        }
        if self.norm != Norm::L2 {
            return solve(enc, Sense::Minimise, deadline.saturating_duration_since(Instant::now()));
        }
        // a first tangent cut in the direction of a known counterexample (the attack's), where the
        // optimum usually lies; any cut is valid, this one only speeds convergence
        if let Some(h) = hint {
            let d = l2(h, x0);
            if d > 0.0 {
                let g: Vec<f64> = (h - &x0).iter().map(|v| v / d).collect();
                enc.add_l2_cut(x0, &g);
            }
        }
        // ℓ2: minimize t ≥ tangent cuts of ‖δ‖₂; t* is a lower bound, ‖δ*‖₂ an achieved distortion.
        let mut best: Option<(f64, Array1<f64>)> = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match solve(enc.clone(), Sense::Minimise, left) {
                Solve::Infeasible => return best.map_or(Solve::Infeasible, |b| Solve::Limit { bound: b.0, incumbent: Some(b) }),
                Solve::Limit { bound, incumbent } => {
                    let inc = match (best, incumbent) {
                        (Some(b), Some((_, p))) => Some(if l2(&p, x0) < b.0 { (l2(&p, x0), p) } else { b }),
                        (b, Some((_, p))) => b.or(Some((l2(&p, x0), p))),
                        (b, None) => b,
                    };
                    return Solve::Limit { bound, incumbent: inc };
                }
                Solve::Optimal(t, p) => {
                    let dist = l2(&p, x0);
                    if best.as_ref().is_none_or(|b| dist < b.0) {
                        best = Some((dist, p.clone()));
                    }
                    let upper = best.as_ref().unwrap().0;
                    if upper - t <= self.options.l2_rel_tol * upper || dist == 0.0 {
                        // the gap is closed to the tolerance: the cut model's optimum t is the lower end
                        // (to the solver's tolerance), the best point the upper one
                        return Solve::Optimal(t.min(upper), best.unwrap().1);
                    }
                    let g: Vec<f64> = (&p - &x0).iter().map(|v| v / dist).collect();
                    enc.add_l2_cut(x0, &g);
                }
            }
        }
    }

    /// The MILP search for x₀ (answer `class`): proven witnesses give the upper end, the solves the
    /// solver's lower end (see [`SolverResult`]); a time limit stops it early.
    pub fn search(&self, x0: ArrayView1<f64>, class: usize, row: u64) -> SolverResult {
        let deadline = Instant::now() + Duration::from_secs_f64(self.options.time_limit);
        let k = self.net.output_dim();
        let pgd = Pgd { net: &self.net, decision: self.decision, norm: self.norm, domain: self.domain.as_ref(), options: self.options.pgd.clone() };
        let (attack, cex) = pgd.radius_upper_bound(x0, class, row);
        // CROWN's certified radius: a proven floor of the distortion of every counterexample
        let spec = self.decision.margin_spec(class, k);
        let crown = crate::bound::BoundMethod::crown();
        let floor = crate::cert::crown_floor(&self.net, self.decision, self.norm, self.domain.as_ref(), x0, class, self.options.pgd.eps_start).min(attack);
        let mut upper = attack; // the attack's witness is proven (ATTACK-1)
        // Search balls from just above CROWN's floor outwards: a small ball gives tight big-M bounds and
        // a fast solve; an all-infeasible ball proves the radius exceeds it (MILP-1), and the ball grows
        // up to the attack's distance (or eps_max).
        let cap = if attack.is_finite() { attack } else { self.options.eps_max };
        let mut radius = if floor > 0.0 { (1.5 * floor).min(cap) } else { cap.min(self.options.pgd.eps_start.max(1e-6)) };
        let mut solver_floor = floor; // the solves say the radius is at least this
        loop {
            let boxes = self.boxes(x0, radius);
            // CROWN pruning: a class whose margin CROWN proves positive on this ball cannot win in it
            let region = crate::spec::Region { center: x0.reborrow(), eps: radius, norm: self.norm, domain: self.domain.as_ref() };
            let margins = crown.lower_bounds(&self.net, &region, &spec);
            let (mut lower, mut exact, mut found) = (f64::INFINITY, true, false);
            let live: Vec<usize> = (0..k).filter(|&j| j != class).enumerate().filter(|&(m, _)| !(margins[m] > 0.0)).map(|(_, j)| j).collect();
            if live.len() < k - 1 {
                lower = lower.min(radius); // the pruned classes cannot win within this ball
            }
            let groups: Vec<Vec<usize>> = match self.options.formulation {
                Formulation::PerClass => live.iter().map(|&j| vec![j]).collect(),
                Formulation::Selector if live.is_empty() => vec![],
                Formulation::Selector => vec![live.clone()],
            };
            for js in &groups {
                let hint = cex.as_ref().filter(|c| js.contains(&c.class)).map(|c| &c.point);
                match self.min_distortion(x0, class, js, radius, &boxes, hint, floor, deadline) {
                    Solve::Optimal(v, p) => {
                        // the encoding is exact only inside the ball (its big-M bounds hold there): an
                        // optimum beyond the radius says only that no counterexample lies within it
                        let inside = v <= radius;
                        lower = lower.min(v.min(radius));
                        match self.witness(x0, &p, class) {
                            Some(d) => {
                                upper = upper.min(d);
                                found |= inside;
                            }
                            // no point near the solver's proves a changed answer: v is a lower end only
                            None if inside => exact = false,
                            None => {}
                        }
                    }
                    Solve::Infeasible => lower = lower.min(radius),
                    Solve::Limit { bound, incumbent } => {
                        exact = false;
                        lower = lower.min(bound.max(0.0).min(radius));
                        if let Some((_, p)) = incumbent {
                            if let Some(d) = self.witness(x0, &p, class) {
                                upper = upper.min(d);
                            }
                        }
                    }
                }
            }
            let lower = lower.max(solver_floor).min(upper);
            let out_of_time = Instant::now() >= deadline;
            if found || !exact || radius >= cap || out_of_time {
                return SolverResult { upper, solver_lower: lower, proven_lower: floor.min(lower), finished: exact && !out_of_time };
            }
            // no flip within this radius: the solves say the radius is at least `radius`; search farther
            solver_floor = solver_floor.max(radius);
            radius = (2.0 * radius).min(cap);
        }
    }

    /// The record's radius by the rule EXACT-0: the search's ends, the lower one proven when the bound
    /// propagation can, `exact` only when both ends are proven and within `exact_rel_tol`.
    pub fn radius(&self, x0: ArrayView1<f64>, class: usize, row: u64) -> crate::Result<Radius> {
        let r = self.search(x0, class, row);
        let proven = if r.solver_lower > r.proven_lower { self.prove_lower(x0, class, r.solver_lower).max(r.proven_lower) } else { r.proven_lower };
        let tight = r.upper.is_finite() && r.upper - proven <= self.options.exact_rel_tol * r.upper;
        Ok(if tight {
            Radius::Exact(Bracket::new(proven, r.upper)?)
        } else if proven >= r.solver_lower {
            Radius::Bracket(Bracket::new(proven, r.upper)?)
        } else {
            Radius::SolverBracket { bracket: Bracket::new(r.solver_lower, r.upper)?, proven }
        })
    }

    /// Whether the ε-ball around x₀ keeps answer `class` (ℓ2 balls by outer cuts, MILP-2).
    pub fn verify_ball(&self, x0: ArrayView1<f64>, class: usize, eps: f64, time_limit: Duration) -> Verdict {
        let deadline = Instant::now() + time_limit;
        let boxes = self.boxes(x0, eps);
        let mut unknown = false;
        for j in (0..self.net.output_dim()).filter(|&j| j != class) {
            let mut enc = encode(&self.net, x0, eps, self.norm, self.domain.as_ref(), &boxes, Goal::Feasibility);
            enc.set_margin_objective(class, j, self.sign());
            if self.norm == Norm::L1 {
                enc.add_l1_ball(eps);
            }
            loop {
                match solve(enc.clone(), Sense::Maximise, deadline.saturating_duration_since(Instant::now())) {
                    Solve::Infeasible => break,
                    Solve::Optimal(v, p) => {
                        let outside = self.norm == Norm::L2 && l2(&p, x0) > eps * (1.0 + 1e-9);
                        if outside {
                            let d = l2(&p, x0);
                            let g: Vec<f64> = (&p - &x0).iter().map(|v| v / d).collect();
                            enc.add_l2_ball_cut(x0, &g, eps);
                            continue;
                        }
                        if v >= 0.0 && self.flips(&p, class) {
                            return Verdict::Counterexample(p);
                        }
                        if v >= 0.0 {
                            unknown = true; // a tie within tolerance that the forward pass does not confirm
                        }
                        break;
                    }
                    Solve::Limit { bound, incumbent } => {
                        if let Some((v, p)) = incumbent {
                            if v >= 0.0 && self.flips(&p, class) && (self.norm != Norm::L2 || l2(&p, x0) <= eps) {
                                return Verdict::Counterexample(p);
                            }
                        }
                        if bound >= 0.0 {
                            unknown = true;
                        }
                        break;
                    }
                }
            }
        }
        if unknown {
            Verdict::Unknown
        } else {
            Verdict::Robust
        }
    }
}

fn l2(p: &Array1<f64>, x0: ArrayView1<f64>) -> f64 {
    (p - &x0).mapv(|v| v * v).sum().sqrt()
}

impl Certifier for MilpCertifier {
    fn method(&self) -> &'static str {
        "milp"
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        crate::cert::check_exact_limits(self.options.time_limit, self.options.exact_rel_tol)?;
        // a tie at x₀: the answer changes arbitrarily close, and 0 is all that is proven
        batch.per_row(&self.net, self.decision, Extent::Ball(self.norm), Radius::Sound(0.0), progress, |x, class, row| self.radius(x, class, row as u64))
    }
}
