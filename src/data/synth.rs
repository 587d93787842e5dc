//! A seeded synthetic look-alike of Kaggle's *Medical Insurance Cost Prediction* data (SPEC §4.1), which
//! is not available offline. Every row is a function of (seed, row index) through the project's Philox
//! scheme, so any slice of rows is reproducible on its own.
//!
//! BMI = 26.5·exp(0.1806·Z), Z ~ N(0, 1), clipped to [15, 60] and rounded to 0.1 (mean ≈ 26.9, sd ≈ 4.9,
//! 90th percentile ≈ 33.4, right-skewed). BMI feeds mildly into hypertension, diabetes, hba1c and
//! systolic blood pressure (correlated proxies that a model could use instead of BMI). The other columns
//! follow simple documented marginals (see `columns`).
use crate::rng::Philox;
use std::io::Write;

/// Column names, in file order.
pub const COLUMNS: [&str; 24] = [
    "age", "sex", "region", "urban_rural", "income", "education", "marital_status", "employment_status", "household_size",
    "dependents", "bmi", "smoker", "alcohol_freq", "visits", "hospitalizations", "hypertension", "diabetes",
    "asthma", "systolic_bp", "diastolic_bp", "ldl", "hba1c", "plan_type", "annual_cost",
];

/// Categorical levels of the categorical columns.
pub const SEX: [&str; 2] = ["Female", "Male"];
pub const REGION: [&str; 4] = ["North", "South", "East", "West"];
pub const URBAN_RURAL: [&str; 3] = ["Urban", "Suburban", "Rural"];
pub const EDUCATION: [&str; 4] = ["HighSchool", "Bachelor", "Master", "Doctorate"];
pub const MARITAL: [&str; 3] = ["Single", "Married", "Divorced"];
pub const EMPLOYMENT: [&str; 4] = ["Employed", "SelfEmployed", "Unemployed", "Retired"];
pub const SMOKER: [&str; 3] = ["Never", "Former", "Current"];
pub const ALCOHOL: [&str; 4] = ["None", "Occasional", "Weekly", "Daily"];
pub const PLAN: [&str; 4] = ["Bronze", "Silver", "Gold", "Platinum"];

/// The BMI law of SPEC §4.1 for a standard normal z.
pub fn bmi_from_normal(z: f64) -> f64 {
    let b = (26.5 * (0.1806 * z).exp()).clamp(15.0, 60.0);
    (b * 10.0).round() / 10.0
}

