//! Exact radii by input splitting (EXACT-BAB-5 in `proofs/EXACT.md`), for low-dimensional inputs
//! (ACAS Xu: 5): every sub-domain is a box inside the bounding box of the current witness's ball. CROWN
//! bounds each competitor's margin over the box from below by a linear function aᵀx + c (its
//! intermediate bounds computed over the box itself, so they tighten as boxes shrink), and
//! [`halfspace::nearest`] turns it into a proven lower bound of the distance of every point of the box
//! where that competitor can win. The box with the least bound is split in two; the estimated nearest
//! point of each new box, pushed just across the boundary, is a witness when the rigorous forward pass
//! confirms it. Once a box lies in one linear piece of the network, CROWN's bound there is the network
//! itself and its nearest point a real point of the network, so the ends meet.
use super::{halfspace, pieces};
use super::{ExactCertifier, Search};
use crate::bound::{BoxBatch, BoxView, CrownBatch, RegionBatch};
use crate::net::Layer;
use ndarray::{Array1, Array2, Array3, ArrayView1};
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Instant;

/// Boxes split per round (their children are bounded in one CROWN batch).
const BATCH: usize = 16;
/// Candidate inputs per split (each candidate's halves are bounded, the best pair kept).
const CANDIDATES: usize = 3;

/// One open box: its proven lower bound per competitor and overall, and the input coefficients of
/// the linear bound of the competitor that attains it (for choosing the split).
struct BoxDomain {
    lo: Vec<f64>,
    hi: Vec<f64>,
    flips: Vec<f64>,
    lower: f64,
    coef: Vec<f64>,
    seq: u64,
    /// Its CROWN bounds of every ReLU's input (its children's start from them).
    relu: Arc<ReluBoxes>,
}

/// Sound bounds (lower, upper) of each ReLU layer's input over one box (None for other layers).
type ReluBoxes = Vec<Option<(Array1<f64>, Array1<f64>)>>;

/// A box to bound: its ends, its parent's per-competitor bounds and ReLU bounds (valid on it too).
struct Kid {
    lo: Vec<f64>,
    hi: Vec<f64>,
    flips: Vec<f64>,
    relu: Option<Arc<ReluBoxes>>,
}

impl PartialEq for BoxDomain {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o).is_eq()
    }
}
impl Eq for BoxDomain {}
impl PartialOrd for BoxDomain {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for BoxDomain {
    /// The heap pops the least lower bound first (the oldest among equals).
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.lower.total_cmp(&self.lower).then(o.seq.cmp(&self.seq))
    }
}

impl ExactCertifier {
    /// The bounding box of the `radius`-ball around x₀ (rounded outward) ∩ the domain.
    fn ball_box(&self, x0: ArrayView1<f64>, radius: f64) -> (Vec<f64>, Vec<f64>) {
        let n = x0.len();
        let mut lo: Vec<f64> = (0..n).map(|i| crate::rigor::down(x0[i] - radius)).collect();
        let mut hi: Vec<f64> = (0..n).map(|i| crate::rigor::up(x0[i] + radius)).collect();
        if let Some(d) = &self.domain {
            for i in 0..n {
                lo[i] = lo[i].max(d.lower[i]);
                hi[i] = hi[i].min(d.upper[i]);
            }
        }
        (lo, hi)
    }

