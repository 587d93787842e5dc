//! Interval bound propagation (IBP-1 in `proofs/IBP.md`), batched. The first affine layer over an ℓp
//! ball is bounded exactly per neuron, W·x₀ + b ± ε‖Wᵢ‖_q (as auto_LiRPA does), not by boxing the ball.
use super::linear::{dual_norm_up, finish, input_box, reshape_rows, AffineMags, LinearBatch};
use super::{BoxBatch, RegionBatch};
use crate::net::{Affine, Elementwise, Layer, Network};
use crate::rigor::{add_error, dot_error, nonneg_dot_upper, up};
use crate::spec::Norm;
use ndarray::{Array1, Array2, ArrayView3, Zip};

/// Sound boxes for every boundary: entry 0 contains the regions, entry i+1 contains the output of
/// layer i for every x in the region of each batch row.
pub fn ibp_boundaries(net: &Network, regions: &RegionBatch) -> Vec<BoxBatch> {
    let mut out = vec![input_box(regions)];
    let mut on_input = true; // reached from the input by reshapes only
    for layer in &net.layers {
        let prev = out.last().unwrap();
        let next = match layer {
            Layer::Affine(a) if on_input => first_affine(a, regions),
            Layer::Affine(a) => affine_box(a, prev),
            Layer::Elementwise(e) => elementwise_box(e, prev),
            Layer::Relu => prev.relu(),
            Layer::Reshape { .. } => prev.clone(),
        };
        on_input &= matches!(layer, Layer::Reshape { .. });
        out.push(next);
    }
    out
}

/// Sound lower bounds of spec·f(x): IBP up to the last layer; a final affine layer is merged with the
/// spec (C·W, C·b) before concretizing over its input box, as auto_LiRPA's IBP does with C.
pub(crate) fn ibp_lower_bounds(net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>) -> Array2<f64> {
    let bounds = ibp_boundaries(net, regions);
    let mut lin = LinearBatch::from_spec(spec);
    let lb = match net.layers.split_last() {
        Some((Layer::Affine(a), before)) => {
            let inp = &bounds[before.len()];
            lin.through_affine(a, &AffineMags::new(a, &inp.magnitude()));
            if before.iter().all(|l| matches!(l, Layer::Reshape { .. })) {
                lin.concretize(regions) // a purely affine network: exact over the region
            } else {
                lin.concretize_box(inp)
            }
        }
        _ => lin.concretize_box(bounds.last().unwrap()),
    };
    reshape_rows(lb, regions.len())
}

/// Exact per-neuron bounds of W·x + b over each region, rigorously rounded.
pub(crate) fn first_affine(a: &Affine, regions: &RegionBatch) -> BoxBatch {
    if regions.boxes.is_some() {
        return affine_box(a, &input_box(regions)); // exact per neuron for a box, up to rounding
    }
    let d = a.in_dim();
    let center = regions.centers.dot(&a.weight.t());
    let abs = regions.centers.mapv(f64::abs).dot(&a.weight.mapv(f64::abs).t());
    let nrm: Array1<f64> = a.weight.outer_iter().map(|w| dual_norm_up(regions.norm, w)).collect();
    let mut lower = Array2::zeros(center.raw_dim());
    let mut upper = Array2::zeros(center.raw_dim());
    for (b, ((c_row, a_row), (mut lo, mut hi))) in center
        .outer_iter()
        .zip(abs.outer_iter())
        .zip(lower.outer_iter_mut().zip(upper.outer_iter_mut()))
        .enumerate()
    {
        let eps = regions.eps[b];
        for j in 0..c_row.len() {
            let pen = up(up(eps * nrm[j]) + dot_error(d, nonneg_dot_upper(a_row[j], d)));
            lo[j] = finish(c_row[j], a.bias[j], pen);
            hi[j] = -finish(-c_row[j], -a.bias[j], pen);
        }
    }
    let ball = BoxBatch { lower, upper };
    match (regions.domain, regions.norm) {
        (None, _) => ball,
        (Some(_), Norm::Linf) => affine_box(a, &input_box(regions)),
        (Some(_), Norm::L2 | Norm::L1) => ball.intersect(&affine_box(a, &input_box(regions))),
    }
}

/// Interval image of boxes under W·h + b in midpoint–radius form with rigorous outward rounding.
pub(crate) fn affine_box(a: &Affine, inp: &BoxBatch) -> BoxBatch {
    let n = a.in_dim();
    let mid = Zip::from(&inp.lower).and(&inp.upper).map_collect(|l, u| 0.5 * l + 0.5 * u);
    let rad = Zip::from(&inp.lower).and(&inp.upper).and(&mid).map_collect(|l, u, m| up(u - m).max(up(m - l)));
    let abs_w = a.weight.mapv(f64::abs);
    let center = mid.dot(&a.weight.t());
    let spread = rad.dot(&abs_w.t());
    let abs_center = mid.mapv(f64::abs).dot(&abs_w.t());
    let mut lower = Array2::zeros(center.raw_dim());
    let mut upper = Array2::zeros(center.raw_dim());
    Zip::indexed(&center).and(&spread).and(&abs_center).and(&mut lower).and(&mut upper).for_each(
        |(_, j), &c, &s, &ac, lo, hi| {
            let value = c + a.bias[j];
            let pen = up(up(nonneg_dot_upper(s, n) + dot_error(n, nonneg_dot_upper(ac, n))) + add_error(value));
            *lo = crate::rigor::down(value - pen);
            *hi = up(value + pen);
            if lo.is_nan() || hi.is_nan() {
                (*lo, *hi) = (f64::NEG_INFINITY, f64::INFINITY);
            }
        },
    );
    BoxBatch { lower, upper }
}

/// Interval image of boxes under an exact elementwise map, each end rounded outward (FP-1).
pub(crate) fn elementwise_box(e: &Elementwise, inp: &BoxBatch) -> BoxBatch {
    let mut lower = inp.lower.clone();
    let mut upper = inp.upper.clone();
    for (mut lo, mut hi) in lower.outer_iter_mut().zip(upper.outer_iter_mut()) {
        for j in 0..lo.len() {
            (lo[j], hi[j]) = e.interval(lo[j], hi[j], j);
        }
    }
    BoxBatch { lower, upper }
}
