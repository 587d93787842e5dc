//! Command-line option structs shared by the subcommands (clap derives their help from the doc
//! comments) and the loading of a model with its input table.
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate};
use rp::data::card::ModelCard;
use rp::milp::Formulation;
use rp::net::{read_onnx, Network};
use rp::smooth::sampler::{Eval, NoiseSpace};
use rp::smooth::{RadiusRule, SmoothMode};
use rp::spec::{Decision, DomainBox, Norm};
use std::path::{Path, PathBuf};

/// The bundled demo model and inputs, used when `--model` is not given.
const DEMO_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/model.onnx");
const DEMO_INPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/inputs.csv");

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Ibp,
    Crown,
    AlphaCrown,
    /// Randomized smoothing (certify only; ℓ2).
    Smooth,
    /// Exact radius by MILP in HiGHS (certify only).
    Milp,
    /// Exact radius by branch and bound over ReLU phases, relaxations in Clarabel, both ends proven
    /// (certify only; every norm).
    Exact,
    /// Exact radius along one attribute by piecewise-linear line analysis (certify only).
    Line,
    /// Upper bound of the radius by a PGD attack (certify only).
    Pgd,
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// ONNX model (default: the bundled demo model models/demo-mlp/model.onnx).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// CSV of model inputs: a header row, then one input per row (default with the demo model: its
    /// bundled inputs).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Model card (JSON) of the model: the input CSV then holds raw records (feature names as header),
    /// mapped to model inputs by the card; radii are also reported in raw units of its sensitive attribute.
    #[arg(long)]
    pub card: Option<PathBuf>,
    /// Lower end of the valid input range, for every input (give with --domain-hi).
    #[arg(long, requires = "domain_hi", allow_hyphen_values = true)]
    pub domain_lo: Option<f64>,
    /// Upper end of the valid input range, for every input (give with --domain-lo).
    #[arg(long, requires = "domain_lo", allow_hyphen_values = true)]
    pub domain_hi: Option<f64>,
}

#[derive(Args, Clone)]
pub struct AlphaArgs {
    /// CROWN / α-CROWN: which ReLU-input neurons get CROWN intermediate bounds: `unstable-only` (those
    /// interval arithmetic cannot prove stable, per row), `all`, or `auto-lirpa` (auto_LiRPA 0.3's
    /// batch-wide rule, to reproduce its numbers; rows then depend on their batch). Default: auto-lirpa
    /// for `rp bounds`, unstable-only for `rp certify`.
    #[arg(long, value_enum)]
    pub intermediate: Option<Intermediate>,
    /// α-CROWN: Adam iterations.
    #[arg(long, default_value_t = 20)]
    pub alpha_iters: usize,
    /// α-CROWN: Adam step size.
    #[arg(long, default_value_t = 0.5)]
    pub alpha_lr: f64,
}

/// The options given explicitly on the command line (by clap id, e.g. `sigma`, `time_limit`) of the
/// subcommand that runs.
pub struct Given(Vec<String>);

