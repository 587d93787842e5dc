//! Branch and bound by ReLU splitting with β-CROWN bounds (BAB-3 in `proofs/BAB.md`), for wide inputs
//! (MNIST-FC: 784). A sub-domain is a term's input box with split constraints on some unstable ReLUs;
//! every sub-domain is a row of a batch. Each is bounded by β-CROWN (`bound::split`), warm-started from
//! its parent; an unproven one is split into z ≥ 0 and z ≤ 0, worst bound first, on one of the unstable
//! neurons with the largest relaxation loss |λ|·gap (a BaBSR-style score from the last backward pass):
//! the one whose children's one-pass bounds are best (FSB).
//! Falsification runs first and, with fresh restarts, during the search.
use super::attack::{search_box, AttackOptions};
use super::bab::check_shapes;
use super::{check_counterexample, first_counterexample, Budget, Counterexample, Open, Outcome, Verdict, Verifier};
use crate::bound::split::{babsr, beta_crown, BetaOptions, ReluBounds, Split, SplitDomain, SplitResult, Warm};
use crate::net::Network;
use crate::vnnlib::Property;
use ndarray::Array2;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The ReLU-splitting verifier.
#[derive(Clone, Debug)]
pub struct ReluSplitBab {
    /// The optimization at the root (no splits yet): α-CROWN with CROWN intermediate bounds.
    pub root: BetaOptions,
    /// The optimization of every sub-domain (warm-started from its parent).
    pub beta: BetaOptions,
    /// Parents split per round (each gives two sub-domains).
    pub batch: usize,
    /// Split candidates per sub-domain, compared by one bound pass of their children (FSB); 1: BaBSR alone.
    pub candidates: usize,
    /// Recompute, in every new sub-domain, the CROWN bounds of the unstable neurons after its newest
    /// split's layer (BETA-3); otherwise they stay the parent's.
    pub refine: bool,
    /// When the root stays open after α-CROWN, the intermediate bounds are tightened by this many
    /// splits per unstable neuron side (BETA-4; 0: never).
    pub root_splits: usize,
    pub attack: AttackOptions,
}

impl Default for ReluSplitBab {
    fn default() -> Self {
        ReluSplitBab {
            root: BetaOptions { iterations: 40, lr_alpha: 0.25, lr_beta: 0.05, lr_decay: 0.98 },
            beta: BetaOptions::default(),
            batch: 64,
            candidates: 8,
            refine: true,
            root_splits: 8,
            attack: AttackOptions::default(),
        }
    }
}

/// An unproven sub-domain.
#[derive(Clone, Debug)]
struct Domain {
    term: usize,
    root: usize,
    splits: Vec<Split>,
    /// Its ReLU bounds (the root's, clamped by the splits, and recomputed after them with `refine`).
    bounds: ReluBounds,
    warm: Warm,
    /// max over the term's constraints of (lower bound − d_j); ≤ 0 here.
    margin: f64,
    /// The neurons worth splitting next (layer, neuron), best BaBSR score first; empty when every
    /// ReLU is fixed.
    candidates: Vec<(usize, usize)>,
    seq: u64,
}

super::worst_first!(Domain);

/// A sub-domain waiting for its bounds.
struct Pending {
    term: usize,
    root: usize,
    splits: Vec<Split>,
    bounds: ReluBounds,
    warm: Option<Warm>,
    /// The parent's margin (−∞ at a root).
    parent_margin: f64,
    /// Recompute the bounds after this ReLU layer (see [`SplitDomain::refine_after`]).
    refine_after: Option<usize>,
}

/// The term's constraints as m spec rows (padded by repeating the first, which changes no maximum).
fn spec_of(property: &Property, term: usize, m: usize) -> Array2<f64> {
    let cs = &property.terms[term].constraints;
    let k = property.n_outputs;
    Array2::from_shape_fn((m, k), |(r, q)| cs.get(r).or(cs.first()).map_or(0.0, |c| c.coef[q]))
}

/// The d_j each row of [`spec_of`] must exceed (+∞ for a term without output constraints).
fn goal_of(property: &Property, term: usize, m: usize) -> ndarray::Array1<f64> {
    let cs = &property.terms[term].constraints;
    ndarray::Array1::from_shape_fn(m, |r| cs.get(r).or(cs.first()).map_or(f64::INFINITY, |c| c.bound.hi))
}

/// max_j (lower_j − d_j) and whether it proves the sub-domain empty of unsafe points.
fn margin(property: &Property, term: usize, lower: &ndarray::Array1<f64>) -> f64 {
    let cs = &property.terms[term].constraints;
    if cs.is_empty() {
        return f64::NEG_INFINITY; // no output constraint: every point of the box is unsafe
    }
    // lb > d exactly when fl(lb − d) > 0 (the sign of a rounded difference is exact)
    cs.iter().enumerate().map(|(j, c)| lower[j] - c.bound.hi).fold(f64::NEG_INFINITY, f64::max)
}

