//! `rp certify`: one certificate per input row, by any method (SPEC §3).
use super::args::{attribute_index, create, load, method, parse_shard, progress_bar, MethodArg, MethodOpts, ModelArgs, SearchStartArg};
use anyhow::{bail, Result};
use clap::Args;
use rp::attack::{PgdCertifier, PgdOptions};
use rp::bound::Intermediate;
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch, SearchStart};
use rp::line::LineCertifier;
use rp::milp::{MilpCertifier, MilpOptions};
use rp::net::Network;
use rp::report::{self, Format};
use rp::smooth::{SmoothOptions, SmoothingCertifier};
use rp::spec::{Decision, DomainBox, Norm};
use std::path::PathBuf;

#[derive(Args)]
pub struct CertifyArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    pub method: MethodArg,
    #[command(flatten)]
    pub opts: MethodOpts,
    /// Certify only shard K of N (rows K·R/N … (K+1)·R/N − 1 of R, numbered as in the whole file); the
    /// shards' outputs concatenate to the unsharded output.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Output file, .csv or .json (default: CSV on standard output). Its `label` column is the model's
    /// answer (or `abstain`), not a true label.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Where IBP, CROWN and smoothing run: the CPU (default), the GPU when usable (`auto`), or the GPU or
    /// an error (`cuda`; needs a build with `--features cuda`). The GPU is opt-in until its tests have
    /// passed on real hardware. Other methods always run on the CPU.
    #[arg(long, value_enum, default_value_t = rp::gpu::DeviceArg::Cpu)]
    pub device: rp::gpu::DeviceArg,
    /// Also write Cohen et al.'s TSV (`idx label predict radius correct time`); needs a `label` column.
    #[arg(long)]
    pub cohen_tsv: Option<PathBuf>,
}

pub fn certify(mut a: CertifyArgs, given: &super::args::Given) -> Result<()> {
    super::args::check_applicable(given, &[a.method])?;
    let format = a.output.as_deref().map(Format::from_path).transpose()?;
    if let Some(p) = &a.output {
        super::args::check_output_file(p, &["csv", "json"])?;
    }
    if let Some(p) = &a.cohen_tsv {
        super::args::check_output_file(p, &[])?;
    }
    let norm = norm_for(&[a.method], a.opts.norm)?;
    let l = load(&a.model)?;
    let raw = raw_units(a.method, &mut a.opts, l.card.as_ref())?;
    if a.cohen_tsv.is_some() && l.labels.is_none() {
        bail!("--cohen-tsv needs a 'label' column in the input CSV");
    }
    let (backend, note) = rp::gpu::select(a.device)?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    let model = format!("{} {}", l.model_path.display(), l.net.describe());
    let (net, decision) = a.opts.classifier(l.net)?;
    let certifier = on_device(backend, a.method, &a.opts, norm, net, decision, l.domain, &l.header)?;
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
    eprintln!("{}", report::summary_line(&model, certifier.method(), certifier.extent(), &certs, start.elapsed().as_secs_f64()));
    if let Some(labels) = &l.labels {
        eprintln!("{}", report::accuracy_line(&certs, &labels[first..last]));
    }
    match (&a.output, format) {
        (Some(p), Some(f)) => report::write_certificates_raw(create(p)?, f, certifier.method(), certifier.extent(), &l.header, &certs, raw.as_ref().map(|(n, s)| (n.as_str(), *s)))?,
        _ => report::write_certificates_raw(std::io::stdout().lock(), Format::Csv, certifier.method(), certifier.extent(), &l.header, &certs, raw.as_ref().map(|(n, s)| (n.as_str(), *s)))?,
    }
    if let (Some(p), Some(labels)) = (&a.cohen_tsv, &l.labels) {
        report::write_cohen_tsv(create(p)?, &certs, &labels[first..last])?;
    }
    Ok(())
}


