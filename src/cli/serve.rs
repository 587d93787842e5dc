//! `rp serve`: a model deployed behind Robust Privacy (smoothed, derandomized, budgeted); the library's
//! `serve` module does the work.
use anyhow::{bail, Context, Result};
use clap::Args;
use rp::serve::http::ServeOptions;
use rp::smooth::{SmoothMode, SmoothOptions};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// The ONNX model to serve.
    #[arg(long)]
    pub model: PathBuf,
    /// Its model card: clients then send raw records (objects of feature names), answers are class names,
    /// and certificates give radii in raw units of the card's sensitive attribute too.
    #[arg(long)]
    pub card: Option<PathBuf>,
    /// Noise standard deviation in model-input units.
    #[arg(long, allow_negative_numbers = true, required_unless_present = "sigma_raw", conflicts_with = "sigma_raw")]
    pub sigma: Option<f64>,
    /// Noise standard deviation in raw units of the card's sensitive attribute (needs --card).
    #[arg(long, allow_negative_numbers = true)]
    pub sigma_raw: Option<f64>,
    /// Samples per answer.
    #[arg(long, default_value_t = 1000)]
    pub n: u64,
    /// Selection samples (certify mode).
    #[arg(long, default_value_t = 100)]
    pub n0: u64,
    /// Failure probability α of each answer (certify and predict modes).
    #[arg(long, default_value_t = 0.001, allow_negative_numbers = true)]
    pub alpha: f64,
    /// certify (class with a certified ℓ2 radius, or abstain), predict (class or abstain), or
    /// always-label (the majority class, never abstains).
    #[arg(long, value_enum, default_value_t = SmoothMode::Predict)]
    pub mode: SmoothMode,
    /// The arithmetic of the served base classifier: f64, or f32 (the float32 network as ONNX runtimes
    /// evaluate it; faster). The answers are the smoothed classifier of that network.
    #[arg(long, value_enum, default_value_t = rp::smooth::sampler::Eval::F64)]
    pub eval: rp::smooth::sampler::Eval,
    /// A file of at least 16 secret bytes (mode 600): keys the noise of each record.
    #[arg(long)]
    pub secret_file: PathBuf,
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// API keys (TOML, `[[key]]` tables with name, token, budget, certificate); without it the service
    /// is open, unbudgeted and gives no certificates.
    #[arg(long)]
    pub keys: Option<PathBuf>,
    /// The SQLite database of budgets and the audit log.
    #[arg(long, default_value = "rp-serve.sqlite")]
    pub db: PathBuf,
    /// Records waiting for the sampler, at most (503 with Retry-After beyond).
    #[arg(long, default_value_t = 8192)]
    pub queue: usize,
    /// Milliseconds the batcher waits for more records after the first.
    #[arg(long, default_value_t = 2)]
    pub window_ms: u64,
    /// Records per sampler pass, at most.
    #[arg(long, default_value_t = 1024)]
    pub max_batch: usize,
    /// Records per request, at most.
    #[arg(long, default_value_t = 1024)]
    pub max_records: usize,
    /// Request body limit in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Seconds a request may wait for its answers.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
}

pub fn serve(a: ServeArgs) -> Result<()> {
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        bail!("--timeout must be a positive number of seconds, got {}", a.timeout);
    }
    if a.queue == 0 || a.max_batch == 0 || a.max_records == 0 || a.max_body == 0 {
        bail!("--queue, --max-batch, --max-records and --max-body must be at least 1");
    }
    let bytes = std::fs::read(&a.model).with_context(|| format!("cannot read {}", a.model.display()))?;
    let net = rp::net::read_onnx_bytes(&bytes).with_context(|| a.model.display().to_string())?;
    let card = a.card.as_deref().map(rp::data::card::ModelCard::read).transpose()?;
    if let Some(c) = &card {
        if c.input_dim() != net.input_dim() {
            bail!("the card describes {} model inputs but the model takes {}", c.input_dim(), net.input_dim());
        }
    }
    rp::spec::check_classes(net.output_dim())?;
    let sigma = match (a.sigma, a.sigma_raw, &card) {
        (Some(s), None, _) => s,
        (None, Some(v), Some(c)) => v / c.sensitive_std()?.context("the card names no sensitive attribute")?.1,
        (None, Some(_), None) => bail!("--sigma-raw needs --card (it is in raw units of the card's sensitive attribute)"),
        _ => bail!("give --sigma or --sigma-raw"),
    };
    let options = SmoothOptions { sigma, n0: a.n0, n: a.n, alpha: a.alpha, mode: a.mode, eval: a.eval, ..Default::default() };
    let secret = rp::serve::read_secret(&a.secret_file)?;
    let keys = a.keys.as_deref().map(rp::serve::Keys::read).transpose()?;
    let store = rp::serve::store::Store::open(&a.db)?;
    let deployed = rp::serve::Deployed::new(net, card, rp::spec::Decision::Argmax, options, secret, &bytes)?;
    let describe = format!("{} {} (σ = {sigma}, n = {}, {:?})", a.model.display(), deployed.net.describe(), a.n, a.mode);
    let opts = ServeOptions {
        listen: a.listen,
        queue_records: a.queue,
        window: Duration::from_millis(a.window_ms),
        max_batch: a.max_batch,
        max_records: a.max_records,
        body_limit: a.max_body,
        timeout: Duration::from_secs_f64(a.timeout),
    };
    rp::serve::http::run(deployed, keys, store, opts, |addr| eprintln!("rp serve: listening on http://{addr} — {describe}"))?;
    eprintln!("rp serve: stopped");
    Ok(())
}
