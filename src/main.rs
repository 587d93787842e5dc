//! `rp`: the command-line interface (SPEC §3). A thin layer over the library: parse options, load the
//! model and data, run a certifier, write the contracted output formats.
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ndarray::Axis;
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate, RegionBatch};
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
use rp::net::{read_onnx, Network};
use rp::report::{self, BoundsRecord, Format};
use rp::spec::{Decision, DomainBox, Norm};
use std::path::{Path, PathBuf};

/// The bundled demo model and inputs, used when `--model` is not given.
const DEMO_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/model.onnx");
const DEMO_INPUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/demo-mlp/inputs.csv");

#[derive(Parser)]
#[command(name = "rp", version, about = "Certify inference-time privacy (Robust Privacy) of ReLU classifiers")]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bounds on the logits of each input row over an ε-ball.
    Bounds(BoundsArgs),
    /// Certified robust radius of each input row.
    Certify(CertifyArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    Ibp,
    Crown,
    AlphaCrown,
}

#[derive(Args)]
struct ModelArgs {
    /// ONNX model (default: the bundled demo model models/demo-mlp/model.onnx).
    #[arg(long)]
    model: Option<PathBuf>,
    /// CSV of model inputs: a header row, then one input per row (default with the demo model: its
    /// bundled inputs).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Lower end of the valid input range, for every input (give with --domain-hi).
    #[arg(long, requires = "domain_hi", allow_hyphen_values = true)]
    domain_lo: Option<f64>,
    /// Upper end of the valid input range, for every input (give with --domain-lo).
    #[arg(long, requires = "domain_lo", allow_hyphen_values = true)]
    domain_hi: Option<f64>,
}

#[derive(Args)]
struct AlphaArgs {
    /// CROWN / α-CROWN: which ReLU-input neurons get CROWN intermediate bounds: `unstable-only` (those
    /// interval arithmetic cannot prove stable, per row), `all`, or `auto-lirpa` (auto_LiRPA 0.3's
    /// batch-wide rule, to reproduce its numbers; rows then depend on their batch). Default: auto-lirpa
    /// for `rp bounds`, unstable-only for `rp certify`.
    #[arg(long, value_enum)]
    intermediate: Option<Intermediate>,
    /// α-CROWN: Adam iterations.
    #[arg(long, default_value_t = 20)]
    alpha_iters: usize,
    /// α-CROWN: Adam step size.
    #[arg(long, default_value_t = 0.5)]
    alpha_lr: f64,
}

#[derive(Args)]
struct BoundsArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Norm of the perturbation ball.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    norm: Norm,
    /// Radius of the ball, in model-input units.
    #[arg(long, allow_negative_numbers = true)]
    eps: f64,
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    method: MethodArg,
    #[command(flatten)]
    alpha: AlphaArgs,
    /// Write the JSON document here (default: standard output).
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Args)]
struct CertifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    method: MethodArg,
    /// Norm of the certified balls.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    norm: Norm,
    /// How the model's scores become its answer (ACAS Xu advisories are the argmin).
    #[arg(long, value_enum, default_value_t = Decision::Argmax)]
    decision: Decision,
    /// Relative tolerance of the radius bisection.
    #[arg(long, default_value_t = 1e-4)]
    rel_tol: f64,
    /// First ε tried by the radius search.
    #[arg(long, default_value_t = 0.1)]
    eps_start: f64,
    /// Largest ε tried by the radius search.
    #[arg(long, default_value_t = 1e6)]
    eps_max: f64,
    #[command(flatten)]
    alpha: AlphaArgs,
    /// Output file, .csv or .json (default: CSV on standard output).
    #[arg(long)]
    output: Option<PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    if let Some(t) = cli.threads {
        rayon::ThreadPoolBuilder::new().num_threads(t).build_global().context("setting up the thread pool")?;
    }
    match cli.command {
        Command::Bounds(a) => bounds(a),
        Command::Certify(a) => certify(a),
    }
}

struct Loaded {
    net: Network,
    inputs: ndarray::Array2<f64>,
    domain: Option<DomainBox>,
}

