//! `rp verify`: decide a VNN-LIB property, or a whole VNN-COMP benchmark folder (issue 13).
use super::args::{check_output_file, create};
use anyhow::{bail, Context, Result};
use clap::Args;
use rp::verify::bab::InputSplitBab;
use rp::verify::relu_bab::ReluSplitBab;
use rp::verify::{result_text, Budget, Dispatch, Outcome, SplitKind, Verdict, Verifier};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Args)]
pub struct VerifyArgs {
    /// The network (ONNX).
    #[arg(long, requires = "property", conflicts_with = "instances")]
    pub model: Option<PathBuf>,
    /// The property (VNN-LIB): the unsafe set to show empty.
    #[arg(long, requires = "model")]
    pub property: Option<PathBuf>,
    /// A VNN-COMP instances.csv (lines `onnx,vnnlib,timeout`, paths relative to its folder): run them all.
    #[arg(long)]
    pub instances: Option<PathBuf>,
    /// Seconds per property (default: the instance's timeout, else 60).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Most sub-domains alive at once; beyond it the answer is `unknown`.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_domains: usize,
    /// How the branch and bound splits: auto (input splitting for at most 16 inputs, ReLU splitting
    /// with β-CROWN beyond), input, or relu.
    #[arg(long, value_enum, default_value_t = SplitKind::Auto)]
    pub split: SplitKind,
    /// ReLU splitting: α,β optimization steps per sub-domain (warm-started from its parent).
    #[arg(long, default_value_t = 8)]
    pub beta_iters: usize,
    /// Input splitting: how each box is bounded: crown, alpha-crown (with --alpha-iters steps) or ibp.
    #[arg(long, value_enum, default_value_t = super::args::MethodArg::Crown)]
    pub bounds: super::args::MethodArg,
    /// Input splitting: which ReLU inputs get their own backward pass (see rp certify --help): unstable-only, or ibp
    /// (none: CROWN-IBP, cheap per box).
    #[arg(long, value_enum, default_value_t = rp::bound::Intermediate::UnstableOnly)]
    pub intermediate: rp::bound::Intermediate,
    /// Input splitting: α-CROWN iterations per bound (with --bounds alpha-crown).
    #[arg(long, default_value_t = 5)]
    pub alpha_iters: usize,
    /// ReLU splitting: the best-scored (BaBSR) neurons whose children are bounded by one pass to choose
    /// each split (FSB); 1: the best score alone.
    #[arg(long, default_value_t = ReluSplitBab::default().candidates)]
    pub branch_candidates: usize,
    /// ReLU splitting: sub-domains keep their parent's intermediate bounds (only the split neuron's is
    /// clamped) instead of recomputing, after each split, the CROWN bounds of the layers below it:
    /// cheaper per sub-domain, much weaker on deep networks.
    #[arg(long)]
    pub keep_parent_bounds: bool,
    /// ReLU splitting: when α-CROWN leaves the root open, tighten the intermediate bounds first by this
    /// many splits per unstable neuron side (a small branch and bound per bound, BETA-4); 0: never.
    #[arg(long, default_value_t = ReluSplitBab::default().root_splits)]
    pub root_splits: usize,
    /// Input splitting: a box CROWN leaves open with at most this many unstable ReLUs is bounded again by
    /// α-CROWN (20 steps); 0: never.
    #[arg(long, default_value_t = InputSplitBab::default().alpha_unstable)]
    pub alpha_small_boxes: usize,
    /// Input splitting: where CROWN bounds each batch of boxes — the CPU (default), the GPU when one is
    /// usable (`auto`, else the CPU, said once), or the GPU (`cuda`; needs a build with
    /// `--features cuda`). The same bounds on both (the same driver); α-CROWN and ReLU splitting run on
    /// the CPU.
    #[arg(long, value_enum, default_value_t = rp::gpu::DeviceArg::Cpu)]
    pub device: rp::gpu::DeviceArg,
    /// Sub-domains bounded per batch (default: 512 boxes for input splitting, 128 for ReLU splitting).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Falsification: gradient-descent restarts per term (run first, and again with fresh starts during the search).
    #[arg(long, default_value_t = rp::verify::attack::AttackOptions::default().restarts)]
    pub attack_restarts: usize,
    /// Falsification: steps per restart.
    #[arg(long, default_value_t = rp::verify::attack::AttackOptions::default().steps)]
    pub attack_steps: usize,
    /// With --model/--property: write the VNN-COMP result file here (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// With --instances: write one CSV row per instance here.
    #[arg(long)]
    pub results: Option<PathBuf>,
}

pub fn budget(a: &VerifyArgs, instance_timeout: Option<f64>) -> Result<Budget> {
    let t = a.timeout.or(instance_timeout).unwrap_or(60.0);
    if !(t > 0.0 && t.is_finite()) {
        bail!("--timeout must be a positive number of seconds, got {t}");
    }
    if a.max_domains == 0 {
        bail!("--max-domains must be at least 1");
    }
    Ok(Budget { time: Duration::from_secs_f64(t), max_domains: a.max_domains })
}

