//! robust-privacy (`rp`): certify inference-time privacy (R-Robust Privacy) of ReLU classifiers.
//!
//! Module map: [`net`] owns the network IR, its forward pass and ONNX read/write; [`spec`] the input
//! regions and output specifications; [`bound`] the sound bound propagation (IBP, CROWN, α-CROWN) with
//! rigorous floating-point error control from [`rigor`]; [`cert`] the `Certifier` trait, certificate types
//! and the certified-radius search; [`data`] CSV input; [`report`] the output formats of SPEC §3.
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
