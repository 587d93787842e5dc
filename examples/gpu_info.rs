//! What the CUDA backend would run with (issue 19): NVRTC and driver versions, the device's name and
//! compute capability, the CUBIN architecture NVRTC would compile for, and then every kernel compiled to
//! that CUBIN and loaded into a context. Prints the first GpuError instead of a step it cannot take and
//! exits 1 then; exits 0 only when every kernel loaded.
//!   cargo run --release --features cuda --example gpu_info
#[cfg(feature = "cuda")]
fn main() {
    use rp::gpu::{nvrtc, GpuError};
    fn fail(what: &str, e: GpuError) -> ! {
        println!("{what}: {e}");
        std::process::exit(1)
    }
    match nvrtc::nvrtc_version() {
        Ok((a, b)) => println!("NVRTC {a}.{b}, architectures {:?}", nvrtc::supported_archs().unwrap_or_default()),
        Err(e) => println!("NVRTC: {e}"),
    }
    match nvrtc::driver_version() {
        Ok(v) => println!("driver supports CUDA {}.{} ({v})", v / 1000, (v % 1000) / 10),
        Err(e) => fail("driver", e),
    }
    let ctx = cudarc::driver::CudaContext::new(0).unwrap_or_else(|e| fail("device 0", GpuError::NoDevice(format!("{e:?}"))));
    let name = ctx.name().unwrap_or_else(|e| fail("device 0", rp::gpu::driver("cuDeviceGetName")(e)));
    let (major, minor) = ctx.compute_capability().unwrap_or_else(|e| fail("device 0", rp::gpu::driver("cuDeviceGetAttribute")(e)));
    println!("device 0: {name}, compute capability {major}.{minor}");
    println!("{}", nvrtc::describe(major as u32, minor as u32));
    for (file, src) in rp::gpu::kernel_sources() {
        let cubin = nvrtc::compile_cubin(file, &src, major as u32, minor as u32, &rp::gpu::NVRTC_OPTIONS).unwrap_or_else(|e| fail(file, e));
        let bytes = cubin.len();
        ctx.load_module(cudarc::nvrtc::Ptx::from_binary(cubin)).unwrap_or_else(|e| fail(file, rp::gpu::driver("cuModuleLoadData")(e)));
        println!("{file}: sm_{major}{minor} CUBIN, {bytes} bytes, loaded");
    }
}

#[cfg(not(feature = "cuda"))]
fn main() {
    println!("{}", rp::gpu::GpuError::NotCompiled);
    std::process::exit(1)
}
