//! The cudarc backend: opens the first GPU, compiles the kernels with NVRTC for its compute capability,
//! and runs IBP, CROWN and smoothing counts on it. cudarc panics when the driver or NVRTC library is
//! missing (BUILD-NOTES), so both are checked with `is_culib_present` before any other call.
use super::{dense_layout, kernel_sources, NVRTC_OPTIONS};
use crate::net::{Affine, Network};
use crate::smooth::sampler::{NoisyRecord, Phase};
use crate::spec::{Decision, DomainBox, Norm};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};
use ndarray::{Array2, ArrayView1, ArrayView2};
use std::sync::Arc;

/// Whether the NVRTC library can be loaded (without it cudarc panics on first use).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles every kernel to PTX for `arch` (e.g. "compute_90"): the CI check that needs no GPU.
pub fn compile_kernels(arch: &'static str) -> Result<Vec<(&'static str, Ptx)>, String> {
    if !nvrtc_present() {
        return Err("the NVRTC library (libnvrtc.so.12) is not on the library path".into());
    }
    kernel_sources()
        .into_iter()
        .map(|(name, src)| {
            let opts = CompileOptions {
                arch: Some(arch),
                options: NVRTC_OPTIONS.iter().map(|s| s.to_string()).collect(),
                name: Some(name.to_string()),
                ..Default::default()
            };
            compile_ptx_with_opts(src, opts).map(|p| (name, p)).map_err(|e| format!("{name}: {e:?}"))
        })
        .collect()
}

/// An open GPU with the kernels loaded.
pub struct Gpu {
    stream: Arc<CudaStream>,
    name: String,
    f: Kernels,
    /// The smoothing normals' table of cubics (SMOOTH-8), built on the device by `rp_normal_table`.
    normal_table: CudaSlice<f64>,
}

struct Kernels {
    smooth_counts: CudaFunction,
    normals: CudaFunction,
    smooth_normals: CudaFunction,
    normal_table: CudaFunction,
    ibp_affine: CudaFunction,
    input_box: CudaFunction,
    crown_init: CudaFunction,
    crown_affine: CudaFunction,
    crown_relu: CudaFunction,
    crown_concretize: CudaFunction,
}

type GpuResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Debug) -> String {
    format!("CUDA: {e:?}")
}

/// Threads per block: 256 keeps every kernel within the 64 K registers a block may use even at 255
/// registers per thread.
const BLOCK_THREADS: u32 = 256;

fn cfg(n: usize) -> LaunchConfig {
    LaunchConfig { grid_dim: ((n.max(1) as u32).div_ceil(BLOCK_THREADS), 1, 1), block_dim: (BLOCK_THREADS, 1, 1), shared_mem_bytes: 0 }
}

