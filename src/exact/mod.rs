//! Exact robust radii in every norm by branch and bound (EXACT-BAB-1…6 in `proofs/EXACT.md`), over ReLU
//! phases (this file) or over input boxes ([`input_split`], for ℓ∞ on low-dimensional deep networks).
//!
//! For a row x₀ with answer c, the radius is the smallest ‖x − x₀‖ at which another class j can win.
//! The attack gives a proven upper end U; CROWN bounds every boundary of the network over the U-ball
//! (∩ the domain box); then each competing class is a root sub-domain. A sub-domain (its ReLU splits)
//! is bounded by its convex relaxation — the triangle hull of every unstable ReLU, the margin, the norm
//! (ℓ2: a second-order cone, solved by Clarabel; ℓ∞ and ℓ1: linear, solved by HiGHS's dual simplex
//! warm-started from the parent's basis, [`lp`]); the relaxation's multipliers give a *proven* lower
//! bound of the sub-domain's minimal distortion (`dual::lower_bound`, every operation rounded outward),
//! and its point, pushed just across the boundary, a proven witness. Before the solve, the first
//! layer's boxes are tightened to the ball ∩ the half-spaces of the sub-domain's first-layer splits
//! (`tighten`, EXACT-BAB-4). The worst sub-domain is split by reliability branching, as MIP solvers
//! do: the candidates are the unstable neurons where the relaxation's optimum is off the ReLU's graph,
//! ordered by the rise of the Lagrangian bound their split would give with these multipliers (a
//! BaBSR-like score); those whose pseudocosts (the mean bound rise of their past splits) rest on fewer
//! than RELIABLE splits are strong-branched (both children bounded), the others scored by their
//! pseudocosts, and the best product of the two children's rises wins. When the relaxation's optimum
//! lies on every ReLU's graph (in particular once every ReLU is fixed) it is a point of the network, and
//! both ends meet. The radius is `exact` when the least lower bound of the open sub-domains and the
//! best witness meet within the tolerance, else a `bracket`; a time limit gives a bracket, never a
//! guess.
pub mod dual;
pub mod halfspace;
mod input_split;
pub mod lp;
mod pieces;
pub mod relax;
pub mod tighten;

use crate::attack::{Pgd, PgdOptions};
use crate::bound::{CrownBatch, Intermediate, RegionBatch};
use crate::cert::{Batch, Bracket, Certificate, Certifier, Extent, Radius};
use crate::net::{Layer, Network};
use crate::progress::Progress;
use crate::spec::{Decision, DomainBox, Norm};
use crate::verify::SplitKind;
use dual::{Boxes, Flip};
use ndarray::{Array1, ArrayView1};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::sync::Arc;
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
    /// What the branch and bound splits: input boxes (EXACT-BAB-5, 6) or ReLU phases (EXACT-BAB-1…4);
    /// `auto`: input boxes in ℓ∞ for at most 16 inputs and at least two ReLU layers, ReLU phases
    /// otherwise. Input boxes tile the attack's ball: a row whose attack finds no counterexample up to
    /// eps_max is searched by ReLU phases.
    #[serde(default)]
    pub split: SplitKind,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { time_limit: 60.0, eps_max: 1e3, pgd: PgdOptions { restarts: 3, steps: 40, ..Default::default() }, exact_rel_tol: crate::cert::EXACT_REL_TOL, max_domains: 200_000, split: SplitKind::Auto }
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
    /// Its relaxation's own proven bound (not raised by its ancestors'; −∞ before it is bounded): the
    /// reference the bound rises of its splits are measured from.
    relaxed: f64,
    /// The boxes' version it was bounded with, and its branching candidates (never empty); None: not
    /// bounded yet.
    bounded: Option<(usize, Vec<Candidate>)>,
    /// The optimal basis of its relaxation (or its parent's): where its children's simplex starts.
    basis: Option<Arc<lp::Basis>>,
    /// The boxes' version and its tightened first-layer box (or its parent's): valid on its children.
    first: Option<(usize, Arc<(Array1<f64>, Array1<f64>)>)>,
}

