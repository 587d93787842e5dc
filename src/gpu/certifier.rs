//! Certifiers that run on the GPU, each the CPU certifier's contract on the other device: the same
//! lockstep radius search with GPU bounds (sound: directed rounding), and CERTIFY/PREDICT with GPU counts
//! (the same draws as the CPU path in input space, so the same answers).
use super::backend::{DevWeights, GpuBackend};
use super::cuda::Gpu;
use super::GpuError;
use crate::bound::{try_ibp_lower_bounds, BoundMethod, CrownBatch, RegionBatch};
use crate::cert::deterministic::{lockstep_search, Check, MarginCheck};
use crate::cert::{Batch, Certificate, Certifier, Extent, RadiusSearch};
use crate::net::Network;
use crate::progress::Progress;
use crate::smooth::sampler::{NoisyRecord, Phase};
use crate::smooth::{SmoothMode, SmoothingCertifier};
use crate::spec::{Decision, DomainBox, Norm};
use ndarray::{Array1, Array2};
use std::sync::Arc;

/// The deterministic certifier on the GPU: [`crate::cert::BoundCertifier`]'s contract (the same
/// driver, relaxation, intermediate-bound rule, domain box and radius search) with the bound steps on
/// the device, whose weights are uploaded once.
pub struct GpuBoundCertifier {
    backend: GpuBackend,
    weights: DevWeights,
    pub net: Network,
    /// IBP or CROWN (α-CROWN's slope optimization runs on the CPU only).
    pub method: BoundMethod,
    pub norm: Norm,
    pub decision: Decision,
    pub domain: Option<DomainBox>,
    pub search: RadiusSearch,
}

impl GpuBoundCertifier {
    /// The certifier, with `net`'s weights on the device; α-CROWN is refused.
    pub fn new(gpu: Arc<Gpu>, net: Network, method: BoundMethod, norm: Norm, decision: Decision, domain: Option<DomainBox>, search: RadiusSearch) -> Result<Self, GpuError> {
        if let BoundMethod::AlphaCrown(_) = method {
            return Err(alpha_unsupported());
        }
        let backend = GpuBackend { gpu };
        let weights = crate::bound::Backend::weights(&backend, &net)?;
        Ok(GpuBoundCertifier { backend, weights, net, method, norm, decision, domain, search })
    }

    /// Sound lower bounds of spec[b]·f(x) over each region on the device (rows × m).
    pub fn lower_bounds(&self, regions: &RegionBatch, spec: ndarray::ArrayView3<f64>) -> Result<Array2<f64>, GpuError> {
        match &self.method {
            BoundMethod::Ibp => try_ibp_lower_bounds(&self.backend, &self.weights, &self.net, regions, spec),
            BoundMethod::Crown(inter) => CrownBatch::on(&self.backend, &self.weights, &self.net, regions.clone(), *inter)?.try_lower_bounds(spec),
            BoundMethod::AlphaCrown(_) => Err(alpha_unsupported()),
        }
    }

    /// As [`lower_bounds`](Self::lower_bounds), with each region's floor (RADIUS-4: CROWN's; 0 for IBP).
    pub fn lower_bounds_and_floors(&self, regions: &RegionBatch, spec: ndarray::ArrayView3<f64>) -> Result<(Array2<f64>, Array1<f64>), GpuError> {
        match &self.method {
            BoundMethod::Ibp => Ok((try_ibp_lower_bounds(&self.backend, &self.weights, &self.net, regions, spec)?, Array1::zeros(regions.len()))),
            BoundMethod::Crown(inter) => CrownBatch::on(&self.backend, &self.weights, &self.net, regions.clone(), *inter)?.try_lower_bounds_and_floors(spec),
            BoundMethod::AlphaCrown(_) => Err(alpha_unsupported()),
        }
    }

    /// For each row: the least proven lower bound of the margins of answer `classes[b]` over the
    /// ε_b-ball, and its floor (the CPU certifier's [`MarginCheck`]).
    pub fn certifies(&self, centers: ndarray::ArrayView2<f64>, classes: &[usize], eps: &Array1<f64>) -> Result<Vec<Check>, GpuError> {
        let check = MarginCheck { outputs: self.net.output_dim(), decision: self.decision, norm: self.norm, domain: self.domain.as_ref() };
        check.least(centers, classes, eps, |regions, spec| self.lower_bounds_and_floors(regions, spec))
    }
}

fn alpha_unsupported() -> GpuError {
    GpuError::Unsupported("α-CROWN (its slope optimization runs on the CPU)".into())
}

impl Certifier for GpuBoundCertifier {
    fn method(&self) -> &'static str {
        self.method.name()
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        self.search.validate()?;
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        let failure = std::sync::Mutex::new(None);
        let certs = lockstep_search(&self.net, self.decision, self.norm, &self.search, batch, progress, |centers, classes, eps| {
            match self.certifies(centers, classes, eps) {
                Ok(v) => v,
                Err(e) => {
                    // never certified: the search ends, and the error is returned below
                    *failure.lock().expect("lock") = Some(e);
                    vec![Check { margin: f64::NEG_INFINITY, floor: 0.0 }; classes.len()]
                }
            }
        })?;
        match failure.into_inner().expect("lock") {
            Some(e) => Err(e.into()),
            None => Ok(certs),
        }
    }
}

/// Randomized smoothing with counts from the GPU.
pub struct GpuSmoothing {
    pub gpu: Arc<Gpu>,
    pub inner: SmoothingCertifier,
}

impl Certifier for GpuSmoothing {
    fn method(&self) -> &'static str {
        "smooth"
    }

    fn extent(&self) -> Extent {
        Extent::Ball(Norm::L2)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        let o = &self.inner.options;
        o.validate()?;
        batch.check_width(self.inner.net.input_dim())?;
        let recs: Vec<NoisyRecord> = (0..batch.inputs.nrows()).map(|i| NoisyRecord { x: batch.inputs.row(i), row: batch.row_ids[i] as u64 }).collect();
        let sampler = crate::smooth::sampler::Sampler::new(&self.inner.net, o.sigma, o.seed, self.inner.decision, o.noise_space)?;
        if o.eval != crate::smooth::sampler::Eval::F64 {
            return Err(GpuError::Unsupported("--eval f32 (the device evaluates in binary64); pass --eval f64".into()).into());
        }
        let dev = self.gpu.smoothing(&sampler)?;
        let run = |phase, n| self.gpu.smooth_counts(&dev, &recs, phase, n);
        let start = std::time::Instant::now();
        let selection = match o.mode {
            SmoothMode::Certify => Some(run(Phase::Selection, o.n0)?),
            SmoothMode::Predict | SmoothMode::AlwaysLabel => None,
        };
        let estimation = run(Phase::Estimation, o.n)?;
        let share = start.elapsed() / recs.len().max(1) as u32;
        let certs = (0..recs.len())
            .map(|i| {
                let (answer, radius, _) = self.inner.decide(selection.as_ref().map(|s| &s[i][..]), &estimation[i]);
                Certificate { row: batch.row_ids[i], outcome: o.outcome(answer, radius), extent: Extent::Ball(Norm::L2), time: share }
            })
            .collect();
        progress.advance(recs.len() as u64);
        Ok(certs)
    }
}
