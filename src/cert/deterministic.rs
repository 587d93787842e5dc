//! Deterministic certification by bound propagation and a batched radius search.
//!
//! Guarantee: for each row with answer c = decide(f(x₀)) the reported radius r satisfies: every x with
//! ‖x − x₀‖ₚ ≤ r (inside the domain box, when one is given) has decide(f(x)) = c — for the exact
//! real-valued network (RADIUS-1 with IBP-1 / CROWN-2 / ALPHA-1 and FP-1…4).
use super::{estimate, Batch, Certificate, Certifier, Extent, Outcome, Radius, RadiusSearch, SearchStart};
use crate::bound::{BoundMethod, RegionBatch};
use crate::net::Network;
use crate::progress::Progress;
use crate::spec::{Decision, DomainBox, Norm};
use ndarray::{Array1, Array2, Axis};
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// CROWN's certified radius of one row x₀ with answer `class` (RADIUS-1, searched from `eps_start`): a
/// proven floor of the distance of every counterexample, used by the exact methods.
pub fn crown_floor(net: &Network, decision: Decision, norm: Norm, domain: Option<&DomainBox>, x0: ndarray::ArrayView1<f64>, class: usize, eps_start: f64) -> f64 {
    let spec = decision.margin_spec(class, net.output_dim());
    let crown = BoundMethod::crown();
    let search = RadiusSearch { eps_start, ..Default::default() };
    let at0 = net.forward(x0.reborrow());
    search
        .run_margin(least(&spec.dot(&at0)), |eps| {
            let region = crate::spec::Region { center: x0.reborrow(), eps, norm, domain };
            least(&crown.lower_bounds(net, &region, &spec))
        })
        .certified
}

/// A sound certifier: the largest ε (to the search tolerance) at which `method` proves every margin of
/// the answer positive. All rows search in lockstep: each round bounds every unfinished row at its own ε
/// in one batched call.
pub struct BoundCertifier {
    pub net: Network,
    pub method: BoundMethod,
    pub norm: Norm,
    pub decision: Decision,
    pub domain: Option<DomainBox>,
    pub search: RadiusSearch,
}

impl BoundCertifier {
    /// For each row b: the least proven lower bound of the margins of answer `classes[b]` over the
    /// ε_b-ball around `centers[b]` (> 0: the ball provably keeps the answer), and the radius the
    /// bound's own linear bounds prove (RADIUS-4).
    pub fn certifies(&self, centers: ndarray::ArrayView2<f64>, classes: &[usize], eps: &Array1<f64>) -> Vec<Check> {
        let check = MarginCheck { outputs: self.net.output_dim(), decision: self.decision, norm: self.norm, domain: self.domain.as_ref() };
        match check.least(centers, classes, eps, |regions, spec| Ok::<_, std::convert::Infallible>(self.method.lower_bounds_and_floors_batch(&self.net, regions, spec))) {
            Ok(v) => v,
            Err(e) => match e {},
        }
    }

    fn check_batch(&self, batch: &Batch<'_>) -> crate::Result<()> {
        self.search.validate()?;
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        Ok(())
    }
}

impl Certifier for BoundCertifier {
    fn method(&self) -> &'static str {
        self.method.name()
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        self.check_batch(&batch)?;
        lockstep_search(&self.net, self.decision, self.norm, &self.search, batch, progress, |c, k, e| self.certifies(c, k, e))
    }
}

/// One row's check at its ε: the least proven lower bound of the answer's margins over the ε-ball
/// (> 0: certified; it steers the root finder), and the largest ε' ≤ ε at which the check's own final
/// linear bounds prove every margin positive (RADIUS-4; 0 where they prove nothing).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Check {
    pub margin: f64,
    pub floor: f64,
}

/// One round's check of the deterministic certifiers (CPU and GPU): the answers' margin specifications
/// over each row's ε-ball, bounded by any bound method.
pub struct MarginCheck<'a> {
    pub outputs: usize,
    pub decision: Decision,
    pub norm: Norm,
    pub domain: Option<&'a DomainBox>,
}

impl MarginCheck<'_> {
    /// For each row b: the least lower bound `bound` proves for the margins of answer `classes[b]` over
    /// the ε_b-ball around `centers[b]` (> 0: the ball provably keeps the answer), with the floor
    /// `bound` gives the row (RADIUS-4: an ε' ≤ ε_b its linear bounds prove every margin positive at;
    /// 0 for none).
    pub fn least<E>(&self, centers: ndarray::ArrayView2<f64>, classes: &[usize], eps: &Array1<f64>, bound: impl FnOnce(&RegionBatch, ndarray::ArrayView3<f64>) -> Result<(Array2<f64>, Array1<f64>), E>) -> Result<Vec<Check>, E> {
        let k = self.outputs;
        let by_class: Vec<Array2<f64>> = (0..k).map(|c| self.decision.margin_spec(c, k)).collect();
        let specs = ndarray::Array3::from_shape_fn((classes.len(), k - 1, k), |(b, r, o)| by_class[classes[b]][[r, o]]);
        let regions = RegionBatch { centers: centers.reborrow(), eps: eps.view(), norm: self.norm, domain: self.domain, boxes: None };
        let (lb, floors) = bound(&regions, specs.view())?;
        Ok(lb.outer_iter().zip(floors).map(|(m, floor)| Check { margin: least(m), floor }).collect())
    }
}

/// The least of some margins' lower bounds (a NaN, from an overflowed bound, as −∞: never certified).
pub fn least<'a>(margins: impl IntoIterator<Item = &'a f64>) -> f64 {
    margins.into_iter().fold(f64::INFINITY, |m, &v| if v.is_nan() { f64::NEG_INFINITY } else { m.min(v) })
}

