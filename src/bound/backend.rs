//! The device seam of bound propagation: CROWN's backward pass and IBP are written once (`crown.rs`,
//! `ibp.rs`) over this trait, whose implementations run their heavy steps — the GEMMs and the per-row
//! rounding-error bookkeeping of each layer step — on a device. [`Cpu`] runs them on ndarray and the
//! host's threads; the CUDA backend (`crate::gpu::cuda`) on cuBLAS DGEMM and small kernels.
//!
//! The contract every implementation keeps (tested by `tests/backends.rs` on each available backend):
//! each step keeps invariant CROWN-1 of `proofs/CROWN.md` (every rounding error rounded outward or added
//! to the slack, FP-1 … FP-5), each box step IBP-1, and every concretization CROWN-2 — so the bounds are
//! sound whatever the device's summation order (FP-2 holds for any order and with FMA; GPU-4 in
//! `proofs/GPU.md`). What is decided — which neurons are stable, which ReLU line is taken (ties
//! included), which neurons get a backward pass of their own, how a domain box or an input box is
//! used — is decided once, on the host, by the shared driver; backends only evaluate.
use super::linear::{AffineMags, LinearBatch, ReluRelax};
use super::{ibp, linear, BoxBatch, RegionBatch};
use crate::net::{Affine, Elementwise, Layer, Network};
use crate::spec::Norm;
use ndarray::{Array1, Array2};
use std::sync::OnceLock;

/// The operations the shared CROWN/IBP driver needs from a device. Matrices are row-major, one row
/// per linear bound; `Owners` maps each row to its batch row (its region).
pub trait Backend: Sync + Sized {
    /// Why an operation failed (never, on the CPU).
    type Error: std::fmt::Debug + Send;
    /// A matrix of linear-bound coefficients on the device.
    type Mat: Send + Sync;
    /// One value per linear-bound row on the device.
    type Vector: Send + Sync;
    /// The batch row of each linear-bound row, on the device.
    type Owners: Send + Sync;
    /// A network's affine weights as the device keeps them (uploaded once per network).
    type Weights: Send + Sync;
    /// The rounding-error magnitudes of one affine layer for a batch (see [`AffineMags`]).
    type Mags: Send + Sync;
    /// One ReLU layer's relaxation on the device (built from the host's [`ReluRelax`]).
    type Relax: Send + Sync;

    /// The backend's name in messages.
    fn name(&self) -> &'static str;

    /// Batch rows per backward-pass task and whether tasks run in parallel on the host's threads. Every
    /// row's value is independent of the grouping (each row's arithmetic touches that row only).
    fn task_rows(&self, coefficients_per_row: usize) -> (usize, bool);

    /// The network's affine weights on the device.
    fn weights(&self, net: &Network) -> Result<Self::Weights, Self::Error>;

    /// A linear-bound batch built on the host, on the device.
    fn upload(&self, host: LinearBatch) -> Result<LinearBatch<Self>, Self::Error>;

    /// The rows ±e_j of a boundary of `n` neurons for the (batch row, neuron) `pairs` — with `affine`
    /// (layer index and layer, `n` its input width), moved exactly through that affine layer: ±(W_j, b_j)
    /// (I·W needs no product, so no error term) — built where the backend keeps its batches
    /// ([`linear::signed_unit_rows`], [`linear::signed_affine_rows`]; row 2k is +, 2k+1 is −).
    fn signed_rows(&self, w: &Self::Weights, affine: Option<(usize, &Affine)>, pairs: &[(usize, usize)], n: usize) -> Result<LinearBatch<Self>, Self::Error>;

    /// The coefficients on the host.
    fn coef_to_host(&self, lin: &LinearBatch<Self>) -> Result<Array2<f64>, Self::Error>;

    /// Each row's constant minus its slack, rounded down, NaN → −∞ (CROWN-1 at the input).
    fn constant_lower(&self, lin: &LinearBatch<Self>) -> Result<Array1<f64>, Self::Error>;

    /// The magnitudes of affine layer `layer` for input magnitudes `mag_in` (rows × n_in).
    fn affine_mags(&self, w: &Self::Weights, layer: usize, a: &Affine, mag_in: &Array2<f64>) -> Result<Self::Mags, Self::Error>;

