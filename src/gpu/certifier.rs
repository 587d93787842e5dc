//! Certifiers that run on the GPU, each the CPU certifier's contract on the other device: the same
//! lockstep radius search with GPU bounds (sound: directed rounding), and CERTIFY/PREDICT with GPU counts
//! (the same draws as the CPU path in input space, so the same answers).
use super::cuda::Gpu;
use crate::cert::{deterministic::lockstep_search, Batch, Certificate, Certifier, Extent, RadiusSearch};
use crate::net::Network;
use crate::progress::Progress;
use crate::smooth::sampler::{NoisyRecord, Phase};
use crate::smooth::{SmoothMode, SmoothingCertifier};
use crate::spec::{Decision, DomainBox, Norm};
use std::sync::Arc;

/// Which bounds the GPU computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuBounds {
    Ibp,
    Crown,
}

/// The deterministic certifier on the GPU.
pub struct GpuBoundCertifier {
    pub gpu: Arc<Gpu>,
    pub net: Network,
    pub bounds: GpuBounds,
    pub norm: Norm,
    pub decision: Decision,
    pub domain: Option<DomainBox>,
    pub search: RadiusSearch,
}

impl Certifier for GpuBoundCertifier {
    fn method(&self) -> &'static str {
        match self.bounds {
            GpuBounds::Ibp => "ibp",
            GpuBounds::Crown => "crown",
        }
    }

    fn extent(&self) -> Extent {
        Extent::Ball(self.norm)
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        self.search.validate()?;
        batch.check_width(self.net.input_dim())?;
        batch.check_domain(self.domain.as_ref())?;
        let k = self.net.output_dim();
        let failure = std::sync::Mutex::new(None);
        let certs = lockstep_search(&self.net, self.decision, self.norm, &self.search, batch, progress, |centers, classes, eps| {
            // one batched launch sequence per answer class (rows of a class share the specification)
            let mut ok = vec![f64::NEG_INFINITY; classes.len()];
            let mut by_class: Vec<usize> = classes.to_vec();
            by_class.sort_unstable();
            by_class.dedup();
            for c in by_class {
                let idx: Vec<usize> = (0..classes.len()).filter(|&i| classes[i] == c).collect();
                let spec = self.decision.margin_spec(c, k);
                let rows = centers.select(ndarray::Axis(0), &idx);
                let e = eps.select(ndarray::Axis(0), &idx);
                let lower = match self.bounds {
                    GpuBounds::Crown => self.gpu.crown_lower(&self.net, rows.view(), e.view(), self.norm, self.domain.as_ref(), spec.view()),
                    GpuBounds::Ibp => self
                        .gpu
                        .ibp(&self.net, rows.view(), e.view(), self.domain.as_ref())
                        .map(|(lo, hi)| ndarray::Array2::from_shape_fn((idx.len(), spec.nrows()), |(r, s)| margin_lower(spec.row(s), lo.row(r), hi.row(r)))),
                };
                match lower {
                    Ok(lb) => {
                        for (q, &i) in idx.iter().enumerate() {
                            ok[i] = crate::cert::deterministic::least(&lb.row(q));
                        }
                    }
                    Err(e) => *failure.lock().expect("lock") = Some(e),
                }
            }
            ok
        })?;
        match failure.into_inner().expect("lock") {
            Some(e) => Err(crate::Error::Option(format!("GPU certification failed: {e}"))),
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
        let run = |phase, n| self.gpu.smooth_counts(&self.inner.net, o.sigma, o.seed, self.inner.decision, &recs, phase, n).map_err(crate::Error::Option);
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

/// Lower bound of w·y over the output box [lo, hi], rigorous in floating point: the dot product at the
/// worst-case corner minus its FP-2 rounding bound.
fn margin_lower(w: ndarray::ArrayView1<f64>, lo: ndarray::ArrayView1<f64>, hi: ndarray::ArrayView1<f64>) -> f64 {
    let k = lo.len();
    let corner: Vec<f64> = w.iter().enumerate().map(|(j, &v)| if v >= 0.0 { lo[j] } else { hi[j] }).collect();
    let value: f64 = w.iter().zip(&corner).map(|(a, x)| a * x).sum();
    let abs: f64 = w.iter().zip(&corner).map(|(a, x)| (a * x).abs()).sum();
    crate::rigor::down(value - crate::rigor::dot_error(k, crate::rigor::nonneg_dot_upper(abs, k)))
}
