//! `rp bounds`: logit bounds of each input row over an ε-ball (SPEC §3).
use super::args::{check_output_file, create, load, method, progress_bar, AlphaArgs, MethodArg, ModelArgs};
use anyhow::{bail, Result};
use clap::Args;
use ndarray::Axis;
use rp::bound::{Intermediate, RegionBatch};
use rp::report::{self, BoundsRecord};
use rp::spec::Norm;
use std::path::PathBuf;

#[derive(Args)]
pub struct BoundsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Norm of the perturbation ball.
    #[arg(long, value_enum, default_value_t = Norm::Linf)]
    pub norm: Norm,
    /// Radius of the ball, in model-input units.
    #[arg(long, allow_negative_numbers = true)]
    pub eps: f64,
    #[arg(long, value_enum, default_value_t = MethodArg::Crown)]
    pub method: MethodArg,
    #[command(flatten)]
    pub alpha: AlphaArgs,
    /// For a model ending in Softmax/LogSoftmax: bound the logits before it (the only outputs rp bounds).
    #[arg(long)]
    pub logits: bool,
    /// Write the JSON document to this .json file (default: standard output).
    #[arg(long, alias = "json")]
    pub output: Option<PathBuf>,
}

pub fn bounds(a: BoundsArgs) -> Result<()> {
    if !(a.eps >= 0.0 && a.eps.is_finite()) {
        bail!("--eps must be a finite number ≥ 0, got {}", a.eps);
    }
    if let Some(p) = &a.output {
        check_output_file(p, &["json"])?;
    }
    let l = load(&a.model)?;
    if l.net.head != rp::net::Head::Logits && !a.logits {
        bail!(
            "{} ends in a {:?}: rp bounds bounds the logits before it, not the probabilities (answers and radii are unchanged \
             by it, which is why certify needs nothing); pass --logits to get the logit bounds",
            l.model_path.display(),
            l.net.head
        );
    }
    let ids: Vec<usize> = (0..l.inputs.nrows()).collect();
    let batch = rp::cert::Batch { inputs: l.inputs.view(), row_ids: &ids };
    batch.check_domain(l.domain.as_ref())?;
    batch.finite_outputs(&l.net)?;
    let m = method(a.method, &a.alpha, Intermediate::AutoLirpa)?;
    let pb = progress_bar(l.inputs.nrows(), m.name());
    let start = std::time::Instant::now();
    let eps = ndarray::Array1::from_elem(l.inputs.nrows(), a.eps);
    // Chunks of rows so that the progress bar moves; rows do not depend on the chunking, except under
    // auto_LiRPA's batch-wide rule, which sees the whole file as one batch.
    let chunk = if m.row_independent(&l.net) { 256 } else { l.inputs.nrows() };
    let mut rows = Vec::with_capacity(l.inputs.nrows());
    for (c, part) in l.inputs.axis_chunks_iter(Axis(0), chunk).enumerate() {
        let regions = RegionBatch { centers: part, eps: eps.slice(ndarray::s![..part.nrows()]), norm: a.norm, domain: l.domain.as_ref(), boxes: None };
        let b = m.logit_bounds_batch(&l.net, &regions);
        rows.extend((0..part.nrows()).map(|i| BoundsRecord::new(c * chunk + i, &b.row(i))));
        pb.inc(part.nrows() as u64);
    }
    pb.finish_and_clear();
    eprintln!("{} bounds of {} rows computed in {:.6} s", m.name(), rows.len(), start.elapsed().as_secs_f64());
    match &a.output {
        Some(p) => report::write_bounds(create(p)?, m.name(), a.norm, a.eps, &rows)?,
        None => report::write_bounds(std::io::stdout().lock(), m.name(), a.norm, a.eps, &rows)?,
    }
    Ok(())
}