    /// A ReLU layer's relaxation on the device.
    fn relax(&self, rx: &ReluRelax) -> Result<Self::Relax, Self::Error>;

    /// CROWN-1's affine step: coef ← coef·W, constant += coef·b, errors to the slack.
    fn affine_back(&self, lin: &mut LinearBatch<Self>, w: &Self::Weights, layer: usize, a: &Affine, mags: &Self::Mags) -> Result<(), Self::Error>;

    /// CROWN-1's ReLU step with the relaxation's lines (lower slopes `alpha`, rows × neurons, when given).
    fn relu_back(&self, lin: &mut LinearBatch<Self>, rx: &ReluRelax, dev: &Self::Relax, alpha: Option<&Array2<f64>>) -> Result<(), Self::Error>;

    /// CROWN-1's elementwise step (FP-5), `mag_in` bounding |input| per batch row.
    fn elementwise_back(&self, lin: &mut LinearBatch<Self>, e: &Elementwise, mag_in: &Array2<f64>) -> Result<(), Self::Error>;

    /// BETA-1's Lagrange terms of split constraints (β·s per row and neuron).
    fn split_terms(&self, lin: &mut LinearBatch<Self>, signed_beta: &Array2<f64>, rx: &ReluRelax) -> Result<(), Self::Error>;

    /// CROWN-2: a sound lower bound of every row over its region.
    fn concretize(&self, lin: &LinearBatch<Self>, regions: &RegionBatch) -> Result<Array1<f64>, Self::Error>;

    /// IBP-1 for an affine layer on the regions' balls (centers and ε; exact per neuron up to rounding).
    fn ball_affine(&self, w: &Self::Weights, layer: usize, a: &Affine, regions: &RegionBatch) -> Result<BoxBatch, Self::Error>;

    /// IBP-1 for an affine layer over boxes.
    fn affine_box(&self, w: &Self::Weights, layer: usize, a: &Affine, inp: &BoxBatch) -> Result<BoxBatch, Self::Error>;
}

/// The CPU backend: ndarray (matrixmultiply GEMMs) and rayon over tasks of 16 batch rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

/// What the CPU backend derives from a network's affine layers once instead of in every step: |W|, |b|
/// and the dual norms of W's rows. Like the GPU's uploaded weights it belongs to the network it was
/// built from ([`Backend::weights`]); the CPU's callers build it from the network they borrow for the
/// call at hand (one bound call, one batch), never keep it across calls, so it cannot go stale; every
/// use checks the layer's shape.
#[derive(Debug)]
pub struct CpuWeights {
    layers: Vec<Option<CpuAffine>>,
}

/// One affine layer's derived quantities (see [`CpuWeights`]).
#[derive(Debug)]
pub struct CpuAffine {
    /// |W|, elementwise.
    pub abs_weight: Array2<f64>,
    /// |b|, elementwise.
    pub abs_bias: Array1<f64>,
    /// Upper bounds of ‖W_i‖_q for each row i, by norm (ℓ∞, ℓ2, ℓ1 balls), computed on first use.
    row_norms: [OnceLock<Array1<f64>>; 3],
}

impl CpuWeights {
    /// The derived quantities of `net`'s affine layers.
    pub fn of(net: &Network) -> Self {
        let layers = net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Affine(a) => Some(CpuAffine {
                    abs_weight: a.weight.mapv(f64::abs),
                    abs_bias: a.bias.mapv(f64::abs),
                    row_norms: Default::default(),
                }),
                Layer::Relu | Layer::Reshape { .. } | Layer::Elementwise(_) => None,
            })
            .collect();
        CpuWeights { layers }
    }

    /// Layer `layer`'s quantities, which must be those of `a` (checked: the same shape).
    pub fn layer(&self, layer: usize, a: &Affine) -> &CpuAffine {
        let l = self.layers.get(layer).and_then(|l| l.as_ref()).expect("the weights of an affine layer of this network");
        assert_eq!(l.abs_weight.dim(), a.weight.dim(), "CPU weights of another network (layer {layer})");
        l
    }
}

