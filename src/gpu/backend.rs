//! The bound backend on the GPU: the CPU's CROWN/IBP driver (`crate::bound`) evaluated with the
//! fixed-order GEMM and the other kernels of `kernels/bound.cu`, whose per-row arithmetic is the CPU's line by line
//! (`kernels/rp_bound.cuh`). Weights stay on the device for the backend's life (one network);
//! linear-bound batches live there between steps; boxes and relaxations are decided on the host by the
//! shared driver and uploaded. Rows are processed in tasks sized from the device's free memory.
use super::cuda::{Gpu, GpuResult};
use super::GpuError;
use crate::bound::{AffineMags, Backend, BoxBatch, LinearBatch, RegionBatch, ReluRelax, ReluState};
use crate::net::{Affine, ElemOp, Elementwise, Layer, Network};
use crate::spec::Norm;
use cudarc::driver::{CudaSlice, PushKernelArg};
use ndarray::{Array1, Array2};
use std::sync::Arc;

/// The GPU as a bound backend.
#[derive(Clone)]
pub struct GpuBackend {
    pub gpu: Arc<Gpu>,
}

/// A row-major matrix on the device.
pub struct DevMat {
    pub data: CudaSlice<f64>,
    pub rows: usize,
    pub cols: usize,
}

/// One affine layer on the device: W (out × in), |W| and b.
pub struct DevAffine {
    w: CudaSlice<f64>,
    abs_w: CudaSlice<f64>,
    bias: CudaSlice<f64>,
    abs_bias: CudaSlice<f64>,
}

/// A network's affine layers on the device, by layer index.
pub struct DevWeights {
    layers: Vec<Option<DevAffine>>,
}

/// [`AffineMags`] on the device.
pub struct DevMags {
    weight_mag: CudaSlice<f64>,
    tail: CudaSlice<f64>,
}

/// [`ReluRelax`] on the device (batch rows × neurons each).
pub struct DevRelax {
    unstable: CudaSlice<u8>,
    pos_mult: CudaSlice<f64>,
    neg_mult: CudaSlice<f64>,
    neg_intercept: CudaSlice<f64>,
    keep: CudaSlice<f64>,
    mag: CudaSlice<f64>,
    mag_sum: CudaSlice<f64>,
}

/// Bytes of device memory per coefficient a task may use (its coefficient matrix, the product's, and
/// the per-row buffers, with room to spare).
const BYTES_PER_COEFFICIENT: usize = 8 * 4;

impl GpuBackend {
    fn layer<'w>(&self, w: &'w DevWeights, i: usize) -> GpuResult<&'w DevAffine> {
        w.layers.get(i).and_then(|l| l.as_ref()).ok_or_else(|| GpuError::Unsupported(format!("layer {i} is not an affine layer of the network whose weights were uploaded")))
    }

    fn flat(&self, a: &Array2<f64>) -> GpuResult<CudaSlice<f64>> {
        self.gpu.upload(a.as_standard_layout().as_slice().expect("standard layout"))
    }

    fn to_array(&self, dev: &CudaSlice<f64>, rows: usize, cols: usize) -> GpuResult<Array2<f64>> {
        Ok(Array2::from_shape_vec((rows, cols), self.gpu.download(dev, rows * cols)?).expect("rows × cols"))
    }

    fn boxes(&self, lower: CudaSlice<f64>, upper: CudaSlice<f64>, rows: usize, cols: usize) -> GpuResult<BoxBatch> {
        Ok(BoxBatch { lower: self.to_array(&lower, rows, cols)?, upper: self.to_array(&upper, rows, cols)? })
    }
}

impl Backend for GpuBackend {
    type Error = GpuError;
    type Mat = DevMat;
    type Vector = CudaSlice<f64>;
    type Owners = CudaSlice<u64>;
    type Weights = DevWeights;
    type Mags = DevMags;
    type Relax = DevRelax;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn task_rows(&self, coefficients_per_row: usize) -> (usize, bool) {
        let free = self.gpu.memory().map(|m| m.0).unwrap_or(1 << 30);
        let rows = (free / 2) / (BYTES_PER_COEFFICIENT * coefficients_per_row.max(1));
        (rows.clamp(1, 1 << 22), false)
    }