pub fn verifier(a: &VerifyArgs, given: &super::args::Given) -> Result<Dispatch> {
    if a.split == SplitKind::Relu {
        given.refuse(&["bounds", "intermediate", "alpha_iters", "alpha_small_boxes"], "applies to input splitting; ReLU splitting bounds every sub-domain with β-CROWN (see --beta-iters)")?;
    }
    if a.split == SplitKind::Input {
        given.refuse(&["beta_iters", "branch_candidates", "keep_parent_bounds", "root_splits"], "applies to ReLU splitting (--split relu or auto on a wide network)")?;
    }
    let alpha = super::args::AlphaArgs { intermediate: Some(a.intermediate), alpha_iters: a.alpha_iters, alpha_lr: 0.5 };
    let method = super::args::method(a.bounds, &alpha, a.intermediate)?;
    if a.batch == Some(0) {
        bail!("--batch must be at least 1");
    }
    if a.beta_iters == 0 {
        bail!("--beta-iters must be at least 1");
    }
    if a.branch_candidates == 0 {
        bail!("--branch-candidates must be at least 1");
    }
    if a.attack_restarts == 0 {
        bail!("--attack-restarts must be at least 1");
    }
    let attack = rp::verify::attack::AttackOptions { restarts: a.attack_restarts, steps: a.attack_steps, seed: 0 };
    let input_default = InputSplitBab::default();
    let alpha_iters = if a.alpha_small_boxes == 0 { 0 } else { input_default.alpha_iters };
    let (device, note) = rp::gpu::select(a.device)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let input = InputSplitBab { method, batch: a.batch.unwrap_or(512), attack: attack.clone(), alpha_iters, alpha_unstable: a.alpha_small_boxes, device };
    let relu_default = ReluSplitBab::default();
    let relu = ReluSplitBab {
        batch: a.batch.map_or(relu_default.batch, |b| b.div_ceil(2)),
        beta: rp::bound::split::BetaOptions { iterations: a.beta_iters, ..relu_default.beta.clone() },
        candidates: a.branch_candidates,
        refine: !a.keep_parent_bounds,
        root_splits: a.root_splits,
        attack,
        ..relu_default
    };
    Ok(Dispatch { kind: a.split, input, relu })
}

fn run_one(v: &Dispatch, model: &Path, property: &Path, budget: &Budget) -> Result<Outcome> {
    let net = rp::net::read_onnx(model)?;
    let prop = rp::vnnlib::read_vnnlib(property)?;
    Ok(v.verify(&net, &prop, budget).with_context(|| format!("verifying {} on {}", property.display(), model.display()))?)
}

pub fn verify(a: VerifyArgs, given: &super::args::Given) -> Result<()> {
    if let Some(p) = &a.output {
        check_output_file(p, &[])?;
    }
    if let Some(p) = &a.results {
        check_output_file(p, &["csv"])?;
    }
    match (&a.model, &a.property, &a.instances) {
        (Some(m), Some(p), None) => {
            let o = run_one(&verifier(&a, given)?, m, p, &budget(&a, None)?)?;
            eprintln!("{}: {} in {:.3} s, {} sub-domains bounded", p.display(), o.verdict.word(), o.seconds, o.domains);
            if let Verdict::Unknown(why) = &o.verdict {
                eprintln!("unknown: {why}");
            }
            if let Some(open) = &o.open {
                eprintln!("left open: {} sub-domains, the worst with margin {:.6} (a margin above 0 proves one)", open.domains, open.worst_margin);
            }
            let text = result_text(&o.verdict);
            match &a.output {
                Some(f) => writeln!(create(f)?, "{text}")?,
                None => println!("{text}"),
            }
            Ok(())
        }
        (None, None, Some(csv)) => run_instances(&a, csv, given),
        _ => bail!("give --model and --property, or --instances"),
    }
}

fn run_instances(a: &VerifyArgs, csv: &Path, given: &super::args::Given) -> Result<()> {
    let dir = csv.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 3 {
            bail!("{}, line {}: expected onnx,vnnlib,timeout", csv.display(), i + 1);
        }
        let t: f64 = f[2].parse().with_context(|| format!("{}, line {}: timeout '{}' is not a number", csv.display(), i + 1, f[2]))?;
        rows.push((dir.join(f[0]), dir.join(f[1]), t));
    }
    let v = verifier(a, given)?;
    let pb = super::args::progress_bar(rows.len(), "verify");
    let mut out: Option<csv::Writer<std::io::BufWriter<std::fs::File>>> = a.results.as_ref().map(|p| create(p).map(csv::Writer::from_writer)).transpose()?;
    if let Some(w) = out.as_mut() {
        w.write_record(["network", "property", "verdict", "seconds", "domains"])?;
    }
    let mut times = Vec::new();
    let (mut holds, mut violated, mut timeouts, mut unknown) = (0, 0, 0, 0);
    for (model, property, t) in &rows {
        let o = run_one(&v, model, property, &budget(a, Some(*t))?)?;
        match o.verdict {
            Verdict::Holds => holds += 1,
            Verdict::Violated(_) => violated += 1,
            Verdict::Timeout => timeouts += 1,
            Verdict::Unknown(_) => unknown += 1,
        }
        times.push(o.seconds);
        let name = |p: &Path| p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
        if let Some(w) = out.as_mut() {
            w.write_record([name(model), name(property), o.verdict.word().to_string(), format!("{:.3}", o.seconds), o.domains.to_string()])?;
            w.flush()?;
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let total: f64 = times.iter().sum();
    times.sort_by(f64::total_cmp);
    let median = if times.is_empty() { 0.0 } else { times[times.len() / 2] };
    eprintln!(
        "{} instances: {holds} verified (unsat), {violated} falsified (sat), {timeouts} timeouts, {unknown} unknown; total {total:.1} s, median {median:.3} s",
        rows.len()
    );
    Ok(())
}
