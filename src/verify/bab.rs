//! Branch and bound by input splitting (BAB-1 in `proofs/BAB.md`), for low-dimensional inputs (ACAS Xu:
//! 5). Every sub-domain is a box and a row of a batch: the sound bound propagation bounds c_j·f over
//! each box; a box on which some constraint's lower bound exceeds its d_j is proven empty of unsafe
//! points. Unproven boxes are split in two, worst first, along one of a few candidate inputs (the largest
//! |a_i|·width_i, a the input coefficients of CROWN's linear bound: α,β-CROWN's "sb" input branching; the
//! largest gradient smear; the input split least so far): the one whose halves leave the least open margin. A box keeps its parent's margin when its own is worse, and a box CROWN
//! leaves open with few unstable ReLUs is bounded again by α-CROWN (BAB-4). Falsification runs first and
//! during the search (`attack`).
use super::attack::{search_box, AttackOptions};
use super::{first_counterexample, Budget, Open, Outcome, Verdict, Verifier};
use crate::bound::{BoundMethod, BoxView, RegionBatch};
use crate::net::Network;
use crate::vnnlib::Property;
use ndarray::{Array1, Array2, Array3};
use std::collections::BinaryHeap;
use std::time::Instant;

/// The input-splitting verifier.
#[derive(Clone, Debug)]
pub struct InputSplitBab {
    /// How each box is bounded.
    pub method: BoundMethod,
    /// Boxes bounded per batch.
    pub batch: usize,
    pub attack: AttackOptions,
    /// α-CROWN steps for the boxes CROWN leaves open (0: CROWN only).
    pub alpha_iters: usize,
    /// Only boxes with at most this many unstable ReLUs get α-CROWN (small boxes, where optimized
    /// slopes close the last gap that would otherwise take thousands of splits).
    pub alpha_unstable: usize,
    /// Where CROWN bounds the batches of boxes (the same driver on every device; α-CROWN stays on the CPU).
    pub device: crate::gpu::Device,
}

impl Default for InputSplitBab {
    fn default() -> Self {
        InputSplitBab { method: BoundMethod::crown(), batch: 512, attack: AttackOptions::default(), alpha_iters: 20, alpha_unstable: 30, device: crate::gpu::Device::Cpu }
    }
}

/// A box of one term, with what its bounds gave.
#[derive(Clone, Debug)]
struct Domain {
    term: usize,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// max over the term's constraints of (lower bound − d_j): positive proves the box empty.
    margin: f64,
    /// The constraint attaining `margin` (the one closest to proven).
    best: usize,
    /// The input coefficients of that constraint's linear bound (CROWN), for branching.
    coef: Option<Vec<f64>>,
    /// Creation order, for a deterministic queue.
    seq: u64,
}

super::worst_first!(Domain);

impl InputSplitBab {
    /// Bounds every box: (margin, best constraint) per domain.
    fn bound(&self, net: &Network, property: &Property, doms: &[(usize, Vec<f64>, Vec<f64>)]) -> crate::Result<(Vec<(f64, usize)>, Option<Array3<f64>>, Vec<usize>)> {
        let (n, d, k) = (doms.len(), property.n_inputs, property.n_outputs);
        if n == 0 {
            return Ok((vec![], None, vec![]));
        }
        let m = doms.iter().map(|(t, ..)| property.terms[*t].constraints.len()).max().unwrap_or(0).max(1);
        let mut lower = Array2::zeros((n, d));
        let mut upper = Array2::zeros((n, d));
        let mut spec = Array3::zeros((n, m, k));
        for (r, (t, lo, hi)) in doms.iter().enumerate() {
            for i in 0..d {
                lower[[r, i]] = lo[i];
                upper[[r, i]] = hi[i];
            }
            for (j, c) in property.terms[*t].constraints.iter().enumerate() {
                for (q, &a) in c.coef.iter().enumerate() {
                    spec[[r, j, q]] = a;
                }
            }
        }
        let centers = (&lower + &upper) * 0.5;
        let zeros = Array1::zeros(n);
        let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
        // CROWN also gives each bound's input coefficients: its minimizing corner (a candidate
        // counterexample) and the branching scores
        let (lb, coefs, unstable) = match &self.method {
            BoundMethod::Crown(inter) if self.method.row_independent(net) => {
                let (lb, c, u) = lower_and_coefficients(&self.device, net, &regions, spec.view(), *inter)?;
                (lb, Some(c), u)
            }
            _ => (self.method.lower_bounds_batch(net, &regions, spec.view()), None, vec![usize::MAX; n]),
        };
        let margins = doms.iter()
            .enumerate()
            .map(|(r, (t, ..))| {
                let cs = &property.terms[*t].constraints;
                if cs.is_empty() {
                    return (f64::NEG_INFINITY, 0); // no output constraint: the whole box is unsafe
                }
                // lb > d exactly when fl(lb − d) > 0 (the sign of a rounded difference is exact)
                cs.iter().enumerate().map(|(j, c)| (lb[[r, j]] - c.bound.hi, j)).fold((f64::NEG_INFINITY, 0), |b, v| if v.0 > b.0 { v } else { b })
            })
            .collect();
        Ok((margins, coefs, unstable))
    }

