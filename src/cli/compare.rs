//! `rp compare`: every method's radius per row, side by side; exits non-zero when certified ≤ exact ≤
//! attack is violated on some row (such a violation is a bug in one of the methods).
use super::args::{create, load, progress_bar, MethodArg, MethodOpts, ModelArgs};
use super::certify::{build_certifier, norm_for};
use anyhow::{bail, Result};
use clap::Args;
use rp::cert::Batch;
use rp::compare::{compare as sandwich, MethodResult};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Methods to run, comma-separated (e.g. crown,alpha-crown,milp,pgd,smooth).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [MethodArg::Crown, MethodArg::AlphaCrown, MethodArg::Milp, MethodArg::Pgd])]
    pub methods: Vec<MethodArg>,
    #[command(flatten)]
    pub opts: MethodOpts,
    /// Output CSV (default: standard output).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub fn compare(a: CompareArgs, given: &super::args::Given) -> Result<()> {
    if a.methods.is_empty() {
        bail!("--methods needs at least one method");
    }
    super::args::check_applicable(given, &a.methods)?;
    if a.methods.contains(&MethodArg::Smooth) && a.opts.norm != Some(rp::spec::Norm::L2) {
        bail!("smoothing certifies ℓ2 radii only, so every method is compared in ℓ2: add --norm l2 (or drop smooth)");
    }
    let norm = norm_for(&a.methods, a.opts.norm)?;
    if let Some(p) = &a.output {
        super::args::check_output_file(p, &["csv"])?;
    }
    let l = load(&a.model)?;
    let (net, decision) = a.opts.classifier(l.net.clone())?;
    let ids: Vec<usize> = (0..l.inputs.nrows()).collect();
    let mut results = Vec::new();
    // every method once; smoothing once per σ (named smooth@σ when there are several)
    let mut runs: Vec<(MethodArg, Option<f64>)> = Vec::new();
    for &m in &a.methods {
        match m {
            MethodArg::Smooth if a.opts.smooth.sigma.len() > 1 => runs.extend(a.opts.smooth.sigma.iter().map(|&s| (m, Some(s)))),
            _ => runs.push((m, None)),
        }
    }
    for (m, sigma) in runs {
        let mut opts = a.opts.clone();
        if let Some(s) = sigma {
            opts.smooth.sigma = vec![s];
        }
        let certifier = build_certifier(m, &opts, norm, net.clone(), decision, l.domain.clone(), &l.header)?;
        let name = match sigma {
            Some(s) => format!("{}@{s}", certifier.method()),
            None => certifier.method().to_string(),
        };
        let pb = progress_bar(ids.len(), &name);
        let start = std::time::Instant::now();
        let certs = certifier.certify(Batch { inputs: l.inputs.view(), row_ids: &ids }, &pb)?;
        pb.finish_and_clear();
        eprintln!("{name}: {} rows in {:.3} s", certs.len(), start.elapsed().as_secs_f64());
        results.push(MethodResult { method: name, certs });
    }
    let rows = sandwich(&results);
    let mut out: Box<dyn Write> = match &a.output {
        Some(p) => Box::new(create(p)?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = csv::Writer::from_writer(&mut out);
    let mut header = vec!["row".to_string(), "label".to_string()];
    for r in &results {
        header.extend([format!("{}_radius", r.method), format!("{}_guarantee", r.method), format!("{}_upper", r.method)]);
    }
    header.extend(["lower", "lower_method", "upper", "upper_method", "violation"].map(String::from));
    w.write_record(&header)?;
    for (i, row) in rows.iter().enumerate() {
        let mut rec = vec![row.row.to_string(), row.label.clone()];
        for r in &results {
            let c = &r.certs[i];
            let upper = c.radius().and_then(|r| r.upper()).map_or(String::new(), |u| u.to_string());
            rec.extend([c.radius_value().to_string(), c.guarantee_name(), upper]);
        }
        rec.extend([row.lower.to_string(), row.lower_method.clone(), row.upper.to_string(), row.upper_method.clone(), row.violation.to_string()]);
        w.write_record(&rec)?;
    }
    w.flush()?;
    let bad: Vec<usize> = rows.iter().filter(|r| r.violation).map(|r| r.row).collect();
    if !bad.is_empty() {
        bail!("certified ≤ exact ≤ attack is violated on rows {bad:?}: a bug in one of the methods");
    }
    eprintln!("{} rows: certified ≤ exact ≤ attack holds on every row ({} norm)", rows.len(), norm.as_str());
    Ok(())
}
