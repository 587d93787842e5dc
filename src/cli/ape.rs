//! `rp ape`: attribute-privacy analysis of raw records under several modes (SPEC §1).
use super::args::{create, parse_pair_list, progress_bar};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use rp::ape::report::{summarize, summary_table, write_csv, write_json};
use rp::ape::{analyze, ApeOptions, Attribute, Mode};
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate};
use rp::cert::RadiusSearch;
use rp::data::card::ModelCard;
use rp::data::raw::RawTable;
use rp::exact::ExactOptions;
use rp::milp::MilpOptions;
use rp::smooth::line::GridNoise;
use rp::smooth::sampler::NoiseSpace;
use rp::smooth::SmoothOptions;
use rp::spec::Decision;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApeMethod {
    Line,
    Ibp,
    Crown,
    AlphaCrown,
    Milp,
    /// The base network's exact full-space ℓ2 radius (`--method exact`), beside smoothing's.
    ExactL2,
    Smooth,
}

#[derive(Args)]
pub struct ApeArgs {
    /// ONNX model.
    #[arg(long)]
    pub model: PathBuf,
    /// Its model card (JSON).
    #[arg(long)]
    pub card: PathBuf,
    /// Raw records (CSV with a header of feature names).
    #[arg(long)]
    pub input: PathBuf,
    /// The sensitive attribute (a numeric feature of the card).
    #[arg(long)]
    pub attribute: String,
    /// Modes to compare.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "line,crown,milp,smooth")]
    pub methods: Vec<ApeMethod>,
    /// Smoothing: σ values (model-input units), one smoothed model each.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1.0, 2.0, 3.0])]
    pub sigma: Vec<f64>,
    /// Smoothing: selection draws per query (Cohen's n0).
    #[arg(long, default_value_t = 100)]
    pub n0: u64,
    /// Smoothing: estimation draws per query.
    #[arg(long, default_value_t = 1000)]
    pub n: u64,
    /// Smoothing: failure probability α of each query's certificate.
    #[arg(long, default_value_t = 0.01)]
    pub alpha: f64,
    /// Smoothing: seed of the noise; every draw is a function of (seed, record, grid point, sample).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Grid step along the attribute, raw units (I_y of a smoothed model and I_y^(R) are on this grid).
    #[arg(long, default_value_t = 0.1)]
    pub grid_step: f64,
    /// The attribute's valid range LO,HI in raw units (default: the card's).
    #[arg(long, value_parser = parse_pair_list, allow_hyphen_values = true)]
    pub range: Option<(f64, f64)>,
    /// Smoothing: separate noise draws at every grid point (independent queries, default) or the same
    /// draws along the whole line (common random numbers: a smoother estimate of I_y).
    #[arg(long, value_enum, default_value_t = GridNoise::Independent)]
    pub grid_noise: GridNoise,
    /// MILP and exact-l2 time limit per record, seconds (then a bracket).
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// Only the first N records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output, .csv or .json (default: CSV on standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn ape(a: ApeArgs) -> Result<()> {
    let net = rp::net::read_onnx(&a.model)?;
    let card = ModelCard::read(&a.card)?;
    if card.input_dim() != net.input_dim() {
        bail!("the card {} describes {} model inputs but the model takes {}", a.card.display(), card.input_dim(), net.input_dim());
    }
    let mut attr = Attribute::from_card(&card, &a.attribute)?;
    if let Some((lo, hi)) = a.range {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            bail!("--range {lo},{hi}: need finite LO < HI");
        }
        attr.range = (lo, hi);
    }
    if let Some(p) = &a.output {
        super::args::check_output_file(p, &["csv", "json"])?;
    }
    let mut raw = RawTable::read(&a.input)?;
    if let Some(m) = a.limit {
        raw.records.truncate(m);
        raw.lines.truncate(m);
    }
    let inputs = card.transform_table(&raw, &a.input)?;
    let mut modes = Vec::new();
    for m in &a.methods {
        match m {
            ApeMethod::Line => modes.push(Mode::Line),
            ApeMethod::Ibp => modes.push(Mode::Bound(BoundMethod::Ibp)),
            ApeMethod::Crown => modes.push(Mode::Bound(BoundMethod::Crown(Intermediate::UnstableOnly))),
            ApeMethod::AlphaCrown => modes.push(Mode::Bound(BoundMethod::AlphaCrown(AlphaCrownOptions::default()))),
            ApeMethod::Milp => modes.push(Mode::Milp(MilpOptions { time_limit: a.time_limit, ..Default::default() })),
            ApeMethod::ExactL2 => modes.push(Mode::ExactL2(ExactOptions { time_limit: a.time_limit, ..Default::default() })),
            ApeMethod::Smooth => {
                for &sigma in &a.sigma {
                    let o = SmoothOptions { sigma, n0: a.n0, n: a.n, alpha: a.alpha, seed: a.seed, noise_space: NoiseSpace::Input, ..Default::default() };
                    o.validate()?;
                    modes.push(Mode::Smooth(o));
                }
            }
        }
    }
    let ids: Vec<usize> = (0..inputs.nrows()).collect();
    let opts = ApeOptions { grid_step: a.grid_step, decision: Decision::Argmax, search: RadiusSearch::default(), grid_noise: a.grid_noise };
    let pb = progress_bar(ids.len() * modes.len(), "ape");
    let rows = analyze(&net, &attr, inputs.view(), &ids, &modes, &opts, &pb)?;
    pb.finish_and_clear();
    eprint!("{}", summary_table(&attr.name, &summarize(&rows)));
    match &a.output {
        Some(p) => match rp::report::Format::from_path(p)? {
            rp::report::Format::Csv => write_csv(create(p)?, &rows)?,
            rp::report::Format::Json => write_json(create(p)?, &attr.name, &rows)?,
        },
        None => write_csv(std::io::stdout().lock(), &rows)?,
    }
    Ok(())
}