/// With a model card: the sensitive attribute that radii are also reported along (the card's first, or
/// --attribute when it names a numeric one) and its std (raw units per model-input unit); fills in the
/// line analysis's attribute and range from the card and turns --sigma-raw into --sigma.
pub fn raw_units(method: MethodArg, opts: &mut MethodOpts, card: Option<&rp::data::card::ModelCard>) -> Result<Option<(String, f64)>> {
    let raw = match card {
        Some(card) => {
            let name = match &opts.exact.attribute {
                Some(n) if card.numeric(n).is_ok() => n.clone(),
                _ => card.sensitive.first().cloned().ok_or_else(|| anyhow::anyhow!("the card names no sensitive attribute"))?,
            };
            let attr = rp::ape::Attribute::from_card(card, &name)?;
            if method == MethodArg::Line && opts.exact.attribute_range.is_none() {
                opts.exact.attribute_range = Some((attr.model(attr.range.0), attr.model(attr.range.1)));
                opts.exact.attribute.get_or_insert_with(|| attr.index.to_string());
            }
            Some((name, attr.std))
        }
        None => None,
    };
    if let Some(v) = opts.smooth.sigma_raw {
        let Some((name, std)) = &raw else { bail!("--sigma-raw needs --card (it is in raw units of the card's sensitive attribute)") };
        opts.smooth.sigma = vec![v / std];
        eprintln!("--sigma-raw {v} ({name}) is σ = {:.6} in model-input units", v / std);
    }
    Ok(raw)
}

/// The norm of a run of `methods`: linf by default, l2 whenever smoothing is among them.
pub fn norm_for(methods: &[MethodArg], norm: Option<Norm>) -> Result<Norm> {
    let smooth = methods.contains(&MethodArg::Smooth);
    match (smooth, norm) {
        (true, None | Some(Norm::L2)) => Ok(Norm::L2),
        (true, Some(n)) => bail!("randomized smoothing certifies l2 radii only; drop --norm {} or use --norm l2", n.as_str()),
        (false, n) => Ok(n.unwrap_or(Norm::Linf)),
    }
}

/// The certifier of `method` on `backend`: IBP, CROWN and smoothing have GPU implementations.
#[allow(unused_variables)]
fn on_device(backend: rp::gpu::Device, method: MethodArg, a: &MethodOpts, norm: Norm, net: Network, decision: Decision, domain: Option<DomainBox>, header: &[String]) -> Result<Box<dyn Certifier>> {
    #[cfg(feature = "cuda")]
    if let rp::gpu::Device::Cuda(gpu) = &backend {
        use rp::gpu::certifier::{GpuBoundCertifier, GpuSmoothing};
        match method {
            MethodArg::Ibp | MethodArg::Crown => {
                let search = radius_search(a)?;
                let bounds = self::method(method, &a.alpha, Intermediate::UnstableOnly)?;
                eprintln!("running {} on the GPU ({})", if method == MethodArg::Ibp { "ibp" } else { "crown" }, gpu.name());
                return Ok(Box::new(GpuBoundCertifier::new(gpu.clone(), net, bounds, norm, decision, domain, search)?));
            }
            MethodArg::Smooth => {
                if domain.is_some() {
                    bail!("--domain-lo/--domain-hi do not apply to randomized smoothing (its noise is unbounded)");
                }
                let opts = smooth_options(a)?;
                eprintln!("running smoothing on the GPU ({})", gpu.name());
                return Ok(Box::new(GpuSmoothing { gpu: gpu.clone(), inner: SmoothingCertifier { net, decision, options: opts } }));
            }
            _ => eprintln!("this method or network runs on the CPU"),
        }
    }
    build_certifier(method, a, norm, net, decision, domain, header)
}