    /// Bounds the pending boxes: (margin, best constraint) per box and CROWN's input coefficients. A box's
    /// margin is at least its parent's, `inherited` (the parent's bound holds on the box too, and CROWN
    /// is not monotone in the box: BAB-4). A box left open with at most `alpha_unstable` unstable ReLUs
    /// is bounded again by α-CROWN.
    fn bound_pending(&self, net: &Network, property: &Property, pending: &[(usize, Vec<f64>, Vec<f64>)], inherited: Vec<(f64, usize)>) -> crate::Result<(Vec<(f64, usize)>, Option<Array3<f64>>)> {
        let (mut bounds, coefs, unstable) = self.bound(net, property, pending)?;
        for (b, inh) in bounds.iter_mut().zip(inherited) {
            if inh.0 > b.0 {
                *b = inh;
            }
        }
        if self.alpha_iters > 0 {
            let hard: Vec<usize> = (0..pending.len())
                .filter(|&r| bounds[r].0 <= 0.0 && unstable[r] <= self.alpha_unstable && !property.terms[pending[r].0].constraints.is_empty())
                .collect();
            for (&r, m) in hard.iter().zip(self.escalate(net, property, pending, &hard)) {
                bounds[r].0 = bounds[r].0.max(m);
            }
        }
        Ok((bounds, coefs))
    }

    /// α-CROWN margins (slopes optimized for the final bound) of the boxes `rows` of `doms`.
    fn escalate(&self, net: &Network, property: &Property, doms: &[(usize, Vec<f64>, Vec<f64>)], rows: &[usize]) -> Vec<f64> {
        use rayon::prelude::*;
        let opts = crate::bound::split::BetaOptions { iterations: self.alpha_iters, lr_alpha: 0.25, lr_beta: 0.0, lr_decay: 0.98 };
        rows.par_iter().map(|&r| {
            let (t, lo, hi) = &doms[r];
            let cs = &property.terms[*t].constraints;
            let spec = Array2::from_shape_fn((cs.len(), property.n_outputs), |(j, q)| cs[j].coef[q]);
            let bounds = crate::bound::split::ReluBounds::of_box(net, lo, hi);
            let goal = Some(cs.iter().map(|c| c.bound.hi).collect());
            let dom = crate::bound::split::SplitDomain { lower: lo, upper: hi, bounds, splits: &[], spec, warm: None, goal, refine_after: None };
            let res = crate::bound::split::beta_crown(net, std::slice::from_ref(&dom), &opts);
            cs.iter().enumerate().map(|(j, c)| res[0].lower[j] - c.bound.hi).fold(f64::NEG_INFINITY, f64::max)
        }).collect()
    }

