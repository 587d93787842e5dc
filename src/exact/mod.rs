//! Exact robust radii in every norm by branch and bound over ReLU phases (EXACT-BAB-1…3 in
//! `proofs/EXACT.md`).
//!
//! For a row x₀ with answer c, the radius is the smallest ‖x − x₀‖ at which another class j can win.
//! The attack gives a proven upper end U; CROWN bounds every boundary of the network over the U-ball
//! (∩ the domain box); then each competing class is a root sub-domain. A sub-domain (its ReLU splits)
//! is bounded by its convex relaxation — the triangle hull of every unstable ReLU, the margin, the norm
//! (ℓ2: a second-order cone) — solved by Clarabel; the relaxation's multipliers give a *proven* lower
//! bound of the sub-domain's minimal distortion (`dual::lower_bound`, every operation rounded outward),
//! and its point, pushed just across the boundary, a proven witness. The worst sub-domain is split on
//! the neuron whose split raises the Lagrangian bound most (a BaBSR-like score from the multipliers); once every ReLU of a sub-domain is fixed
//! the relaxation is the exact problem of an affine region, and both ends meet. The radius is `exact`
//! when the least lower bound of the open sub-domains and the best witness meet within the tolerance,
//! else a `bracket`; a time limit gives a bracket, never a guess.
pub mod dual;
pub mod relax;

use crate::attack::{Pgd, PgdOptions};
use crate::bound::{CrownBatch, Intermediate, RegionBatch};
use crate::cert::{Batch, Bracket, Certificate, Certifier, Extent, Radius};
use crate::net::{Layer, Network};
use crate::progress::Progress;
use crate::spec::{Decision, DomainBox, Norm};
use clarabel::solver::SolverStatus;
use dual::{Boxes, Flip};
use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Options of the exact engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExactOptions {
    /// Wall-clock limit per row, in seconds (then a bracket).
    pub time_limit: f64,
    /// Largest radius searched when the attack finds no counterexample.
    pub eps_max: f64,
    /// The attack that gives the first upper end (and the ball the bounds are computed over).
    pub pgd: PgdOptions,
    /// Both ends proven and upper − lower ≤ exact_rel_tol · upper: `exact`.
    pub exact_rel_tol: f64,
    /// Most open sub-domains per row; beyond it the row stops with a bracket.
    pub max_domains: usize,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { time_limit: 60.0, eps_max: 1e3, pgd: PgdOptions { restarts: 3, steps: 40, ..Default::default() }, exact_rel_tol: crate::cert::EXACT_REL_TOL, max_domains: 200_000 }
    }
}

/// The exact certifier: `exact` or `bracket`, both ends proven (EXACT-0, EXACT-BAB-3).
pub struct ExactCertifier {
    pub net: Network,
    pub decision: Decision,
    pub norm: Norm,
    pub domain: Option<DomainBox>,
    pub options: ExactOptions,
}

/// One open sub-domain: its competing class, splits, proven lower bound (its own, or its parent's
/// while `bounded` is None) and branching choice.
struct Domain {
    flip: usize,
    splits: Vec<Split>,
    lower: f64,
    /// The boxes' version it was bounded with, and its branching choice (neuron, the phase of the
    /// relaxation's optimum there); None: not bounded yet.
    bounded: Option<(usize, Option<((usize, usize), bool)>)>,
}

impl Domain {
    /// The child with one more split (not bounded yet: its parent's bound holds on it).
    fn child(&self, (i, j): (usize, usize), active: bool) -> Domain {
        let mut splits = self.splits.clone();
        splits.push((i, j, active));
        Domain { flip: self.flip, splits, lower: self.lower, bounded: None }
    }
}

/// A ReLU split: (layer, neuron, active).
type Split = (usize, usize, bool);

/// What bounding a sub-domain gives.
struct Bounded {
    /// Proven lower bound of its minimal distortion (+∞: proven empty).
    lower: f64,
    /// The neuron to split next and the phase the relaxation's optimum prefers; None: every ReLU fixed.
    branch: Option<((usize, usize), bool)>,
    /// The proven witness distance of its point, if any.
    witness: Option<f64>,
}

impl PartialEq for Domain {
    fn eq(&self, o: &Self) -> bool {
        self.lower.total_cmp(&o.lower).is_eq()
    }
}
impl Eq for Domain {}
impl PartialOrd for Domain {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Domain {
    /// The heap pops the least lower bound first.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.lower.total_cmp(&self.lower)
    }
}

