//! Randomized smoothing's counts on the GPU: the CPU sampler's plan (`crate::smooth::sampler`) — its
//! folded network, its noise space (input, or first-layer through the same Cholesky factor) and its
//! numbering of the normals — run as kernels (`kernels/smooth.cu`: draws, bias + ReLU, per-class
//! counting) around cuBLAS DGEMMs for the affine layers. The draws are the CPU's bits (SMOOTH-8, GPU-3);
//! the forward pass differs from the CPU's only in the GEMMs' summation order, so the counts equal the
//! CPU's except for samples whose two best outputs tie within rounding.
use super::cuda::{Gpu, GpuResult};
use super::{driver, GpuError};
use crate::net::{Layer, Network};
use crate::smooth::sampler::{NoisyRecord, Phase, Sampler};
use crate::spec::Decision;
use cudarc::driver::{CudaSlice, PushKernelArg};

/// A sampler's network and noise plan on the device.
pub struct DevSampler<'s, 'n> {
    sampler: &'s Sampler<'n>,
    /// Per layer: (W, b) for affine layers.
    layers: Vec<Option<(CudaSlice<f64>, CudaSlice<f64>)>>,
    /// First-layer space: the affine layer the noise enters after, and Lᵀ (h × h) on the device.
    plan: Option<(usize, CudaSlice<f64>, usize)>,
    sigma: f64,
    seed: u64,
    decision: Decision,
}

/// Launches `$kernel` over `$count` items with the listed arguments (as in `super::backend`).
macro_rules! launch {
    ($gpu:expr, $kernel:literal, $count:expr, $($arg:expr),+ $(,)?) => {{
        let mut b = $gpu.stream.launch_builder($gpu.function($kernel)?);
        // SAFETY: the arguments follow the kernel's signature in kernels/smooth.cu, and every buffer
        // holds the elements the kernel indexes (sizes set by the caller from the same dimensions).
        unsafe { b $(.arg($arg))+ .launch($gpu.grid($count as u64)) }.map_err(driver($kernel))?;
    }};
}