impl Domain {
    /// The child with one more split (not bounded yet: its parent's bound holds on it).
    fn child(&self, (i, j): (usize, usize), active: bool) -> Domain {
        let mut splits = self.splits.clone();
        splits.push((i, j, active));
        Domain { flip: self.flip, splits, lower: self.lower, relaxed: f64::NEG_INFINITY, bounded: None, basis: self.basis.clone(), first: self.first.clone() }
    }
}

/// A ReLU output within TIGHT·(1 + its layer's largest bound) of the ReLU of its input is on the
/// ReLU's graph for branching (a heuristic: nothing is proven from it).
const TIGHT: f64 = 1e-7;

/// A neuron the sub-domain may be split on: (layer, neuron), the phase of the relaxation's optimum
/// there, and the rise of the Lagrangian bound its split gives with the parent's multipliers.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    neuron: (usize, usize),
    prefer_active: bool,
    gain: f64,
}

/// A ReLU split: (layer, neuron, active).
type Split = (usize, usize, bool);

/// What bounding a sub-domain gives.
struct Bounded {
    /// Proven lower bound of its minimal distortion (+∞: proven empty).
    lower: f64,
    /// The neurons it may be split on, best Lagrangian gain first; empty: closed (proven empty, ends
    /// met, or every ReLU fixed).
    branch: Vec<Candidate>,
    /// The proven witness distance of its point, if any.
    witness: Option<f64>,
    /// Its relaxation's optimal basis (simplex only).
    basis: Option<lp::Basis>,
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
    /// Per neuron, per child (inactive, active): the sum and count of the bound rises its splits gave.
    pseudo: std::collections::HashMap<(usize, usize), [(f64, u32); 2]>,
    /// The same summed over all neurons.
    pseudo_total: [(f64, u32); 2],
    /// The simplex for ℓ∞ and ℓ1 relaxations (ℓ2's are cone programs, solved by Clarabel).
    lp: Option<lp::LpSolver>,
    /// Per competitor, the first-layer neurons worth tightening (None: all).
    wanted: Vec<Option<Vec<bool>>>,
}

/// What bounding a sub-domain left: open (bounded, with its candidates), or closed with its bound.
enum Outcome {
    Open(Domain),
    /// Its proven bound, and its relaxation's own (+∞: proven empty).
    Closed(f64, f64),
}

impl Outcome {
    /// The relaxation's own bound.
    fn relaxed(&self) -> f64 {
        match self {
            Outcome::Open(d) => d.relaxed,
            Outcome::Closed(_, r) => *r,
        }
    }
}