impl CpuAffine {
    /// Upper bounds of the dual norm ‖W_i‖_q of every row of W (`a`'s, this layer's) for balls of `norm`.
    pub fn row_norms(&self, a: &Affine, norm: Norm) -> &Array1<f64> {
        let k = match norm {
            Norm::Linf => 0,
            Norm::L2 => 1,
            Norm::L1 => 2,
        };
        self.row_norms[k].get_or_init(|| a.weight.outer_iter().map(|w| super::linear::dual_norm_up(norm, w)).collect())
    }
}

/// Batch rows per parallel task of a CPU backward pass (a constant: rows never depend on the grouping).
pub(crate) const OWNERS_PER_TASK: usize = 16;

/// A result that cannot fail, unwrapped.
pub(crate) fn infallible<T>(r: Result<T, std::convert::Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e {},
    }
}

impl Backend for Cpu {
    type Error = std::convert::Infallible;
    type Mat = Array2<f64>;
    type Vector = Array1<f64>;
    type Owners = Vec<usize>;
    type Weights = CpuWeights;
    type Mags = AffineMags;
    type Relax = ();

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn task_rows(&self, _coefficients_per_row: usize) -> (usize, bool) {
        (OWNERS_PER_TASK, true)
    }

    fn weights(&self, net: &Network) -> Result<CpuWeights, Self::Error> {
        Ok(CpuWeights::of(net))
    }

    fn upload(&self, host: LinearBatch) -> Result<LinearBatch, Self::Error> {
        Ok(host)
    }

    fn signed_rows(&self, _w: &CpuWeights, affine: Option<(usize, &Affine)>, pairs: &[(usize, usize)], n: usize) -> Result<LinearBatch, Self::Error> {
        Ok(match affine {
            Some((_, a)) => linear::signed_affine_rows(pairs, a),
            None => linear::signed_unit_rows(pairs, n),
        })
    }

    fn coef_to_host(&self, lin: &LinearBatch) -> Result<Array2<f64>, Self::Error> {
        Ok(lin.coef.clone())
    }

    fn constant_lower(&self, lin: &LinearBatch) -> Result<Array1<f64>, Self::Error> {
        Ok(lin.constant_lower())
    }

    fn affine_mags(&self, w: &CpuWeights, layer: usize, a: &Affine, mag_in: &Array2<f64>) -> Result<AffineMags, Self::Error> {
        Ok(AffineMags::with_weights(a, w.layer(layer, a), mag_in))
    }

    fn relax(&self, _rx: &ReluRelax) -> Result<(), Self::Error> {
        Ok(())
    }

    fn affine_back(&self, lin: &mut LinearBatch, _w: &CpuWeights, _layer: usize, a: &Affine, mags: &AffineMags) -> Result<(), Self::Error> {
        lin.through_affine(a, mags);
        Ok(())
    }

    fn relu_back(&self, lin: &mut LinearBatch, rx: &ReluRelax, _dev: &(), alpha: Option<&Array2<f64>>) -> Result<(), Self::Error> {
        lin.through_relu(rx, alpha);
        Ok(())
    }

    fn elementwise_back(&self, lin: &mut LinearBatch, e: &Elementwise, mag_in: &Array2<f64>) -> Result<(), Self::Error> {
        lin.through_elementwise(e, mag_in);
        Ok(())
    }

    fn split_terms(&self, lin: &mut LinearBatch, signed_beta: &Array2<f64>, rx: &ReluRelax) -> Result<(), Self::Error> {
        lin.add_split_terms(signed_beta, rx);
        Ok(())
    }

    fn concretize(&self, lin: &LinearBatch, regions: &RegionBatch) -> Result<Array1<f64>, Self::Error> {
        Ok(lin.concretize(regions))
    }

    fn ball_affine(&self, w: &CpuWeights, layer: usize, a: &Affine, regions: &RegionBatch) -> Result<BoxBatch, Self::Error> {
        Ok(ibp::ball_affine(a, w.layer(layer, a), regions))
    }

    fn affine_box(&self, w: &CpuWeights, layer: usize, a: &Affine, inp: &BoxBatch) -> Result<BoxBatch, Self::Error> {
        Ok(ibp::affine_box(a, &w.layer(layer, a).abs_weight, inp))
    }
}
