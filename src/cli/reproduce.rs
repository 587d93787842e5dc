//! `rp reproduce ape` and `rp reproduce mia`: the paper's §5 and §6 in one command each (SPEC §4.1, §4.2).
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
    /// Figure 3: label-only model inversion (BREP-MI) against the base and the smoothed classifier, on
    /// the 8×8 digits.
    Mia(MiaReproArgs),
}

#[derive(Args)]
pub struct MiaReproArgs {
    /// Output folder (created; checked before the run starts).
    #[arg(long, alias = "out")]
    pub output: PathBuf,
    /// About two minutes on 2 cores: 2 starts per class, 40 rounds of patience, CERTIFY with n = 1000.
    #[arg(long)]
    pub quick: bool,
    /// Seed of the split, training, prior samples, sphere directions and noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seeded starts per target class (overrides the scale's).
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Attack rounds without a radius growth before it stops (overrides the scale's; the authors' code: 1000).
    #[arg(long)]
    pub patience: Option<u64>,
    /// The generator prior the attack searches: pca (a linear decoder of the public images) or identity (pixels).
    #[arg(long, value_enum)]
    pub prior: Option<rp::mia::prior::PriorKind>,
    /// Noise levels σ of the smoothed oracles, comma-separated (pixels in [0, 1]).
    #[arg(long, value_delimiter = ',')]
    pub sigma: Option<Vec<f64>>,
    /// Draws per query of the always-label oracles, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub n: Option<Vec<u64>>,
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

/// Runs `f` with one progress bar per phase, clearing the last bar afterwards.
fn with_bars<T>(f: impl FnOnce(&Bars) -> Result<T>) -> Result<T> {
    let bars = Bars(Mutex::new(None));
    let out = f(&bars);
    if let Some(b) = bars.0.lock().expect("progress lock").take() {
        b.finish_and_clear();
    }
    out
}

pub fn reproduce(c: ReproduceCommand) -> Result<()> {
    let a = match c {
        ReproduceCommand::Ape(a) => a,
        ReproduceCommand::Mia(m) => return reproduce_mia(m),
    };
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
    let outcome = with_bars(|bars| Ok(run(&cfg, bars)?))?;
    let text = write(&outcome, &cfg, &a.output).with_context(|| format!("writing into {}", a.output.display()))?;
    println!("{text}");
    eprintln!("wrote {} (report.md, table1.*, fig1.*, fig4.*, expansion.*, modes.*, model/) in {:.1} s", a.output.display(), start.elapsed().as_secs_f64());
    Ok(())
}

fn reproduce_mia(a: MiaReproArgs) -> Result<()> {
    use rp::experiment::mia::{run, Config};
    let mut cfg = if a.quick { Config::quick() } else { Config::full() };
    cfg.seed = a.seed;
    if let Some(r) = a.restarts {
        if r == 0 {
            bail!("--restarts must be at least 1");
        }
        cfg.restarts = r;
    }
    if let Some(p) = a.patience {
        if p == 0 {
            bail!("--patience must be at least 1");
        }
        cfg.brep.patience = p;
    }
    if let Some(p) = a.prior {
        cfg.prior = p;
    }
    if let Some(s) = a.sigma {
        if s.is_empty() || s.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            bail!("--sigma needs one or more finite values > 0, e.g. 0.1,0.5,1");
        }
        cfg.sigmas = s;
    }
    if let Some(n) = a.n {
        if n.is_empty() || n.contains(&0) {
            bail!("--n needs one or more draw counts ≥ 1, e.g. 10,100");
        }
        cfg.ns = n;
    }
    super::args::check_output_dir(&a.output)?;
    let start = *START.get_or_init(std::time::Instant::now);
    let outcome = with_bars(|bars| Ok(run(&cfg, bars)?))?;
    let text = rp::experiment::mia_out::write(&outcome, &a.output).with_context(|| format!("writing into {}", a.output.display()))?;
    println!("{text}");
    eprintln!("wrote {} (report.md, table.csv, table.md, runs.csv, figure3.png/.svg, grids/, models/) in {:.1} s", a.output.display(), start.elapsed().as_secs_f64());
    Ok(())
}