/// The sub-domain `dom` ∧ `split`, warm-started from `dom` (the new multiplier at 0); `None` when it is
/// empty (contradictory clamped bounds, BETA-2).
fn child(dom: &Domain, split: Split, refine: bool) -> Option<Pending> {
    let mut splits = dom.splits.clone();
    splits.push(split);
    let bounds = dom.bounds.with_splits(&[split])?;
    Some(Pending { term: dom.term, root: dom.root, splits, bounds, warm: Some(dom.warm.with_new_split()), parent_margin: dom.margin, refine_after: refine.then_some(split.layer) })
}

/// β-CROWN bounds of the pending sub-domains (each over its term's box); with `goal`, the optimization
/// may stop once every domain of a chunk is proven.
fn bound_all(net: &Network, property: &Property, m: usize, pending: &[Pending], opts: &BetaOptions, goal: bool) -> Vec<SplitResult> {
    let boxes: Vec<(Vec<f64>, Vec<f64>)> = pending.iter().map(|p| property.terms[p.term].outer_box()).collect();
    let doms: Vec<SplitDomain> = pending
        .iter()
        .zip(&boxes)
        .map(|(p, (lo, hi))| SplitDomain {
            lower: lo,
            upper: hi,
            bounds: p.bounds.clone(),
            splits: &p.splits,
            spec: spec_of(property, p.term, m),
            warm: p.warm.as_ref(),
            goal: goal.then(|| goal_of(property, p.term, m)),
            refine_after: p.refine_after,
        })
        .collect();
    beta_crown(net, &doms, opts)
}

/// A checked counterexample among the candidate points (rows of `xs`, clamped into the term's box).
fn candidate(net: &Network, property: &Property, term: usize, xs: &Array2<f64>) -> Option<Counterexample> {
    let (lo, hi) = property.terms[term].inner_box();
    let points: Vec<(usize, ndarray::Array1<f64>)> = xs.outer_iter().map(|x| (term, x.iter().enumerate().map(|(i, v)| v.clamp(lo[i], hi[i])).collect())).collect();
    first_counterexample(net, property, &points)
}

impl ReluSplitBab {
    /// Bounds every pending sub-domain; returns the unproven ones.
    fn bound(&self, net: &Network, property: &Property, m: usize, pending: Vec<Pending>, opts: &BetaOptions, seq: &mut u64, found: &mut Option<Counterexample>) -> Vec<Domain> {
        if pending.is_empty() {
            return vec![];
        }
        let results = bound_all(net, property, m, &pending, opts, true);
        let mut out = Vec::new();
        for (p, res) in pending.into_iter().zip(results) {
            // a sub-domain lies inside its parent, so the parent's bound holds on it too
            let mg = margin(property, p.term, &res.lower).max(p.parent_margin);
            if mg > 0.0 {
                continue;
            }
            if found.is_none() {
                *found = candidate(net, property, p.term, &res.vertex);
            }
            let cs = &property.terms[p.term].constraints;
            let row = (0..cs.len().max(1)).max_by(|&a, &b| {
                let v = |j: usize| cs.get(j).map_or(f64::NEG_INFINITY, |c| res.lower[j] - c.bound.hi);
                v(a).total_cmp(&v(b)).then(b.cmp(&a))
            });
            let candidates = babsr(&p.bounds, &res, row.unwrap_or(0), self.candidates.max(1));
            let bounds = res.bounds.unwrap_or(p.bounds);
            out.push(Domain { term: p.term, root: p.root, splits: p.splits, bounds, warm: res.warm, margin: mg, candidates, seq: *seq });
            *seq += 1;
        }
        out
    }

