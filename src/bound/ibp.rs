//! Interval bound propagation (IBP-1 in `proofs/IBP.md`), batched. The first affine layer over an ℓp
//! ball is bounded exactly per neuron, W·x₀ + b ± ε‖Wᵢ‖_q (as auto_LiRPA does), not by boxing the ball.
use super::backend::{infallible, Backend, Cpu, CpuAffine, CpuWeights};
use super::linear::{input_box, reshape_rows, standard, LinearBatch};
use super::rows;
use super::{BoxBatch, RegionBatch};
use crate::net::{Affine, Elementwise, Layer, Network};
use crate::rigor::up;
use crate::spec::Norm;
use ndarray::{Array1, Array2, ArrayView3, Zip};

/// Sound boxes for every boundary: entry 0 contains the regions, entry i+1 contains the output of
/// layer i for every x in the region of each batch row.
pub fn ibp_boundaries(net: &Network, regions: &RegionBatch) -> Vec<BoxBatch> {
    infallible(try_ibp_boundaries(&Cpu, &CpuWeights::of(net), net, regions))
}

/// [`ibp_boundaries`] with the affine layers on `backend` (`weights` are `net`'s).
pub fn try_ibp_boundaries<B: Backend>(backend: &B, weights: &B::Weights, net: &Network, regions: &RegionBatch) -> Result<Vec<BoxBatch>, B::Error> {
    let mut out = vec![input_box(regions)];
    let mut on_input = true; // reached from the input by reshapes only
    for (i, layer) in net.layers.iter().enumerate() {
        let prev = out.last().unwrap();
        let next = match layer {
            Layer::Affine(a) if on_input => first_affine_on(backend, weights, i, a, regions)?,
            Layer::Affine(a) => backend.affine_box(weights, i, a, prev)?,
            Layer::Elementwise(e) => elementwise_box(e, prev),
            Layer::Relu => prev.relu(),
            Layer::Reshape { .. } => prev.clone(),
        };
        on_input &= matches!(layer, Layer::Reshape { .. });
        out.push(next);
    }
    Ok(out)
}

/// Sound lower bounds of spec·f(x): IBP up to the last layer; a final affine layer is merged with the
/// spec (C·W, C·b) before concretizing over its input box, as auto_LiRPA's IBP does with C.
pub(crate) fn ibp_lower_bounds(net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>) -> Array2<f64> {
    infallible(try_ibp_lower_bounds(&Cpu, &CpuWeights::of(net), net, regions, spec))
}

/// [`ibp_lower_bounds`] on `backend` (`weights` are `net`'s).
pub fn try_ibp_lower_bounds<B: Backend>(backend: &B, weights: &B::Weights, net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>) -> Result<Array2<f64>, B::Error> {
    let bounds = try_ibp_boundaries(backend, weights, net, regions)?;
    let mut lin = backend.upload(LinearBatch::from_spec(spec))?;
    let last = net.layers.len();
    let lb = match net.layers.split_last() {
        Some((Layer::Affine(a), before)) => {
            let inp = &bounds[before.len()];
            let mags = backend.affine_mags(weights, last - 1, a, &inp.magnitude())?;
            backend.affine_back(&mut lin, weights, last - 1, a, &mags)?;
            if before.iter().all(|l| matches!(l, Layer::Reshape { .. })) {
                backend.concretize(&lin, regions)? // a purely affine network: exact over the region
            } else {
                concretize_over_box(backend, &lin, inp)?
            }
        }
        _ => concretize_over_box(backend, &lin, bounds.last().unwrap())?,
    };
    Ok(reshape_rows(lb, regions.len()))
}

/// Sound lower bounds of every row when h ranges over its owner's box (CROWN-2 for a box region).
fn concretize_over_box<B: Backend>(backend: &B, lin: &LinearBatch<B>, boxes: &BoxBatch) -> Result<Array1<f64>, B::Error> {
    let centers = Zip::from(&boxes.lower).and(&boxes.upper).map_collect(|l, u| 0.5 * l + 0.5 * u);
    let zeros = Array1::zeros(centers.nrows());
    let view = super::BoxView { lower: boxes.lower.view(), upper: boxes.upper.view() };
    backend.concretize(lin, &RegionBatch::of_boxes(view, centers.view(), zeros.view()))
}

