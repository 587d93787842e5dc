//! Line analysis (LINE-1, LINE-2 in `proofs/EXACT.md`): along x(u) = x₀ with input k set to u, a ReLU
//! network is piecewise affine in u. The breakpoints are enumerated layer by layer (every zero crossing
//! of every pre-activation on every piece), then the answer's changes inside each final piece (crossings
//! of two logits). This gives the label of every u-interval of the attribute's range in floating point
//! (the breakpoints are roots −b/a of affine functions computed in f64).
//!
//! The floating-point pieces are then *proven* (LINE-2): the sound bound propagation (CROWN) on the
//! network composed with u ↦ x(u) proves each piece's class on a closed interval — shrunk by a tiny
//! relative amount where the class changes, bisected where CROWN is loose — so that every radius
//! derived from a [`ProvenLine`] is proven at both ends: the lower end is covered by proven intervals of
//! the answer's class, the upper end lies in a proven interval of another class.
use crate::bound::{BoundMethod, RegionBatch};
use crate::cert::{Batch, Bracket, Certificate, Certifier, Extent, Radius};
use crate::net::{Affine, Layer, Network};
use crate::progress::Progress;
use crate::rigor::{down, up};
use crate::spec::{Decision, Norm};
use ndarray::{Array1, Array2, ArrayView1};

/// A maximal interval of the line parameter on which the answer is constant.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub t_lo: f64,
    pub t_hi: f64,
    pub class: usize,
}

/// h(t) = offset + slope·t on [t_lo, t_hi].
#[derive(Clone, Debug)]
struct Segment {
    t_lo: f64,
    t_hi: f64,
    slope: Array1<f64>,
    offset: Array1<f64>,
}

impl Segment {
    fn at(&self, t: f64) -> Array1<f64> {
        &self.offset + &(&self.slope * t)
    }
}

/// The answer of the network along x₀ + t·e_k for t ∈ [t_lo, t_hi] (finite), as maximal pieces, in
/// floating point.
pub fn line_pieces(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, t_lo: f64, t_hi: f64) -> Vec<Piece> {
    assert!(t_lo.is_finite() && t_hi.is_finite() && t_lo <= t_hi && k < x0.len(), "line_pieces: bad range or attribute");
    merge_pieces(classified(net, decision, x0.to_owned(), k, t_lo, t_hi))
}

/// The fine pieces along the line with input k set to u ∈ [u_lo, u_hi] (absolute coordinate): one per
/// affine region of the network and constant class, not merged.
fn fine_pieces_abs(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, u_lo: f64, u_hi: f64) -> Vec<Piece> {
    let mut offset = x0.to_owned();
    offset[k] = 0.0;
    classified(net, decision, offset, k, u_lo, u_hi)
}

/// The affine regions of the network along offset + t·e_k, t ∈ [t_lo, t_hi], each split where two
/// logits cross, with the class of each part (at its midpoint).
fn classified(net: &Network, decision: Decision, offset: Array1<f64>, k: usize, t_lo: f64, t_hi: f64) -> Vec<Piece> {
    let mut slope = Array1::zeros(offset.len());
    slope[k] = 1.0;
    let mut segs = vec![Segment { t_lo, t_hi, slope, offset }];
    for layer in &net.layers {
        segs = match layer {
            Layer::Affine(a) => segs
                .into_iter()
                .map(|s| Segment { t_lo: s.t_lo, t_hi: s.t_hi, slope: a.weight.dot(&s.slope), offset: a.weight.dot(&s.offset) + &a.bias })
                .collect(),
            Layer::Elementwise(e) => segs
                .into_iter()
                .map(|s| {
                    let (scale, shift) = e.as_scale_shift();
                    Segment { t_lo: s.t_lo, t_hi: s.t_hi, slope: &s.slope * &scale, offset: &(&s.offset * &scale) + &shift }
                })
                .collect(),
            Layer::Relu => segs.into_iter().flat_map(relu_split).collect(),
            Layer::Reshape { .. } => segs,
        };
    }
    let mut pieces: Vec<Piece> = Vec::new();
    for s in segs {
        // answer changes inside an affine piece happen only where two logits cross
        let mut cuts = vec![s.t_lo, s.t_hi];
        let n = s.slope.len();
        for i in 0..n {
            for j in i + 1..n {
                let (da, db) = (s.slope[i] - s.slope[j], s.offset[i] - s.offset[j]);
                if da != 0.0 {
                    let t = -db / da;
                    if t > s.t_lo && t < s.t_hi {
                        cuts.push(t);
                    }
                }
            }
        }
        cuts.sort_by(|a, b| a.total_cmp(b));
        cuts.dedup();
        if cuts.len() == 1 {
            pieces.push(Piece { t_lo: s.t_lo, t_hi: s.t_hi, class: decision.decide(s.at(s.t_lo).view()).0 });
        }
        for w in cuts.windows(2) {
            pieces.push(Piece { t_lo: w[0], t_hi: w[1], class: decision.decide(s.at(0.5 * (w[0] + w[1])).view()).0 });
        }
    }
    pieces
}

