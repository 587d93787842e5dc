//! Randomized smoothing's counts on the GPU: the CPU sampler's plan (`crate::smooth::sampler`) — its
//! folded network, its noise space (input, or first-layer through the same Cholesky factor) and its
//! numbering of the normals — with the CPU's one walk over the layers (`sampler::forward_through`) on
//! a device block whose steps are cuBLAS DGEMMs and kernels (`kernels/smooth.cu`: draws, bias, ReLU,
//! per-class counting). The draws are the CPU's bits (SMOOTH-8, GPU-3);
//! the forward pass differs from the CPU's only in the GEMMs' summation order, so the counts equal the
//! CPU's except for samples whose two best outputs tie within rounding.
use super::cuda::{Gpu, GpuResult};
use super::GpuError;
use crate::net::{Layer, Network};
use crate::smooth::sampler::{forward_through, NoisyRecord, Phase, SampleDevice, Sampler};
use crate::spec::Decision;
use cudarc::driver::{CudaSlice, PushKernelArg};

/// Samples per chunk of a record's draws (activations of 2¹⁸ samples of a 784→256→256→10 network:
/// 4 GB).
const SAMPLES_PER_CHUNK: u64 = 1 << 18;

/// One block of samples on the device: each boundary's activations (rows × width) once computed.
struct GpuBlock<'g> {
    gpu: &'g Gpu,
    layers: &'g [Option<(CudaSlice<f64>, CudaSlice<f64>)>],
    acts: Vec<Option<(CudaSlice<f64>, usize)>>,
    rows: usize,
}

impl GpuBlock<'_> {
    fn input(&self, i: usize) -> (&CudaSlice<f64>, usize) {
        let (h, w) = self.acts[i].as_ref().expect("computed in order");
        (h, *w)
    }
}

/// The forward pass's steps on the device ([`forward_through`] walks the layers, as on the CPU).
impl SampleDevice for GpuBlock<'_> {
    type Error = GpuError;

    fn affine(&mut self, i: usize, a: &crate::net::Affine) -> GpuResult<()> {
        let (w, b) = self.layers[i].as_ref().expect("uploaded with the network");
        let (h, width) = self.input(i);
        let y = self.gpu.gemm(h, self.rows, width, w, a.out_dim(), true)?;
        let gpu = self.gpu;
        launch!(gpu, "rp_bias_act", self.rows * a.out_dim(), &y, &(self.rows as u64), &(a.out_dim() as u64), b, &0i32);
        self.acts[i + 1] = Some((y, a.out_dim()));
        Ok(())
    }

    fn elementwise(&mut self, _i: usize, _e: &crate::net::Elementwise) -> GpuResult<()> {
        Err(GpuError::Unsupported("an elementwise layer that does not fold into an affine layer, in smoothing".into()))
    }

    fn relu(&mut self, i: usize) -> GpuResult<()> {
        let (h, width) = self.input(i);
        let count = self.rows * width;
        let y = self.gpu.zeros::<f64>(count)?;
        let gpu = self.gpu;
        launch!(gpu, "rp_relu", count, h, &(count as u64), &y);
        self.acts[i + 1] = Some((y, width));
        Ok(())
    }

    fn copy(&mut self, i: usize) -> GpuResult<()> {
        self.acts[i + 1] = self.acts[i].take();
        Ok(())
    }
}

/// A sampler's network and noise plan on the device.
pub struct DevSampler<'s, 'n> {
    sampler: &'s Sampler<'n>,
    /// Per layer: (W, b) for affine layers.
    layers: Vec<Option<(CudaSlice<f64>, CudaSlice<f64>)>>,
    /// First-layer space: the affine layer the noise enters after, and Lᵀ (h × h) on the device.
    plan: Option<(usize, CudaSlice<f64>, usize)>,
}

impl Gpu {
    /// `sampler`'s network and plan on the device.
    pub fn smoothing<'s, 'n>(&self, sampler: &'s Sampler<'n>) -> GpuResult<DevSampler<'s, 'n>> {
        let net = sampler.network();
        let layers = net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Affine(a) => Ok(Some((self.upload(a.weight.as_standard_layout().as_slice().expect("standard"))?, self.upload(&a.bias.to_vec())?))),
                Layer::Relu | Layer::Reshape { .. } => Ok(None),
                Layer::Elementwise(_) => Ok(None), // folded by the sampler; an unfolded one is refused when reached
            })
            .collect::<GpuResult<_>>()?;
        let plan = match sampler.first_layer_plan() {
            Some((layer, chol_t)) => Some((layer, self.upload(chol_t.as_standard_layout().as_slice().expect("standard"))?, chol_t.nrows())),
            None => None,
        };
        Ok(DevSampler { sampler, layers, plan })
    }

    /// For each record, the class counts over `n` draws of `phase` — the CPU's `Sampler::counts`
    /// (same draws, same noise space), with the same error for a record whose outputs overflow; a
    /// device failure is a [`GpuError`] in the result.
    pub fn smooth_counts(&self, dev: &DevSampler, records: &[NoisyRecord], phase: Phase, n: u64) -> crate::Result<Vec<Vec<u64>>> {
        let net: &Network = dev.sampler.network();
        let k = net.output_dim();
        let dims = net.boundary_dims().map_err(|e| GpuError::Unsupported(e.to_string()))?;
        let m = dev.sampler.normals_per_sample();
        // samples per chunk: a constant, so the GEMMs' shapes (by which cuBLAS picks its summation
        // order) are the same on every run whatever memory is free; halved only where a chunk's
        // activations would not fit in a quarter of the free memory
        let per_sample = 8 * (m + dims.iter().sum::<usize>()).max(1) as u64;
        let free = self.memory()?.0 as u64;
        let mut chunk = SAMPLES_PER_CHUNK;
        while chunk > 1 && chunk * per_sample > free / 4 {
            chunk /= 2;
        }
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
        let (seed, sigma) = (dev.sampler.seed(), dev.sampler.sigma());
        launch!(self, "rp_noise_rows", count, &seed, &stream, &(start * m as u64), &(count as u64), &(m as u64), self.table(), x0, &sigma, &input_space, &noise);
        // the block's activations where the noise enters: boundary 0 (input space) or after the first
        // affine layer (z·Lᵀ + W₁x₀ + b₁), as the CPU sampler's plan says
        let mut acts: Vec<Option<(CudaSlice<f64>, usize)>> = (0..=net.layers.len()).map(|_| None).collect();
        let first = match (&dev.plan, base) {
            (Some((layer, chol_t, h)), Some(base)) => {
                let pre = self.gemm(&noise, rows, *h, chol_t, *h, false)?;
                launch!(self, "rp_bias_act", rows * h, &pre, &(rows as u64), &(*h as u64), base, &0i32);
                acts[layer + 1] = Some((pre, *h));
                layer + 1
            }
            _ => {
                acts[0] = Some((noise, m));
                0
            }
        };
        let mut block = GpuBlock { gpu: self, layers: &dev.layers, acts, rows };
        forward_through(&mut block, &net.layers, first)?;
        let (cur, width) = block.acts.pop().flatten().expect("the output block");
        let argmin = (dev.sampler.decision() == Decision::Argmin) as i32;
        launch!(self, "rp_decide_count", rows, &cur, &(rows as u64), &(width as u64), &argmin, counts);
        Ok(())
    }
}
