//! `rp reproduce ape`: the paper's §5 in one command (SPEC §4.1).
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rp::data::card::ModelCard;
use rp::experiment::ape::{run, Config};
use rp::experiment::ape_out::write;
use rp::progress::{Phases, Progress};
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Subcommand)]
pub enum ReproduceCommand {
    /// Table 1, Figures 1 and 4, the expansion analysis, and every mode side by side.
    Ape(ApeReproArgs),
}

#[derive(Args)]
pub struct ApeReproArgs {
    /// Output folder (created; checked before the run starts).
    #[arg(long, alias = "out")]
    pub output: PathBuf,
    /// A few minutes on 2 cores: 20 000 rows, 400 augmented records, smaller boundary and mode subsets.
    #[arg(long)]
    pub quick: bool,
    /// Rows of synthetic data (overrides the scale's).
    #[arg(long)]
    pub rows: Option<u64>,
    /// Augmented records (overrides the scale's; the full scale uses every positive test record).
    #[arg(long)]
    pub augmented_records: Option<usize>,
    /// Records whose smoothed decision boundary is fitted (overrides the scale's).
    #[arg(long)]
    pub boundary_records: Option<usize>,
    /// Positive test records on which every mode is run side by side (overrides the scale's).
    #[arg(long)]
    pub mode_records: Option<usize>,
    /// Samples per grid point of the smoothed model's boundary estimate.
    #[arg(long)]
    pub boundary_samples: Option<u64>,
    /// Seed of data, training and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Use model.onnx and card.json from this folder (e.g. models/ape-paper) instead of training.
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
}

/// When the run started (for the phase lines written without a terminal).
static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// One indicatif bar per phase.
struct Bars(Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bars {
    fn advance(&self, n: u64) {
        if let Some(b) = self.0.lock().expect("progress lock").as_ref() {
            b.inc(n);
        }
    }
}

impl Phases for Bars {
    fn phase(&self, name: &str, total: u64) {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            // no bar without a terminal (CI logs, pipes): one line per phase instead
            eprintln!("[{:7.1} s] {name} ({total} steps)", START.get_or_init(std::time::Instant::now).elapsed().as_secs_f64());
        }
        let mut slot = self.0.lock().expect("progress lock");
        if let Some(b) = slot.take() {
            b.finish_and_clear();
        }
        let b = super::args::progress_bar(total as usize, name);
        b.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}, {elapsed} elapsed, eta {eta}").expect("valid template").progress_chars("=> "),
        );
        *slot = Some(b);
    }
}

pub fn reproduce(c: ReproduceCommand) -> Result<()> {
    let ReproduceCommand::Ape(a) = c;
    let mut cfg = if a.quick { Config::quick() } else { Config::full() };
    cfg.seed = a.seed;
    if let Some(r) = a.rows {
        cfg.rows = r;
    }
    if let Some(m) = a.augmented_records {
        cfg.augmented_records = Some(m);
    }
    if let Some(m) = a.boundary_records {
        cfg.boundary_records = m;
    }
    if let Some(m) = a.mode_records {
        cfg.mode_records = m;
    }
    if let Some(s) = a.boundary_samples {
        cfg.boundary_samples = s;
    }
    if let Some(dir) = &a.model_dir {
        let net = rp::net::read_onnx(&dir.join("model.onnx"))?;
        let card = ModelCard::read(&dir.join("card.json"))?;
        // the model's own B (its training data's 90th percentile), not the one this run's data gives
        let log_path = dir.join("train.json");
        let log: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&log_path).with_context(|| format!("reading {} (written by rp train)", log_path.display()))?)
            .with_context(|| format!("{} is not valid JSON", log_path.display()))?;
        let Some(b) = log["threshold"].as_f64() else { bail!("{} has no numeric 'threshold' (B); it is written by rp train", log_path.display()) };
        cfg.model = Some((net, card, b));
    }
    super::args::check_output_dir(&a.output)?;
    let start = *START.get_or_init(std::time::Instant::now);
    let bars = Bars(Mutex::new(None));
    let outcome = run(&cfg, &bars)?;
    if let Some(b) = bars.0.lock().expect("progress lock").take() {
        b.finish_and_clear();
    }
    let text = write(&outcome, &cfg, &a.output).with_context(|| format!("writing into {}", a.output.display()))?;
    println!("{text}");
    eprintln!("wrote {} (report.md, table1.*, fig1.*, fig4.*, expansion.*, modes.*, model/) in {:.1} s", a.output.display(), start.elapsed().as_secs_f64());
    Ok(())
}
