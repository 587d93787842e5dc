//! Label-only model inversion (paper §6; SPEC §4.2): BREP-MI (Kahla et al. 2022) against a classifier
//! behind a label-only oracle — the base network, or the smoothed classifier Robust Privacy deploys —
//! searching the latent space of a generator prior. The experiment that runs it over targets, noise
//! levels and sample counts is `experiment::mia` (`rp reproduce mia`).
pub mod brep;
pub mod oracle;
pub mod prior;
