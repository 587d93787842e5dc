//! `rp data`: data sets the experiments use.
use super::args::create;
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum DataCommand {
    /// A seeded synthetic look-alike of the Medical Insurance Cost Prediction data (SPEC §4.1).
    SynthMedical(SynthArgs),
}

#[derive(Args)]
pub struct SynthArgs {
    /// Number of rows.
    #[arg(long, default_value_t = 100_000)]
    pub rows: u64,
    /// Seed; every row is a function of (seed, row index).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV file.
    #[arg(long, alias = "out")]
    pub output: PathBuf,
}

pub fn data(c: DataCommand) -> Result<()> {
    match c {
        DataCommand::SynthMedical(a) => {
            if a.rows == 0 {
                bail!("--rows must be at least 1");
            }
            super::args::check_output_file(&a.output, &["csv"])?;
            rp::data::synth::write_synth_medical(create(&a.output)?, a.rows, a.seed)?;
            eprintln!("wrote {} rows to {}", a.rows, a.output.display());
            Ok(())
        }
    }
}
