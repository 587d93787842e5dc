//! `rp`: the command-line interface (SPEC §3). A thin layer over the library: parse options, load the
//! model and data, run a certifier, write the contracted output formats.
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ndarray::Axis;
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate, RegionBatch};
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
use rp::net::{read_onnx, Network};
use rp::report::{self, BoundsRecord, Format};
use rp::smooth::sampler::NoiseSpace;
use rp::smooth::{RadiusRule, SmoothMode, SmoothOptions, SmoothingCertifier};
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MethodArg {
    Ibp,
    Crown,
    AlphaCrown,
    /// Randomized smoothing (certify only; ℓ2).
    Smooth,
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
    /// Norm of the certified balls (default: linf; smoothing certifies l2 only).
    #[arg(long, value_enum)]
    norm: Option<Norm>,
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
    #[command(flatten)]
    smooth: SmoothArgs,
    /// Certify only shard K of N (rows K·R/N … (K+1)·R/N − 1 of R, numbered as in the whole file); the
    /// shards' outputs concatenate to the unsharded output.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(usize, usize)>,
    /// Output file, .csv or .json (default: CSV on standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Also write Cohen et al.'s TSV (`idx label predict radius correct time`); needs a `label` column.
    #[arg(long)]
    cohen_tsv: Option<PathBuf>,
}

#[derive(Args)]
struct SmoothArgs {
    /// Smoothing: noise standard deviation, in model-input units.
    #[arg(long, allow_negative_numbers = true)]
    sigma: Option<f64>,
    /// Smoothing: selection samples (Cohen's n0).
    #[arg(long, default_value_t = 100)]
    n0: u64,
    /// Smoothing: estimation samples.
    #[arg(long, default_value_t = 100_000)]
    n: u64,
    /// Smoothing: failure probability α.
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    alpha: f64,
    /// Smoothing: certify (class + ℓ2 radius), predict (class), or always-label (majority, no abstention).
    #[arg(long, value_enum, default_value_t = SmoothMode::Certify)]
    mode: SmoothMode,
    /// Smoothing: radius from Cohen's bound (default) or the two-class bound of the paper's Eq. 1.
    #[arg(long, value_enum, default_value_t = RadiusRule::Cohen)]
    smooth_radius: RadiusRule,
    /// Smoothing: seed of the noise; every draw is a function of (seed, row, sample).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Smoothing: draw the noise in model-input space or as its image under the first layer (same
    /// distribution; cheaper when that layer narrows). `auto` picks first-layer when it is narrower.
    #[arg(long, value_enum, default_value_t = NoiseSpace::Auto)]
    noise_space: NoiseSpace,
}

fn parse_shard(s: &str) -> std::result::Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or_else(|| format!("shard '{s}' must look like K/N, e.g. 0/4"))?;
    let k: usize = k.trim().parse().map_err(|_| format!("shard index '{k}' is not a number"))?;
    let n: usize = n.trim().parse().map_err(|_| format!("shard count '{n}' is not a number"))?;
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need 0 ≤ K < N"));
    }
    Ok((k, n))
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
    labels: Option<Vec<usize>>,
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
    Ok(Loaded { net, inputs: table.rows, labels: table.labels, domain })
}

fn method(m: MethodArg, a: &AlphaArgs, default_intermediate: Intermediate) -> Result<BoundMethod> {
    let intermediate = a.intermediate.unwrap_or(default_intermediate);
    Ok(match m {
        MethodArg::Smooth => bail!("randomized smoothing gives no bounds on logits; use --method ibp, crown or alpha-crown"),
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
    let norm = match (a.method, a.norm) {
        (MethodArg::Smooth, None | Some(Norm::L2)) => Norm::L2,
        (MethodArg::Smooth, Some(n)) => bail!("randomized smoothing certifies l2 radii only; drop --norm {} or use --norm l2", n.as_str()),
        (_, n) => n.unwrap_or(Norm::Linf),
    };
    let l = load(&a.model)?;
    if a.cohen_tsv.is_some() && l.labels.is_none() {
        bail!("--cohen-tsv needs a 'label' column in the input CSV");
    }
    let certifier: Box<dyn Certifier> = match a.method {
        MethodArg::Smooth => {
            let Some(sigma) = a.smooth.sigma else { bail!("--method smooth needs --sigma (noise standard deviation in model-input units)") };
            let options = SmoothOptions {
                sigma,
                n0: a.smooth.n0,
                n: a.smooth.n,
                alpha: a.smooth.alpha,
                mode: a.smooth.mode,
                radius: a.smooth.smooth_radius,
                seed: a.smooth.seed,
                noise_space: a.smooth.noise_space,
            };
            options.validate()?;
            if l.domain.is_some() {
                bail!("--domain-lo/--domain-hi do not apply to randomized smoothing (its noise is unbounded)");
            }
            Box::new(SmoothingCertifier { net: l.net, decision: a.decision, options })
        }
        m => {
            let search = RadiusSearch { rel_tol: a.rel_tol, eps_start: a.eps_start, eps_max: a.eps_max, ..Default::default() };
            search.validate()?;
            let method = method(m, &a.alpha, Intermediate::UnstableOnly)?;
            Box::new(BoundCertifier { net: l.net, method, norm, decision: a.decision, domain: l.domain, search })
        }
    };
    let total = l.inputs.nrows();
    let (first, last) = match a.shard {
        Some((k, n)) => (k * total / n, (k + 1) * total / n),
        None => (0, total),
    };
    let ids: Vec<usize> = (first..last).collect();
    let pb = progress_bar(ids.len(), certifier.method());
    let start = std::time::Instant::now();
    let inputs = l.inputs.slice(ndarray::s![first..last, ..]);
    let certs = certifier.certify(Batch { inputs, row_ids: &ids }, &pb)?;
    pb.finish_and_clear();
    let mean = certs.iter().map(|c| c.radius).sum::<f64>() / certs.len().max(1) as f64;
    eprintln!(
        "{} rows certified by {} ({}): mean radius {mean:.6}, {:.3} s",
        certs.len(),
        certifier.method(),
        norm.as_str(),
        start.elapsed().as_secs_f64()
    );
    match (&a.output, format) {
        (Some(p), Some(f)) => report::write_certificates(create(p)?, f, certifier.method(), norm, &certs)?,
        _ => report::write_certificates(std::io::stdout().lock(), Format::Csv, certifier.method(), norm, &certs)?,
    }
    if let (Some(p), Some(labels)) = (&a.cohen_tsv, &l.labels) {
        report::write_cohen_tsv(create(p)?, &certs, &labels[first..last])?;
    }
    Ok(())
}

fn create(p: &Path) -> Result<std::io::BufWriter<std::fs::File>> {
    Ok(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?))
}