/// Consecutive pieces of one class joined.
fn merge_pieces(fine: Vec<Piece>) -> Vec<Piece> {
    let mut pieces: Vec<Piece> = Vec::new();
    for p in fine {
        match pieces.last_mut() {
            Some(q) if q.class == p.class => q.t_hi = p.t_hi,
            _ => pieces.push(p),
        }
    }
    pieces
}

/// Splits a segment at every zero crossing of its pre-activations and applies the ReLU on each part.
fn relu_split(s: Segment) -> Vec<Segment> {
    let mut cuts = vec![s.t_lo, s.t_hi];
    for (a, b) in s.slope.iter().zip(&s.offset) {
        if *a != 0.0 {
            let t = -b / a;
            if t > s.t_lo && t < s.t_hi {
                cuts.push(t);
            }
        }
    }
    cuts.sort_by(|a, b| a.total_cmp(b));
    cuts.dedup();
    let parts: Vec<(f64, f64)> = if cuts.len() == 1 { vec![(s.t_lo, s.t_hi)] } else { cuts.windows(2).map(|w| (w[0], w[1])).collect() };
    parts
        .into_iter()
        .map(|(lo, hi)| {
            let mid = 0.5 * (lo + hi);
            let active = s.at(mid).mapv(|v| (v > 0.0) as u8 as f64);
            Segment { t_lo: lo, t_hi: hi, slope: &s.slope * &active, offset: &s.offset * &active }
        })
        .collect()
}

/// The floating-point 1-D radius at t = 0: the distance from 0 to the nearest t where the answer
/// differs from `class` (+∞ if it never does in the range). Not proven; see [`ProvenLine`].
pub fn radius_at_zero(pieces: &[Piece], class: usize) -> f64 {
    pieces
        .iter()
        .filter(|p| p.class != class)
        .map(|p| if p.t_hi < 0.0 { -p.t_hi } else if p.t_lo > 0.0 { p.t_lo } else { 0.0 })
        .fold(f64::INFINITY, f64::min)
}

/// Closed intervals of the attribute (absolute model-input values u of input k, the other inputs
/// those of x₀) on which the answer of the exact network is proven constant (LINE-2), sorted and
/// disjoint except for shared ends. Points not covered are unproven.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvenLine {
    pub pieces: Vec<Piece>,
    /// The range [lo, hi] the line was analysed on.
    pub range: (f64, f64),
}

/// Relative shrinks tried at a class change, in units of the range's scale.
const SHRINKS: [f64; 4] = [1e-13, 1e-11, 1e-9, 1e-7];
/// How often a piece CROWN cannot prove is halved before its points are left unproven.
const MAX_BISECTIONS: usize = 12;

