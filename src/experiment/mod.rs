//! The paper's experiments (SPEC §4), end to end: data, training, certification, tables and figures.
pub mod ape;
pub mod ape_out;
pub mod data;
pub mod mia;
pub mod mia_out;
pub mod plot;
