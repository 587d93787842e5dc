//! The cudarc device: opens the first GPU, compiles the kernels with NVRTC to a CUBIN for its own
//! architecture (`super::nvrtc`; versions logged once),
//! holds one stream, one cuBLAS handle (pedantic math: plain IEEE double GEMMs, no emulation or
//! reduced-precision modes) and the kernels, and launches them with 64-bit grid-stride loops. cudarc
//! panics when the driver, NVRTC or cuBLAS library is missing (BUILD-NOTES), so each is checked with
//! `is_culib_present` before any other call. The bound backend on it is `super::backend`, smoothing's
//! counts `super::smooth`; the draws' checks (normals, the table) are here.
use super::{driver, kernel_sources, GpuError, NVRTC_OPTIONS};
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};
use std::collections::HashMap;
use std::sync::Arc;

/// Whether the NVRTC library can be loaded (without it cudarc panics on first use).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Every kernel entry point, by source file.
pub const ENTRIES: [(&str, &[&str]); 2] = [
    ("smooth.cu", &["rp_noise_rows", "rp_bias_act", "rp_relu", "rp_decide_count", "rp_normals", "rp_smooth_normals", "rp_normal_table"]),
    (
        "bound.cu",
        &[
            "rp_affine_slack",
            "rp_relu_back",
            "rp_concretize",
            "rp_constant_lower",
            "rp_mid_rad",
            "rp_abs_of",
            "rp_box_finish",
            "rp_ball_finish",
            "rp_mags_finish",
            "rp_elementwise_back",
            "rp_split_back",
            "rp_gemm",
            "rp_signed_rows",
        ],
    ),
];

/// Compiles every kernel to PTX for `arch` (e.g. "compute_90"): the CI check of the generated code
/// (entry points, no FMA) that needs no GPU. Devices load CUBINs ([`super::nvrtc::compile_cubin`]).
pub fn compile_kernels(arch: &'static str) -> Result<Vec<(&'static str, Ptx)>, GpuError> {
    if !nvrtc_present() {
        return Err(GpuError::NoNvrtc);
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
            compile_ptx_with_opts(src, opts).map(|p| (name, p)).map_err(|e| GpuError::Compile { kernel: name.to_string(), log: format!("{e:?}") })
        })
        .collect()
}

/// An open GPU with the kernels loaded.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    name: String,
    functions: HashMap<&'static str, CudaFunction>,
    /// The smoothing normals' table of cubics (SMOOTH-8), built on the device by `rp_normal_table`.
    normal_table: CudaSlice<f64>,
}

pub(crate) type GpuResult<T> = Result<T, GpuError>;

/// Threads per block: 256 keeps every kernel within the 64 K registers a block may use even at 255
/// registers per thread.
const BLOCK_THREADS: u32 = 256;

/// A grid for `count` items of a grid-stride kernel: enough blocks to cover them, at most 2²⁰ (each
/// thread then loops with 64-bit indices).
fn grid(count: u64) -> LaunchConfig {
    let blocks = count.max(1).div_ceil(BLOCK_THREADS as u64).min(1 << 20) as u32;
    LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK_THREADS, 1, 1), shared_mem_bytes: 0 }
}

impl Gpu {
    /// The first GPU, or why there is none usable.
    pub fn open() -> GpuResult<Self> {
        // SAFETY: each only tries to dlopen its library.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(GpuError::NoDriver);
        }
        if !nvrtc_present() {
            return Err(GpuError::NoNvrtc);
        }
        // SAFETY: as above.
        if !unsafe { cudarc::cublas::sys::is_culib_present() } {
            return Err(GpuError::NoDevice("the cuBLAS library (libcublas.so.12) is not on the library path".into()));
        }
        let ctx = CudaContext::new(0).map_err(|e| GpuError::NoDevice(format!("{e:?}")))?;
        let (major, minor) = ctx.compute_capability().map_err(driver("cuDeviceGetAttribute"))?;
        let (major, minor) = (major as u32, minor as u32);
        let name = ctx.name().map_err(driver("cuDeviceGetName"))?;
        eprintln!("GPU {name}: {}", super::nvrtc::describe(major, minor));
        let mut functions = HashMap::new();
        for (file, src) in kernel_sources() {
            // a CUBIN for the device's own sm_XY: machine code the driver loads as is (no PTX JIT)
            super::nvrtc::check_arch(file, major, minor)?;
            let cubin = super::nvrtc::compile_cubin(file, &src, major, minor, &NVRTC_OPTIONS)?;
            let module = ctx.load_module(Ptx::from_binary(cubin)).map_err(driver("cuModuleLoadData"))?;
            let names = ENTRIES.iter().find(|(f, _)| *f == file).map(|(_, n)| *n).unwrap_or(&[]);
            for &n in names {
                functions.insert(n, module.load_function(n).map_err(driver("cuModuleGetFunction"))?);
            }
        }
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(driver("cublasCreate"))?;
        // SAFETY: the handle is live; pedantic math only forbids faster, less exact modes.
        unsafe { cudarc::cublas::sys::cublasSetMathMode(*blas.handle(), cudarc::cublas::sys::cublasMath_t::CUBLAS_PEDANTIC_MATH) }
            .result()
            .map_err(driver("cublasSetMathMode"))?;
        let cells = crate::smooth::normals::CELLS;
        let normal_table = stream.alloc_zeros::<f64>(4 * cells).map_err(driver("cuMemAlloc"))?;
        let gpu = Gpu { ctx, stream, blas, name, functions, normal_table };
        // the table holds RP_CELLS × 4 doubles (RP_CELLS = CELLS)
        launch!(gpu, "rp_normal_table", cells, &gpu.normal_table);
        Ok(gpu)
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Free and total device memory in bytes.
    pub fn memory(&self) -> GpuResult<(usize, usize)> {
        self.ctx.mem_get_info().map_err(driver("cuMemGetInfo"))
    }