impl ProvenLine {
    /// Proves the floating-point pieces of the line through x₀ along input k on [lo, hi] (those
    /// selected by `keep`, by index into the fine pieces; all when `keep` is None).
    fn prove(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, (lo, hi): (f64, f64), keep: Option<&dyn Fn(&[Piece]) -> (usize, usize)>) -> Self {
        let fine = fine_pieces_abs(net, decision, x0, k, lo, hi);
        let (first, last) = keep.map_or((0, fine.len()), |f| f(&fine));
        let scale = lo.abs().max(hi.abs()).max(hi - lo).max(f64::MIN_POSITIVE);
        let line_net = along(net, x0, k);
        let mut proven: Vec<Piece> = Vec::new();
        // (piece, shrink index at its low end, at its high end): a class change at an end is shrunk
        let mut todo: Vec<(Piece, Option<usize>, Option<usize>, usize)> = (first..last)
            .map(|i| {
                let p = fine[i].clone();
                let lo_change = i > 0 && fine[i - 1].class != p.class;
                let hi_change = i + 1 < fine.len() && fine[i + 1].class != p.class;
                (p, lo_change.then_some(0), hi_change.then_some(0), 0)
            })
            .collect();
        while !todo.is_empty() {
            let boxes: Vec<(f64, f64)> = todo
                .iter()
                .map(|(p, sl, sh, _)| (sl.map_or(p.t_lo, |s| p.t_lo + SHRINKS[s] * scale), sh.map_or(p.t_hi, |s| p.t_hi - SHRINKS[s] * scale)))
                .collect();
            let ok = prove_intervals(&line_net, decision, &boxes, &todo.iter().map(|t| t.0.class).collect::<Vec<_>>());
            let mut next = Vec::new();
            for ((p, sl, sh, depth), ((a, b), ok)) in todo.into_iter().zip(boxes.into_iter().zip(ok)) {
                if ok {
                    proven.push(Piece { t_lo: a, t_hi: b, class: p.class });
                    continue;
                }
                if a >= b {
                    continue; // shrunk away: a piece too short to prove
                }
                // a larger shrink first, then halves (each half keeps the shrink of its outer end)
                let more = |s: Option<usize>| s.filter(|&s| s + 1 < SHRINKS.len()).map(|s| s + 1);
                if (sl.is_some() || sh.is_some()) && (more(sl).is_some() || more(sh).is_some()) && depth == 0 {
                    next.push((p, more(sl).or(sl), more(sh).or(sh), 0));
                } else if depth < MAX_BISECTIONS {
                    let mid = 0.5 * (p.t_lo + p.t_hi);
                    if mid > p.t_lo && mid < p.t_hi {
                        next.push((Piece { t_lo: p.t_lo, t_hi: mid, class: p.class }, sl, None, depth + 1));
                        next.push((Piece { t_lo: mid, t_hi: p.t_hi, class: p.class }, None, sh, depth + 1));
                    }
                }
            }
            todo = next;
        }
        proven.sort_by(|a, b| a.t_lo.total_cmp(&b.t_lo));
        ProvenLine { pieces: proven, range: (lo, hi) }
    }

    /// Proves every piece of the line through x₀ along input k on [lo, hi].
    pub fn prove_all(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, range: (f64, f64)) -> Self {
        Self::prove(net, decision, x0, k, range, None)
    }

    /// Proves the pieces a radius at u = x₀[k] needs: from the nearest piece of another class on the
    /// left to the nearest one on the right (inclusive).
    pub fn prove_around(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, range: (f64, f64), class: usize) -> Self {
        let u = x0[k];
        let pick = move |fine: &[Piece]| {
            let here = fine.iter().position(|p| p.t_lo <= u && u <= p.t_hi).unwrap_or(0);
            let left = (0..=here).rev().find(|&i| fine[i].class != class).unwrap_or(0);
            let right = (here..fine.len()).find(|&i| fine[i].class != class).map_or(fine.len(), |i| i + 1);
            (left, right)
        };
        Self::prove(net, decision, x0, k, range, Some(&pick))
    }

    /// The proven class at u, if u lies in a proven interval.
    pub fn class_at(&self, u: f64) -> Option<usize> {
        self.pieces.iter().find(|p| p.t_lo <= u && u <= p.t_hi).map(|p| p.class)
    }

