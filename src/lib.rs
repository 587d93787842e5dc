//! robust-privacy (`rp`): certify inference-time privacy (R-Robust Privacy) of ReLU classifiers.
//!
//! Module map: [`net`] owns the network IR, its forward pass and ONNX read/write; [`spec`] the input
//! regions and output specifications; [`bound`] the sound bound propagation (IBP, CROWN, α-CROWN) with
//! rigorous floating-point error control from [`rigor`]; [`cert`] the `Certifier` trait, certificate types
//! and the certified-radius search; [`data`] CSV input; [`report`] the output formats of SPEC §3.
/// Defines `$vis fn $name(args) -> ret` running `$body` (an `#[inline(always)]` function of the same
/// arguments) compiled for AVX2 and FMA when the CPU has them, else as compiled for the baseline. FMA
/// changes no result (Rust never contracts a·b + c; `mul_add` is fused on every target): it only makes
/// `mul_add` an instruction instead of a library call.
macro_rules! with_avx2 {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $body:path) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

pub mod ape;
pub mod attack;
pub mod bound;
pub mod cert;
pub mod compare;
pub mod data;
pub mod error;
pub mod exact;
pub mod gpu;
pub mod experiment;
pub mod limits;
pub mod line;
pub mod mia;
pub mod milp;
pub mod net;
pub mod progress;
pub mod report;
pub mod rigor;
pub mod rng;
pub mod serve;
pub mod smooth;
pub mod spec;
pub mod train;
pub mod verify;
pub mod vnnlib;

pub use error::{Error, Result};