/// The search's state: the boxes (and their version), the open sub-domains, and the least bound of
/// the closed ones.
struct State {
    root: Boxes,
    version: usize,
    heap: BinaryHeap<Domain>,
    closed: f64,
    domains: u64,
}

/// What one row's search proved: [lower, upper] with both ends proven.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search {
    pub lower: f64,
    pub upper: f64,
    /// Sub-domains bounded.
    pub domains: u64,
}

impl ExactCertifier {
    fn sign(&self) -> f64 {
        match self.decision {
            Decision::Argmax => 1.0,
            Decision::Argmin => -1.0,
        }
    }

    /// Sound boxes of every boundary over the `radius`-ball around x₀ (∩ domain, ∩ `within`: boxes of
    /// a larger ball); boundary 0 is the ball's bounding box ∩ the domain.
    fn root_boxes(&self, x0: ArrayView1<'_, f64>, radius: f64, within: Option<&Boxes>) -> Boxes {
        let eps = Array1::from_elem(1, radius);
        let regions = RegionBatch { centers: x0.reborrow().insert_axis(ndarray::Axis(0)), eps: eps.view(), norm: self.norm, domain: self.domain.as_ref(), boxes: None };
        let ctx = CrownBatch::new(&self.net, regions, Intermediate::UnstableOnly);
        let (mut lower, mut upper) = (Vec::new(), Vec::new());
        for b in 0..=self.net.layers.len() {
            let bx = ctx.boundary_box(b);
            lower.push(bx.lower.row(0).to_owned());
            upper.push(bx.upper.row(0).to_owned());
        }
        // the input box: x₀ ± radius rounded outward, ∩ the domain
        for i in 0..x0.len() {
            let (mut l, mut u) = (crate::rigor::down(x0[i] - radius), crate::rigor::up(x0[i] + radius));
            if let Some(dm) = &self.domain {
                l = l.max(dm.lower[i]);
                u = u.min(dm.upper[i]);
            }
            lower[0][i] = lower[0][i].max(l);
            upper[0][i] = upper[0][i].min(u);
        }
        if let Some(w) = within {
            for b in 0..lower.len() {
                ndarray::Zip::from(&mut lower[b]).and(&w.lower[b]).for_each(|v, &o| *v = v.max(o));
                ndarray::Zip::from(&mut upper[b]).and(&w.upper[b]).for_each(|v, &o| *v = v.min(o));
            }
        }
        Boxes { lower, upper, ball: radius }
    }

    /// A proven witness near a point p of the relaxation (`attack::pushed_witness`).
    fn witness(&self, x0: ArrayView1<f64>, p: &[f64], class: usize) -> Option<f64> {
        crate::attack::pushed_witness(&self.net, self.decision, self.norm, self.domain.as_ref(), x0, ArrayView1::from(p), class)
    }