    /// What is proven of the 1-D radius at u for answer `class` (LINE-2): the lower end is the distance
    /// to the nearest point not covered by contiguous proven intervals of `class` (rounded down), the
    /// upper end the distance to the nearest proven interval of another class (rounded up; +∞ if
    /// none). Both ends +∞ when the whole range is proven to be `class`. `Exact` when the ends meet
    /// within `rel_tol`, else a `Bracket`.
    pub fn radius_at(&self, u: f64, class: usize, rel_tol: f64) -> crate::Result<Radius> {
        let (lo, hi) = self.range;
        let Some(start) = self.pieces.iter().position(|p| p.class == class && p.t_lo <= u && u <= p.t_hi) else {
            return Ok(Radius::Sound(0.0)); // u itself is not proven to get `class`
        };
        // contiguous cover of `class` to the right and to the left of u
        let (mut right, mut i) = (self.pieces[start].t_hi, start + 1);
        while i < self.pieces.len() && self.pieces[i].t_lo <= right {
            if self.pieces[i].class != class {
                break;
            }
            right = right.max(self.pieces[i].t_hi);
            i += 1;
        }
        let mut left = self.pieces[start].t_lo;
        for p in self.pieces[..start].iter().rev() {
            if p.t_hi < left || p.class != class {
                break;
            }
            left = left.min(p.t_lo);
        }
        let covered_to_end = |end: f64, bound: f64| end == bound;
        let d_right = if covered_to_end(right, hi) { f64::INFINITY } else { down(right - u).max(0.0) };
        let d_left = if covered_to_end(left, lo) { f64::INFINITY } else { down(u - left).max(0.0) };
        let lower = d_right.min(d_left);
        let upper = self
            .pieces
            .iter()
            .filter(|p| p.class != class)
            .map(|p| if p.t_lo > u { up(p.t_lo - u) } else if p.t_hi < u { up(u - p.t_hi) } else { 0.0 })
            .fold(f64::INFINITY, f64::min);
        let lower = lower.min(upper);
        let b = Bracket::new(lower, upper)?;
        let tight = (upper.is_infinite() && lower.is_infinite()) || (upper.is_finite() && upper - lower <= rel_tol * upper);
        Ok(if tight { Radius::Exact(b) } else { Radius::Bracket(b) })
    }
}

/// The network composed with u ↦ x(u) (x₀ with input k set to u): a 1-input network, exact in real
/// arithmetic (the prepended layer has weights 0 and 1 and bias x₀ with entry k zero).
fn along(net: &Network, x0: ArrayView1<f64>, k: usize) -> Network {
    let d = x0.len();
    let mut w = Array2::zeros((d, 1));
    w[[k, 0]] = 1.0;
    let mut b = x0.to_owned();
    b[k] = 0.0;
    let mut layers = vec![Layer::Affine(Affine::new(w, b))];
    layers.extend(net.layers.iter().cloned());
    Network::new(vec![1], layers).expect("the prepended layer feeds the network's input")
}

/// For each closed interval [a, b] (a ≤ b) of the 1-input network: whether CROWN proves `classes[i]`
/// the strict answer on all of it (margins positive over the ℓ∞ ball containing the interval).
fn prove_intervals(net: &Network, decision: Decision, boxes: &[(f64, f64)], classes: &[usize]) -> Vec<bool> {
    let live: Vec<usize> = (0..boxes.len()).filter(|&i| boxes[i].0 <= boxes[i].1).collect();
    let mut ok = vec![false; boxes.len()];
    if live.is_empty() {
        return ok;
    }
    let k = net.output_dim();
    let centers = Array2::from_shape_fn((live.len(), 1), |(r, _)| {
        let (a, b) = boxes[live[r]];
        0.5 * a + 0.5 * b
    });
    // the ball [c − e, c + e] contains [a, b]: e ≥ b − c and e ≥ c − a, each rounded up
    let eps: Array1<f64> = live.iter().zip(centers.column(0)).map(|(&i, &c)| up(boxes[i].1 - c).max(up(c - boxes[i].0)).max(0.0)).collect();
    let specs: Vec<Array2<f64>> = live.iter().map(|&i| decision.margin_spec(classes[i], k)).collect();
    let regions = RegionBatch { centers: centers.view(), eps: eps.view(), norm: Norm::Linf, domain: None, boxes: None };
    let lb = BoundMethod::crown().lower_bounds_batch(net, &regions, crate::bound::stack_specs(&specs).view());
    for (r, &i) in live.iter().enumerate() {
        ok[i] = lb.row(r).iter().all(|&v| v > 0.0);
    }
    ok
}