/// Exact per-neuron bounds of W·x + b over each region (affine layer `layer`, on `backend`), rigorously
/// rounded: over per-row boxes the interval image;
/// over a ball each neuron's exact range (rounded outward), intersected with (ℓ2, ℓ1) or replaced by
/// (ℓ∞, exact there) the interval image of the ball's box ∩ the domain box.
pub(crate) fn first_affine_on<B: Backend>(backend: &B, w: &B::Weights, layer: usize, a: &Affine, regions: &RegionBatch) -> Result<BoxBatch, B::Error> {
    if regions.boxes.is_some() {
        return backend.affine_box(w, layer, a, &input_box(regions)); // exact per neuron for a box, up to rounding
    }
    match (regions.domain, regions.norm) {
        (None, _) => backend.ball_affine(w, layer, a, regions),
        (Some(_), Norm::Linf) => backend.affine_box(w, layer, a, &input_box(regions)),
        (Some(_), Norm::L2 | Norm::L1) => Ok(backend.ball_affine(w, layer, a, regions)?.intersect(&backend.affine_box(w, layer, a, &input_box(regions))?)),
    }
}

/// W·x₀ + b ± ε‖Wᵢ‖_q for each row's ball (centers and ε), with every rounding error added (IBP-1);
/// `w` holds |W| and the row norms of `a`.
pub(crate) fn ball_affine(a: &Affine, w: &CpuAffine, regions: &RegionBatch) -> BoxBatch {
    let center = standard(regions.centers.dot(&a.weight.t()));
    let abs = standard(regions.centers.mapv(f64::abs).dot(&w.abs_weight.t()));
    let mut lower = Array2::zeros(center.raw_dim());
    let mut upper = Array2::zeros(center.raw_dim());
    let eps = regions.eps.to_vec();
    let parts = rows::BallParts { center: flat(&center), abs: flat(&abs), eps: &eps, norms: slice(w.row_norms(a, regions.norm)), bias: slice(&a.bias), d: a.in_dim() };
    rows::ball_finish(&parts, flat_mut(&mut lower), flat_mut(&mut upper));
    BoxBatch { lower, upper }
}

/// Interval image of boxes under W·h + b in midpoint–radius form with rigorous outward rounding
/// (`abs_w` = |W|).
pub(crate) fn affine_box(a: &Affine, abs_w: &Array2<f64>, inp: &BoxBatch) -> BoxBatch {
    let mid = Zip::from(&inp.lower).and(&inp.upper).map_collect(|l, u| 0.5 * l + 0.5 * u);
    let rad = Zip::from(&inp.lower).and(&inp.upper).and(&mid).map_collect(|l, u, m| up(u - m).max(up(m - l)));
    let center = standard(mid.dot(&a.weight.t()));
    let spread = standard(rad.dot(&abs_w.t()));
    let abs_center = standard(mid.mapv(f64::abs).dot(&abs_w.t()));
    let mut lower = Array2::zeros(center.raw_dim());
    let mut upper = Array2::zeros(center.raw_dim());
    let parts = rows::BoxParts { center: flat(&center), spread: flat(&spread), abs_center: flat(&abs_center), bias: slice(&a.bias), n: a.in_dim() };
    rows::box_finish(&parts, flat_mut(&mut lower), flat_mut(&mut upper));
    BoxBatch { lower, upper }
}

fn flat(a: &Array2<f64>) -> &[f64] {
    a.as_slice().expect("standard layout")
}

fn flat_mut(a: &mut Array2<f64>) -> &mut [f64] {
    a.as_slice_mut().expect("standard layout")
}

fn slice(a: &Array1<f64>) -> &[f64] {
    a.as_slice().expect("contiguous")
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