fn load(m: &ModelArgs) -> Result<Loaded> {
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
    let table = rp::data::read_inputs(&input, net.input_dim())?;
    let domain = match (m.domain_lo, m.domain_hi) {
        (Some(lo), Some(hi)) => Some(DomainBox::uniform(net.input_dim(), lo, hi)?),
        _ => None,
    };
    Ok(Loaded { net, inputs: table.rows, domain })
}

fn method(m: MethodArg, a: &AlphaArgs, default_intermediate: Intermediate) -> Result<BoundMethod> {
    let intermediate = a.intermediate.unwrap_or(default_intermediate);
    Ok(match m {
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

fn progress_bar(n: usize, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows, {elapsed} elapsed, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

fn bounds(a: BoundsArgs) -> Result<()> {
    if !(a.eps >= 0.0 && a.eps.is_finite()) {
        bail!("--eps must be a finite number ≥ 0, got {}", a.eps);
    }
    let l = load(&a.model)?;
    let m = method(a.method, &a.alpha, Intermediate::AutoLirpa)?;
    let pb = progress_bar(l.inputs.nrows(), m.name());
    let start = std::time::Instant::now();
    let eps = ndarray::Array1::from_elem(l.inputs.nrows(), a.eps);
    // Chunks of rows so that the progress bar moves; rows do not depend on the chunking, except under
    // auto_LiRPA's batch-wide rule, which sees the whole file as one batch.
    let chunk = if m.row_independent(&l.net) { 256 } else { l.inputs.nrows() };
    let mut rows = Vec::with_capacity(l.inputs.nrows());
    for (c, part) in l.inputs.axis_chunks_iter(Axis(0), chunk).enumerate() {
        let regions = RegionBatch { centers: part, eps: eps.slice(ndarray::s![..part.nrows()]), norm: a.norm, domain: l.domain.as_ref() };
        let b = m.logit_bounds_batch(&l.net, &regions);
        rows.extend((0..part.nrows()).map(|i| BoundsRecord::new(c * chunk + i, &b.row(i))));
        pb.inc(part.nrows() as u64);
    }
    pb.finish_and_clear();
    eprintln!("{} bounds of {} rows computed in {:.6} s", m.name(), rows.len(), start.elapsed().as_secs_f64());
    match &a.json {
        Some(p) => report::write_bounds(create(p)?, m.name(), a.norm, a.eps, &rows)?,
        None => report::write_bounds(std::io::stdout().lock(), m.name(), a.norm, a.eps, &rows)?,
    }
    Ok(())
}

fn certify(a: CertifyArgs) -> Result<()> {
    let format = a.output.as_deref().map(Format::from_path).transpose()?;
    let l = load(&a.model)?;
    let search = RadiusSearch { rel_tol: a.rel_tol, eps_start: a.eps_start, eps_max: a.eps_max, ..Default::default() };
    search.validate()?;
    let certifier =
        BoundCertifier { net: l.net, method: method(a.method, &a.alpha, Intermediate::UnstableOnly)?, norm: a.norm, decision: a.decision, domain: l.domain, search };
    let ids: Vec<usize> = (0..l.inputs.nrows()).collect();
    let pb = progress_bar(ids.len(), certifier.method());
    let start = std::time::Instant::now();
    let certs = certifier.certify(Batch { inputs: l.inputs.view(), row_ids: &ids }, &pb)?;
    pb.finish_and_clear();
    let mean = certs.iter().map(|c| c.radius).sum::<f64>() / certs.len() as f64;
    eprintln!(
        "{} rows certified by {} ({}): mean radius {mean:.6}, {:.3} s",
        certs.len(),
        certifier.method(),
        a.norm.as_str(),
        start.elapsed().as_secs_f64()
    );
    match (&a.output, format) {
        (Some(p), Some(f)) => report::write_certificates(create(p)?, f, certifier.method(), a.norm, &certs)?,
        _ => report::write_certificates(std::io::stdout().lock(), Format::Csv, certifier.method(), a.norm, &certs)?,
    }
    Ok(())
}

fn create(p: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    Ok(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?))
}