    /// Bounds the boxes `kids` (CROWN starting from their parent's ReLU bounds): each competitor's bound is
    /// the larger of the parent's and the box's own (EXACT-BAB-5). Returns the bounded boxes and the
    /// best witness distance their estimated nearest points gave.
    fn bound_boxes(&self, x0: ArrayView1<f64>, class: usize, kids: Vec<Kid>, floor: f64, upper: f64, seq: &mut u64) -> (Vec<BoxDomain>, f64) {
        let (n, d, k) = (kids.len(), x0.len(), self.net.output_dim());
        let lower = Array2::from_shape_fn((n, d), |(r, i)| kids[r].lo[i]);
        let upper_box = Array2::from_shape_fn((n, d), |(r, i)| kids[r].hi[i]);
        let centers = (&lower + &upper_box) * 0.5;
        let zeros = Array1::zeros(n);
        let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper_box.view() }, centers.view(), zeros.view());
        let spec = self.decision.margin_spec(class, k);
        let spec3: Array3<f64> = spec.broadcast((n, k - 1, k)).expect("broadcast").to_owned();
        // the parents' ReLU bounds hold on their children: CROWN refines only what they leave unstable
        let dims = self.net.boundary_dims().expect("validated");
        let given: Vec<Option<BoxBatch>> = (0..self.net.layers.len())
            .map(|i| {
                matches!(self.net.layers[i], Layer::Relu).then(|| {
                    let mut b = BoxBatch { lower: Array2::from_elem((n, dims[i]), f64::NEG_INFINITY), upper: Array2::from_elem((n, dims[i]), f64::INFINITY) };
                    for (r, kid) in kids.iter().enumerate() {
                        if let Some((l, u)) = kid.relu.as_ref().and_then(|p| p[i].as_ref()) {
                            b.lower.row_mut(r).assign(l);
                            b.upper.row_mut(r).assign(u);
                        }
                    }
                    b
                })
            })
            .collect();
        let ctx = CrownBatch::with_relu_bounds_refined(&self.net, regions, &given, &vec![Some(0); n]);
        let (coef, constant) = ctx.linear_bounds(spec3.view());
        // the unstable neurons of each box: (layer, index), up to two
        let unstable: Vec<Vec<(usize, usize)>> = (0..n)
            .map(|r| (0..self.net.layers.len()).filter_map(|i| ctx.relaxation(i).map(|rx| (i, rx))).flat_map(|(i, rx)| rx.unstable_idx[r].iter().take(2).map(move |&j| (i, j))).take(2).collect())
            .collect();
        let xs = x0.as_slice().expect("contiguous row");
        // each competitor's bound: the parent's or the box's own, and the box's estimated nearest point
        let mut flips: Vec<Vec<f64>> = Vec::with_capacity(n);
        let mut points: Vec<Vec<Option<Vec<f64>>>> = Vec::with_capacity(n);
        for (r, kid) in kids.iter().enumerate() {
            let (mut f, mut p) = (kid.flips.clone(), vec![None; k - 1]);
            for j in 0..k - 1 {
                let a = coef.slice(ndarray::s![r, j, ..]);
                let near = halfspace::nearest(self.norm, xs, &kid.lo, &kid.hi, a.as_slice().expect("contiguous"), constant[[r, j]]);
                f[j] = f[j].max(near.lower);
                p[j] = near.point;
            }
            flips.push(f);
            points.push(p);
        }
        // boxes with a single unstable ReLU that may matter: bounded piece by piece (EXACT-BAB-6)
        let open = |v: f64| v < upper * (1.0 - self.options.exact_rel_tol);
        let single: Vec<usize> = (0..n).filter(|&r| unstable[r].len() == 1 && flips[r].iter().any(|&v| open(v))).collect();
        let one: Vec<pieces::OneUnstable> = single.iter().map(|&r| pieces::OneUnstable { lo: &kids[r].lo, hi: &kids[r].hi, row: r, neuron: unstable[r][0], wanted: flips[r].iter().map(|&v| open(v)).collect() }).collect();
        for (&r, (f, p)) in single.iter().zip(self.bound_pieces(x0, class, &ctx, &one)) {
            for j in 0..k - 1 {
                if f[j] > flips[r][j] {
                    flips[r][j] = f[j];
                    points[r][j] = p[j].clone();
                }
            }
        }
        drop(one);
        let mut best = f64::INFINITY;
        let mut out = Vec::with_capacity(n);
        for (r, Kid { lo, hi, .. }) in kids.into_iter().enumerate() {
            let relu = Arc::new((0..self.net.layers.len()).map(|i| matches!(self.net.layers[i], Layer::Relu).then(|| {
                let bx = ctx.boundary_box(i);
                (bx.lower.row(r).to_owned(), bx.upper.row(r).to_owned())
            })).collect());
            let f = std::mem::take(&mut flips[r]);
            let w = (0..k - 1).min_by(|&a, &b| f[a].total_cmp(&f[b]).then(a.cmp(&b))).expect("at least one competitor");
            if f[w] < upper.min(best) {
                if let Some(p) = &points[r][w] {
                    if let Some(dist) = self.witness(x0, p, class) {
                        best = best.min(dist);
                    }
                }
            }
            let lower = f.iter().fold(f64::INFINITY, |m, v| m.min(*v)).max(floor);
            out.push(BoxDomain { relu, lo, hi, lower, coef: coef.slice(ndarray::s![r, w, ..]).to_vec(), flips: f, seq: *seq });
            *seq += 1;
        }
        (out, best)
    }

    /// The inputs worth splitting `b` along, best first: the two largest |aᵢ|·widthᵢ of its worst
    /// competitor's linear bound (halving input i raises that bound by about |aᵢ|·widthᵢ/2: α,β-CROWN's
    /// "sb" input branching) and the widest input relative to the root box (so that no input is never
    /// split). Empty when no input can be halved.
    fn split_inputs(b: &BoxDomain, root_width: &[f64]) -> Vec<usize> {
        let splittable = |i: usize| {
            let mid = 0.5 * b.lo[i] + 0.5 * b.hi[i];
            mid > b.lo[i] && mid < b.hi[i]
        };
        let d = b.lo.len();
        let score = |i: usize| b.coef[i].abs() * (b.hi[i] - b.lo[i]);
        let mut out: Vec<usize> = (0..d).filter(|&i| splittable(i) && score(i) > 0.0).collect();
        out.sort_by(|&x, &y| score(y).total_cmp(&score(x)).then(x.cmp(&y)));
        out.truncate(CANDIDATES - 1);
        let rel = |i: usize| if root_width[i] > 0.0 { (b.hi[i] - b.lo[i]) / root_width[i] } else { 0.0 };
        if let Some(w) = (0..d).filter(|&i| splittable(i)).max_by(|&x, &y| rel(x).total_cmp(&rel(y)).then(y.cmp(&x))) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// The branch and bound over input boxes for x₀ (answer `class`): a bracket with both ends proven.
    pub(super) fn search_boxes(&self, x0: ArrayView1<f64>, class: usize, mut upper: f64, floor: f64, deadline: Instant) -> Search {
        let tol = self.options.exact_rel_tol;
        let k = self.net.output_dim();
        let ball = if upper.is_finite() { upper } else { self.options.eps_max };
        let (root_lo, root_hi) = self.ball_box(x0, ball);
        let root_width: Vec<f64> = root_lo.iter().zip(&root_hi).map(|(l, h)| h - l).collect();
        let mut seq = 0u64;
        let (roots, w) = self.bound_boxes(x0, class, vec![Kid { lo: root_lo, hi: root_hi, flips: vec![floor; k - 1], relu: None }], floor, upper, &mut seq);
        upper = upper.min(w);
        let mut domains = 1u64;
        let mut closed = f64::INFINITY;
        let mut heap: BinaryHeap<BoxDomain> = BinaryHeap::new();
        let keep = |b: BoxDomain, heap: &mut BinaryHeap<BoxDomain>, closed: &mut f64, upper: f64| {
            if b.lower >= upper * (1.0 - tol) {
                *closed = closed.min(b.lower);
            } else {
                heap.push(b);
            }
        };
        for b in roots {
            keep(b, &mut heap, &mut closed, upper);
        }
        loop {
            let open_lower = heap.peek().map_or(f64::INFINITY, |b| b.lower);
            if heap.is_empty() || open_lower >= upper * (1.0 - tol) || Instant::now() >= deadline || heap.len() > self.options.max_domains {
                return Search { lower: open_lower.min(closed).min(ball).min(upper), upper, domains };
            }
            // the boxes to split, clipped to the current witness's ball's box (points outside it are
            // farther than the witness)
            let (ball_lo, ball_hi) = self.ball_box(x0, upper.min(ball));
            // each popped box's candidate splits (pairs of children, as indices into `kids`)
            let mut kids = Vec::new();
            let mut groups: Vec<Vec<usize>> = Vec::new();
            while kids.len() < 2 * BATCH {
                let Some(mut b) = heap.pop() else { break };
                if b.lower >= upper * (1.0 - tol) {
                    closed = closed.min(b.lower);
                    continue;
                }
                let mut empty = false;
                for i in 0..b.lo.len() {
                    b.lo[i] = b.lo[i].max(ball_lo[i]);
                    b.hi[i] = b.hi[i].min(ball_hi[i]);
                    empty |= b.lo[i] > b.hi[i];
                }
                if empty {
                    continue;
                }
                let cands = Self::split_inputs(&b, &root_width);
                if cands.is_empty() {
                    // two adjacent floats in every input: its bound stays
                    closed = closed.min(b.lower);
                    continue;
                }
                let mut group = Vec::new();
                for i in cands {
                    let mid = 0.5 * b.lo[i] + 0.5 * b.hi[i];
                    let (mut left_hi, mut right_lo) = (b.hi.clone(), b.lo.clone());
                    left_hi[i] = mid;
                    right_lo[i] = mid;
                    group.push(kids.len());
                    kids.push(Kid { lo: b.lo.clone(), hi: left_hi, flips: b.flips.clone(), relu: Some(b.relu.clone()) });
                    kids.push(Kid { lo: right_lo, hi: b.hi.clone(), flips: b.flips.clone(), relu: Some(b.relu.clone()) });
                }
                groups.push(group);
            }
            if kids.is_empty() {
                continue;
            }
            domains += kids.len() as u64;
            let (bounded, w) = self.bound_boxes(x0, class, kids, floor, upper, &mut seq);
            upper = upper.min(w);
            // of each box's candidates, the split whose worse child's bound is highest (then the sum)
            let mut slots: Vec<Option<BoxDomain>> = bounded.into_iter().map(Some).collect();
            let mut chosen = Vec::new();
            for group in groups {
                let score = |&f: &usize| {
                    let (a, b) = (slots[f].as_ref().expect("bounded").lower, slots[f + 1].as_ref().expect("bounded").lower);
                    (a.min(b).min(upper), a.min(upper) + b.min(upper))
                };
                let best = group.iter().copied().max_by(|x, y| {
                    let (sx, sy) = (score(x), score(y));
                    sx.0.total_cmp(&sy.0).then(sx.1.total_cmp(&sy.1)).then(y.cmp(x))
                });
                let f = best.expect("a candidate");
                chosen.push(slots[f].take().expect("once"));
                chosen.push(slots[f + 1].take().expect("once"));
            }
            let bounded = chosen;
            for b in bounded {
                keep(b, &mut heap, &mut closed, upper);
            }
        }
    }
}