    /// The inputs worth splitting, best first: the two largest |a_i|·width_i, where a is the input
    /// coefficient vector of the linear bound of the constraint closest to proven (halving input i
    /// raises that bound by about |a_i|·width_i/2: α,β-CROWN's "sb" input branching), and the largest
    /// gradient smear |∂(c·f)/∂x_i|·width_i at the center (which sees what the relaxation hides). Each
    /// candidate's two halves are bounded and the split leaving the least open margin is kept. With
    /// fewer than two candidates (zero scores), the widest input joins them.
    fn split_candidates(&self, property: &Property, dom: &Domain, gradient: ndarray::ArrayView1<f64>) -> Vec<usize> {
        let width = |i: usize| dom.hi[i] - dom.lo[i];
        let d = dom.lo.len();
        let ranked = |a: &[f64]| -> Vec<usize> {
            let score = |i: usize| a[i].abs() * width(i);
            let mut idx: Vec<usize> = (0..d).filter(|&i| score(i) > 0.0).collect();
            idx.sort_by(|&x, &y| score(y).total_cmp(&score(x)).then(x.cmp(&y)));
            idx
        };
        let mut out: Vec<usize> = dom.coef.as_ref().map(|a| ranked(a).into_iter().take(2).collect()).unwrap_or_default();
        if let Some(&i) = ranked(&gradient.to_vec()).first() {
            if !out.contains(&i) {
                out.push(i);
            }
        }
        // and the input split least so far (widest relative to the term's box), so that a dimension
        // the scores never see still gets split
        let (root_lo, root_hi) = property.terms[dom.term].outer_box();
        let relative = |i: usize| if root_hi[i] > root_lo[i] { width(i) / (root_hi[i] - root_lo[i]) } else { 0.0 };
        let widest = (0..d).max_by(|&a, &b| relative(a).total_cmp(&relative(b)).then(b.cmp(&a))).unwrap_or(0);
        if !out.contains(&widest) && width(widest) > 0.0 {
            out.push(widest);
        }
        out
    }
}