impl Gpu {
    /// `sampler`'s network and plan on the device (`sigma`, `seed`, `decision` are the sampler's).
    pub fn smoothing<'s, 'n>(&self, sampler: &'s Sampler<'n>, sigma: f64, seed: u64, decision: Decision) -> GpuResult<DevSampler<'s, 'n>> {
        let net = sampler.network();
        let layers = net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Affine(a) => Ok(Some((self.upload(a.weight.as_standard_layout().as_slice().expect("standard"))?, self.upload(&a.bias.to_vec())?))),
                Layer::Relu | Layer::Reshape { .. } => Ok(None),
                Layer::Elementwise(_) => Err(GpuError::Unsupported("an elementwise layer that does not fold into an affine layer, in smoothing".into())),
            })
            .collect::<GpuResult<_>>()?;
        let plan = match sampler.first_layer_plan() {
            Some((layer, chol_t)) => Some((layer, self.upload(chol_t.as_standard_layout().as_slice().expect("standard"))?, chol_t.nrows())),
            None => None,
        };
        Ok(DevSampler { sampler, layers, plan, sigma, seed, decision })
    }

    /// For each record, the class counts over `n` draws of `phase` — the CPU's `Sampler::counts`
    /// (same draws, same noise space), with the same error for a record whose outputs overflow; a
    /// device failure is a [`GpuError`] in the result.
    pub fn smooth_counts(&self, dev: &DevSampler, records: &[NoisyRecord], phase: Phase, n: u64) -> crate::Result<Vec<Vec<u64>>> {
        let net: &Network = dev.sampler.network();
        let k = net.output_dim();
        let dims = net.boundary_dims().map_err(|e| GpuError::Unsupported(e.to_string()))?;
        let m = dev.sampler.normals_per_sample();
        // samples per chunk: every activation of a chunk fits in a quarter of the free memory
        let per_sample = 8 * (m + dims.iter().sum::<usize>()).max(1);
        let free = self.memory()?.0;
        let chunk = ((free / 4) / per_sample).clamp(1, 1 << 20) as u64;
        let mut out = Vec::with_capacity(records.len());
        for rec in records {
            let counts = self.zeros::<u64>(k + 1)?;
            let x0 = self.upload(&rec.x.to_vec())?;
            let base = match &dev.plan {
                Some((layer, _, _)) => match &net.layers[*layer] {
                    Layer::Affine(a) => Some(self.upload(&(a.weight.dot(&rec.x) + &a.bias).to_vec())?),
                    _ => return Err(GpuError::Unsupported("a first-layer plan that does not point at an affine layer".into()).into()),
                },
                None => None,
            };
            let mut start = 0u64;
            while start < n {
                let rows = chunk.min(n - start) as usize;
                self.chunk_counts(dev, &x0, base.as_ref(), 4 * rec.row + phase as u64, start, rows, &counts)?;
                start += rows as u64;
            }
            let c = self.download(&counts, k + 1)?;
            out.push(crate::smooth::sampler::without_overflow(c, rec.row, n)?);
        }
        Ok(out)
    }

    /// Adds the counts of samples start … start+rows−1 of one record's `stream`.
    #[allow(clippy::too_many_arguments)]
    fn chunk_counts(&self, dev: &DevSampler, x0: &CudaSlice<f64>, base: Option<&CudaSlice<f64>>, stream: u64, start: u64, rows: usize, counts: &CudaSlice<u64>) -> GpuResult<()> {
        let net = dev.sampler.network();
        let m = dev.sampler.normals_per_sample();
        let count = rows * m;
        let noise = self.zeros::<f64>(count)?;
        let input_space = dev.plan.is_none() as i32;
        launch!(self, "rp_noise_rows", count, &dev.seed, &stream, &(start * m as u64), &(count as u64), &(m as u64), self.table(), x0, &dev.sigma, &input_space, &noise);
        let relu_at = |i: usize| matches!(net.layers.get(i), Some(Layer::Relu));
        // the activations after the noise enters, and the first layer still to apply
        let (mut cur, mut width, mut next) = match (&dev.plan, base) {
            (Some((layer, chol_t, h)), Some(base)) => {
                let pre = self.gemm(&noise, rows, *h, chol_t, *h, false)?;
                let relu = relu_at(layer + 1) as i32;
                launch!(self, "rp_bias_act", rows * h, &pre, &(rows as u64), &(*h as u64), base, &relu);
                (pre, *h, layer + 1 + relu as usize)
            }
            _ => (noise, m, 0),
        };
        while next < net.layers.len() {
            match &net.layers[next] {
                Layer::Affine(a) => {
                    let (w, b) = dev.layers[next].as_ref().expect("uploaded with the network");
                    let y = self.gemm(&cur, rows, width, w, a.out_dim(), true)?;
                    let relu = relu_at(next + 1) as i32;
                    launch!(self, "rp_bias_act", rows * a.out_dim(), &y, &(rows as u64), &(a.out_dim() as u64), b, &relu);
                    (cur, width) = (y, a.out_dim());
                    next += 1 + relu as usize;
                }
                Layer::Relu => {
                    let y = self.zeros::<f64>(rows * width)?;
                    launch!(self, "rp_relu", rows * width, &cur, &((rows * width) as u64), &y);
                    cur = y;
                    next += 1;
                }
                Layer::Reshape { .. } => next += 1,
                Layer::Elementwise(_) => return Err(GpuError::Unsupported("an unfolded elementwise layer in smoothing".into())),
            }
        }
        let argmin = (dev.decision == Decision::Argmin) as i32;
        launch!(self, "rp_decide_count", rows, &cur, &(rows as u64), &(width as u64), &argmin, counts);
        Ok(())
    }
}
