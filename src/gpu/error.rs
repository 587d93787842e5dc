//! Why a GPU operation did not run: one typed error for the whole device seam (compiled with or without
//! the `cuda` feature, so "this build has no CUDA" is a value like any other).
use std::fmt;

/// A failure of the GPU backend. Every variant names what failed and what the user can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GpuError {
    /// This binary was built without `--features cuda`.
    NotCompiled,
    /// The CUDA driver library (libcuda.so.1) could not be loaded.
    NoDriver,
    /// The NVRTC library could not be loaded.
    NoNvrtc,
    /// The driver loaded but no device could be opened.
    NoDevice(String),
    /// NVRTC refused a kernel source (its log attached).
    Compile { kernel: String, log: String },
    /// A driver, cuBLAS or launch call failed.
    Driver { call: String, detail: String },
    /// A buffer did not fit in the device's free memory even at the smallest chunk.
    OutOfMemory { wanted_bytes: u64, free_bytes: u64 },
    /// The network or option is one this backend does not implement (the CPU backend does).
    Unsupported(String),
}

impl fmt::Display for GpuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuError::NotCompiled => write!(f, "this build has no CUDA backend (rebuild with `cargo build --release --features cuda`)"),
            GpuError::NoDriver => write!(f, "no CUDA driver library (libcuda.so.1) found; install the NVIDIA driver or use --device cpu"),
            GpuError::NoNvrtc => write!(f, "the NVRTC library (libnvrtc.so.12) is not on the library path; `bash scripts/nvrtc_env.sh` installs it and prints the folder for LD_LIBRARY_PATH"),
            GpuError::NoDevice(why) => write!(f, "no usable GPU ({why})"),
            GpuError::Compile { kernel, log } => write!(f, "NVRTC could not compile {kernel}: {log}"),
            GpuError::Driver { call, detail } => write!(f, "CUDA call {call} failed: {detail}"),
            GpuError::OutOfMemory { wanted_bytes, free_bytes } => {
                write!(f, "the GPU has {free_bytes} bytes free but one chunk needs {wanted_bytes}; use a smaller model or --device cpu")
            }
            GpuError::Unsupported(what) => write!(f, "the GPU backend does not support {what}; use --device cpu"),
        }
    }
}

impl std::error::Error for GpuError {}

impl From<GpuError> for crate::Error {
    fn from(e: GpuError) -> Self {
        crate::Error::Option(format!("GPU: {e}"))
    }
}

/// A driver-call failure with the call's name: `map_err(driver("cuMemAlloc"))`.
pub fn driver<E: fmt::Debug>(call: &'static str) -> impl Fn(E) -> GpuError {
    move |e| GpuError::Driver { call: call.to_string(), detail: format!("{e:?}") }
}