impl Given {
    pub fn of(m: &clap::ArgMatches) -> Self {
        let sub = m.subcommand().map(|(_, s)| s);
        let ids = sub
            .map(|s| {
                s.ids()
                    .filter(|id| s.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
                    .map(|id| id.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default();
        Given(ids)
    }

    /// Whether option `id` was given.
    pub fn has(&self, id: &str) -> bool {
        self.0.iter().any(|g| g == id)
    }

    /// An error naming the first given option of `ids` (clap ids) that does not apply, with `why`.
    pub fn refuse(&self, ids: &[&str], why: &str) -> Result<()> {
        match ids.iter().find(|id| self.has(id)) {
            Some(id) => bail!("--{} {why}", id.replace('_', "-")),
            None => Ok(()),
        }
    }
}

/// Options of `MethodOpts` by the methods they apply to (clap ids).
pub const SMOOTH_OPTIONS: [&str; 10] = ["sigma", "sigma_raw", "n0", "n", "alpha", "mode", "smooth_radius", "seed", "noise_space", "eval"];
pub const MILP_OPTIONS: [&str; 1] = ["milp_formulation"];
pub const LINE_OPTIONS: [&str; 2] = ["attribute", "attribute_range"];
pub const PGD_OPTIONS: [&str; 2] = ["pgd_steps", "pgd_restarts"];
pub const ALPHA_OPTIONS: [&str; 2] = ["alpha_iters", "alpha_lr"];
pub const SEARCH_OPTIONS: [&str; 3] = ["rel_tol", "eps_start", "eps_max"];

/// An error when an option given on the command line does not apply to any of `methods`.
pub fn check_applicable(given: &Given, methods: &[MethodArg]) -> Result<()> {
    let uses = |m: &[MethodArg]| methods.iter().any(|x| m.contains(x));
    let list = methods.iter().map(|m| m.to_possible_value().map_or(String::new(), |v| v.get_name().to_string())).collect::<Vec<_>>().join(", ");
    let why = |what: &str| format!("applies only to {what}, not to --method {list}");
    use MethodArg::*;
    if !uses(&[Smooth]) {
        given.refuse(&SMOOTH_OPTIONS, &why("--method smooth"))?;
    }
    if !uses(&[Milp]) {
        given.refuse(&MILP_OPTIONS, &why("--method milp"))?;
    }
    if !uses(&[Milp, Exact]) {
        given.refuse(&["time_limit"], &why("--method milp and exact"))?;
    }
    if !uses(&[Exact]) {
        given.refuse(&["split"], &why("--method exact"))?;
    }
    if !uses(&[Line]) {
        given.refuse(&LINE_OPTIONS, &why("--method line"))?;
    }
    if !uses(&[Pgd, Milp, Exact]) {
        given.refuse(&PGD_OPTIONS, &why("--method pgd, milp and exact (whose first upper bound is an attack)"))?;
    }
    if !uses(&[AlphaCrown]) {
        given.refuse(&ALPHA_OPTIONS, &why("--method alpha-crown"))?;
    }
    if !uses(&[Crown, AlphaCrown]) {
        given.refuse(&["intermediate"], &why("--method crown and alpha-crown"))?;
    }
    if !uses(&[Ibp, Crown, AlphaCrown, Pgd, Milp, Exact]) {
        given.refuse(&SEARCH_OPTIONS, &why("the radius searches (ibp, crown, alpha-crown, pgd, milp, exact)"))?;
    }
    if uses(&[Line]) && methods.len() == 1 {
        given.refuse(&["norm"], "does not apply to --method line: its radius is 1-D along --attribute")?;
    }
    Ok(())
}

/// Where the radius search starts, as given on the command line (`rp::cert::SearchStart`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SearchStartArg {
    Estimated,
    Linearized,
    Fixed,
}

/// The decision rule as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DecisionArg {
    Argmax,
    Argmin,
    /// One output logit: class 1 when it exceeds --threshold (sigmoid > ½ at 0), else class 0.
    Threshold,
}

impl MethodOpts {
    /// The network and decision to certify: a single-logit model with `--decision threshold` gets the
    /// exact two-class head of `Network::threshold_head`; argmax/argmin need at least two outputs.
    pub fn classifier(&self, net: Network) -> Result<(Network, Decision)> {
        if self.decision != DecisionArg::Threshold && self.threshold != 0.0 {
            bail!("--threshold applies only to --decision threshold");
        }
        match self.decision {
            DecisionArg::Threshold => Ok((net.threshold_head(self.threshold)?, Decision::Argmax)),
            d => {
                rp::spec::check_classes(net.output_dim())?;
                Ok((net, if d == DecisionArg::Argmin { Decision::Argmin } else { Decision::Argmax }))
            }
        }
    }
}

/// Options shared by `certify` and `compare`: the decision rule, norm, search and method options.
#[derive(Args, Clone)]
pub struct MethodOpts {
    /// Norm of the certified balls (default: linf; smoothing certifies l2 only).
    #[arg(long, value_enum)]
    pub norm: Option<Norm>,
    /// How the model's scores become its answer: argmax, argmin (ACAS Xu advisories), or threshold for
    /// a model with one output logit (class 1 when the logit exceeds --threshold, else class 0).
    #[arg(long, value_enum, default_value_t = DecisionArg::Argmax)]
    pub decision: DecisionArg,
    /// With --decision threshold: the logit threshold (0 is sigmoid > ½).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub threshold: f64,
    /// Relative tolerance of the radius bisection.
    #[arg(long, default_value_t = 1e-4)]
    pub rel_tol: f64,
    /// First ε tried by the radius search (and by the attack). Giving it makes the search start every
    /// row there (--search-start fixed) unless --search-start says otherwise; without it the attack
    /// starts at 0.1.
    #[arg(long)]
    pub eps_start: Option<f64>,
    /// Where each row's radius search starts (it changes only how many checks the search takes):
    /// `estimated` (the default without --eps-start) checks just below and above the row's radius
    /// estimated from the network linearized at the row; `linearized` at ⅔ of the row's distance to
    /// the linearized decision boundary; `fixed` at --eps-start (0.1 by default). The first two fall
    /// back to the next where they have no value.
    #[arg(long, value_enum)]
    pub search_start: Option<SearchStartArg>,
    /// Largest ε tried by the radius search.
    #[arg(long, default_value_t = 1e6)]
    pub eps_max: f64,
    #[command(flatten)]
    pub alpha: AlphaArgs,
    #[command(flatten)]
    pub smooth: SmoothArgs,
    #[command(flatten)]
    pub exact: ExactArgs,
}

#[derive(Args, Clone)]
pub struct SmoothArgs {
    /// Smoothing: noise standard deviation, in model-input units (`rp compare`: a comma-separated
    /// list, one smoothed classifier each).
    #[arg(long, allow_negative_numbers = true, conflicts_with = "sigma_raw", value_delimiter = ',')]
    pub sigma: Vec<f64>,
    /// Smoothing: noise standard deviation in raw units of the card's sensitive attribute (σ = value/std
    /// of that attribute in model-input units; needs --card).
    #[arg(long, allow_negative_numbers = true)]
    pub sigma_raw: Option<f64>,
    /// Smoothing: selection samples (Cohen's n0).
    #[arg(long, default_value_t = 100)]
    pub n0: u64,
    /// Smoothing: estimation samples.
    #[arg(long, default_value_t = 100_000)]
    pub n: u64,
    /// Smoothing: failure probability α.
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub alpha: f64,
    /// Smoothing: certify (class + ℓ2 radius), predict (class), or always-label (majority, no abstention).
    #[arg(long, value_enum, default_value_t = SmoothMode::Certify)]
    pub mode: SmoothMode,
    /// Smoothing: radius from Cohen's bound (default) or the two-class bound of the paper's Eq. 1.
    #[arg(long, value_enum, default_value_t = RadiusRule::Cohen)]
    pub smooth_radius: RadiusRule,
    /// Smoothing: seed of the noise; every draw is a function of (seed, row, sample).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Smoothing: draw the noise in model-input space or as its image under the first layer (same
    /// distribution; cheaper when that layer narrows). `auto` picks first-layer when it is narrower.
    #[arg(long, value_enum, default_value_t = NoiseSpace::Auto)]
    pub noise_space: NoiseSpace,
    /// Smoothing: the arithmetic of the base classifier on the noisy samples. f64 (default): the
    /// network in binary64. f32: the float32 network of the file as ONNX runtimes run it (binary32
    /// weights, activations and sums; ~2x faster); the guarantee is then about that float32 classifier.
    /// The GPU backend evaluates in f64 only.
    #[arg(long, value_enum, default_value_t = Eval::F64)]
    pub eval: Eval,
}

#[derive(Args, Clone)]
pub struct ExactArgs {
    /// MILP and exact: time limit per record in seconds (a bracket is reported when it is hit).
    #[arg(long, default_value_t = 60.0)]
    pub time_limit: f64,
    /// MILP: one MILP per competing class, or one MILP with a class selector.
    #[arg(long, value_enum, default_value_t = Formulation::Selector)]
    pub milp_formulation: Formulation,
    /// Line analysis: the attribute (input column name or 0-based index) to move along.
    #[arg(long)]
    pub attribute: Option<String>,
    /// Line analysis: the attribute's valid range LO,HI in model-input units (default: the domain box).
    #[arg(long, value_parser = parse_pair, allow_hyphen_values = true)]
    pub attribute_range: Option<(f64, f64)>,
    /// Exact: what the branch and bound splits: auto (input boxes in l-inf for at most 16 inputs and at
    /// least two ReLU layers, ReLU phases otherwise), input, or relu (input boxes tile the attack's ball:
    /// a record whose attack finds no counterexample up to --eps-max is searched by ReLU phases).
    #[arg(long, value_enum, default_value_t = rp::verify::SplitKind::Auto)]
    pub split: rp::verify::SplitKind,
    /// PGD: gradient steps per restart.
    #[arg(long, default_value_t = 50)]
    pub pgd_steps: usize,
    /// PGD: restarts (seeded).
    #[arg(long, default_value_t = 5)]
    pub pgd_restarts: usize,
}

pub fn parse_pair(s: &str) -> std::result::Result<(f64, f64), String> {
    let (a, b) = s.split_once(',').ok_or_else(|| format!("'{s}' must look like LO,HI"))?;
    let a: f64 = a.trim().parse().map_err(|_| format!("'{a}' is not a number"))?;
    let b: f64 = b.trim().parse().map_err(|_| format!("'{b}' is not a number"))?;
    Ok((a, b))
}

/// LO,HI as a pair (alias of `parse_pair` for raw-unit ranges).
pub fn parse_pair_list(s: &str) -> std::result::Result<(f64, f64), String> {
    parse_pair(s)
}

pub fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or_else(|| format!("shard '{s}' must look like K/N, e.g. 0/4"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("shard index '{k}' is not a number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("shard count '{n}' is not a number"))?;
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need 0 ≤ K < N"));
    }
    Ok((k, n))
}

/// A model with its input table and domain box.
pub struct Loaded {
    /// The ONNX file the network was read from.
    pub model_path: PathBuf,
    pub net: Network,
    pub header: Vec<String>,
    pub inputs: ndarray::Array2<f64>,
    pub labels: Option<Vec<usize>>,
    pub domain: Option<DomainBox>,
    pub card: Option<ModelCard>,
}

pub fn load(m: &ModelArgs) -> Result<Loaded> {
    let (model, input) = match (&m.model, &m.input) {
        (Some(model), Some(input)) => (model.clone(), input.clone()),
        (None, None) => {
            eprintln!("using the bundled demo model {DEMO_MODEL} and its inputs {DEMO_INPUT}");
            (PathBuf::from(DEMO_MODEL), PathBuf::from(DEMO_INPUT))
        }
        (None, Some(_)) => bail!("--input was given without --model; pass the model the inputs belong to"),
        (Some(_), None) => bail!("--model was given without --input; pass a CSV of model inputs"),
    };
    let net = read_onnx(&model)?;
    let domain = match (m.domain_lo, m.domain_hi) {
        (Some(lo), Some(hi)) => Some(DomainBox::uniform(net.input_dim(), lo, hi)?),
        _ => None,
    };
    if let Some(card_path) = &m.card {
        let card = ModelCard::read(card_path)?;
        if card.input_dim() != net.input_dim() {
            bail!("the card {} describes {} model inputs but the model takes {}", card_path.display(), card.input_dim(), net.input_dim());
        }
        let raw = rp::data::raw::RawTable::read(&input)?;
        let inputs = card.transform_table(&raw, &input)?;
        let labels = match raw.column_index("label") {
            Ok(k) => Some(
                raw.records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| class_of(&r[k], &card.classes).with_context(|| format!("{}, line {}", input.display(), i + 2)))
                    .collect::<Result<Vec<usize>>>()?,
            ),
            Err(_) => None,
        };
        return Ok(Loaded { model_path: model, net, header: card.input_names(), inputs, labels, domain, card: Some(card) });
    }
    let table = rp::data::read_inputs(&input, net.input_dim())?;
    Ok(Loaded { model_path: model, net, header: table.header, inputs: table.rows, labels: table.labels, domain, card: None })
}

/// A class given by index or by the card's class name.
fn class_of(cell: &str, classes: &[String]) -> Result<usize> {
    if let Some(i) = classes.iter().position(|c| c == cell) {
        return Ok(i);
    }
    match cell.parse::<usize>() {
        Ok(i) if i < classes.len().max(1) => Ok(i),
        _ => bail!("label '{cell}' is neither a class index nor one of the card's classes ({})", classes.join(", ")),
    }
}

pub fn method(m: MethodArg, a: &AlphaArgs, default_intermediate: Intermediate) -> Result<BoundMethod> {
    let intermediate = a.intermediate.unwrap_or(default_intermediate);
    Ok(match m {
        MethodArg::Smooth | MethodArg::Milp | MethodArg::Exact | MethodArg::Line | MethodArg::Pgd => {
            bail!("this method gives no bounds on logits; use --method ibp, crown or alpha-crown")
        }
        MethodArg::Ibp => BoundMethod::Ibp,
        MethodArg::Crown => BoundMethod::Crown(intermediate),
        MethodArg::AlphaCrown => {
            if !(a.alpha_lr > 0.0 && a.alpha_lr.is_finite()) {
                bail!("--alpha-lr must be a positive number, got {}", a.alpha_lr);
            }
            BoundMethod::AlphaCrown(AlphaCrownOptions {
                iterations: a.alpha_iters,
                learning_rate: a.alpha_lr,
                intermediate,
                ..Default::default()
            })
        }
    })
}

/// The index of an input column given by name (from the CSV header) or by 0-based index.
pub fn attribute_index(name: &str, header: &[String]) -> Result<usize> {
    if let Some(i) = header.iter().position(|h| h == name) {
        return Ok(i);
    }
    match name.parse::<usize>() {
        Ok(i) if i < header.len() => Ok(i),
        _ => bail!("unknown attribute '{name}': not an input column ({}) nor an index below {}", header.join(", "), header.len()),
    }
}

/// Checks, before any work starts, that `p` can be written as a file with one of `extensions` (e.g.
/// `["csv", "json"]`; empty: any): its folder exists and is writable, and the path is not a folder.
pub fn check_output_file(p: &Path, extensions: &[&str]) -> Result<()> {
    if !extensions.is_empty() {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !extensions.contains(&ext) {
            bail!("--output {} must end in .{}", p.display(), extensions.join(" or ."));
        }
    }
    if p.is_dir() {
        bail!("--output {} is a folder; give a file name", p.display());
    }
    let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("--output {}: the folder {} does not exist", p.display(), parent.display());
    }
    probe_writable(parent).with_context(|| format!("--output {}: cannot write into {}", p.display(), parent.display()))
}

/// Creates folder `p` (and its parents) before any work starts and checks that files can be written in it.
pub fn check_output_dir(p: &Path) -> Result<()> {
    if p.exists() && !p.is_dir() {
        bail!("--output {} is a file; give a folder", p.display());
    }
    std::fs::create_dir_all(p).with_context(|| format!("--output {}: cannot create the folder", p.display()))?;
    probe_writable(p).with_context(|| format!("--output {}: cannot write into it", p.display()))
}

fn probe_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".rp-write-check-{}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)?;
    Ok(())
}

pub fn create(p: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    Ok(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?))
}
pub fn progress_bar(n: usize, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows, {elapsed} elapsed, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