    /// Bounds one sub-domain: its proven lower bound (+∞ when the relaxation proves it empty), its
    /// branching choice (none when every ReLU is fixed), and the witness distance of its point.
    fn bound_domain(&self, x0: ArrayView1<f64>, boxes: &Boxes, flip: Flip, class: usize) -> Bounded {
        let xs = x0.as_slice().expect("contiguous row");
        let r = relax::solve(&self.net, xs, boxes, flip, self.norm, 0.0, relax::ACCURACY);
        let bound = dual::lower_bound(&self.net, xs, boxes, flip, &r.multipliers, self.norm);
        let mut lower = bound.distortion;
        let mut empty = bound.constraints > 0.0;
        if !empty && !matches!(r.status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
            // an infeasibility certificate is often too inexact to prove anything: the problem without
            // the ball is usually feasible, and its optimum's multipliers prove a bound (past the ball:
            // no point of the ball)
            let unballed = Boxes { ball: f64::INFINITY, ..boxes.clone() };
            let r2 = relax::solve(&self.net, xs, &unballed, flip, self.norm, 0.0, relax::ACCURACY);
            let b2 = dual::lower_bound(&self.net, xs, &unballed, flip, &r2.multipliers, self.norm);
            lower = lower.max(b2.distortion);
            empty = b2.constraints > 0.0;
        }
        let mut lower = if empty { f64::INFINITY } else { lower.max(0.0) };
        let mut witness = if empty { None } else { self.witness(x0, &r.x, class) };
        // branch on the unstable neuron whose split raises the bound most with these multipliers (any
        // unstable one if none does); its first child the phase of the relaxation's optimum
        let gains = bound.gains;
        let mut best: Option<(((usize, usize), bool), f64)> = None;
        for (i, layer) in self.net.layers.iter().enumerate() {
            if !matches!(layer, Layer::Relu) {
                continue;
            }
            let (gain, pre) = (gains[i].as_ref().expect("ReLU layer"), r.pre[i].as_ref().expect("ReLU layer"));
            for j in 0..boxes.lower[i].len() {
                if boxes.lower[i][j] < 0.0 && boxes.upper[i][j] > 0.0 {
                    let v = if gain[j].is_finite() { gain[j] } else { 0.0 };
                    if best.is_none_or(|(_, b)| v > b) {
                        best = Some((((i, j), pre[j] >= 0.0), v));
                    }
                }
            }
        }
        let tol = self.options.exact_rel_tol;
        if best.is_none() && !empty && witness.is_none_or(|w| w - lower > 0.5 * tol * w) {
            // every ReLU fixed: the relaxation is exact, so the ends can meet. The bound first: solved
            // again more finely (the proven bound loses the dual residual times the boxes' magnitudes)
            let fine = relax::solve(&self.net, xs, boxes, flip, self.norm, 0.0, relax::FINE_ACCURACY);
            lower = lower.max(dual::lower_bound(&self.net, xs, boxes, flip, &fine.multipliers, self.norm).distortion);
            // then the witness: the optimum is on the piece's boundary, where the rounding may fall
            // either side, and the solver's point may be off it. Candidates: the fine point, then the
            // optima of the problem shrunk so that they lie strictly inside.
            for slack in [0.0, 1e-10, 1e-8] {
                let p = if slack == 0.0 { fine.x.clone() } else { relax::solve(&self.net, xs, boxes, flip, self.norm, slack, relax::ACCURACY).x };
                if let Some(w) = self.witness(x0, &p, class) {
                    witness = Some(witness.map_or(w, |v| v.min(w)));
                }
                if witness.is_some_and(|w| w - lower <= 0.5 * tol * w) {
                    break;
                }
            }
        }
        Bounded { lower, branch: best.map(|(n, _)| n), witness }
    }

    /// The root boxes with the splits applied (None: a split contradicts its box, the sub-domain is
    /// empty).
    fn split_boxes(root: &Boxes, splits: &[Split]) -> Option<Boxes> {
        let mut b = root.clone();
        for &(i, j, active) in splits {
            if active {
                b.lower[i][j] = b.lower[i][j].max(0.0);
            } else {
                b.upper[i][j] = b.upper[i][j].min(0.0);
            }
            if b.lower[i][j] > b.upper[i][j] {
                return None;
            }
        }
        Some(b)
    }

