//! Sound bound propagation: IBP, CROWN and α-CROWN (SPEC §2), batched over many input regions.
//!
//! Guarantee (proofs: `proofs/IBP.md` IBP-1, `proofs/CROWN.md` CROWN-1/CROWN-2, `proofs/ALPHA.md` ALPHA-1,
//! `proofs/FP.md` FP-1…FP-4): for every batch row b, every x in region b, every returned lower bound
//! `L[b, i]` satisfies `L[b, i] ≤ (C_b · f(x))_i` for the exact real-valued network `f`, although all
//! arithmetic is f64. Each row's result depends only on that row (not on the batch it came in).
mod alpha;
mod backend;
mod crown;
mod ibp;
pub mod linear;
pub mod refine;
mod rows;
pub mod split;

pub use alpha::AlphaCrownOptions;
pub use crown::CrownBatch;
pub use backend::{Backend, Cpu, CpuAffine, CpuWeights};
pub use ibp::{ibp_boundaries, try_ibp_boundaries, try_ibp_lower_bounds};
pub use linear::{AffineMags, LinearBatch, ReluRelax, ReluState, UpperLine};

use crate::net::{Layer, Network};
use crate::spec::{logit_spec, DomainBox, Norm, Region};
use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis, Zip};
use rayon::prelude::*;

/// A closed interval per neuron.
#[derive(Clone, Debug, PartialEq)]
pub struct Interval {
    pub lower: Array1<f64>,
    pub upper: Array1<f64>,
}

/// One interval per neuron for each batch row: row b of `lower`/`upper` belongs to region b.
#[derive(Clone, Debug, PartialEq)]
pub struct BoxBatch {
    pub lower: Array2<f64>,
    pub upper: Array2<f64>,
}

impl BoxBatch {
    /// max(|lower|, |upper|) elementwise: a bound on the magnitude of any value in the box.
    pub fn magnitude(&self) -> Array2<f64> {
        Zip::from(&self.lower).and(&self.upper).map_collect(|l, u| l.abs().max(u.abs()))
    }

    /// The intersection with `other` (both containing the same true values).
    pub fn intersect(&self, other: &BoxBatch) -> BoxBatch {
        BoxBatch {
            lower: Zip::from(&self.lower).and(&other.lower).map_collect(|a, b| a.max(*b)),
            upper: Zip::from(&self.upper).and(&other.upper).map_collect(|a, b| a.min(*b)),
        }
    }

    /// The image under elementwise ReLU (exact).
    pub fn relu(&self) -> BoxBatch {
        BoxBatch { lower: self.lower.mapv(|v| v.max(0.0)), upper: self.upper.mapv(|v| v.max(0.0)) }
    }

    /// The interval of batch row `b`.
    pub fn row(&self, b: usize) -> Interval {
        Interval { lower: self.lower.row(b).to_owned(), upper: self.upper.row(b).to_owned() }
    }
}

/// A batch of input regions { x : ‖x − centers[b]‖ₚ ≤ eps[b] } ∩ domain, one per row — or, when `boxes`
/// is set, the box [boxes.lower[b], boxes.upper[b]] of each row exactly (centers must then be points of
/// the boxes, e.g. their midpoints; eps, norm and domain are ignored). Boxes are the sub-domains of input
/// splitting and the input sets of VNN-LIB properties.
#[derive(Clone, Debug)]
pub struct RegionBatch<'a> {
    pub centers: ArrayView2<'a, f64>,
    pub eps: ArrayView1<'a, f64>,
    pub norm: Norm,
    pub domain: Option<&'a DomainBox>,
    pub boxes: Option<BoxView<'a>>,
}

/// Per-row boxes, as views (so a batch slices without copying).
#[derive(Clone, Copy, Debug)]
pub struct BoxView<'a> {
    pub lower: ArrayView2<'a, f64>,
    pub upper: ArrayView2<'a, f64>,
}

impl<'a> RegionBatch<'a> {
    /// Number of regions.
    pub fn len(&self) -> usize {
        self.centers.nrows()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows start..end as a batch of their own.
    pub fn slice(&self, start: usize, end: usize) -> RegionBatch<'a> {
        RegionBatch {
            centers: self.centers.slice_move(s![start..end, ..]),
            eps: self.eps.slice_move(s![start..end]),
            norm: self.norm,
            domain: self.domain,
            boxes: self.boxes.map(|b| BoxView { lower: b.lower.slice_move(s![start..end, ..]), upper: b.upper.slice_move(s![start..end, ..]) }),
        }
    }

    /// Whether each row's region is exactly its input box (per-row boxes, or an ℓ∞ ball ∩ a domain box):
    /// then bounds concretize over the box, which is exact for linear functions.
    pub fn is_box(&self) -> bool {
        self.boxes.is_some() || (self.domain.is_some() && self.norm == Norm::Linf)
    }