impl Gpu {
    /// The first GPU, or why there is none usable.
    pub fn open() -> GpuResult<Self> {
        // SAFETY: only tries to dlopen the driver library.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err("no CUDA driver library (libcuda.so) found".into());
        }
        if !nvrtc_present() {
            return Err("the NVRTC library (libnvrtc.so.12) is not on the library path".into());
        }
        let ctx = CudaContext::new(0).map_err(|e| format!("no usable GPU ({e:?})"))?;
        let (major, minor) = ctx.compute_capability().map_err(err)?;
        let arch: &'static str = Box::leak(format!("compute_{major}{minor}").into_boxed_str());
        let name = ctx.name().map_err(err)?;
        let mut functions = std::collections::HashMap::new();
        for (file, ptx) in compile_kernels(arch)? {
            let module = ctx.load_module(ptx).map_err(err)?;
            let names: &[&str] = match file {
                "smooth.cu" => &["rp_smooth_counts", "rp_normals", "rp_smooth_normals", "rp_normal_table"],
                "ibp.cu" => &["rp_ibp_affine", "rp_input_box"],
                _ => &["rp_crown_init", "rp_crown_affine", "rp_crown_relu", "rp_crown_concretize"],
            };
            for &n in names {
                functions.insert(n, module.load_function(n).map_err(err)?);
            }
        }
        let mut take = |n: &str| functions.remove(n).ok_or_else(|| format!("kernel {n} missing"));
        let f = Kernels {
            smooth_counts: take("rp_smooth_counts")?,
            normals: take("rp_normals")?,
            smooth_normals: take("rp_smooth_normals")?,
            normal_table: take("rp_normal_table")?,
            ibp_affine: take("rp_ibp_affine")?,
            input_box: take("rp_input_box")?,
            crown_init: take("rp_crown_init")?,
            crown_affine: take("rp_crown_affine")?,
            crown_relu: take("rp_crown_relu")?,
            crown_concretize: take("rp_crown_concretize")?,
        };
        let stream = ctx.default_stream();
        let cells = crate::smooth::normals::CELLS;
        let mut normal_table = stream.alloc_zeros::<f64>(4 * cells).map_err(err)?;
        let mut b = stream.launch_builder(&f.normal_table);
        b.arg(&mut normal_table);
        // SAFETY: argument types match rp_normal_table; the table holds RP_CELLS × 4 doubles (RP_CELLS = CELLS).
        unsafe { b.launch(cfg(cells)) }.map_err(err)?;
        Ok(Gpu { stream, name, f, normal_table })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Standard normals of (seed, stream) for pair indices first…first+pairs−1 (two per pair).
    pub fn normals(&self, seed: u64, stream: u64, first: u64, pairs: u64) -> GpuResult<Vec<f64>> {
        let mut out = self.stream.alloc_zeros::<f64>(2 * pairs as usize).map_err(err)?;
        let mut b = self.stream.launch_builder(&self.f.normals);
        b.arg(&seed).arg(&stream).arg(&first).arg(&pairs).arg(&mut out);
        // SAFETY: argument types and order match rp_normals; `out` holds 2·pairs doubles.
        unsafe { b.launch(cfg(pairs as usize)) }.map_err(err)?;
        self.stream.clone_dtoh(&out).map_err(err)
    }

    /// The device's table of cubics of the smoothing normals (4 coefficients per cell).
    pub fn normal_table(&self) -> GpuResult<Vec<f64>> {
        self.stream.clone_dtoh(&self.normal_table).map_err(err)
    }

    /// Smoothing normals (SMOOTH-8) number first…first+count−1 of (seed, stream).
    pub fn smooth_normals(&self, seed: u64, stream: u64, first: u64, count: u64) -> GpuResult<Vec<f64>> {
        let mut out = self.stream.alloc_zeros::<f64>(count as usize).map_err(err)?;
        let mut b = self.stream.launch_builder(&self.f.smooth_normals);
        b.arg(&seed).arg(&stream).arg(&first).arg(&count).arg(&self.normal_table).arg(&mut out);
        // SAFETY: argument types and order match rp_smooth_normals; `out` holds count doubles.
        unsafe { b.launch(cfg(count as usize)) }.map_err(err)?;
        self.stream.clone_dtoh(&out).map_err(err)
    }