    pub(crate) fn function(&self, name: &str) -> GpuResult<&CudaFunction> {
        self.functions.get(name).ok_or_else(|| GpuError::Compile { kernel: name.to_string(), log: "entry point not found in the compiled module".into() })
    }

    /// The grid for `count` items of a grid-stride kernel.
    pub(crate) fn grid(&self, count: u64) -> LaunchConfig {
        grid(count)
    }

    /// A host slice on the device.
    pub(crate) fn upload<T: DeviceRepr + ValidAsZeroBits>(&self, host: &[T]) -> GpuResult<CudaSlice<T>> {
        if host.is_empty() {
            return self.zeros(0);
        }
        self.stream.clone_htod(host).map_err(driver("cuMemcpyHtoD"))
    }

    /// A zeroed device buffer of `len` values (one, at least, so an empty batch still has a pointer).
    pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> GpuResult<CudaSlice<T>> {
        self.stream.alloc_zeros::<T>(len.max(1)).map_err(|e| {
            let free = self.memory().map(|m| m.0 as u64).unwrap_or(0);
            if format!("{e:?}").contains("OUT_OF_MEMORY") {
                GpuError::OutOfMemory { wanted_bytes: (len * std::mem::size_of::<T>()) as u64, free_bytes: free }
            } else {
                driver("cuMemAlloc")(e)
            }
        })
    }

    /// The first `len` values of a device buffer on the host.
    pub(crate) fn download<T: DeviceRepr + Default + Clone>(&self, dev: &CudaSlice<T>, len: usize) -> GpuResult<Vec<T>> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![T::default(); len];
        self.stream.memcpy_dtoh(&dev.slice(..len), &mut out).map_err(driver("cuMemcpyDtoH"))?;
        Ok(out)
    }

    /// Row-major C (r × n) = A (r × k) · B, where B is row-major k × n, or, with `b_transposed`,
    /// row-major n × k (then C = A·Bᵀ). One cuBLAS DGEMM on the column-major views.
    pub(crate) fn gemm(&self, a: &CudaSlice<f64>, r: usize, k: usize, b: &CudaSlice<f64>, n: usize, b_transposed: bool) -> GpuResult<CudaSlice<f64>> {
        let mut c = self.zeros::<f64>(r * n)?;
        if r == 0 || n == 0 || k == 0 {
            return Ok(c);
        }
        let int = |v: usize| i32::try_from(v).map_err(|_| GpuError::Unsupported(format!("a matrix dimension of {v} (cuBLAS takes at most 2³¹ − 1)")));
        use cudarc::cublas::sys::cublasOperation_t::{CUBLAS_OP_N, CUBLAS_OP_T};
        let cfg = GemmConfig {
            transa: if b_transposed { CUBLAS_OP_T } else { CUBLAS_OP_N },
            transb: CUBLAS_OP_N,
            m: int(n)?,
            n: int(r)?,
            k: int(k)?,
            alpha: 1.0,
            lda: int(if b_transposed { k } else { n })?,
            ldb: int(k)?,
            beta: 0.0,
            ldc: int(n)?,
        };
        // SAFETY: a holds r·k, b holds k·n and c holds r·n doubles, as the column-major views above read.
        unsafe { self.blas.gemm(cfg, b, a, &mut c) }.map_err(driver("cublasDgemm"))?;
        Ok(c)
    }

    /// [`Gpu::gemm`]'s product by `rp_gemm` (GPU-5): each entry summed by one thread over k in
    /// ascending order, so a row's result is bit for bit the same in any batch — cuBLAS picks its
    /// kernel, and with it the summation order, by the shape (seen on an H200: a CROWN bound changed in
    /// its last bits with the rows beside it). The bound backend's GEMMs; smoothing keeps cuBLAS.
    pub(crate) fn gemm_ordered(&self, a: &CudaSlice<f64>, r: usize, k: usize, b: &CudaSlice<f64>, n: usize, b_transposed: bool) -> GpuResult<CudaSlice<f64>> {
        let c = self.zeros::<f64>(r * n)?;
        launch!(self, "rp_gemm", r * n, a, &(r as u64), &(k as u64), b, &(n as u64), &(b_transposed as i32), &c);
        Ok(c)
    }

    /// Standard normals of (seed, stream) for pair indices first…first+pairs−1 (two per pair).
    pub fn normals(&self, seed: u64, stream: u64, first: u64, pairs: u64) -> GpuResult<Vec<f64>> {
        let out = self.zeros::<f64>(2 * pairs as usize)?;
        launch!(self, "rp_normals", pairs, &seed, &stream, &first, &pairs, &out);
        self.download(&out, 2 * pairs as usize)
    }

    /// The device's table of cubics of the smoothing normals (4 coefficients per cell).
    pub fn normal_table(&self) -> GpuResult<Vec<f64>> {
        self.download(&self.normal_table, 4 * crate::smooth::normals::CELLS)
    }

    /// Smoothing normals (SMOOTH-8) number first…first+count−1 of (seed, stream).
    pub fn smooth_normals(&self, seed: u64, stream: u64, first: u64, count: u64) -> GpuResult<Vec<f64>> {
        let out = self.zeros::<f64>(count as usize)?;
        launch!(self, "rp_smooth_normals", count, &seed, &stream, &first, &count, &self.normal_table, &out);
        self.download(&out, count as usize)
    }

    /// The device's table of cubics of the smoothing normals.
    pub(crate) fn table(&self) -> &CudaSlice<f64> {
        &self.normal_table
    }
}
