//! Exact line analysis (LINE-1 in `proofs/EXACT.md`): along x(t) = x₀ + t·e_k a ReLU network is
//! piecewise affine in t. The breakpoints are enumerated layer by layer (every zero crossing of every
//! pre-activation on every piece), then the answer's changes inside each final piece (crossings of two
//! logits). The result is the exact label of every t-interval of [t_lo, t_hi], hence the inference set
//! I_y along attribute k and the exact 1-D robust radius at any point (up to f64 rounding of the
//! breakpoints, which are roots −b/a of affine functions computed in floating point).
use crate::cert::{Batch, Certificate, Certifier, Guarantee};
use crate::net::{Layer, Network};
use crate::progress::Progress;
use crate::spec::{Decision, Norm};
use ndarray::{Array1, ArrayView1};

/// A maximal interval of t on which the answer is constant.
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

/// The answer of the network along x₀ + t·e_k for t ∈ [t_lo, t_hi] (finite), as maximal pieces.
pub fn line_pieces(net: &Network, decision: Decision, x0: ArrayView1<f64>, k: usize, t_lo: f64, t_hi: f64) -> Vec<Piece> {
    assert!(t_lo.is_finite() && t_hi.is_finite() && t_lo <= t_hi && k < x0.len(), "line_pieces: bad range or attribute");
    let mut slope = Array1::zeros(x0.len());
    slope[k] = 1.0;
    let mut segs = vec![Segment { t_lo, t_hi, slope, offset: x0.to_owned() }];
    for layer in &net.layers {
        segs = match layer {
            Layer::Affine(a) => segs
                .into_iter()
                .map(|s| Segment { t_lo: s.t_lo, t_hi: s.t_hi, slope: a.weight.dot(&s.slope), offset: a.weight.dot(&s.offset) + &a.bias })
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
        cuts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        cuts.dedup();
        for w in cuts.windows(2) {
            let mid = 0.5 * (w[0] + w[1]);
            let class = decision.decide(s.at(mid).view()).0;
            push_piece(&mut pieces, w[0], w[1], class);
        }
        if cuts.len() == 1 {
            let class = decision.decide(s.at(s.t_lo).view()).0;
            push_piece(&mut pieces, s.t_lo, s.t_hi, class);
        }
    }
    pieces
}

fn push_piece(pieces: &mut Vec<Piece>, t_lo: f64, t_hi: f64, class: usize) {
    match pieces.last_mut() {
        Some(p) if p.class == class => p.t_hi = t_hi,
        _ => pieces.push(Piece { t_lo, t_hi, class }),
    }
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
    cuts.sort_by(|a, b| a.partial_cmp(b).unwrap());
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

/// The exact 1-D robust radius at t = 0: the distance from 0 to the nearest t where the answer differs
/// from `class` (+∞ if it never does in the range).
pub fn radius_at_zero(pieces: &[Piece], class: usize) -> f64 {
    pieces
        .iter()
        .filter(|p| p.class != class)
        .map(|p| if p.t_hi < 0.0 { -p.t_hi } else if p.t_lo > 0.0 { p.t_lo } else { 0.0 })
        .fold(f64::INFINITY, f64::min)
}

/// Exact radii along one input coordinate (guarantee `exact`, the norm is immaterial in 1-D and
/// reported as ℓ∞). The range of t is [lo − x_k, hi − x_k] for the attribute's valid range [lo, hi].
pub struct LineCertifier {
    pub net: Network,
    pub decision: Decision,
    pub attribute: usize,
    /// Valid range of the attribute in model-input units.
    pub range: (f64, f64),
}

impl Certifier for LineCertifier {
    fn method(&self) -> &'static str {
        "line"
    }

    fn norm(&self) -> Norm {
        Norm::Linf
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
        Ok(batch.per_row(&self.net, self.decision, Norm::Linf, Guarantee::Exact, progress, |x, class, _| {
            let xk = x[self.attribute];
            if xk < lo || xk > hi {
                return (0.0, Guarantee::Exact);
            }
            let pieces = line_pieces(&self.net, self.decision, x, self.attribute, lo - xk, hi - xk);
            (radius_at_zero(&pieces, class), Guarantee::Exact)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Affine;
    use ndarray::array;

    #[test]
    fn relu_pieces_of_a_hand_network() {
        // logits (relu(t) − 0.5, 0): class 0 iff t > 0.5 (argmax; tie at 0.5 goes to class 0)
        let net = Network::new(
            vec![1],
            vec![Layer::Affine(Affine::new(array![[1.0]], array![0.0])), Layer::Relu, Layer::Affine(Affine::new(array![[1.0], [0.0]], array![-0.5, 0.0]))],
        )
        .unwrap();
        let p = line_pieces(&net, Decision::Argmax, array![0.0].view(), 0, -2.0, 2.0);
        assert_eq!(p, vec![Piece { t_lo: -2.0, t_hi: 0.5, class: 1 }, Piece { t_lo: 0.5, t_hi: 2.0, class: 0 }]);
        assert_eq!(radius_at_zero(&p, 1), 0.5);
        assert_eq!(radius_at_zero(&p, 0), 0.0);
    }
}
