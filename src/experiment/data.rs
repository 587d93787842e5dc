//! The APE experiment's data (SPEC §4.1): synthetic records, a 60/40 split, the label BMI > B with B the
//! training split's 90th percentile, and a model card fitted on the training split.
use crate::ape::Attribute;
use crate::data::card::ModelCard;
use crate::data::raw::RawTable;
use crate::data::synth::synth_table;
use crate::train::TrainOptions;
use ndarray::Array2;
use std::path::Path;

/// Numeric model inputs (standardized). `annual_cost` is the original data set's regression target
/// and is not an input.
pub const NUMERIC: [&str; 14] = [
    "age", "income", "household_size", "dependents", "bmi", "visits", "hospitalizations", "hypertension", "diabetes", "asthma",
    "systolic_bp", "diastolic_bp", "ldl", "hba1c",
];
/// Categorical model inputs (one-hot).
pub const CATEGORICAL: [&str; 9] =
    ["sex", "region", "urban_rural", "education", "marital_status", "employment_status", "smoker", "alcohol_freq", "plan_type"];
/// The sensitive attribute.
pub const SENSITIVE: &str = "bmi";
/// Class names: 0 = BMI ≤ B, 1 = BMI > B.
pub const CLASSES: [&str; 2] = ["bmi_at_most_B", "bmi_above_B"];

/// The prepared data of one run.
pub struct ApeData {
    pub card: ModelCard,
    pub attr: Attribute,
    /// B: the 90th percentile of the training split's BMI (linear interpolation between order statistics).
    pub threshold: f64,
    pub train_x: Array2<f64>,
    pub train_y: Vec<usize>,
    pub test_raw: RawTable,
    pub test_x: Array2<f64>,
    pub test_y: Vec<usize>,
}

/// The q-quantile with linear interpolation between order statistics (numpy's default).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    if i + 1 < v.len() {
        v[i] + frac * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// Generates `rows` records from `seed`, splits the first 60% (rows are i.i.d.) for training, labels,
/// and fits the card on the training split.
pub fn prepare(rows: u64, seed: u64) -> crate::Result<ApeData> {
    if rows < 10 {
        return Err(crate::Error::Option(format!("--rows {rows} is too few for a 60/40 split with positives; use at least 1000")));
    }
    let table = synth_table(rows, seed);
    let n_train = (rows as usize * 6) / 10;
    let train = table.select(&(0..n_train).collect::<Vec<_>>());
    let test = table.select(&(n_train..rows as usize).collect::<Vec<_>>());
    let here = Path::new("<synthetic data>");
    let bad = |reason: String| crate::Error::Data { path: here.into(), reason };
    let train_bmi = train.numeric_column(SENSITIVE).map_err(bad)?;
    let threshold = quantile(&train_bmi, 0.9);
    let card = ModelCard::fit(&train.header, &train.records, &NUMERIC, &CATEGORICAL, &[SENSITIVE], &CLASSES).map_err(bad)?;
    let attr = Attribute::from_card(&card, SENSITIVE)?;
    let label = |b: &[f64]| b.iter().map(|&v| (v > threshold) as usize).collect::<Vec<_>>();
    let test_bmi = test.numeric_column(SENSITIVE).map_err(bad)?;
    Ok(ApeData {
        train_x: card.transform_table(&train, here)?,
        train_y: label(&train_bmi),
        test_x: card.transform_table(&test, here)?,
        test_y: label(&test_bmi),
        test_raw: test,
        card,
        attr,
        threshold,
    })
}

impl ApeData {
    /// Labels the test split with threshold `b` (BMI > b) — a shipped model's own B, which the data
    /// of a run at another scale would estimate differently. (The training split only feeds training,
    /// which a shipped model skips.)
    pub fn relabel(&mut self, b: f64) -> crate::Result<()> {
        let here = Path::new("<synthetic data>");
        let bad = |reason: String| crate::Error::Data { path: here.into(), reason };
        self.threshold = b;
        self.test_y = self.test_raw.numeric_column(SENSITIVE).map_err(bad)?.iter().map(|&v| (v > b) as usize).collect();
        Ok(())
    }
}

/// The paper's training recipe (SPEC §4.1), with the BMI input exempt from the ℓ1 penalty.
pub fn paper_train_options(data: &ApeData, seed: u64) -> TrainOptions {
    TrainOptions { hidden: vec![64], epochs: 100, batch: 128, learning_rate: 0.01, l1: 1e-2, l1_exempt: vec![data.attr.index], noise_sigma: 0.0, seed }
}
