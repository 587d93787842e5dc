//! The device seam: which backend runs a certifier. The CUDA backend (`--features cuda`, cudarc with
//! run-time loading; kernels in `kernels/*.cu`, compiled at run time by NVRTC for the device found) is a
//! second implementation of the CPU contract: same answers, bounds equal within float tolerance and
//! still sound, smoothing draws identical bit for bit. Without the feature, or without a driver or a
//! device at run time, everything runs on the CPU and the CLI says so once.
/// Launches kernel `$kernel` of `$gpu` (a [`cuda::Gpu`]) over `$count` items (a grid-stride grid) with
/// the listed arguments; a failed launch returns a [`GpuError::Driver`] naming the kernel. Callers pass
/// the arguments in the order and C types of the kernel's signature in `kernels/*.cu`, with every buffer
/// holding the elements the kernel indexes.
#[cfg(feature = "cuda")]
macro_rules! launch {
    ($gpu:expr, $kernel:literal, $count:expr, $($arg:expr),+ $(,)?) => {{
        let mut b = $gpu.stream.launch_builder($gpu.function($kernel)?);
        // SAFETY: as the macro's contract above: arguments as the kernel's signature, buffers as large
        // as it indexes (sizes set by the caller from the same dimensions).
        unsafe { b $(.arg($arg))+ .launch($gpu.grid($count as u64)) }.map_err($crate::gpu::driver($kernel))?;
    }};
}

#[cfg(feature = "cuda")]
pub mod backend;
#[cfg(feature = "cuda")]
pub mod certifier;
#[cfg(feature = "cuda")]
pub mod smooth;
mod error;
pub use error::{driver, GpuError};
#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "cuda")]
pub mod nvrtc;

/// The device a user asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceArg {
    /// The GPU when one is usable, else the CPU (opt-in: the CUDA backend has not yet passed its tests on
    /// real hardware, so it is never picked unless asked for).
    Auto,
    /// The CPU (the default).
    #[default]
    Cpu,
    /// The GPU; an error when there is none.
    Cuda,
}

/// The device chosen (the bound algorithms' device seam is [`crate::bound::Backend`]).
#[derive(Clone)]
pub enum Device {
    Cpu,
    #[cfg(feature = "cuda")]
    Cuda(std::sync::Arc<cuda::Gpu>),
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Device {
    fn default() -> Self {
        Device::Cpu
    }
}

impl Device {
    pub fn name(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => "cuda",
        }
    }
}

/// The backend for `choice`, and a one-line note when `auto` fell back to the CPU (to show once).
pub fn select(choice: DeviceArg) -> crate::Result<(Device, Option<String>)> {
    match choice {
        DeviceArg::Cpu => Ok((Device::Cpu, None)),
        DeviceArg::Auto | DeviceArg::Cuda => match probe() {
            Ok(b) => Ok((b, None)),
            Err(why) if choice == DeviceArg::Auto => Ok((Device::Cpu, Some(format!("running on the CPU: {why}")))),
            Err(why) => Err(crate::Error::Option(format!("--device cuda: {why}; use --device cpu or auto"))),
        },
    }
}

#[cfg(feature = "cuda")]
fn probe() -> Result<Device, GpuError> {
    cuda::Gpu::open().map(|g| Device::Cuda(std::sync::Arc::new(g)))
}

#[cfg(not(feature = "cuda"))]
fn probe() -> Result<Device, GpuError> {
    Err(GpuError::NotCompiled)
}

/// The kernel sources (name, text with the shared header inlined), as NVRTC compiles them.
pub fn kernel_sources() -> Vec<(&'static str, String)> {
    const COMMON: &str = include_str!("../../kernels/rp_common.cuh");
    [
        ("smooth.cu", include_str!("../../kernels/smooth.cu")),
        ("bound.cu", include_str!("../../kernels/bound.cu")),
    ]
    .into_iter()
    .map(|(name, src)| (name, src.replace("#include \"rp_common.cuh\"", COMMON).replace("#include \"rp_bound.cuh\"", BOUND_HEADER).replace("#pragma once", "")))
    .collect()
}

/// The shared per-thread header (also compiled as C++ by the CPU mirror test).
pub const COMMON_HEADER: &str = include_str!("../../kernels/rp_common.cuh");

/// The bound kernels' per-row arithmetic (also compiled as C++ by the CPU mirror test).
pub const BOUND_HEADER: &str = include_str!("../../kernels/rp_bound.cuh");

/// NVRTC options of every kernel: IEEE division and square root, no FMA contraction (so the noise
/// matches the CPU bit for bit), no flush-to-zero.
pub const NVRTC_OPTIONS: [&str; 4] = ["--fmad=false", "--prec-div=true", "--prec-sqrt=true", "--ftz=false"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_falls_back_and_cpu_is_always_there() {
        let (b, _) = select(DeviceArg::Cpu).unwrap();
        assert_eq!(b.name(), "cpu");
        // auto never fails: it finds a GPU or says why it runs on the CPU
        let (b, note) = select(DeviceArg::Auto).unwrap();
        assert!(b.name() == "cuda" || note.is_some());
    }

    #[test]
    fn sources_inline_the_header() {
        for (name, src) in kernel_sources() {
            assert!(!src.contains("#include \"rp_common.cuh\"") && !src.contains("#include \"rp_bound.cuh\"") && src.contains("rp_normal_pair") && src.contains("rp_up"), "{name}");
        }
    }
}
