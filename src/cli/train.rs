//! `rp train`: the paper's model (SPEC §4.1) from raw records, written as ONNX + model card.
use super::args::create;
use anyhow::{bail, Context, Result};
use clap::Args;
use rp::data::card::ModelCard;
use rp::data::raw::RawTable;
use rp::experiment::data::{quantile, CATEGORICAL, CLASSES, NUMERIC, SENSITIVE};
use rp::train::{accuracy, train_mlp, TrainOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// Raw records (CSV with a header of feature names), e.g. from `rp data synth-medical`.
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: model.onnx, card.json, train.json (created; checked before training starts).
    #[arg(long, alias = "out")]
    pub output: PathBuf,
    /// Numeric features, standardized (default: the synthetic medical data's).
    #[arg(long, value_delimiter = ',')]
    pub numeric: Option<Vec<String>>,
    /// Categorical features, one-hot (default: the synthetic medical data's).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Option<Vec<String>>,
    /// The sensitive attribute: exempt from the ℓ1 penalty, and the default label source.
    #[arg(long, default_value = SENSITIVE)]
    pub sensitive: String,
    /// Class column (class names or indices). Without it the label is 1 iff the sensitive attribute
    /// exceeds its --quantile on the training split (the paper's BMI > B).
    #[arg(long)]
    pub label: Option<String>,
    /// Quantile of the sensitive attribute that defines B (without --label).
    #[arg(long, default_value_t = 0.9)]
    pub quantile: f64,
    /// Fraction of rows (the first ones) used for training; the rest is the test split.
    #[arg(long, default_value_t = 0.6)]
    pub train_fraction: f64,
    /// Hidden ReLU layers' widths, comma-separated (e.g. 64,32).
    #[arg(long, value_delimiter = ',', default_value = "64")]
    pub hidden: Vec<usize>,
    /// Passes over the training split.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Records per Adam step.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Adam step size (cosine-annealed to 1/100 of it).
    #[arg(long, default_value_t = 0.01)]
    pub lr: f64,
    /// ℓ1 penalty on the first-layer weights of every input except the sensitive one.
    #[arg(long, default_value_t = 0.01)]
    pub l1: f64,
    /// Gaussian-noise augmentation: σ in model-input units added to every training input (0 = off);
    /// train with the σ you will smooth with.
    #[arg(long, default_value_t = 0.0)]
    pub noise_sigma: f64,
    /// Seed of the initial weights and of the batch order (training is single-threaded and reproducible).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn train(a: TrainArgs) -> Result<()> {
    if !(a.train_fraction > 0.0 && a.train_fraction < 1.0) || !(a.quantile > 0.0 && a.quantile < 1.0) {
        bail!("--train-fraction and --quantile must lie in (0, 1)");
    }
    super::args::check_output_dir(&a.output)?;
    let table = RawTable::read(&a.data)?;
    let n_train = ((table.records.len() as f64) * a.train_fraction).round() as usize;
    if n_train == 0 || n_train == table.records.len() {
        bail!("{} rows cannot be split {}/{}; give more rows", table.records.len(), a.train_fraction, 1.0 - a.train_fraction);
    }
    let train = table.select(&(0..n_train).collect::<Vec<_>>());
    let test = table.select(&(n_train..table.records.len()).collect::<Vec<_>>());
    let default = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let numeric = a.numeric.clone().unwrap_or_else(|| default(&NUMERIC));
    let categorical = a.categorical.clone().unwrap_or_else(|| default(&CATEGORICAL));
    let err = |e: String| anyhow::anyhow!("{}: {e}", a.data.display());
    let (train_y, test_y, classes, threshold) = match &a.label {
        Some(col) => {
            let k = train.column_index(col).map_err(err)?;
            let mut names: Vec<String> = train.records.iter().map(|r| r[k].clone()).collect();
            names.sort();
            names.dedup();
            let idx = |t: &RawTable| -> Result<Vec<usize>> {
                t.records.iter().map(|r| names.iter().position(|c| *c == r[k]).with_context(|| format!("class '{}' appears only in the test split", r[k]))).collect()
            };
            (idx(&train)?, idx(&test)?, names.clone(), None)
        }
        None => {
            let v = train.numeric_column(&a.sensitive).map_err(err)?;
            let b = quantile(&v, a.quantile);
            let lab = |t: &RawTable| -> Result<Vec<usize>> { Ok(t.numeric_column(&a.sensitive).map_err(err)?.iter().map(|&x| (x > b) as usize).collect()) };
            (lab(&train)?, lab(&test)?, CLASSES.iter().map(|s| s.to_string()).collect(), Some(b))
        }
    };
    train.check_numeric(&refs(&numeric)).map_err(err)?; // bad cells by their line and column
    let card = ModelCard::fit(&train.header, &train.records, &refs(&numeric), &refs(&categorical), &[a.sensitive.as_str()], &refs(&classes)).map_err(err)?;
    let train_x = card.transform_table(&train, &a.data)?;
    let test_x = card.transform_table(&test, &a.data)?;
    let exempt = card.numeric(&a.sensitive)?.0;
    let opts = TrainOptions {
        hidden: a.hidden.clone(),
        epochs: a.epochs,
        batch: a.batch,
        learning_rate: a.lr,
        l1: a.l1,
        l1_exempt: vec![exempt],
        noise_sigma: a.noise_sigma,
        seed: a.seed,
    };
    let start = std::time::Instant::now();
    let (net, log) = train_mlp(train_x.view(), &train_y, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    let (train_acc, test_acc) = (accuracy(&net, train_x.view(), &train_y), accuracy(&net, test_x.view(), &test_y));
    std::fs::create_dir_all(&a.output).with_context(|| format!("cannot create {}", a.output.display()))?;
    rp::net::write_onnx(&net, &a.output.join("model.onnx"))?;
    serde_json::to_writer_pretty(create(&a.output.join("card.json"))?, &card)?;
    let summary = serde_json::json!({
        "data": a.data, "options": opts, "threshold": threshold, "train_rows": train_y.len(), "test_rows": test_y.len(),
        "train_accuracy": train_acc, "test_accuracy": test_acc, "seconds": secs,
        "zero_first_layer_weights": log.zero_first_layer_weights, "first_layer_weights": log.first_layer_weights,
        "final_loss": log.epoch_loss.last(),
    });
    serde_json::to_writer_pretty(create(&a.output.join("train.json"))?, &summary)?;
    eprintln!(
        "trained {}→{}→{} in {secs:.1} s: train accuracy {:.4}, test accuracy {:.4}{}; {} of {} first-layer weights are zero; wrote {}",
        card.input_dim(),
        a.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("→"),
        classes.len(),
        train_acc,
        test_acc,
        threshold.map_or(String::new(), |b| format!(" (label: {} > B = {b})", a.sensitive)),
        log.zero_first_layer_weights,
        log.first_layer_weights,
        a.output.display()
    );
    Ok(())
}
