//! NVRTC to CUBIN (issue 19): every kernel compiles to machine code for sm_90 and sm_80 (an ELF image,
//! not PTX for the driver's JIT), a broken source fails with NVRTC's log, and the versions are reported.
//! Needs the NVRTC library, not a GPU: `LD_LIBRARY_PATH=$(bash scripts/nvrtc_env.sh) cargo test --release
//! --features cuda --test nvrtc`. Without NVRTC the tests say why and pass, unless RP_REQUIRE_NVRTC=1.
#![cfg(feature = "cuda")]
use rp::gpu::{nvrtc, GpuError};

/// Whether NVRTC can be loaded; when not, prints why and fails if RP_REQUIRE_NVRTC=1.
fn nvrtc_here() -> bool {
    match nvrtc::nvrtc_version() {
        Ok(_) => true,
        Err(e) => {
            assert!(std::env::var("RP_REQUIRE_NVRTC").map(|v| v != "1").unwrap_or(true), "RP_REQUIRE_NVRTC=1 but {e}");
            eprintln!("skipped: {e}");
            false
        }
    }
}

const ELF: [u8; 4] = [0x7f, b'E', b'L', b'F'];

#[test]
fn every_kernel_compiles_to_a_cubin_for_sm_90_and_sm_80() {
    if !nvrtc_here() {
        return;
    }
    let sources = rp::gpu::kernel_sources();
    assert!(!sources.is_empty());
    for (major, minor) in [(9, 0), (8, 0)] {
        eprintln!("{}", nvrtc::describe(major, minor));
        for (name, src) in &sources {
            let cubin = nvrtc::compile_cubin(name, src, major, minor, &rp::gpu::NVRTC_OPTIONS).unwrap_or_else(|e| panic!("{name} sm_{major}{minor}: {e}"));
            assert!(cubin.len() > 64 && cubin[..4] == ELF, "{name} sm_{major}{minor}: not an ELF image ({} bytes)", cubin.len());
            // ELF64, and e_machine (bytes 18..20) is EM_CUDA = 190
            assert_eq!(cubin[4], 2, "{name}: not ELF64");
            assert_eq!(u16::from_le_bytes([cubin[18], cubin[19]]), 190, "{name}: not a CUDA ELF");
        }
    }
}

#[test]
fn a_broken_source_fails_with_nvrtcs_log() {
    if !nvrtc_here() {
        return;
    }
    let src = "extern \"C\" __global__ void rp_broken(double *x) { x[0] = undeclared_name; }";
    match nvrtc::compile_cubin("broken.cu", src, 9, 0, &rp::gpu::NVRTC_OPTIONS) {
        Err(GpuError::Compile { kernel, log }) => {
            assert_eq!(kernel, "broken.cu");
            assert!(log.contains("undeclared_name") && log.contains("broken.cu"), "log: {log}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}

#[test]
fn an_unknown_architecture_and_an_arch_option_are_refused() {
    if !nvrtc_here() {
        return;
    }
    let src = "extern \"C\" __global__ void rp_empty() {}";
    match nvrtc::compile_cubin("empty.cu", src, 99, 9, &[]) {
        Err(GpuError::Compile { log, .. }) => assert!(log.contains("sm_999") && log.contains("newer than NVRTC"), "log: {log}"),
        other => panic!("expected the architecture refused, got {other:?}"),
    }
    assert!(matches!(nvrtc::compile_cubin("empty.cu", src, 9, 0, &["--gpu-architecture=compute_90"]), Err(GpuError::Unsupported(_))));
}

#[test]
fn versions_are_reported() {
    if !nvrtc_here() {
        return;
    }
    let (major, minor) = nvrtc::nvrtc_version().unwrap();
    assert!(major >= 12, "NVRTC {major}.{minor}");
    let archs = nvrtc::supported_archs().unwrap();
    assert!(archs.contains(&80) && archs.contains(&90), "{archs:?}");
    assert!(archs.windows(2).all(|w| w[0] < w[1]));
    // the driver may be absent (a CI machine without a GPU): then it says so rather than panicking
    match nvrtc::driver_version() {
        Ok(v) => assert!(v >= 11000, "driver {v}"),
        Err(e) => assert_eq!(e, GpuError::NoDriver),
    }
    let line = nvrtc::describe(9, 0);
    eprintln!("{line}; archs {archs:?}");
    assert!(line.starts_with(&format!("NVRTC {major}.{minor}, ")) && line.ends_with("sm_90 CUBIN"), "{line}");
}