/// Smoothing options from the command line.
fn smooth_options(a: &MethodOpts) -> Result<SmoothOptions> {
    let sigma = match a.smooth.sigma[..] {
        [] => bail!("--method smooth needs --sigma (noise standard deviation in model-input units)"),
        [s] => s,
        _ => bail!("--sigma {:?}: one σ per smoothed classifier here (`rp compare --sigma A,B,…` compares several)", a.smooth.sigma),
    };
    let options = SmoothOptions {
        sigma,
        n0: a.smooth.n0,
        n: a.smooth.n,
        alpha: a.smooth.alpha,
        mode: a.smooth.mode,
        radius: a.smooth.smooth_radius,
        seed: a.smooth.seed,
        noise_space: a.smooth.noise_space,
        eval: a.smooth.eval,
    };
    options.validate()?;
    Ok(options)
}

/// The certifier of `method` with the command-line options.
/// `net` and `decision` come from [`MethodOpts::classifier`].
pub fn build_certifier(method_arg: MethodArg, a: &MethodOpts, norm: Norm, net: Network, decision: Decision, domain: Option<DomainBox>, header: &[String]) -> Result<Box<dyn Certifier>> {
    let l = (net, domain);
    Ok(match method_arg {
        MethodArg::Smooth => {
            let options = smooth_options(a)?;
            if l.1.is_some() {
                bail!("--domain-lo/--domain-hi do not apply to randomized smoothing (its noise is unbounded)");
            }
            Box::new(SmoothingCertifier { net: l.0, decision, options })
        }
        MethodArg::Milp => Box::new(MilpCertifier {
            net: l.0,
            decision,
            norm,
            domain: l.1,
            options: MilpOptions {
                formulation: a.exact.milp_formulation,
                time_limit: a.exact.time_limit,
                eps_max: a.eps_max,
                pgd: pgd_options(a),
                ..Default::default()
            },
        }),
        MethodArg::Exact => Box::new(rp::exact::ExactCertifier {
            net: l.0,
            decision,
            norm,
            domain: l.1,
            options: rp::exact::ExactOptions { time_limit: a.exact.time_limit, eps_max: a.eps_max, pgd: pgd_options(a), split: a.exact.split, ..Default::default() },
        }),
        MethodArg::Pgd => Box::new(PgdCertifier { net: l.0, decision, norm, domain: l.1, options: pgd_options(a) }),
        MethodArg::Line => {
            let Some(name) = &a.exact.attribute else { bail!("--method line needs --attribute (an input column name or index)") };
            let attribute = attribute_index(name, header)?;
            let range = match (a.exact.attribute_range, &l.1) {
                (Some(r), _) => r,
                (None, Some(d)) => (d.lower[attribute], d.upper[attribute]),
                (None, None) => bail!("--method line needs the attribute's valid range: --attribute-range LO,HI (model-input units)"),
            };
            Box::new(LineCertifier { net: l.0, decision, attribute, range, rel_tol: rp::cert::EXACT_REL_TOL })
        }
        m => {
            let search = radius_search(a)?;
            let method = method(m, &a.alpha, Intermediate::UnstableOnly)?;
            Box::new(BoundCertifier { net: l.0, method, norm, decision, domain: l.1, search })
        }
    })
}

/// The deterministic certifiers' radius search from the command line, checked.
fn radius_search(a: &MethodOpts) -> Result<RadiusSearch> {
    let base = RadiusSearch::default();
    let start = match (a.search_start, a.eps_start) {
        (Some(SearchStartArg::Estimated), _) => SearchStart::Estimated,
        (Some(SearchStartArg::Linearized), _) => SearchStart::Linearized,
        (Some(SearchStartArg::Fixed), _) | (None, Some(_)) => SearchStart::Fixed,
        (None, None) => base.start,
    };
    let eps_start = a.eps_start.unwrap_or(base.eps_start);
    let search = RadiusSearch { rel_tol: a.rel_tol, eps_start, eps_max: a.eps_max, start, ..base };
    search.validate()?;
    Ok(search)
}

fn pgd_options(a: &MethodOpts) -> PgdOptions {
    let base = PgdOptions::default();
    PgdOptions { steps: a.exact.pgd_steps, restarts: a.exact.pgd_restarts, eps_start: a.eps_start.unwrap_or(base.eps_start), eps_max: a.eps_max, ..base }
}