/// Splits of a neuron seen before its pseudocosts are trusted over strong branching.
const RELIABLE: u32 = 4;
/// The least rise a score multiplies by (a child that does not rise still counts).
const SCORE_EPS: f64 = 1e-6;
/// Strong branching stops after this many candidates without a better score…
const LOOKAHEAD: usize = 4;
/// …and after this many in all.
const MAX_STRONG: usize = 8;

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
    fn bound_domain(&self, lp: &mut Option<lp::LpSolver>, x0: ArrayView1<f64>, boxes: &Boxes, flip: Flip, class: usize, warm: Option<&lp::Basis>) -> Bounded {
        let xs = x0.as_slice().expect("contiguous row");
        let simplex = lp.is_some();
        let mut solve = |boxes: &Boxes, slack: f64, accuracy: f64, warm: Option<&lp::Basis>| match lp.as_mut() {
            Some(s) => s.solve(&self.net, xs, boxes, flip, self.norm, slack, warm),
            None => relax::solve(&self.net, xs, boxes, flip, self.norm, slack, accuracy),
        };
        let r = solve(boxes, 0.0, relax::ACCURACY, warm);
        let mut bound = dual::lower_bound(&self.net, xs, boxes, flip, &r.multipliers, self.norm);
        if r.status == relax::Status::Infeasible {
            // a certificate's sign convention is the solver's: either sign gives a valid bound
            let neg = relax::negated(&r.multipliers);
            let other = dual::lower_bound(&self.net, xs, boxes, flip, &neg, self.norm);
            if other.constraints > bound.constraints {
                bound = other;
            }
        }
        let mut lower = bound.distortion;
        let mut empty = bound.constraints > 0.0;
        let solved = r.status == relax::Status::Solved;
        // the optimum on the ball's surface: the ball's multiplier carries part of the bound, and the
        // split of the input's coefficients between the ball and the box may lose it
        let on_ball = solved && boxes.ball.is_finite() && r.objective >= boxes.ball * (1.0 - 1e-6) && lower < r.objective * (1.0 - 0.5 * self.options.exact_rel_tol);
        if !empty && (!solved || on_ball) {
            // an infeasibility certificate is often too inexact to prove anything: the problem without
            // the ball is usually feasible, and its optimum's multipliers prove a bound (past the ball:
            // no point of the ball); with the optimum on the ball the problem without it has the same
            // optimum, the ball no longer active
            let unballed = Boxes { ball: f64::INFINITY, ..boxes.clone() };
            let r2 = solve(&unballed, 0.0, relax::ACCURACY, None);
            let b2 = dual::lower_bound(&self.net, xs, &unballed, flip, &r2.multipliers, self.norm);
            lower = lower.max(b2.distortion);
            empty = b2.constraints > 0.0;
        }
        let mut lower = if empty { f64::INFINITY } else { lower.max(0.0) };
        let mut witness = if empty { None } else { self.witness(x0, &r.x, class) };
        // branch on the unstable neuron whose split raises the bound most with these multipliers, among
        // those where the relaxation's optimum is off the ReLU's graph (splitting the others cannot
        // move the optimum); its first child the phase of the relaxation's optimum
        let pick = |only_loose: bool| {
            let mut cands = Vec::new();
            for (i, layer) in self.net.layers.iter().enumerate() {
                if !matches!(layer, Layer::Relu) {
                    continue;
                }
                let (gain, pre, post) = (bound.gains[i].as_ref().expect("ReLU layer"), r.pre[i].as_ref().expect("ReLU layer"), r.post[i].as_ref().expect("ReLU layer"));
                let scale = 1.0 + boxes.lower[i].iter().chain(boxes.upper[i].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
                for j in 0..boxes.lower[i].len() {
                    let unstable = boxes.lower[i][j] < 0.0 && boxes.upper[i][j] > 0.0;
                    if !unstable || (only_loose && (post[j] - pre[j].max(0.0)).abs() <= TIGHT * scale) {
                        continue;
                    }
                    cands.push(Candidate { neuron: (i, j), prefer_active: pre[j] >= 0.0, gain: if gain[j].is_finite() { gain[j] } else { 0.0 } });
                }
            }
            cands.sort_by(|a: &Candidate, b: &Candidate| b.gain.total_cmp(&a.gain));
            cands
        };
        let loose = pick(true);
        let tol = self.options.exact_rel_tol;
        if loose.is_empty() && !empty && witness.is_none_or(|w| w - lower > 0.5 * tol * w) {
            // the relaxation's optimum is on every ReLU's graph (every ReLU fixed, or the optimum happens
            // to satisfy the loose ones): a point of the network, so the ends can meet. The bound first:
            // solved again more finely (the proven bound loses the dual residual times the boxes'
            // magnitudes)
            // (a simplex optimum is a vertex, its duals exact to rounding: nothing to refine)
            let fine = if simplex { r.clone() } else { solve(boxes, 0.0, relax::FINE_ACCURACY, None) };
            lower = lower.max(dual::lower_bound(&self.net, xs, boxes, flip, &fine.multipliers, self.norm).distortion);
            // then the witness: the optimum is on the piece's boundary, where the rounding may fall
            // either side, and the solver's point may be off it. Candidates: the fine point, then the
            // optima of the problem shrunk so that they lie strictly inside.
            // (the simplex's vertices are feasible to 10⁻¹⁰, so its shrinking starts finer: a tenfold step
            // at a time, the first proven witness within the tolerance ends it)
            let slacks: &[f64] = if simplex { &[0.0, 1e-11, 1e-10, 1e-9, 1e-8] } else { &[0.0, 1e-10, 1e-8] };
            for &slack in slacks {
                let p = if slack == 0.0 { fine.x.clone() } else { solve(boxes, slack, relax::ACCURACY, r.basis.as_ref()).x };
                if let Some(w) = self.witness(x0, &p, class) {
                    witness = Some(witness.map_or(w, |v| v.min(w)));
                }
                if witness.is_some_and(|w| w - lower <= 0.5 * tol * w) {
                    break;
                }
            }
        }
        // a sub-domain whose ends did not meet is split (on any unstable neuron when none is loose)
        let closed = empty || witness.is_some_and(|w| w - lower <= 0.5 * tol * w);
        let branch = if closed { Vec::new() } else if loose.is_empty() { pick(false) } else { loose };
        Bounded { lower, branch, witness, basis: r.basis }
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
        let pgd = Pgd { net: &self.net, decision: self.decision, norm: self.norm, domain: self.domain.as_ref(), options: self.options.pgd.clone() };
        let (upper, _) = pgd.radius_upper_bound(x0, class, row);
        // CROWN's certified radius: a proven floor of every sub-domain's distortion (on deep networks the
        // relaxation over the attack's ball starts far below it)
        let floor = crate::cert::crown_floor(&self.net, self.decision, self.norm, self.domain.as_ref(), x0, class, self.options.pgd.eps_start).min(upper);
        // input boxes need the attack's ball: without a witness (no flip up to eps_max) the boxes would
        // tile the whole eps_max-box, so the ReLU phases' relaxations bound it instead
        if self.splits_inputs() && upper.is_finite() {
            self.search_boxes(x0, class, upper, floor, deadline)
        } else {
            self.search_relus(x0, class, upper, floor, deadline)
        }
    }

    /// Whether the search splits input boxes (else ReLU phases).
    pub fn splits_inputs(&self) -> bool {
        match self.options.split {
            SplitKind::Input => true,
            SplitKind::Relu => false,
            // the ℓ∞ ball is a box, and its nearest flip points sit at the boxes' corners; the ℓ2 and ℓ1
            // balls are not boxes, and boxes straddling their surface stay open for long. With one ReLU
            // layer the phases are cheaper: EXACT-BAB-4 tightens every neuron by each split, and an
            // optimum on a ReLU's graph needs no split of it
            SplitKind::Auto => {
                let relu_layers = self.net.layers.iter().filter(|l| matches!(l, Layer::Relu)).count();
                self.norm == Norm::Linf && self.net.input_dim() <= crate::verify::AUTO_INPUT_SPLIT_DIMS && relu_layers >= 2
            }
        }
    }

    /// The branch and bound over ReLU phases (EXACT-BAB-1…4).
    fn search_relus(&self, x0: ArrayView1<f64>, class: usize, mut upper: f64, floor: f64, deadline: Instant) -> Search {
        let k = self.net.output_dim();
        let flips: Vec<Flip> = (0..k).filter(|&j| j != class).map(|j| Flip { c: class, j, sign: self.sign() }).collect();
        let tol = self.options.exact_rel_tol;
        let mut st = State {
            // the ball the bounds hold on: the attack's distance, else the largest radius searched
            root: self.root_boxes(x0, if upper.is_finite() { upper } else { self.options.eps_max }, None),
            version: 0,
            heap: BinaryHeap::new(),
            closed: f64::INFINITY,
            domains: 0,
            pseudo: Default::default(),
            pseudo_total: [(0.0, 0); 2],
            lp: (self.norm != Norm::L2).then(lp::LpSolver::new),
            wanted: flips.iter().map(|f| tighten::upper_side_neurons(&self.net, f.c, f.j, f.sign)).collect(),
        };
        let floor = floor.min(st.root.ball);
        for f in 0..flips.len() {
            st.heap.push(Domain { flip: f, splits: Vec::new(), lower: floor, relaxed: f64::NEG_INFINITY, bounded: None, basis: None, first: None });
        }
        // dives every `dive_every` pops: 4 at first, doubled after each dive that finds no better
        // witness, back to 4 after one that does
        let (mut pops, mut dive_every) = (0u64, 4u64);
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
            let cands = match &dom.bounded {
                Some((v, c)) if *v == st.version => c.clone(),
                _ => {
                    // not bounded yet, or with older boxes: bound it (again) and put it back
                    let out = self.bound_into(&mut st, x0, class, &flips, dom, &mut upper);
                    self.keep(&mut st, out);
                    continue;
                }
            };
            pops += 1;
            if pops % dive_every != 0 {
                let children = self.branch(&mut st, x0, class, &flips, &dom, &cands, &mut upper);
                for out in children {
                    self.keep(&mut st, out);
                }
                continue;
            }
            // a dive: follow the relaxation's preferred phase to a leaf, each sibling left for later
            // (with its parent's bound)
            let c = Self::predicted_best(&st, &cands);
            let (mut next, mut other) = (dom.child(c.neuron, c.prefer_active), dom.child(c.neuron, !c.prefer_active));
            let before = upper;
            pops = 0;
            loop {
                st.heap.push(other);
                let out = self.bound_into(&mut st, x0, class, &flips, next, &mut upper);
                let Outcome::Open(d) = out else {
                    self.keep(&mut st, out);
                    break;
                };
                if Instant::now() >= deadline {
                    st.heap.push(d);
                    break;
                }
                let Some((_, cands)) = &d.bounded else { unreachable!("bound_into returns open, bounded sub-domains") };
                let c = Self::predicted_best(&st, cands);
                (next, other) = (d.child(c.neuron, c.prefer_active), d.child(c.neuron, !c.prefer_active));
            }
            dive_every = if upper < before { 4 } else { (dive_every * 2).min(1 << 20) };
        }
    }

    /// An open outcome goes back on the heap, a closed one's bound into `closed`.
    fn keep(&self, st: &mut State, out: Outcome) {
        match out {
            Outcome::Open(d) => st.heap.push(d),
            Outcome::Closed(l, _) => st.closed = st.closed.min(l),
        }
    }

    /// A neuron's pseudocost score: the product of its two children's mean bound rises (the mean over
    /// all neurons where it has none), and whether both means rest on RELIABLE splits.
    fn pseudo_score(st: &State, neuron: (usize, usize)) -> (f64, bool) {
        let global = |s: usize| if st.pseudo_total[s].1 > 0 { st.pseudo_total[s].0 / st.pseudo_total[s].1 as f64 } else { 1.0 };
        let own = st.pseudo.get(&neuron);
        let mean = |s: usize| own.filter(|v| v[s].1 > 0).map_or(global(s), |v| v[s].0 / v[s].1 as f64);
        let reliable = own.is_some_and(|v| v[0].1 >= RELIABLE && v[1].1 >= RELIABLE);
        (mean(0).max(SCORE_EPS) * mean(1).max(SCORE_EPS), reliable)
    }

    /// The candidate with the best predicted score (pseudocosts where reliable, else the Lagrangian gain
    /// order): for dives, which do not strong-branch.
    fn predicted_best(st: &State, cands: &[Candidate]) -> Candidate {
        let mut best: Option<(f64, Candidate)> = None;
        for c in cands {
            let score = Self::pseudo_score(st, c.neuron).0;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, *c));
            }
        }
        best.expect("candidates are never empty").1
    }

    /// Records the bound rises of one split's two children.
    fn record(st: &mut State, parent: f64, neuron: (usize, usize), children: &[Outcome; 2], upper: f64) {
        let e = st.pseudo.entry(neuron).or_insert([(0.0, 0); 2]);
        for (s, out) in children.iter().enumerate() {
            // children are [active, inactive]; the table is [inactive, active]
            let rise = (out.relaxed().min(upper) - parent).max(0.0);
            e[1 - s].0 += rise;
            e[1 - s].1 += 1;
            st.pseudo_total[1 - s].0 += rise;
            st.pseudo_total[1 - s].1 += 1;
        }
    }

    /// Splits `dom` (reliability branching): candidates whose pseudocosts are not yet reliable are
    /// strong-branched — both children bounded — in the Lagrangian gain order, until LOOKAHEAD of them
    /// in a row bring no better score or MAX_STRONG are done; the reliable ones are scored by their
    /// pseudocosts. Returns the chosen split's two children, bounded.
    #[allow(clippy::too_many_arguments)]
    fn branch(&self, st: &mut State, x0: ArrayView1<f64>, class: usize, flips: &[Flip], dom: &Domain, cands: &[Candidate], upper: &mut f64) -> [Outcome; 2] {
        let mut best: Option<(f64, Candidate, Option<[Outcome; 2]>)> = None;
        for c in cands {
            let (score, reliable) = Self::pseudo_score(st, c.neuron);
            if reliable && best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, *c, None));
            }
        }
        let (mut strong, mut since) = (0, 0);
        for c in cands {
            if Self::pseudo_score(st, c.neuron).1 {
                continue;
            }
            if strong >= MAX_STRONG || since >= LOOKAHEAD {
                break;
            }
            let children = [true, false].map(|active| self.bound_into(st, x0, class, flips, dom.child(c.neuron, active), upper));
            Self::record(st, dom.relaxed, c.neuron, &children, *upper);
            let rise = |o: &Outcome| (o.relaxed().min(*upper) - dom.relaxed).max(SCORE_EPS);
            let score = rise(&children[0]) * rise(&children[1]);
            strong += 1;
            since += 1;
            let closes = children.iter().all(|o| matches!(o, Outcome::Closed(..)));
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, *c, Some(children)));
                since = 0;
            }
            if closes {
                break;
            }
        }
        let (_, c, children) = best.expect("candidates are never empty");
        children.unwrap_or_else(|| {
            let children = [true, false].map(|active| self.bound_into(st, x0, class, flips, dom.child(c.neuron, active), upper));
            Self::record(st, dom.relaxed, c.neuron, &children, *upper);
            children
        })
    }

    /// Bounds `dom` with the current boxes: open (bounded, with its branching candidates; the caller
    /// pushes it or dives on), or closed with its bound (the caller keeps it).
    fn bound_into(&self, st: &mut State, x0: ArrayView1<f64>, class: usize, flips: &[Flip], mut dom: Domain, upper: &mut f64) -> Outcome {
        let tol = self.options.exact_rel_tol;
        let Some(mut boxes) = Self::split_boxes(&st.root, &dom.splits) else { return Outcome::Closed(f64::INFINITY, f64::INFINITY) };
        // the parent's tightened first-layer box holds on the child (a subset of it, with the same boxes)
        if let Some((_, f)) = dom.first.as_ref().filter(|(v, _)| *v == st.version) {
            ndarray::Zip::from(&mut boxes.lower[1]).and(&f.0).for_each(|a, &b| *a = a.max(b));
            ndarray::Zip::from(&mut boxes.upper[1]).and(&f.1).for_each(|a, &b| *a = a.min(b));
        }
        let tightened = (0..boxes.lower[1].len()).all(|j| boxes.lower[1][j] <= boxes.upper[1][j]) && tighten::first_layer_boxes(&self.net, x0, self.norm, &mut boxes, &dom.splits, st.wanted[dom.flip].as_deref());
        if tightened {
            dom.first = Some((st.version, Arc::new((boxes.lower[1].clone(), boxes.upper[1].clone()))));
        }
        if !tightened {
            return Outcome::Closed(f64::INFINITY, f64::INFINITY);
        }
        st.domains += 1;
        let b = self.bound_domain(&mut st.lp, x0, &boxes, flips[dom.flip], class, dom.basis.as_deref());
        if let Some(basis) = b.basis {
            dom.basis = Some(Arc::new(basis));
        }
        if let Some(w) = b.witness {
            *upper = upper.min(w);
        }
        // a sub-domain lies inside its parent; past the ball the bounds say nothing more
        dom.lower = b.lower.max(dom.lower).min(st.root.ball);
        dom.relaxed = b.lower;
        if dom.lower >= *upper * (1.0 - tol) || b.branch.is_empty() {
            return Outcome::Closed(dom.lower, b.lower);
        }
        dom.bounded = Some((st.version, b.branch));
        Outcome::Open(dom)
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