/// One synthetic record, as CSV fields in `COLUMNS` order.
pub fn record(rng: &Philox, row: u64) -> Vec<String> {
    // draw k: uniforms and normals from the row's own stream
    let u = |k: u64| rng.uniform_pair(row, k)[0];
    let z = |k: u64| rng.normal_pair(row, 1000 + k)[0];
    let pick = |k: u64, levels: &[&'static str]| levels[((u(k) * levels.len() as f64) as usize).min(levels.len() - 1)];
    let logistic = |v: f64| 1.0 / (1.0 + (-v).exp());
    let age = (18.0 + 62.0 * u(0)).floor();
    let bmi = bmi_from_normal(z(0));
    let bmi_dev = (bmi - 26.9) / 4.9; // standardized BMI: the mild dependence of the proxies
    let income = (45_000.0 * (0.5 * z(1)).exp()).round();
    let household = 1 + (u(1) * 5.0) as u64;
    let dependents = (household - 1).min((u(2) * household as f64) as u64);
    let smoker = pick(3, &SMOKER);
    let hypertension = u(4) < logistic(-2.0 + 0.04 * (age - 45.0) + 0.6 * bmi_dev);
    let diabetes = u(5) < logistic(-2.6 + 0.03 * (age - 45.0) + 0.5 * bmi_dev);
    let asthma = u(6) < 0.08;
    let systolic = (120.0 + 0.3 * (age - 45.0) + 3.0 * bmi_dev + 10.0 * z(2) + if hypertension { 12.0 } else { 0.0 }).round();
    let diastolic = (78.0 + 0.5 * (systolic - 120.0) + 6.0 * z(3)).round();
    let ldl = (115.0 + 0.4 * (age - 45.0) + 25.0 * z(4)).round();
    let hba1c = ((5.4 + 0.15 * bmi_dev + if diabetes { 1.5 } else { 0.0 } + 0.35 * z(5)) * 10.0).round() / 10.0;
    let visits = (2.0 * (0.6 * z(6)).exp() + if hypertension { 1.0 } else { 0.0 }).round();
    let hospitalizations = (u(7) < 0.05 + 0.05 * diabetes as u8 as f64) as u8;
    let cost = (3000.0
        + 80.0 * (age - 18.0)
        + 250.0 * (bmi - 26.9).max(0.0)
        + 4000.0 * (smoker == "Current") as u8 as f64
        + 2500.0 * hypertension as u8 as f64
        + 3500.0 * diabetes as u8 as f64
        + 9000.0 * hospitalizations as f64
        + 1500.0 * z(7))
    .max(200.0)
    .round();
    vec![
        format!("{age}"),
        pick(8, &SEX).into(),
        pick(9, &REGION).into(),
        pick(10, &URBAN_RURAL).into(),
        format!("{income}"),
        pick(11, &EDUCATION).into(),
        pick(12, &MARITAL).into(),
        pick(13, &EMPLOYMENT).into(),
        format!("{household}"),
        format!("{dependents}"),
        format!("{bmi:.1}"),
        smoker.into(),
        pick(14, &ALCOHOL).into(),
        format!("{visits}"),
        format!("{hospitalizations}"),
        format!("{}", hypertension as u8),
        format!("{}", diabetes as u8),
        format!("{}", asthma as u8),
        format!("{systolic}"),
        format!("{diastolic}"),
        format!("{ldl}"),
        format!("{hba1c:.1}"),
        pick(15, &PLAN).into(),
        format!("{cost}"),
    ]
}

/// Writes `rows` synthetic records (with a header) to `out`.
pub fn write_synth_medical(mut out: impl Write, rows: u64, seed: u64) -> std::io::Result<()> {
    let rng = Philox::new(seed);
    writeln!(out, "{}", COLUMNS.join(","))?;
    for r in 0..rows {
        writeln!(out, "{}", record(&rng, r).join(","))?;
    }
    Ok(())
}

/// `rows` synthetic records as a raw table.
pub fn synth_table(rows: u64, seed: u64) -> super::raw::RawTable {
    let rng = Philox::new(seed);
    super::raw::RawTable::new(COLUMNS.iter().map(|c| c.to_string()).collect(), (0..rows).map(|r| record(&rng, r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmi_matches_the_spec_law() {
        let rng = Philox::new(7);
        let mut b: Vec<f64> = (0..100_000u64).map(|r| record(&rng, r)[10].parse().unwrap()).collect();
        let n = b.len() as f64;
        let mean = b.iter().sum::<f64>() / n;
        let sd = (b.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        b.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let p90 = b[(0.9 * n) as usize];
        assert!((mean - 26.9).abs() < 0.1, "mean {mean}");
        assert!((sd - 4.9).abs() < 0.15, "sd {sd}");
        assert!((p90 - 33.4).abs() <= 0.2, "p90 {p90}");
        assert!(b[0] >= 15.0 && b[b.len() - 1] <= 60.0);
    }

    #[test]
    fn rows_are_reproducible_and_independent_of_the_slice() {
        let rng = Philox::new(3);
        let mut all = Vec::new();
        write_synth_medical(&mut all, 50, 3).unwrap();
        let line = String::from_utf8(all).unwrap().lines().nth(38).unwrap().to_string();
        assert_eq!(line, record(&rng, 37).join(","));
        assert_eq!(record(&rng, 37).len(), COLUMNS.len());
    }

    #[test]
    fn proxies_correlate_with_bmi() {
        let rng = Philox::new(11);
        let rows: Vec<Vec<String>> = (0..20_000u64).map(|r| record(&rng, r)).collect();
        let col = |k: usize| rows.iter().map(|r| r[k].parse::<f64>().unwrap()).collect::<Vec<_>>();
        let corr = |a: &[f64], b: &[f64]| {
            let (ma, mb) = (a.iter().sum::<f64>() / a.len() as f64, b.iter().sum::<f64>() / b.len() as f64);
            let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
            let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
            let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
            cov / (va * vb).sqrt()
        };
        let bmi = col(10);
        for (k, name) in [(15, "hypertension"), (16, "diabetes"), (18, "systolic_bp"), (21, "hba1c")] {
            let c = corr(&bmi, &col(k));
            assert!(c > 0.05 && c < 0.6, "{name}: correlation with BMI {c}");
        }
    }
}
