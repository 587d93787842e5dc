//! Boxes with one unstable ReLU, bounded piece by piece (EXACT-BAB-6 in `proofs/EXACT.md`).
//!
//! When CROWN finds a single unstable neuron z on a box B, every other neuron is stable on B, so z is an
//! affine function of x on B and the network is affine on each piece B ∩ {z ≥ 0} and B ∩ {z ≤ 0}. CROWN
//! with z's interval clamped to a piece's sign bounds each margin there by its exact affine function
//! (up to rounding), and CROWN's linear bounds of z give the piece's half-space; the least distance of
//! the flip points of each piece is then bounded by [`halfspace::nearest_two`] — exactly, by LP
//! duality. Input splitting alone would need ever smaller boxes along z's hyperplane, where the
//! chord of the ReLU stays loose.
use super::halfspace;
use super::ExactCertifier;
use crate::bound::{BoxBatch, BoxView, CrownBatch, RegionBatch};
use crate::net::Layer;
use ndarray::{Array1, Array2, Array3, ArrayView1};

/// A box of a CROWN batch with exactly one unstable ReLU input: the box, its row in the batch, the
/// neuron (layer, index), and which competitors to bound (the others keep their bounds).
pub(super) struct OneUnstable<'a> {
    pub lo: &'a [f64],
    pub hi: &'a [f64],
    pub row: usize,
    pub neuron: (usize, usize),
    pub wanted: Vec<bool>,
}

/// Per box: a proven lower bound of the distance of each wanted competitor's flip points in the box
/// (−∞ for the others), and the estimated nearest point of each (for witnesses).
pub(super) type PieceBounds = Vec<(Vec<f64>, Vec<Option<Vec<f64>>>)>;

impl ExactCertifier {
    /// Bounds each box of `boxes` piece by piece (EXACT-BAB-6); `ctx` is the CROWN batch that found
    /// their single unstable neuron.
    pub(super) fn bound_pieces(&self, x0: ArrayView1<f64>, class: usize, ctx: &CrownBatch, boxes: &[OneUnstable]) -> PieceBounds {
        let (m, d, k) = (boxes.len(), x0.len(), self.net.output_dim());
        if m == 0 {
            return Vec::new();
        }
        // the pieces: box b twice, row 2b with z ≥ 0, row 2b + 1 with z ≤ 0
        let lower = Array2::from_shape_fn((2 * m, d), |(r, i)| boxes[r / 2].lo[i]);
        let upper = Array2::from_shape_fn((2 * m, d), |(r, i)| boxes[r / 2].hi[i]);
        let centers = (&lower + &upper) * 0.5;
        let zeros = Array1::zeros(2 * m);
        let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
        let given: Vec<Option<BoxBatch>> = self
            .net
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                matches!(layer, Layer::Relu).then(|| {
                    let bx = ctx.boundary_box(i);
                    let n = bx.lower.ncols();
                    let mut out = BoxBatch { lower: Array2::from_shape_fn((2 * m, n), |(r, j)| bx.lower[[boxes[r / 2].row, j]]), upper: Array2::from_shape_fn((2 * m, n), |(r, j)| bx.upper[[boxes[r / 2].row, j]]) };
                    for (b, bx) in boxes.iter().enumerate() {
                        if bx.neuron.0 == i {
                            let j = bx.neuron.1;
                            out.lower[[2 * b, j]] = out.lower[[2 * b, j]].max(0.0);
                            out.upper[[2 * b + 1, j]] = out.upper[[2 * b + 1, j]].min(0.0);
                        }
                    }
                    out
                })
            })
            .collect();
        let spec = self.decision.margin_spec(class, k);
        let spec3: Array3<f64> = spec.broadcast((2 * m, k - 1, k)).expect("broadcast").to_owned();
        let (coef, constant) = CrownBatch::with_relu_bounds(&self.net, regions, &given).linear_bounds(spec3.view());
        // the neuron's linear bounds over each box, by layer: +z ≥ g₊x + h₊ and −z ≥ g₋x + h₋
        let mut z_bounds: Vec<Option<(Vec<f64>, f64, Vec<f64>, f64)>> = vec![None; m];
        let mut layers: Vec<usize> = boxes.iter().map(|b| b.neuron.0).collect();
        layers.sort_unstable();
        layers.dedup();
        for layer in layers {
            let which: Vec<usize> = (0..m).filter(|&b| boxes[b].neuron.0 == layer).collect();
            let pairs: Vec<(usize, usize)> = which.iter().map(|&b| (boxes[b].row, boxes[b].neuron.1)).collect();
            let (g, h) = ctx.neuron_linear_bounds(layer, &pairs);
            for (kk, &b) in which.iter().enumerate() {
                z_bounds[b] = Some((g.row(2 * kk).to_vec(), h[2 * kk], g.row(2 * kk + 1).to_vec(), h[2 * kk + 1]));
            }
        }
        let xs = x0.as_slice().expect("contiguous row");
        (0..m)
            .map(|b| {
                let (gp, hp, gm, hm) = z_bounds[b].as_ref().expect("every layer bounded");
                let mut flips: Vec<f64> = boxes[b].wanted.iter().map(|&w| if w { f64::INFINITY } else { f64::NEG_INFINITY }).collect();
                let mut points = vec![None; k - 1];
                for (piece, (s, t)) in [(gm, *hm), (gp, *hp)].into_iter().enumerate() {
                    // z ≥ 0 with −z ≥ g₋x + h₋ gives g₋x + h₋ ≤ 0; z ≤ 0 with z ≥ g₊x + h₊ gives g₊x + h₊ ≤ 0
                    let r = 2 * b + piece;
                    for q in (0..k - 1).filter(|&q| boxes[b].wanted[q]) {
                        let a = coef.slice(ndarray::s![r, q, ..]);
                        let near = halfspace::nearest_two(self.norm, xs, boxes[b].lo, boxes[b].hi, a.as_slice().expect("contiguous"), constant[[r, q]], s, t);
                        if near.lower < flips[q] {
                            flips[q] = near.lower;
                            points[q] = near.point;
                        }
                    }
                }
                (flips, points)
            })
            .collect()
    }
}