impl Verifier for InputSplitBab {
    fn name(&self) -> &'static str {
        "input-split"
    }

    fn verify(&self, net: &Network, property: &Property, budget: &Budget) -> crate::Result<Outcome> {
        let start = Instant::now();
        check_shapes(net, property)?;
        let stopped = |verdict: Verdict, domains: u64, open: Option<Open>| Ok(Outcome { verdict, domains, seconds: start.elapsed().as_secs_f64(), open });
        let done = |verdict: Verdict, domains: u64| stopped(verdict, domains, None);
        // falsification first
        for (t, term) in property.terms.iter().enumerate() {
            let (lo, hi) = term.outer_box();
            if let Some(c) = search_box(net, &property.terms, t, &lo, &hi, &self.attack, t as u64, start + budget.time) {
                return done(Verdict::Violated(c), 0);
            }
        }
        let mut seq = 0u64;
        let mut domains = 0u64;
        let mut heap = BinaryHeap::new();
        let mut pending: Vec<(usize, Vec<f64>, Vec<f64>)> = property.terms.iter().enumerate().map(|(t, term)| {
            let (lo, hi) = term.outer_box();
            (t, lo, hi)
        }).collect();
        // what each pending box inherits from its parent (whose bounds hold on it too): (margin, best)
        let mut inherited: Vec<(f64, usize)> = vec![(f64::NEG_INFINITY, 0); pending.len()];
        // per parent, its candidate splits as index lists into `pending` (a root: one "split", itself)
        let mut groups: Vec<Vec<Vec<usize>>> = (0..pending.len()).map(|r| vec![vec![r]]).collect();
        let mut round = 0u64;
        let (mut attack_time, mut restarts) = (start.elapsed().as_secs_f64(), self.attack.restarts.max(1));
        loop {
            let (bounds, coefs) = self.bound_pending(net, property, &pending, std::mem::take(&mut inherited))?;
            domains += pending.len() as u64;
            // the corners minimizing the unproven boxes' linear bounds: candidate counterexamples
            let corners: Vec<(usize, Array1<f64>)> = coefs
                .as_ref()
                .map(|c| {
                    pending
                        .iter()
                        .enumerate()
                        .filter(|(r, _)| bounds[*r].0 <= 0.0)
                        .flat_map(|(r, (t, lo, hi))| {
                            (0..property.terms[*t].constraints.len()).map(move |j| (*t, (0..lo.len()).map(|i| if c[[r, j, i]] >= 0.0 { lo[i] } else { hi[i] }).collect()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if let Some(cx) = first_counterexample(net, property, &corners) {
                return done(Verdict::Violated(cx), domains);
            }
            // of each parent's candidate splits keep the one whose halves leave the least open margin,
            // and of its halves the unproven ones
            let mut children = std::mem::take(&mut pending).into_iter().map(Some).collect::<Vec<_>>();
            let mut kept = Vec::new();
            for group in groups.drain(..) {
                // the open part of the halves' margins (a proven half counts 0)
                let worse = |cand: &Vec<usize>| cand.iter().map(|&r| bounds[r].0.min(0.0)).sum::<f64>();
                // the first candidate with the least open margin
                let Some(first_best) = (0..group.len()).max_by(|&a, &b| worse(&group[a]).total_cmp(&worse(&group[b])).then(b.cmp(&a))) else { continue };
                for &r in &group[first_best] {
                    let (t, lo, hi) = children[r].take().expect("each child once");
                    let (margin, best) = bounds[r];
                    if margin > 0.0 {
                        continue;
                    }
                    let coef = coefs.as_ref().map(|c| c.slice(ndarray::s![r, best, ..]).to_vec());
                    kept.push(Domain { term: t, lo, hi, margin, best, coef, seq });
                    seq += 1;
                }
            }
            // a quick look for a counterexample at their centers
            let centers: Vec<(usize, Array1<f64>)> = kept.iter().map(|d| (d.term, d.lo.iter().zip(&d.hi).map(|(l, h)| 0.5 * l + 0.5 * h).collect())).collect();
            if let Some(cx) = first_counterexample(net, property, &centers) {
                return done(Verdict::Violated(cx), domains);
            }
            heap.extend(kept);
            if heap.is_empty() {
                return done(Verdict::Holds, domains);
            }
            if start.elapsed() >= budget.time {
                return stopped(Verdict::Timeout, domains, open_part(&heap));
            }
            if heap.len() > budget.max_domains {
                return stopped(Verdict::Unknown(format!("memory: more than {} open sub-domains", budget.max_domains)), domains, open_part(&heap));
            }
            round += 1;
            // falsification during the search, given a tenth of the time so far: fresh restarts over
            // each term's whole box (twice as many each time) and inside the worst boxes
            if attack_time < 0.1 * start.elapsed().as_secs_f64() {
                let t0 = Instant::now();
                restarts = (restarts * 2).min(1 << 14);
                let wide = AttackOptions { restarts, ..self.attack.clone() };
                for (t, term) in property.terms.iter().enumerate() {
                    let (lo, hi) = term.outer_box();
                    if let Some(c) = search_box(net, &property.terms, t, &lo, &hi, &wide, (t as u64) | (round << 24), start + budget.time) {
                        return done(Verdict::Violated(c), domains);
                    }
                }
                let mut worst: Vec<&Domain> = heap.iter().collect();
                worst.sort();
                let local = AttackOptions { restarts: 16, steps: 30, seed: self.attack.seed };
                for dom in worst.iter().rev().take(8) {
                    if let Some(c) = search_box(net, &property.terms, dom.term, &dom.lo, &dom.hi, &local, dom.seq | (1 << 62), start + budget.time) {
                        return done(Verdict::Violated(c), domains);
                    }
                }
                attack_time += t0.elapsed().as_secs_f64();
            }
            // split the worst boxes: two halves for each candidate input; the gradient smear at their
            // centers from one batched pass
            let mut popped = Vec::new();
            let mut boxes = 0;
            while boxes < self.batch.max(2) {
                let Some(dom) = heap.pop() else { break };
                boxes += 2 * dom.lo.len().min(4);
                popped.push(dom);
            }
            let xs = Array2::from_shape_fn((popped.len(), property.n_inputs), |(r, i)| 0.5 * popped[r].lo[i] + 0.5 * popped[r].hi[i]);
            let weights = Array2::from_shape_fn((popped.len(), property.n_outputs), |(r, q)| property.terms[popped[r].term].constraints[popped[r].best].coef[q]);
            let (_, gradient_of) = net.forward_with_tape(xs.view());
            let gradients = gradient_of(weights.view());
            for (dom, g) in popped.into_iter().zip(gradients.rows()) {
                let mut group = Vec::new();
                for i in self.split_candidates(property, &dom, g) {
                    let mid = 0.5 * dom.lo[i] + 0.5 * dom.hi[i];
                    if !(mid > dom.lo[i] && mid < dom.hi[i]) {
                        continue; // this input's interval is two adjacent floats
                    }
                    let (mut lo_hi, mut hi_lo) = (dom.hi.clone(), dom.lo.clone());
                    lo_hi[i] = mid;
                    hi_lo[i] = mid;
                    group.push(vec![pending.len(), pending.len() + 1]);
                    pending.push((dom.term, dom.lo.clone(), lo_hi));
                    pending.push((dom.term, hi_lo, dom.hi.clone()));
                    inherited.extend([(dom.margin, dom.best); 2]);
                }
                if group.is_empty() {
                    // an unproven box that cannot be split further
                    return done(Verdict::Unknown("a sub-box became too small to split".into()), domains);
                }
                groups.push(group);
            }
        }
    }
}

/// CROWN bounds and their input coefficients of the boxes on `device` (rows are independent; the CPU
/// works in tasks of a size fixed by the network, as `BoundMethod::lower_bounds_batch` does, the GPU in
/// tasks sized from its memory), and each box's number of unstable ReLUs.
fn lower_and_coefficients(device: &crate::gpu::Device, net: &Network, regions: &RegionBatch, spec: ndarray::ArrayView3<f64>, inter: crate::bound::Intermediate) -> crate::Result<(Array2<f64>, Array3<f64>, Vec<usize>)> {
    match device {
        crate::gpu::Device::Cpu => match crown_on(&crate::bound::Cpu, &crate::bound::CpuWeights::of(net), net, regions, spec, inter) {
            Ok(v) => Ok(v),
            Err(e) => match e {},
        },
        #[cfg(feature = "cuda")]
        crate::gpu::Device::Cuda(gpu) => {
            use crate::bound::Backend;
            let backend = crate::gpu::backend::GpuBackend { gpu: gpu.clone() };
            Ok(crown_on(&backend, &backend.weights(net)?, net, regions, spec, inter)?)
        }
    }
}

/// [`lower_and_coefficients`] on one backend.
fn crown_on<B: crate::bound::Backend>(backend: &B, weights: &B::Weights, net: &Network, regions: &RegionBatch, spec: ndarray::ArrayView3<f64>, inter: crate::bound::Intermediate) -> Result<(Array2<f64>, Array3<f64>, Vec<usize>), B::Error> {
    let ctx = crate::bound::CrownBatch::on(backend, weights, net, regions.clone(), inter)?;
    let (lb, coef) = ctx.try_lower_bounds_and_coefficients(spec)?;
    let unstable = (0..regions.len()).map(|r| (0..net.layers.len()).filter_map(|i| ctx.relaxation(i)).map(|rx| rx.unstable_idx[r].len()).sum()).collect();
    Ok((lb, coef, unstable))
}

/// An error unless the property's variables match the network.
pub fn check_shapes(net: &Network, property: &Property) -> crate::Result<()> {
    if net.head != crate::net::Head::Logits {
        return Err(crate::Error::Option(format!(
            "the network ends in a {:?}: VNN-LIB's Y would be its probabilities, which rp does not bound; verify the logits model",
            net.head
        )));
    }
    if property.n_inputs != net.input_dim() || property.n_outputs != net.output_dim() {
        return Err(crate::Error::Option(format!(
            "the property declares {} inputs and {} outputs but the network has {} and {}",
            property.n_inputs,
            property.n_outputs,
            net.input_dim(),
            net.output_dim()
        )));
    }
    Ok(())
}

/// The open part of the queue (worst first at its top).
fn open_part(heap: &BinaryHeap<Domain>) -> Option<Open> {
    heap.peek().map(|d| Open { domains: heap.len(), worst_margin: d.margin })
}