/// The batched radius search of every deterministic certifier (CPU or GPU): each row's answer is the
/// network's, and `check(centers, classes, eps)` gives for each row the least proven lower bound of
/// that answer's margins over its ε-ball (> 0: certified), which steers the root finder. Rows whose
/// answer is a tie get radius 0. The reported radius is a checked ε (RADIUS-1) or a failed check's floor
/// (RADIUS-4), whichever is larger.
pub fn lockstep_search(
    net: &Network,
    decision: Decision,
    norm: Norm,
    search: &RadiusSearch,
    batch: Batch<'_>,
    progress: &dyn Progress,
    check: impl Fn(ndarray::ArrayView2<f64>, &[usize], &Array1<f64>) -> Vec<Check>,
) -> crate::Result<Vec<Certificate>> {
    let n = batch.inputs.nrows();
    let (outputs, linear, estimate) = outputs_and_starts(net, decision, norm, batch.inputs, search);
    batch.check_finite(outputs.view())?;
    let decided = batch.decide(outputs.view(), decision)?;
    // each row's own margin at ε = 0 (plain floating point: it only steers the first growth)
    let k = net.output_dim();
    let mut states: Vec<_> = decided.iter().enumerate().map(|(i, &(c, _))| search.start_guessed(least(&decision.margin_spec(c, k).dot(&outputs.row(i))), linear[i], estimate[i])).collect();
    let mut time = vec![Duration::ZERO; n];
    for (i, &(_, unique)) in decided.iter().enumerate() {
        if !unique {
            states[i].done = true; // a tie: the answer changes arbitrarily close to x₀
            progress.advance(1);
        }
    }
    loop {
        let active: Vec<usize> = (0..n).filter(|&i| !states[i].done).collect();
        if active.is_empty() {
            break;
        }
        let start = Instant::now();
        let centers = batch.inputs.select(Axis(0), &active);
        let classes: Vec<usize> = active.iter().map(|&i| decided[i].0).collect();
        let eps: Array1<f64> = active.iter().map(|&i| states[i].eps).collect();
        let ok = check(centers.view(), &classes, &eps);
        let share = start.elapsed() / active.len() as u32;
        for (&i, c) in active.iter().zip(ok) {
            search.step_floor(&mut states[i], c.margin, c.floor);
            time[i] += share;
            if states[i].done {
                progress.advance(1);
            }
        }
    }
    Ok((0..n)
        .map(|i| Certificate {
            row: batch.row_ids[i],
            outcome: Outcome::Answer { class: decided[i].0, radius: Radius::Sound(states[i].certified()) },
            extent: Extent::Ball(norm),
            time: time[i],
        })
        .collect())
}

/// The network's outputs at every row and what each row's search starts from (RADIUS-3): unless the
/// start is `Fixed`, the distance from x₀ to its answer's decision boundary of the network linearized at
/// x₀ (the least of the answer's margins over the dual norm of its input gradient; plain floating point;
/// NaN where that is not a positive number); under `Estimated`, where [`estimate::affordable`], the
/// estimated radius ([`estimate::relaxed_radii`]; NaN elsewhere). Computed over fixed chunks of rows in
/// parallel (each row's values do not depend on the chunking or the thread count).
pub fn outputs_and_starts(net: &Network, decision: Decision, norm: Norm, inputs: ndarray::ArrayView2<f64>, search: &RadiusSearch) -> (Array2<f64>, Vec<f64>, Vec<f64>) {
    const CHUNK: usize = 512;
    let k = net.output_dim();
    let by_class: Vec<Array2<f64>> = (0..k).map(|c| decision.margin_spec(c, k)).collect();
    let estimated = search.start == SearchStart::Estimated && estimate::affordable(net);
    let chunk = |x: ndarray::ArrayView2<f64>| -> (Array2<f64>, Vec<f64>, Vec<f64>) {
        let none = || vec![f64::NAN; x.nrows()];
        if search.start == SearchStart::Fixed {
            return (net.forward_batch(x), none(), none());
        }
        let (outputs, backward) = net.forward_with_tape(x);
        let classes: Vec<usize> = outputs.outer_iter().map(|o| decision.decide(o).0).collect();
        let mut best = vec![f64::INFINITY; x.nrows()];
        for j in 0..k - 1 {
            let grads = backward(Array2::from_shape_fn((x.nrows(), k), |(b, o)| by_class[classes[b]][[j, o]]).view());
            for (b, g) in grads.outer_iter().enumerate() {
                best[b] = best[b].min(by_class[classes[b]].row(j).dot(&outputs.row(b)) / estimate::dual_norm(norm, g));
            }
        }
        let linear: Vec<f64> = best.into_iter().map(|r| if r.is_finite() && r > 0.0 { r } else { f64::NAN }).collect();
        let estimates = if estimated { estimate::relaxed_radii(net, decision, norm, x, &classes, &linear, search) } else { none() };
        (outputs, linear, estimates)
    };
    let parts: Vec<_> = inputs.axis_chunks_iter(Axis(0), CHUNK).collect::<Vec<_>>().into_par_iter().map(chunk).collect();
    if parts.is_empty() {
        return (Array2::zeros((0, k)), Vec::new(), Vec::new());
    }
    let outputs = ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.0.view()).collect::<Vec<_>>()).expect("rows of k outputs");
    let linear = parts.iter().flat_map(|p| p.1.iter().copied()).collect();
    (outputs, linear, parts.into_iter().flat_map(|p| p.2).collect())
}