    /// Regions that are exactly the given per-row boxes (the centers are their midpoints).
    pub fn of_boxes(boxes: BoxView<'a>, centers: ArrayView2<'a, f64>, zeros: ArrayView1<'a, f64>) -> Self {
        RegionBatch { centers, eps: zeros, norm: Norm::Linf, domain: None, boxes: Some(boxes) }
    }
}

/// Which ReLU-input neurons get their own CROWN backward pass. Every choice is sound; they differ in
/// cost and, slightly, in tightness (CROWN is not always tighter than interval arithmetic on one
/// neuron, so using the interval where it proves stability can only change the relaxation there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Intermediate {
    /// Only neurons that interval arithmetic on the previous layers' bounds cannot prove stable, per
    /// row (as α,β-CROWN does); the others keep the interval. Each row's result depends on that row only.
    #[default]
    UnstableOnly,
    /// Every neuron: textbook CROWN (Zhang et al. 2018).
    All,
    /// None: every ReLU keeps its interval-arithmetic bounds, only the final specification gets a
    /// backward pass (CROWN-IBP). Much cheaper per region and looser; for the many small boxes of
    /// input splitting, where interval bounds are already tight.
    Ibp,
    /// auto_LiRPA 0.3's rule, reproduced for comparison: a neuron gets CROWN bounds in every row of
    /// the batch when interval arithmetic finds it unstable in any row, unless more than 90% of the
    /// layer is (then every neuron does). Results depend on which rows share the batch, so the whole
    /// input is bounded as one batch in this mode.
    AutoLirpa,
}

/// A bound-propagation method: the deterministic certifiers' common capability.
#[derive(Clone, Debug, PartialEq)]
pub enum BoundMethod {
    Ibp,
    Crown(Intermediate),
    AlphaCrown(AlphaCrownOptions),
}

impl BoundMethod {
    /// CROWN with the default intermediate bounds.
    pub fn crown() -> Self {
        BoundMethod::Crown(Intermediate::default())
    }

    /// Whether each row's result on `net` is independent of the other rows of its batch: always,
    /// except under auto_LiRPA's batch-wide rule on a network where some ReLU's input bounds need a
    /// backward pass (one not fed by a single affine map of the input).
    pub fn row_independent(&self, net: &Network) -> bool {
        let batch_wide = match self {
            BoundMethod::Ibp => false,
            BoundMethod::Crown(i) => *i == Intermediate::AutoLirpa,
            BoundMethod::AlphaCrown(o) => o.intermediate == Intermediate::AutoLirpa,
        };
        !batch_wide || !crown::has_refined_relu(net)
    }

