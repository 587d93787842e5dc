//! Output of the APE analysis: one CSV/JSON record per (record, mode) and a summary per mode. Field
//! names are a contract (SPEC §3 style): `row, mode, sigma, answer, true_value, attacker_lo, attacker_hi,
//! attacker_width, radius, radius_raw, radius_space, guarantee, radius_upper_raw, certified_within,
//! outside_base, inference_set, abstain_set, certified_set`.
use super::spans::{format, Span};
use super::{ApeRow, RadiusSpace};
use crate::cert::Answer;
use serde::Serialize;
use std::io::Write;

/// One row as written.
#[derive(Serialize, Debug, Clone)]
pub struct ApeRecord {
    pub row: usize,
    pub mode: String,
    pub sigma: Option<f64>,
    /// Class index or "abstain".
    pub answer: String,
    pub true_value: f64,
    pub attacker_lo: f64,
    pub attacker_hi: f64,
    pub attacker_width: f64,
    pub radius: f64,
    pub radius_raw: f64,
    pub radius_space: RadiusSpace,
    pub guarantee: String,
    pub radius_upper_raw: Option<f64>,
    pub certified_within: Option<bool>,
    pub outside_base: Option<f64>,
    pub inference_set: String,
    pub abstain_set: String,
    pub certified_set: String,
}

fn answer_text(a: Answer) -> String {
    match a {
        Answer::Abstain => "abstain".into(),
        Answer::Class(c) => c.to_string(),
    }
}

impl From<&ApeRow> for ApeRecord {
    fn from(r: &ApeRow) -> Self {
        ApeRecord {
            row: r.row,
            mode: r.mode.into(),
            sigma: r.sigma,
            answer: answer_text(r.answer),
            true_value: r.true_value,
            attacker_lo: r.attacker.lo,
            attacker_hi: r.attacker.hi,
            attacker_width: r.attacker.width(),
            radius: r.radius,
            radius_raw: r.radius_raw,
            radius_space: r.radius_space,
            guarantee: match (r.radius_space, r.certificate.name()) {
                (RadiusSpace::Attribute, name) if name != "none" => format!("{name}-1d"),
                (_, name) => name.to_string(),
            },
            radius_upper_raw: r.certificate.upper(),
            certified_within: r.certified_within,
            outside_base: r.outside_base,
            inference_set: format(&r.inference_set, 4),
            abstain_set: format(&r.abstain_set, 4),
            certified_set: r.certified_set.as_deref().map_or("n/a (true value only)".into(), |c: &[Span]| format(c, 4)),
        }
    }
}

/// Writes rows as CSV.
pub fn write_csv(out: impl Write, rows: &[ApeRow]) -> std::io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    for r in rows {
        w.serialize(ApeRecord::from(r))?;
    }
    w.flush()
}

/// Writes rows as JSON `{"attribute", "rows": [...]}`.
pub fn write_json(out: impl Write, attribute: &str, rows: &[ApeRow]) -> std::io::Result<()> {
    #[derive(Serialize)]
    struct File<'a> {
        attribute: &'a str,
        rows: Vec<ApeRecord>,
    }
    serde_json::to_writer_pretty(out, &File { attribute, rows: rows.iter().map(ApeRecord::from).collect() })?;
    Ok(())
}

/// Aggregates of one mode.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct ModeSummary {
    pub mode: String,
    pub sigma: Option<f64>,
    pub records: usize,
    pub abstentions: usize,
    pub mean_attacker_width: f64,
    pub mean_radius_raw: f64,
    /// Rows where I_y^(R) ⊆ I_y was checked and held / was checked.
    pub within_held: usize,
    pub within_checked: usize,
    pub mean_outside_base: Option<f64>,
}

/// One summary per (mode, σ), in order of first appearance.
pub fn summarize(rows: &[ApeRow]) -> Vec<ModeSummary> {
    let mut keys: Vec<(&str, Option<u64>)> = Vec::new();
    for r in rows {
        let key = (r.mode, r.sigma.map(f64::to_bits));
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .map(|(mode, sigma)| {
            let sel: Vec<&ApeRow> = rows.iter().filter(|r| r.mode == mode && r.sigma.map(f64::to_bits) == sigma).collect();
            let n = sel.len() as f64;
            let outside: Vec<f64> = sel.iter().filter_map(|r| r.outside_base).collect();
            ModeSummary {
                mode: mode.into(),
                sigma: sigma.map(f64::from_bits),
                records: sel.len(),
                abstentions: sel.iter().filter(|r| r.answer == Answer::Abstain).count(),
                mean_attacker_width: sel.iter().map(|r| r.attacker.width()).sum::<f64>() / n,
                mean_radius_raw: sel.iter().map(|r| r.radius_raw).sum::<f64>() / n,
                within_held: sel.iter().filter(|r| r.certified_within == Some(true)).count(),
                within_checked: sel.iter().filter(|r| r.certified_within.is_some()).count(),
                mean_outside_base: (!outside.is_empty()).then(|| outside.iter().sum::<f64>() / outside.len() as f64),
            }
        })
        .collect()
}

/// The summary as a Markdown table (raw attribute units).
pub fn summary_table(attribute: &str, s: &[ModeSummary]) -> String {
    let mut t = format!(
        "| mode | σ | records | abstain | mean attacker interval width ({attribute}) | mean R_z ({attribute}) | I_y^(R) ⊆ I_y | mean length of I_y outside the base's |\n|---|---|---|---|---|---|---|---|\n"
    );
    for m in s {
        t += &format!(
            "| {} | {} | {} | {} | {:.4} | {:.4} | {}/{} | {} |\n",
            m.mode,
            m.sigma.map_or("–".into(), |v| format!("{v}")),
            m.records,
            m.abstentions,
            m.mean_attacker_width,
            m.mean_radius_raw,
            m.within_held,
            m.within_checked,
            m.mean_outside_base.map_or("–".into(), |v| format!("{v:.4}")),
        );
    }
    t
}