/// Radii along one input coordinate (1-D: the norm is immaterial, and the radius is only an upper
/// bound of any full-space radius), proven at both ends by [`ProvenLine`]: `exact-1d` when the ends
/// meet within `rel_tol`, `bracket-1d` otherwise. The valid range of the input is [lo, hi].
pub struct LineCertifier {
    pub net: Network,
    pub decision: Decision,
    pub attribute: usize,
    /// Valid range of the attribute in model-input units.
    pub range: (f64, f64),
    /// Relative width at which a proven bracket counts as exact.
    pub rel_tol: f64,
}

impl Certifier for LineCertifier {
    fn method(&self) -> &'static str {
        "line"
    }

    fn extent(&self) -> Extent {
        Extent::Line { attribute: self.attribute }
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        let d = self.net.input_dim();
        if self.attribute >= d {
            return Err(crate::Error::Option(format!("attribute index {} is out of range: the model has {d} inputs", self.attribute)));
        }
        let (lo, hi) = self.range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(crate::Error::Option(format!("the attribute range [{lo}, {hi}] must be finite with lo < hi")));
        }
        batch.check_width(d)?;
        batch.per_row(&self.net, self.decision, self.extent(), Radius::Sound(0.0), progress, |x, class, _| {
            let xk = x[self.attribute];
            if xk < lo || xk > hi {
                return Ok(Radius::Sound(0.0)); // the point is outside the attribute's valid range
            }
            ProvenLine::prove_around(&self.net, self.decision, x, self.attribute, self.range, class).radius_at(xk, class, self.rel_tol)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn hand_net() -> Network {
        // logits (relu(t) − 0.5, 0): class 0 iff t > 0.5 (argmax; tie at 0.5 goes to class 0)
        Network::new(
            vec![1],
            vec![Layer::Affine(Affine::new(array![[1.0]], array![0.0])), Layer::Relu, Layer::Affine(Affine::new(array![[1.0], [0.0]], array![-0.5, 0.0]))],
        )
        .unwrap()
    }

    #[test]
    fn relu_pieces_of_a_hand_network() {
        let net = hand_net();
        let p = line_pieces(&net, Decision::Argmax, array![0.0].view(), 0, -2.0, 2.0);
        assert_eq!(p, vec![Piece { t_lo: -2.0, t_hi: 0.5, class: 1 }, Piece { t_lo: 0.5, t_hi: 2.0, class: 0 }]);
        assert_eq!(radius_at_zero(&p, 1), 0.5);
        assert_eq!(radius_at_zero(&p, 0), 0.0);
    }

    /// LINE-2 on the hand network: the radius at 0 is proven to lie within a hair of 0.5 on both sides.
    #[test]
    fn proven_radius_of_a_hand_network() {
        let net = hand_net();
        let line = ProvenLine::prove_all(&net, Decision::Argmax, array![0.0].view(), 0, (-2.0, 2.0));
        let r = line.radius_at(0.0, 1, 1e-6).unwrap();
        let Radius::Exact(b) = r else { panic!("{r:?}") };
        assert!(b.lower() < 0.5 && 0.5 < b.upper() && b.upper() - b.lower() < 1e-9, "{b:?}");
        assert_eq!(line.class_at(1.0), Some(0));
        assert_eq!(line.class_at(-1.0), Some(1));
        // from deep inside class 0's piece the whole right part of the range is class 0
        let r = line.radius_at(1.5, 0, 1e-6).unwrap();
        assert!(matches!(r, Radius::Exact(b) if (b.lower() - 1.0).abs() < 1e-9), "{r:?}");
    }
}