    /// Class counts over `n` input-space draws of `phase` for each record (the CPU `Sampler` with
    /// `NoiseSpace::Input` draws the same noise).
    pub fn smooth_counts(&self, net: &Network, sigma: f64, seed: u64, decision: Decision, records: &[NoisyRecord], phase: Phase, n: u64) -> GpuResult<Vec<Vec<u64>>> {
        let layers = dense_layout(net).ok_or("the GPU smoothing kernel takes dense ReLU networks only")?;
        let packed = Packed::new(&layers);
        let d = net.input_dim();
        let k = net.output_dim();
        let x0: Vec<f64> = records.iter().flat_map(|r| r.x.iter().copied()).collect();
        let rows: Vec<u64> = records.iter().map(|r| r.row).collect();
        let s = &self.stream;
        let (x0_d, rows_d) = (s.clone_htod(&x0).map_err(err)?, s.clone_htod(&rows).map_err(err)?);
        let (w_d, b_d) = (s.clone_htod(&packed.w).map_err(err)?, s.clone_htod(&packed.b).map_err(err)?);
        let (wo_d, bo_d, dims_d) = (s.clone_htod(&packed.w_off).map_err(err)?, s.clone_htod(&packed.b_off).map_err(err)?, s.clone_htod(&packed.dims).map_err(err)?);
        let max_width = packed.dims.iter().copied().max().unwrap_or(1);
        let jobs = records.len() as u64 * n;
        let threads = jobs.clamp(1, 1 << 16) as usize;
        let launch = cfg(threads);
        let total_threads = (launch.grid_dim.0 * launch.block_dim.0) as usize;
        let mut scratch = s.alloc_zeros::<f64>(total_threads * 2 * max_width as usize).map_err(err)?;
        let mut counts = s.alloc_zeros::<u64>(records.len() * k).map_err(err)?;
        let (nrec, nl, argmin, phase_v) = (records.len() as u64, layers.len() as i32, (decision == Decision::Argmin) as i32, phase as u64);
        let d32 = d as i32;
        let mut b = s.launch_builder(&self.f.smooth_counts);
        b.arg(&x0_d).arg(&nrec).arg(&d32).arg(&rows_d).arg(&sigma).arg(&seed).arg(&phase_v).arg(&n);
        b.arg(&w_d).arg(&b_d).arg(&wo_d).arg(&bo_d).arg(&dims_d).arg(&nl).arg(&max_width).arg(&argmin).arg(&mut scratch).arg(&mut counts);
        // SAFETY: argument types and order match rp_smooth_counts; buffers are sized as it indexes them.
        unsafe { b.launch(launch) }.map_err(err)?;
        let flat = s.clone_dtoh(&counts).map_err(err)?;
        Ok(flat.chunks(k).map(|c| c.to_vec()).collect())
    }

    /// The input box of each region (ℓ∞ box of radius ε ∩ domain) on the device.
    fn input_box(&self, centers: ArrayView2<f64>, eps: ArrayView1<f64>, domain: Option<&DomainBox>) -> GpuResult<(CudaSlice<f64>, CudaSlice<f64>)> {
        let (rows, d) = centers.dim();
        let s = &self.stream;
        let x0 = s.clone_htod(&centers.as_standard_layout().iter().copied().collect::<Vec<_>>()).map_err(err)?;
        let e = s.clone_htod(&eps.to_vec()).map_err(err)?;
        let (dl, dh) = match domain {
            Some(b) => (b.lower.to_vec(), b.upper.to_vec()),
            None => (vec![0.0; d], vec![0.0; d]),
        };
        let (dl, dh) = (s.clone_htod(&dl).map_err(err)?, s.clone_htod(&dh).map_err(err)?);
        let mut lo = s.alloc_zeros::<f64>(rows * d).map_err(err)?;
        let mut hi = s.alloc_zeros::<f64>(rows * d).map_err(err)?;
        let (r32, d32, has) = (rows as i32, d as i32, domain.is_some() as i32);
        let mut b = s.launch_builder(&self.f.input_box);
        b.arg(&x0).arg(&e).arg(&r32).arg(&d32).arg(&dl).arg(&dh).arg(&has).arg(&mut lo).arg(&mut hi);
        // SAFETY: matches rp_input_box.
        unsafe { b.launch(cfg(rows * d)) }.map_err(err)?;
        Ok((lo, hi))
    }

    /// IBP bounds (rows × outputs) of the network's outputs over each region, with directed rounding.
    pub fn ibp(&self, net: &Network, centers: ArrayView2<f64>, eps: ArrayView1<f64>, domain: Option<&DomainBox>) -> GpuResult<(Array2<f64>, Array2<f64>)> {
        let layers = dense_layout(net).ok_or("the GPU IBP kernel takes dense ReLU networks only")?;
        let rows = centers.nrows();
        let (mut lo, mut hi) = self.input_box(centers, eps, domain)?;
        for (l, a) in layers.iter().enumerate() {
            let (nl, nh) = self.ibp_affine(&lo, &hi, rows, a, l > 0)?;
            lo = nl;
            hi = nh;
        }
        let k = net.output_dim();
        let to = |v: Vec<f64>| Array2::from_shape_vec((rows, k), v).expect("rows × outputs");
        Ok((to(self.stream.clone_dtoh(&lo).map_err(err)?), to(self.stream.clone_dtoh(&hi).map_err(err)?)))
    }