    fn weights(&self, net: &Network) -> GpuResult<DevWeights> {
        let layers = net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Affine(a) => Ok(Some(DevAffine {
                    w: self.flat(&a.weight)?,
                    abs_w: self.flat(&a.weight.mapv(f64::abs))?,
                    bias: self.gpu.upload(&a.bias.to_vec())?,
                    abs_bias: self.gpu.upload(&a.bias.mapv(f64::abs).to_vec())?,
                })),
                Layer::Relu | Layer::Reshape { .. } | Layer::Elementwise(_) => Ok(None),
            })
            .collect::<GpuResult<_>>()?;
        Ok(DevWeights { layers })
    }

    fn upload(&self, host: LinearBatch) -> GpuResult<LinearBatch<Self>> {
        let (rows, cols) = host.coef.dim();
        let owner: Vec<u64> = host.owner.iter().map(|&o| o as u64).collect();
        Ok(LinearBatch {
            coef: DevMat { data: self.flat(&host.coef)?, rows, cols },
            constant: self.gpu.upload(&host.constant.to_vec())?,
            slack: self.gpu.upload(&host.slack.to_vec())?,
            owner: self.gpu.upload(&owner)?,
        })
    }

    fn signed_rows(&self, w: &DevWeights, affine: Option<(usize, &Affine)>, pairs: &[(usize, usize)], n: usize) -> GpuResult<LinearBatch<Self>> {
        let rows = 2 * pairs.len();
        let (pair_owner, pair_neuron): (Vec<u64>, Vec<u64>) = pairs.iter().map(|&(b, j)| (b as u64, j as u64)).unzip();
        let (pair_owner, pair_neuron) = (self.gpu.upload(&pair_owner)?, self.gpu.upload(&pair_neuron)?);
        let (coef, constant, slack, owner) = (self.gpu.zeros::<f64>(rows * n)?, self.gpu.zeros::<f64>(rows)?, self.gpu.zeros::<f64>(rows)?, self.gpu.zeros::<u64>(rows)?);
        let none = self.gpu.zeros::<f64>(1)?;
        let (wt, bias, is_affine) = match affine {
            Some((layer, _)) => {
                let l = self.layer(w, layer)?;
                (&l.w, &l.bias, 1i32)
            }
            None => (&none, &none, 0i32),
        };
        launch!(self.gpu, "rp_signed_rows", rows * n, &pair_owner, &pair_neuron, &(pairs.len() as u64), &(n as u64), wt, bias, &is_affine, &coef, &constant, &owner);
        Ok(LinearBatch { coef: DevMat { data: coef, rows, cols: n }, constant, slack, owner })
    }

    fn coef_to_host(&self, lin: &LinearBatch<Self>) -> GpuResult<Array2<f64>> {
        self.to_array(&lin.coef.data, lin.coef.rows, lin.coef.cols)
    }

    fn constant_lower(&self, lin: &LinearBatch<Self>) -> GpuResult<Array1<f64>> {
        let rows = lin.coef.rows;
        let out = self.gpu.zeros::<f64>(rows)?;
        launch!(self.gpu, "rp_constant_lower", rows, &lin.constant, &lin.slack, &(rows as u64), &out);
        Ok(Array1::from(self.gpu.download(&out, rows)?))
    }

    fn affine_mags(&self, w: &DevWeights, layer: usize, a: &Affine, mag_in: &Array2<f64>) -> GpuResult<DevMags> {
        let l = self.layer(w, layer)?;
        let (rows, n_in) = mag_in.dim();
        let weight_mag = self.gpu.gemm_ordered(&self.flat(mag_in)?, rows, n_in, &l.abs_w, a.out_dim(), true)?;
        let count = rows * a.out_dim();
        launch!(self.gpu, "rp_mags_finish", count, &weight_mag, &(count as u64), &(n_in as u64));
        // the per-row tail term on the host, as AffineMags::new computes it
        let tail = AffineMags::tail(a, mag_in);
        Ok(DevMags { weight_mag, tail: self.gpu.upload(&tail.to_vec())? })
    }

    fn relax(&self, rx: &ReluRelax) -> GpuResult<DevRelax> {
        let unstable: Vec<u8> = rx.state.iter().map(|&s| (s == ReluState::Unstable) as u8).collect();
        Ok(DevRelax {
            unstable: self.gpu.upload(&unstable)?,
            pos_mult: self.flat(&rx.pos_mult)?,
            neg_mult: self.flat(&rx.neg_mult)?,
            neg_intercept: self.flat(&rx.neg_intercept)?,
            keep: self.flat(&rx.keep)?,
            mag: self.flat(&rx.mag)?,
            mag_sum: self.gpu.upload(&rx.mag_sum.to_vec())?,
        })
    }

    fn affine_back(&self, lin: &mut LinearBatch<Self>, w: &DevWeights, layer: usize, a: &Affine, mags: &DevMags) -> GpuResult<()> {
        let l = self.layer(w, layer)?;
        let (rows, m) = (lin.coef.rows, lin.coef.cols);
        // the error terms read the coefficients before the product (as the CPU's step does)
        launch!(self.gpu, "rp_affine_slack", rows, &lin.coef.data, &(rows as u64), &(m as u64), &lin.owner, &mags.weight_mag, &mags.tail, &l.abs_bias, &l.bias, &lin.constant, &lin.slack);
        let data = self.gpu.gemm_ordered(&lin.coef.data, rows, m, &l.w, a.in_dim(), false)?;
        lin.coef = DevMat { data, rows, cols: a.in_dim() };
        Ok(())
    }

    fn relu_back(&self, lin: &mut LinearBatch<Self>, _rx: &ReluRelax, dev: &DevRelax, alpha: Option<&Array2<f64>>) -> GpuResult<()> {
        let (rows, n) = (lin.coef.rows, lin.coef.cols);
        let (alpha_d, has) = match alpha {
            Some(a) => (self.flat(a)?, 1i32),
            None => (self.gpu.zeros::<f64>(1)?, 0i32),
        };
        launch!(
            self.gpu, "rp_relu_back", rows,
            &lin.coef.data, &(rows as u64), &(n as u64), &lin.owner, &dev.unstable, &dev.pos_mult, &dev.neg_mult, &dev.neg_intercept,
            &dev.keep, &dev.mag, &dev.mag_sum, &alpha_d, &has, &lin.constant, &lin.slack
        );
        Ok(())
    }

    fn elementwise_back(&self, lin: &mut LinearBatch<Self>, e: &Elementwise, mag_in: &Array2<f64>) -> GpuResult<()> {
        let (rows, n) = (lin.coef.rows, lin.coef.cols);
        let (scale, shift, scale_err) = e.scale_shift_with_error();
        let exact = matches!(e.op, ElemOp::Add | ElemOp::Sub | ElemOp::SubFrom) as i32;
        let (scale, shift, scale_err) = (self.gpu.upload(&scale.to_vec())?, self.gpu.upload(&shift.to_vec())?, self.gpu.upload(&scale_err.to_vec())?);
        let mag = self.flat(mag_in)?;
        launch!(self.gpu, "rp_elementwise_back", rows, &lin.coef.data, &(rows as u64), &(n as u64), &lin.owner, &scale, &shift, &scale_err, &mag, &exact, &lin.constant, &lin.slack);
        Ok(())
    }

    fn split_terms(&self, lin: &mut LinearBatch<Self>, signed_beta: &Array2<f64>, rx: &ReluRelax) -> GpuResult<()> {
        let (rows, n) = (lin.coef.rows, lin.coef.cols);
        let (beta, mag) = (self.flat(signed_beta)?, self.flat(&rx.mag)?);
        launch!(self.gpu, "rp_split_back", rows, &lin.coef.data, &(rows as u64), &(n as u64), &lin.owner, &beta, &mag, &lin.slack);
        Ok(())
    }

    fn concretize(&self, lin: &LinearBatch<Self>, regions: &RegionBatch) -> GpuResult<Array1<f64>> {
        let (rows, d) = (lin.coef.rows, lin.coef.cols);
        let mode = crate::bound::linear::Concretization::of(regions);
        let centers = self.flat(&regions.centers.to_owned())?;
        let eps = self.gpu.upload(&regions.eps.to_vec())?;
        let (lo, hi) = match mode {
            crate::bound::linear::Concretization::Ball => (self.gpu.zeros::<f64>(1)?, self.gpu.zeros::<f64>(1)?),
            _ => {
                let b = crate::bound::linear::input_box(regions);
                (self.flat(&b.lower)?, self.flat(&b.upper)?)
            }
        };
        let norm: i32 = match regions.norm {
            Norm::Linf => 0,
            Norm::L2 => 1,
            Norm::L1 => 2,
        };
        let out = self.gpu.zeros::<f64>(rows)?;
        let mode = mode as i32;
        launch!(self.gpu, "rp_concretize", rows, &lin.coef.data, &(rows as u64), &(d as u64), &lin.owner, &lin.constant, &lin.slack, &centers, &eps, &norm, &mode, &lo, &hi, &out);
        Ok(Array1::from(self.gpu.download(&out, rows)?))
    }

    fn ball_affine(&self, w: &DevWeights, layer: usize, a: &Affine, regions: &RegionBatch) -> GpuResult<BoxBatch> {
        let l = self.layer(w, layer)?;
        let (rows, d) = regions.centers.dim();
        let n_out = a.out_dim();
        let x = self.flat(&regions.centers.to_owned())?;
        let abs_x = self.gpu.zeros::<f64>(rows * d)?;
        launch!(self.gpu, "rp_abs_of", rows * d, &x, &((rows * d) as u64), &abs_x);
        let center = self.gpu.gemm_ordered(&x, rows, d, &l.w, n_out, true)?;
        let abs = self.gpu.gemm_ordered(&abs_x, rows, d, &l.abs_w, n_out, true)?;
        let nrm: Vec<f64> = a.weight.outer_iter().map(|wr| crate::bound::linear::dual_norm_up(regions.norm, wr)).collect();
        let (nrm, eps) = (self.gpu.upload(&nrm)?, self.gpu.upload(&regions.eps.to_vec())?);
        let (lo, hi) = (self.gpu.zeros::<f64>(rows * n_out)?, self.gpu.zeros::<f64>(rows * n_out)?);
        launch!(self.gpu, "rp_ball_finish", rows * n_out, &center, &abs, &(rows as u64), &(n_out as u64), &nrm, &eps, &l.bias, &(d as u64), &lo, &hi);
        self.boxes(lo, hi, rows, n_out)
    }

    fn affine_box(&self, w: &DevWeights, layer: usize, a: &Affine, inp: &BoxBatch) -> GpuResult<BoxBatch> {
        let l = self.layer(w, layer)?;
        let (rows, n_in) = inp.lower.dim();
        let n_out = a.out_dim();
        let (lo_in, hi_in) = (self.flat(&inp.lower)?, self.flat(&inp.upper)?);
        let count = rows * n_in;
        let (mid, rad, abs_mid) = (self.gpu.zeros::<f64>(count)?, self.gpu.zeros::<f64>(count)?, self.gpu.zeros::<f64>(count)?);
        launch!(self.gpu, "rp_mid_rad", count, &lo_in, &hi_in, &(count as u64), &mid, &rad, &abs_mid);
        let center = self.gpu.gemm_ordered(&mid, rows, n_in, &l.w, n_out, true)?;
        let spread = self.gpu.gemm_ordered(&rad, rows, n_in, &l.abs_w, n_out, true)?;
        let abs_center = self.gpu.gemm_ordered(&abs_mid, rows, n_in, &l.abs_w, n_out, true)?;
        let (lo, hi) = (self.gpu.zeros::<f64>(rows * n_out)?, self.gpu.zeros::<f64>(rows * n_out)?);
        launch!(self.gpu, "rp_box_finish", rows * n_out, &center, &spread, &abs_center, &(rows as u64), &(n_out as u64), &l.bias, &(n_in as u64), &lo, &hi);
        self.boxes(lo, hi, rows, n_out)
    }
}
