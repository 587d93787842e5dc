//! NVRTC to a CUBIN for the device's own architecture (issue 19). A CUBIN for a real `sm_XY` is machine
//! code the driver loads as is, so an NVRTC newer than the driver is fine; PTX would be left to the
//! driver's JIT, which refuses PTX from a newer CUDA than its own. Load the bytes into a context with
//! `ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin))`.
//!
//! cudarc panics on the first call into a library it cannot load, so every function here checks
//! `is_culib_present` first and answers [`GpuError::NoNvrtc`] / [`GpuError::NoDriver`] instead: none
//! of them panics for want of a library.
use super::GpuError;
use cudarc::nvrtc::{result, sys};
use std::ffi::{c_char, c_int, CString};

fn nvrtc_call(call: &'static str) -> impl Fn(result::NvrtcError) -> GpuError {
    super::driver(call)
}

/// `Err(NoNvrtc)` unless the NVRTC library can be loaded (cudarc looks for libnvrtc.so, then
/// libnvrtc.so.12, ... on the library path).
fn need_nvrtc() -> Result<(), GpuError> {
    // SAFETY: only tries to dlopen the library.
    if unsafe { sys::is_culib_present() } {
        Ok(())
    } else {
        Err(GpuError::NoNvrtc)
    }
}

/// The loaded NVRTC's (major, minor) version, e.g. (12, 8).
pub fn nvrtc_version() -> Result<(i32, i32), GpuError> {
    need_nvrtc()?;
    let (mut major, mut minor): (c_int, c_int) = (0, 0);
    // SAFETY: two valid out-pointers.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(nvrtc_call("nvrtcVersion"))?;
    Ok((major, minor))
}

/// The CUDA version the installed driver supports, as 1000 * major + 10 * minor (13000 for 13.0).
/// Needs no device and no `cuInit`; `Err(NoDriver)` when libcuda cannot be loaded.
pub fn driver_version() -> Result<i32, GpuError> {
    // SAFETY: only tries to dlopen the library.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(GpuError::NoDriver);
    }
    let mut v: c_int = 0;
    // SAFETY: one valid out-pointer.
    unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) }.result().map_err(super::driver("cuDriverGetVersion"))?;
    Ok(v)
}

/// The real architectures this NVRTC compiles for, ascending (e.g. [50, 52, ..., 90, 100, 120]).
pub fn supported_archs() -> Result<Vec<i32>, GpuError> {
    need_nvrtc()?;
    let mut n: c_int = 0;
    // SAFETY: one valid out-pointer.
    unsafe { sys::nvrtcGetNumSupportedArchs(&mut n) }.result().map_err(nvrtc_call("nvrtcGetNumSupportedArchs"))?;
    let mut archs = vec![0 as c_int; n.max(0) as usize];
    // SAFETY: `archs` holds the `n` ints NVRTC writes.
    unsafe { sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }.result().map_err(nvrtc_call("nvrtcGetSupportedArchs"))?;
    archs.sort_unstable();
    Ok(archs)
}

/// `Ok` when this NVRTC can emit `sm_{major}{minor}` machine code; otherwise a [`GpuError::Compile`]
/// for `kernel` naming the device's architecture, the NVRTC version and the range it supports.
pub fn check_arch(kernel: &str, major: u32, minor: u32) -> Result<(), GpuError> {
    let archs = supported_archs()?;
    let want = (major * 10 + minor) as i32;
    if archs.contains(&want) {
        return Ok(());
    }
    let (vmaj, vmin) = nvrtc_version()?;
    let (lo, hi) = (archs.first().copied().unwrap_or(0), archs.last().copied().unwrap_or(0));
    let why = if want > hi { "newer than" } else { "not among the architectures" };
    Err(GpuError::Compile {
        kernel: kernel.to_string(),
        log: format!(
            "the device is sm_{want}, {why} NVRTC {vmaj}.{vmin} supports (sm_{lo} to sm_{hi}: {archs:?}); \
             put an NVRTC from a CUDA release that knows sm_{want} on LD_LIBRARY_PATH"
        ),
    })
}