    /// The split of each popped domain, FSB-style (De Palma et al. 2021; α,β-CROWN's "kfsb"): where there
    /// are several candidates, both children of each are bounded by one backward pass with the parent's
    /// slopes and multipliers (no optimization, an empty child counting +∞), and the candidate whose
    /// worse child is best wins (ties: the better BaBSR score). Only the choice depends on these bounds.
    fn choose(&self, net: &Network, property: &Property, m: usize, popped: &[Domain]) -> Vec<(usize, usize)> {
        let mut probes = Vec::new();
        let mut owner = Vec::new();
        let mut score: Vec<Vec<f64>> = popped.iter().map(|d| vec![f64::INFINITY; d.candidates.len()]).collect();
        for (d, dom) in popped.iter().enumerate() {
            if dom.candidates.len() < 2 {
                continue;
            }
            for (c, &(layer, neuron)) in dom.candidates.iter().enumerate() {
                for active in [true, false] {
                    if let Some(p) = child(dom, Split { layer, neuron, active }, false) {
                        probes.push(p);
                        owner.push((d, c));
                    }
                }
            }
        }
        if !probes.is_empty() {
            let one_pass = BetaOptions { iterations: 0, ..self.beta.clone() };
            for ((p, res), &(d, c)) in probes.iter().zip(bound_all(net, property, m, &probes, &one_pass, false)).zip(&owner) {
                score[d][c] = score[d][c].min(margin(property, p.term, &res.lower));
            }
        }
        popped
            .iter()
            .zip(&score)
            .map(|(dom, sc)| {
                let best = (0..sc.len()).max_by(|&a, &b| sc[a].total_cmp(&sc[b]).then(b.cmp(&a))).unwrap_or(0);
                dom.candidates[best]
            })
            .collect()
    }

    /// The most sub-domains the memory allows (their slopes are kept for warm starts).
    fn domain_cap(&self, net: &Network, m: usize, budget: &Budget) -> usize {
        let per = ((4 * m + 16) * net.relu_count() + 256) as f64;
        let fit = (crate::limits::memory_budget() / (2.0 * per)) as usize;
        budget.max_domains.min(fit.max(1))
    }
}