    /// The branch and bound for x₀ (answer `class`): a bracket with both ends proven. Best-first on the
    /// proven lower bounds, with a dive to a leaf every few splits (leaves give witnesses near the
    /// optimum); when the best witness shrinks the ball by a tenth, the boxes are recomputed over the
    /// smaller ball and every sub-domain is bounded again with them when it is next popped.
    pub fn search(&self, x0: ArrayView1<f64>, class: usize, row: u64) -> Search {
        let deadline = Instant::now() + Duration::from_secs_f64(self.options.time_limit);
        let k = self.net.output_dim();
        let pgd = Pgd { net: &self.net, decision: self.decision, norm: self.norm, domain: self.domain.as_ref(), options: self.options.pgd.clone() };
        let (mut upper, _) = pgd.radius_upper_bound(x0, class, row);
        let flips: Vec<Flip> = (0..k).filter(|&j| j != class).map(|j| Flip { c: class, j, sign: self.sign() }).collect();
        let tol = self.options.exact_rel_tol;
        let mut st = State {
            // the ball the bounds hold on: the attack's distance, else the largest radius searched
            root: self.root_boxes(x0, if upper.is_finite() { upper } else { self.options.eps_max }, None),
            version: 0,
            heap: BinaryHeap::new(),
            closed: f64::INFINITY,
            domains: 0,
        };
        // CROWN's certified radius: a proven floor of every sub-domain's distortion (on deep networks the
        // relaxation over the attack's ball starts far below it)
        let floor = crate::cert::crown_floor(&self.net, self.decision, self.norm, self.domain.as_ref(), x0, class, self.options.pgd.eps_start).min(upper).min(st.root.ball);
        for f in 0..flips.len() {
            st.heap.push(Domain { flip: f, splits: Vec::new(), lower: floor, bounded: None });
        }
        let mut pops = 0u64;
        loop {
            let open_lower = st.heap.peek().map_or(f64::INFINITY, |d| d.lower);
            if st.heap.is_empty() || open_lower >= upper * (1.0 - tol) || Instant::now() >= deadline || st.heap.len() > self.options.max_domains {
                let lower = open_lower.min(st.closed).min(st.root.ball);
                return Search { lower: lower.min(upper), upper, domains: st.domains };
            }
            if upper < 0.9 * st.root.ball {
                // a tighter ball: tighter boxes for every sub-domain bounded from now on
                st.root = self.root_boxes(x0, upper, Some(&st.root));
                st.version += 1;
            }
            let dom = st.heap.pop().expect("not empty");
            let branch = match dom.bounded {
                Some((v, Some(b))) if v == st.version => b,
                _ => {
                    // not bounded yet, or with older boxes: bound it (again) and put it back
                    if let Some(d) = self.bound_into(&mut st, x0, class, &flips, dom, &mut upper) {
                        st.heap.push(d);
                    }
                    continue;
                }
            };
            pops += 1;
            let (neuron, prefer_active) = branch;
            if pops % 4 != 0 {
                for active in [true, false] {
                    if let Some(d) = self.bound_into(&mut st, x0, class, &flips, dom.child(neuron, active), &mut upper) {
                        st.heap.push(d);
                    }
                }
                continue;
            }
            // a dive: follow the relaxation's preferred phase to a leaf, each sibling left for later
            // (with its parent's bound)
            let (mut next, mut other) = (dom.child(neuron, prefer_active), dom.child(neuron, !prefer_active));
            loop {
                st.heap.push(other);
                let Some(d) = self.bound_into(&mut st, x0, class, &flips, next, &mut upper) else { break };
                if Instant::now() >= deadline {
                    st.heap.push(d);
                    break;
                }
                let Some((_, Some((n, pa)))) = d.bounded else { unreachable!("bound_into returns open, bounded sub-domains") };
                (next, other) = (d.child(n, pa), d.child(n, !pa));
            }
        }
    }

    /// Bounds `dom` with the current boxes: returned when left open (bounded, with its branching
    /// choice; the caller pushes it or dives on), else closed (its bound kept in `closed`).
    fn bound_into(&self, st: &mut State, x0: ArrayView1<f64>, class: usize, flips: &[Flip], mut dom: Domain, upper: &mut f64) -> Option<Domain> {
        let tol = self.options.exact_rel_tol;
        let Some(boxes) = Self::split_boxes(&st.root, &dom.splits) else { return None };
        st.domains += 1;
        let b = self.bound_domain(x0, &boxes, flips[dom.flip], class);
        if let Some(w) = b.witness {
            *upper = upper.min(w);
        }
        // a sub-domain lies inside its parent; past the ball the bounds say nothing more
        dom.lower = b.lower.max(dom.lower).min(st.root.ball);
        if dom.lower >= *upper * (1.0 - tol) || b.branch.is_none() {
            st.closed = st.closed.min(dom.lower);
            return None;
        }
        dom.bounded = Some((st.version, b.branch));
        Some(dom)
    }

    /// The row's radius: `exact` when the ends meet within the tolerance, else a bracket.
    pub fn radius(&self, x0: ArrayView1<f64>, class: usize, row: u64) -> crate::Result<Radius> {
        let s = self.search(x0, class, row);
        let b = Bracket::new(s.lower, s.upper)?;
        Ok(if s.upper.is_finite() && s.upper - s.lower <= self.options.exact_rel_tol * s.upper { Radius::Exact(b) } else { Radius::Bracket(b) })
    }
}

impl Certifier for ExactCertifier {
    fn method(&self) -> &'static str {
        "exact"
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        dual::blocks(&self.net)?;
        crate::cert::check_exact_limits(self.options.time_limit, self.options.exact_rel_tol)?;
        batch.per_row(&self.net, self.decision, Extent::Ball(self.norm), Radius::Sound(0.0), progress, |x, class, row| self.radius(x, class, row as u64))
    }
}