    fn ibp_affine(&self, lo: &CudaSlice<f64>, hi: &CudaSlice<f64>, rows: usize, a: &Affine, relu_first: bool) -> GpuResult<(CudaSlice<f64>, CudaSlice<f64>)> {
        let s = &self.stream;
        let w = s.clone_htod(&a.weight.as_standard_layout().iter().copied().collect::<Vec<_>>()).map_err(err)?;
        let bias = s.clone_htod(&a.bias.to_vec()).map_err(err)?;
        let mut lo_out = s.alloc_zeros::<f64>(rows * a.out_dim()).map_err(err)?;
        let mut hi_out = s.alloc_zeros::<f64>(rows * a.out_dim()).map_err(err)?;
        let (r32, n_in, n_out, relu) = (rows as i32, a.in_dim() as i32, a.out_dim() as i32, relu_first as i32);
        let mut b = s.launch_builder(&self.f.ibp_affine);
        b.arg(lo).arg(hi).arg(&r32).arg(&n_in).arg(&w).arg(&bias).arg(&n_out).arg(&relu).arg(&mut lo_out).arg(&mut hi_out);
        // SAFETY: matches rp_ibp_affine.
        unsafe { b.launch(cfg(rows * a.out_dim())) }.map_err(err)?;
        Ok((lo_out, hi_out))
    }

    /// CROWN lower bounds (rows × specs) of spec·f(x) over each region, with CROWN intermediate bounds
    /// on every ReLU input (each neuron bounded from both sides by its own backward pass, intersected
    /// with IBP). Sound for the exact network: interval coefficients with directed rounding.
    pub fn crown_lower(&self, net: &Network, centers: ArrayView2<f64>, eps: ArrayView1<f64>, norm: Norm, domain: Option<&DomainBox>, spec: ArrayView2<f64>) -> GpuResult<Array2<f64>> {
        let layers = dense_layout(net).ok_or("the GPU CROWN kernels take dense ReLU networks only")?;
        let rows = centers.nrows();
        // pre-activation bounds of each hidden layer, from IBP then tightened by CROWN
        let (mut lo, mut hi) = self.input_box(centers, eps, domain)?;
        let mut pre: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
        for (l, a) in layers.iter().enumerate().take(layers.len() - 1) {
            let (il, ih) = self.ibp_affine(&lo, &hi, rows, a, l > 0)?;
            let (mut pl, mut ph) = (self.stream.clone_dtoh(&il).map_err(err)?, self.stream.clone_dtoh(&ih).map_err(err)?);
            let h = a.out_dim();
            let both = Array2::from_shape_fn((2 * h, h), |(i, j)| if i == j { 1.0 } else if i == j + h { -1.0 } else { 0.0 });
            let cb = self.backward(&layers[..=l], &pre, centers, eps, norm, both.view())?;
            for r in 0..rows {
                for j in 0..h {
                    pl[r * h + j] = pl[r * h + j].max(cb[[r, j]]);
                    ph[r * h + j] = ph[r * h + j].min(-cb[[r, h + j]]);
                }
            }
            lo = self.stream.clone_htod(&pl).map_err(err)?;
            hi = self.stream.clone_htod(&ph).map_err(err)?;
            pre.push((pl, ph));
        }
        self.backward(&layers, &pre, centers, eps, norm, spec)
    }