impl Verifier for ReluSplitBab {
    fn name(&self) -> &'static str {
        "relu-split"
    }

    fn verify(&self, net: &Network, property: &Property, budget: &Budget) -> crate::Result<Outcome> {
        let start = Instant::now();
        check_shapes(net, property)?;
        let stopped = |verdict: Verdict, domains: u64, open: Option<Open>| Ok(Outcome { verdict, domains, seconds: start.elapsed().as_secs_f64(), open });
        let done = |verdict: Verdict, domains: u64| stopped(verdict, domains, None);
        let falsify = |restarts: usize, round: u64| -> Option<Counterexample> {
            property.terms.iter().enumerate().find_map(|(t, term)| {
                let (lo, hi) = term.outer_box();
                let opts = AttackOptions { restarts, ..self.attack.clone() };
                search_box(net, &property.terms, t, &lo, &hi, &opts, (t as u64) + (round << 32), start + budget.time)
            })
        };
        if let Some(c) = falsify(self.attack.restarts, 0) {
            return done(Verdict::Violated(c), 0);
        }
        let (mut attack_time, mut restarts) = (start.elapsed().as_secs_f64(), self.attack.restarts.max(1));
        // one root per distinct input box (the terms of a robustness property share theirs)
        let mut roots: Vec<((Vec<f64>, Vec<f64>), ReluBounds)> = Vec::new();
        let mut pending = Vec::new();
        for t in 0..property.terms.len() {
            let bx = property.terms[t].outer_box();
            let r = match roots.iter().position(|(b, _)| *b == bx) {
                Some(r) => r,
                None => {
                    let rb = ReluBounds::of_box(net, &bx.0, &bx.1);
                    roots.push((bx, rb));
                    roots.len() - 1
                }
            };
            pending.push(Pending { term: t, root: r, splits: vec![], bounds: roots[r].1.clone(), warm: None, parent_margin: f64::NEG_INFINITY, refine_after: None });
        }
        let m = property.terms.iter().map(|t| t.constraints.len()).max().unwrap_or(1).max(1);
        let cap = self.domain_cap(net, m, budget);
        let mut seq = 0u64;
        let mut domains = pending.len() as u64;
        let mut found = None;
        let mut heap: BinaryHeap<Domain> = self.bound(net, property, m, pending, &self.root, &mut seq, &mut found).into_iter().collect();
        if !heap.is_empty() && found.is_none() && start.elapsed() < budget.time {
            // the root bound left terms open: tighten the intermediate bounds (α-CROWN on every
            // unstable neuron) and bound those terms again before branching
            for (bx, rb) in roots.iter_mut() {
                *rb = ReluBounds::optimized(net, &bx.0, &bx.1, &self.root, Some(start + budget.time));
            }
            let again = restart(&mut heap, &roots);
            domains += again.len() as u64;
            heap = self.bound(net, property, m, again, &self.root, &mut seq, &mut found).into_iter().collect();
        }
        if !heap.is_empty() && found.is_none() && self.root_splits > 0 && start.elapsed() < budget.time {
            // still open: tighten the intermediate bounds of the open roots by splitting (BETA-4), in
            // at most the first quarter of the time (the rest is the search's)
            let opts = crate::bound::refine::RefineOptions { splits: self.root_splits, beta: self.beta.clone() };
            let open: std::collections::BTreeSet<usize> = heap.iter().map(|d| d.root).collect();
            for (_, (bx, rb)) in roots.iter_mut().enumerate().filter(|(r, _)| open.contains(r)) {
                *rb = crate::bound::refine::refine_by_splitting(net, &bx.0, &bx.1, rb, &opts, Some(start + budget.time / 4));
            }
            let again = restart(&mut heap, &roots);
            domains += again.len() as u64;
            heap = self.bound(net, property, m, again, &self.root, &mut seq, &mut found).into_iter().collect();
        }
        let mut round = 0u64;
        loop {
            if let Some(c) = found.take() {
                return done(Verdict::Violated(c), domains);
            }
            if heap.is_empty() {
                return done(Verdict::Holds, domains);
            }
            if start.elapsed() >= budget.time {
                return stopped(Verdict::Timeout, domains, open_part(&heap));
            }
            if heap.len() > cap {
                return stopped(Verdict::Unknown(format!("memory: more than {cap} open sub-domains")), domains, open_part(&heap));
            }
            round += 1;
            // falsification during the search, given a tenth of the time so far: fresh restarts over
            // each term's box, twice as many each time (as the input splitting does)
            if attack_time < 0.1 * start.elapsed().as_secs_f64() {
                let t0 = Instant::now();
                restarts = (restarts * 2).min(1 << 12);
                if let Some(c) = falsify(restarts, round) {
                    return done(Verdict::Violated(c), domains);
                }
                attack_time += t0.elapsed().as_secs_f64();
            }
            let mut popped = Vec::new();
            for _ in 0..self.batch.max(1) {
                let Some(dom) = heap.pop() else { break };
                if dom.candidates.is_empty() {
                    // every ReLU fixed: the network is affine on this polyhedron. Its LP gives a
                    // candidate point (checked before it counts); else try harder on the multipliers
                    // once (with optimal β the relaxation is exact), then give up honestly
                    // (contradictory clamped bounds: the sub-domain is empty, BETA-2)
                    let Some(bounds) = dom.bounds.with_splits(&dom.splits) else { continue };
                    let term = &property.terms[dom.term];
                    let (lo, hi) = term.inner_box();
                    let cons: Vec<(Vec<f64>, f64)> = term.constraints.iter().map(|c| (c.coef.clone(), c.bound.lo)).collect();
                    let left = budget.time.saturating_sub(start.elapsed());
                    if let Some((x, t)) = crate::milp::leaf::fixed_pattern_minimum(net, &lo, &hi, &bounds.relu, &cons, left) {
                        if t <= 0.0 {
                            if let Some(y) = check_counterexample(net, term, &x) {
                                return done(Verdict::Violated(Counterexample { term: dom.term, input: x, output: y }), domains);
                            }
                        }
                    }
                    let deep = BetaOptions { iterations: 20 * self.beta.iterations.max(1), ..self.beta.clone() };
                    let again = self.bound(net, property, m, vec![Pending { term: dom.term, root: dom.root, splits: dom.splits.clone(), bounds, warm: Some(dom.warm.clone()), parent_margin: f64::NEG_INFINITY, refine_after: None }], &deep, &mut seq, &mut found);
                    domains += 1;
                    if !again.is_empty() && found.is_none() {
                        return done(Verdict::Unknown("a sub-domain with every ReLU fixed stayed unproven".into()), domains);
                    }
                    continue;
                }
                popped.push(dom);
            }
            let mut pending = Vec::new();
            let chosen = self.choose(net, property, m, &popped);
            for (dom, (layer, neuron)) in popped.into_iter().zip(chosen) {
                for active in [true, false] {
                    if let Some(p) = child(&dom, Split { layer, neuron, active }, self.refine) {
                        pending.push(p);
                    }
                }
            }
            domains += pending.len() as u64;
            heap.extend(self.bound(net, property, m, pending, &self.beta, &mut seq, &mut found));
        }
    }
}

/// The open root domains again, over their roots' new (tighter) bounds, warm-started and keeping
/// their margins.
fn restart(heap: &mut BinaryHeap<Domain>, roots: &[((Vec<f64>, Vec<f64>), ReluBounds)]) -> Vec<Pending> {
    heap.drain()
        .map(|d| Pending { term: d.term, root: d.root, splits: vec![], bounds: roots[d.root].1.clone(), warm: Some(d.warm), parent_margin: d.margin, refine_after: None })
        .collect()
}

/// The open part of the queue (worst first at its top).
fn open_part(heap: &BinaryHeap<Domain>) -> Option<Open> {
    heap.peek().map(|d| Open { domains: heap.len(), worst_margin: d.margin })
}