    /// The method's name in files and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            BoundMethod::Ibp => "ibp",
            BoundMethod::Crown(_) => "crown",
            BoundMethod::AlphaCrown(_) => "alpha-crown",
        }
    }

    /// Sound lower bounds of `spec[b] · f(x)` over region b, for every batch row b (spec has shape
    /// rows × m × outputs; the result rows × m). Rows are processed in fixed-size chunks in parallel;
    /// each row's value does not depend on the chunking or the thread count (except with
    /// [`Intermediate::AutoLirpa`], which bounds the batch as one chunk, as auto_LiRPA does).
    pub fn lower_bounds_batch(&self, net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>) -> Array2<f64> {
        let parts = self.by_chunks(net, regions, spec, |sub, sp, weights| match self {
            BoundMethod::Ibp => ibp::ibp_lower_bounds(net, sub, sp),
            BoundMethod::Crown(inter) => backend::infallible(CrownBatch::on(&Cpu, weights, net, sub.clone(), *inter)).lower_bounds(sp),
            BoundMethod::AlphaCrown(opts) => alpha::alpha_crown_lower_bounds(net, sub, sp, opts),
        });
        if parts.is_empty() {
            return Array2::zeros((0, spec.shape()[1]));
        }
        ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.view()).collect::<Vec<_>>()).expect("chunks share the spec width")
    }

    /// [`lower_bounds_batch`](Self::lower_bounds_batch) with, for each region, the largest ε' ≤ its ε
    /// at which the method's own final linear bounds prove every spec row positive over the ε'-ball
    /// (RADIUS-4; CROWN only, 0 for IBP and α-CROWN). Same chunking, so the same bounds bit for bit.
    pub fn lower_bounds_and_floors_batch(&self, net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>) -> (Array2<f64>, Array1<f64>) {
        let parts = self.by_chunks(net, regions, spec, |sub, sp, weights| match self {
            BoundMethod::Crown(inter) => backend::infallible(backend::infallible(CrownBatch::on(&Cpu, weights, net, sub.clone(), *inter)).try_lower_bounds_and_floors(sp)),
            BoundMethod::Ibp => (ibp::ibp_lower_bounds(net, sub, sp), Array1::zeros(sub.len())),
            BoundMethod::AlphaCrown(opts) => (alpha::alpha_crown_lower_bounds(net, sub, sp, opts), Array1::zeros(sub.len())),
        });
        if parts.is_empty() {
            return (Array2::zeros((0, spec.shape()[1])), Array1::zeros(0));
        }
        let lb = ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.0.view()).collect::<Vec<_>>()).expect("chunks share the spec width");
        let floors = ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.1.view()).collect::<Vec<_>>()).expect("1-D parts");
        (lb, floors)
    }

    /// `bound(regions, specs, weights)` on the batch's chunks of rows, in parallel, in row order: chunks
    /// of [`chunk_rows`] where each row's bound is independent of its batch, else one chunk; the CPU
    /// weights are derived once for every chunk of the call.
    fn by_chunks<T: Send>(&self, net: &Network, regions: &RegionBatch, spec: ArrayView3<f64>, bound: impl Fn(&RegionBatch, ArrayView3<f64>, &CpuWeights) -> T + Sync) -> Vec<T> {
        assert_eq!(spec.shape()[0], regions.len(), "one specification per region");
        let n = regions.len();
        let chunk = if self.row_independent(net) { chunk_rows(net) } else { n.max(1) };
        let weights = CpuWeights::of(net);
        (0..n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let (a, b) = (c * chunk, ((c + 1) * chunk).min(n));
                bound(&regions.slice(a, b), spec.slice(s![a..b, .., ..]), &weights)
            })
            .collect()
    }

    /// Sound lower bounds of `spec · f(x)` over one region.
    pub fn lower_bounds(&self, net: &Network, region: &Region, spec: &Array2<f64>) -> Array1<f64> {
        let eps = Array1::from_elem(1, region.eps);
        let batch = RegionBatch {
            centers: region.center.reborrow().insert_axis(Axis(0)),
            eps: eps.view(),
            norm: region.norm,
            domain: region.domain,
            boxes: None,
        };
        self.lower_bounds_batch(net, &batch, spec.view().insert_axis(Axis(0))).row(0).to_owned()
    }

    /// Sound lower and upper bounds of every logit over each region of the batch.
    pub fn logit_bounds_batch(&self, net: &Network, regions: &RegionBatch) -> BoxBatch {
        let k = net.output_dim();
        let spec = logit_spec(k);
        let spec3 = spec.broadcast((regions.len(), 2 * k, k)).expect("broadcast spec");
        let lb = self.lower_bounds_batch(net, regions, spec3);
        BoxBatch { lower: lb.slice(s![.., ..k]).to_owned(), upper: lb.slice(s![.., k..]).mapv(|v| -v) }
    }

    /// Sound lower and upper bounds of every logit over one region.
    pub fn logit_bounds(&self, net: &Network, region: &Region) -> Interval {
        let k = net.output_dim();
        let lb = self.lower_bounds(net, region, &logit_spec(k));
        Interval { lower: lb.slice(s![..k]).to_owned(), upper: lb.slice(s![k..]).mapv(|v| -v) }
    }
}

/// A rigorous enclosure of the exact real-valued outputs f(x) at the f64 point x (IBP over the ball of
/// radius 0): `lower ≤ f(x) ≤ upper` for the network in the file, whatever the rounding of a plain
/// forward pass (IBP-1, FP-1…3). Witnesses of a changed answer are proven with it.
pub fn point_enclosure(net: &Network, x: ArrayView1<f64>) -> Interval {
    let eps = Array1::zeros(1);
    let center = x.to_owned().insert_axis(Axis(0));
    let regions = RegionBatch { centers: center.view(), eps: eps.view(), norm: Norm::Linf, domain: None, boxes: None };
    ibp::ibp_boundaries(net, &regions).pop().expect("at least the input boundary").row(0)
}

/// Whether the answer of the exact network at x is provably not `class` (see [`point_enclosure`]).
pub fn proves_other_answer(net: &Network, decision: crate::spec::Decision, x: ArrayView1<f64>, class: usize) -> bool {
    decision.proven_other(&point_enclosure(net, x), class).is_some()
}

/// Rows per chunk: a fixed function of the network (never of the thread count), sized so a chunk's
/// CROWN coefficient matrices stay near 2²² entries.
fn chunk_rows(net: &Network) -> usize {
    let dims = net.boundary_dims().expect("validated");
    let widest = dims.iter().copied().max().unwrap_or(1);
    let relu_widest = net
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| matches!(l, Layer::Relu))
        .map(|(i, _)| dims[i])
        .max()
        .unwrap_or(1);
    ((1usize << 22) / (2 * relu_widest * widest).max(1)).clamp(1, 64)
}

/// Stacks one spec matrix per region into the (rows × m × outputs) shape the batch API takes.
pub fn stack_specs(specs: &[Array2<f64>]) -> Array3<f64> {
    let views: Vec<_> = specs.iter().map(|s| s.view().insert_axis(Axis(0))).collect();
    ndarray::concatenate(Axis(0), &views).expect("specs of equal shape")
}