    /// One backward pass from the output of `layers` with specification `spec` (specs × out), through
    /// ReLUs whose pre-activation bounds are `pre` (one per ReLU), concretized over each region.
    fn backward(&self, layers: &[&Affine], pre: &[(Vec<f64>, Vec<f64>)], centers: ArrayView2<f64>, eps: ArrayView1<f64>, norm: Norm, spec: ArrayView2<f64>) -> GpuResult<Array2<f64>> {
        let s = &self.stream;
        let (rows, d) = centers.dim();
        let (specs, k) = spec.dim();
        let (r32, s32) = (rows as i32, specs as i32);
        let spec_d = s.clone_htod(&spec.as_standard_layout().iter().copied().collect::<Vec<_>>()).map_err(err)?;
        let mut lam_lo = s.alloc_zeros::<f64>(rows * specs * k).map_err(err)?;
        let mut lam_hi = s.alloc_zeros::<f64>(rows * specs * k).map_err(err)?;
        let mut c = s.alloc_zeros::<f64>(rows * specs).map_err(err)?;
        let k32 = k as i32;
        let mut b = s.launch_builder(&self.f.crown_init);
        b.arg(&spec_d).arg(&r32).arg(&s32).arg(&k32).arg(&mut lam_lo).arg(&mut lam_hi).arg(&mut c);
        // SAFETY: matches rp_crown_init.
        unsafe { b.launch(cfg(rows * specs * k)) }.map_err(err)?;
        for (l, a) in layers.iter().enumerate().rev() {
            let (m, n) = (a.out_dim() as i32, a.in_dim() as i32);
            let w = s.clone_htod(&a.weight.as_standard_layout().iter().copied().collect::<Vec<_>>()).map_err(err)?;
            let bias = s.clone_htod(&a.bias.to_vec()).map_err(err)?;
            let mut out_lo = s.alloc_zeros::<f64>(rows * specs * a.in_dim()).map_err(err)?;
            let mut out_hi = s.alloc_zeros::<f64>(rows * specs * a.in_dim()).map_err(err)?;
            let mut b = s.launch_builder(&self.f.crown_affine);
            b.arg(&lam_lo).arg(&lam_hi).arg(&r32).arg(&s32).arg(&m).arg(&w).arg(&bias).arg(&n).arg(&mut out_lo).arg(&mut out_hi).arg(&mut c);
            // SAFETY: matches rp_crown_affine.
            unsafe { b.launch(cfg(rows * specs * a.in_dim())) }.map_err(err)?;
            lam_lo = out_lo;
            lam_hi = out_hi;
            if l > 0 {
                let (pl, ph) = &pre[l - 1];
                let (pl, ph) = (s.clone_htod(pl).map_err(err)?, s.clone_htod(ph).map_err(err)?);
                let mut b = s.launch_builder(&self.f.crown_relu);
                b.arg(&mut lam_lo).arg(&mut lam_hi).arg(&r32).arg(&s32).arg(&n).arg(&pl).arg(&ph).arg(&mut c);
                // SAFETY: matches rp_crown_relu.
                unsafe { b.launch(cfg(rows * specs)) }.map_err(err)?;
            }
        }
        let x0 = s.clone_htod(&centers.as_standard_layout().iter().copied().collect::<Vec<_>>()).map_err(err)?;
        let e = s.clone_htod(&eps.to_vec()).map_err(err)?;
        let norm_code: i32 = match norm {
            Norm::Linf => 0,
            Norm::L2 => 1,
            Norm::L1 => 2,
        };
        let d32 = d as i32;
        let mut out = s.alloc_zeros::<f64>(rows * specs).map_err(err)?;
        let mut b = s.launch_builder(&self.f.crown_concretize);
        b.arg(&lam_lo).arg(&lam_hi).arg(&r32).arg(&s32).arg(&d32).arg(&x0).arg(&e).arg(&norm_code).arg(&c).arg(&mut out);
        // SAFETY: matches rp_crown_concretize.
        unsafe { b.launch(cfg(rows * specs)) }.map_err(err)?;
        let v = s.clone_dtoh(&out).map_err(err)?;
        Ok(Array2::from_shape_vec((rows, specs), v).expect("rows × specs"))
    }
}

/// Dense layers packed for the smoothing kernel.
struct Packed {
    w: Vec<f64>,
    b: Vec<f64>,
    w_off: Vec<u64>,
    b_off: Vec<u64>,
    dims: Vec<i32>,
}

impl Packed {
    fn new(layers: &[&Affine]) -> Self {
        let mut p = Packed { w: vec![], b: vec![], w_off: vec![], b_off: vec![], dims: vec![layers[0].in_dim() as i32] };
        for a in layers {
            p.w_off.push(p.w.len() as u64);
            p.b_off.push(p.b.len() as u64);
            p.w.extend(a.weight.as_standard_layout().iter());
            p.b.extend(a.bias.iter());
            p.dims.push(a.out_dim() as i32);
        }
        p
    }
}