/// Compiles `source` (file name `name`, used in the log) to a CUBIN for `sm_{major}{minor}` with
/// `options` (which must not set the architecture: one that does is refused as
/// [`GpuError::Unsupported`]). Guarantees: the bytes returned are the ELF image NVRTC produced for
/// exactly that architecture; a compile failure is [`GpuError::Compile`] carrying NVRTC's log; an
/// architecture this NVRTC does not know is the error of [`check_arch`]; the NVRTC program is destroyed
/// on every path.
pub fn compile_cubin(name: &str, source: &str, major: u32, minor: u32, options: &[&str]) -> Result<Vec<u8>, GpuError> {
    if let Some(o) = options.iter().find(|o| o.starts_with("--gpu-architecture") || o.starts_with("-arch")) {
        return Err(GpuError::Unsupported(format!("NVRTC option {o} (compile_cubin sets the architecture itself)")));
    }
    check_arch(name, major, minor)?;
    let compile_err = |log: String| GpuError::Compile { kernel: name.to_string(), log };
    let src = CString::new(source).map_err(|_| compile_err("the source contains a NUL byte".into()))?;
    let cname = CString::new(name).map_err(|_| compile_err("the name contains a NUL byte".into()))?;
    let prog = result::create_program(&src, Some(&cname)).map_err(nvrtc_call("nvrtcCreateProgram"))?;
    let mut opts = vec![format!("--gpu-architecture=sm_{major}{minor}")];
    opts.extend(options.iter().map(|o| o.to_string()));
    // SAFETY: `prog` was just created and is destroyed once, below, whatever `compile_and_get` returns;
    // `src` and `cname` outlive it.
    let out = unsafe { compile_and_get(prog, &opts) };
    let destroyed = unsafe { result::destroy_program(prog) };
    let cubin = out.map_err(|(call, e, log)| match e.0 {
        sys::nvrtcResult::NVRTC_ERROR_COMPILATION => compile_err(log),
        _ => GpuError::Driver { call: call.to_string(), detail: format!("{e:?}; log: {log}") },
    })?;
    destroyed.map_err(nvrtc_call("nvrtcDestroyProgram"))?;
    Ok(cubin)
}

/// Compiles `prog` and copies its CUBIN out; on failure the failing call, its error and the program log.
///
/// # Safety
/// `prog` must be a live program from `nvrtcCreateProgram`.
unsafe fn compile_and_get(prog: sys::nvrtcProgram, opts: &[String]) -> Result<Vec<u8>, (&'static str, result::NvrtcError, String)> {
    let log = || {
        let raw = result::get_program_log(prog).unwrap_or_default();
        let bytes: Vec<u8> = raw.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    };
    result::compile_program(prog, opts).map_err(|e| ("nvrtcCompileProgram", e, log()))?;
    let mut size = 0usize;
    sys::nvrtcGetCUBINSize(prog, &mut size).result().map_err(|e| ("nvrtcGetCUBINSize", e, log()))?;
    let mut cubin = vec![0u8; size];
    sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char).result().map_err(|e| ("nvrtcGetCUBIN", e, log()))?;
    Ok(cubin)
}

/// One line for logs, e.g. "NVRTC 12.8, driver 13.0 (13000), sm_90 CUBIN"; a missing library or a
/// failed call is written in its place ("no driver (libcuda.so.1 not found)"). Never fails, never panics for want of a library.
pub fn describe(major: u32, minor: u32) -> String {
    let nvrtc = match nvrtc_version() {
        Ok((a, b)) => format!("NVRTC {a}.{b}"),
        Err(GpuError::NoNvrtc) => "no NVRTC (libnvrtc.so.12 not on the library path)".to_string(),
        Err(e) => format!("NVRTC: {e}"),
    };
    let driver = match driver_version() {
        Ok(v) => format!("driver {}.{} ({v})", v / 1000, (v % 1000) / 10),
        Err(GpuError::NoDriver) => "no driver (libcuda.so.1 not found)".to_string(),
        Err(e) => format!("driver: {e}"),
    };
    format!("{nvrtc}, {driver}, sm_{major}{minor} CUBIN")
}
