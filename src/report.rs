//! Output formats of SPEC §3. Field names are a contract: `row, label, radius, guarantee, radius_upper,
//! alpha, time_ms` for certificates; `{"method","norm","eps","rows":[{"row","lower","upper"}]}` for bounds.
use crate::bound::Interval;
use crate::cert::{Answer, Certificate, Extent};
use crate::spec::Norm;
use crate::{Error, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Numbers in the output formats: finite values as numbers, ±∞ (an unbounded radius, a bound that
/// overflowed and certifies nothing) as `inf` / `-inf` — strings in JSON, which has no infinity (serde_json
/// would write `null`), the same text in CSV. NaN never reaches an output (the sound path maps it to ±∞).
mod num {
    use serde::Serializer;

    pub fn f64<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else if *v < 0.0 {
            s.serialize_str("-inf")
        } else {
            s.serialize_str("nan")
        }
    }

    pub fn opt<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => f64(x, s),
            None => s.serialize_none(),
        }
    }

    pub fn vec<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        struct One(f64);
        impl serde::Serialize for One {
            fn serialize<S2: Serializer>(&self, s: S2) -> Result<S2::Ok, S2::Error> {
                f64(&self.0, s)
            }
        }
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for &x in v {
            seq.serialize_element(&One(x))?;
        }
        seq.end()
    }
}

/// One certificate as written to CSV / JSON.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CertificateRecord {
    pub row: usize,
    /// Class index, or "abstain".
    pub label: String,
    #[serde(serialize_with = "num::f64")]
    pub radius: f64,
    pub guarantee: String,
    #[serde(serialize_with = "num::opt")]
    pub radius_upper: Option<f64>,
    pub alpha: Option<f64>,
    pub time_ms: f64,
    /// For a radius along one input (`line`): that input's name; the radius is 1-D.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// With a model card: the sensitive attribute the raw radius is expressed along …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_attribute: Option<String>,
    /// … and the radius in its raw units (R · std; SPEC §1).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "num::opt")]
    pub radius_raw: Option<f64>,
}

impl From<&Certificate> for CertificateRecord {
    fn from(c: &Certificate) -> Self {
        CertificateRecord {
            row: c.row,
            label: match c.answer() {
                Answer::Abstain => "abstain".into(),
                Answer::Class(k) => k.to_string(),
            },
            radius: c.radius_value(),
            guarantee: c.guarantee_name(),
            radius_upper: c.radius().and_then(|r| r.upper()),
            alpha: c.radius().and_then(|r| r.alpha()),
            time_ms: (c.time.as_secs_f64() * 1e6).round() / 1e3, // whole microseconds: the digits that mean something
            attribute: None,
            raw_attribute: None,
            radius_raw: None,
        }
    }
}

#[derive(Serialize)]
struct CertificateFile<'a> {
    method: &'a str,
    /// `linf`, `l2`, `l1`, or `line` for radii along one input …
    norm: &'a str,
    /// … which this names.
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute: Option<&'a str>,
    rows: Vec<CertificateRecord>,
}

/// Output format chosen by file extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

impl Format {
    /// `.csv` or `.json`; anything else is an error naming the path.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            _ => Err(Error::Option(format!("output {} must end in .csv or .json", path.display()))),
        }
    }
}

/// Writes certificates in `format` to `out`; `inputs` names the model inputs (the header of the input
/// CSV), used to name the attribute of a 1-D radius.
pub fn write_certificates(out: impl Write, format: Format, method: &str, extent: Extent, inputs: &[String], certs: &[Certificate]) -> std::io::Result<()> {
    write_certificates_raw(out, format, method, extent, inputs, certs, None)
}

/// As [`write_certificates`], with the radius also in raw units of attribute `raw.0` (standard
/// deviation `raw.1`) as the trailing columns `raw_attribute, radius_raw`.
pub fn write_certificates_raw(
    out: impl Write,
    format: Format,
    method: &str,
    extent: Extent,
    inputs: &[String],
    certs: &[Certificate],
    raw: Option<(&str, f64)>,
) -> std::io::Result<()> {
    let attribute = match extent {
        Extent::Line { attribute } => Some(inputs.get(attribute).cloned().unwrap_or_else(|| attribute.to_string())),
        Extent::Ball(_) => None,
    };
    let rows: Vec<CertificateRecord> = certs
        .iter()
        .map(|c| {
            let mut r = CertificateRecord::from(c);
            r.attribute = attribute.clone();
            if let Some((name, std)) = raw {
                r.raw_attribute = Some(name.to_string());
                r.radius_raw = Some(c.radius().map_or(0.0, |x| x.scaled(std).value()));
            }
            r
        })
        .collect();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(out, &CertificateFile { method, norm: extent.as_str(), attribute: attribute.as_deref(), rows })?;
            Ok(())
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            if rows.is_empty() {
                // no record to take the header from (e.g. an empty shard): the same header regardless
                let mut header = vec!["row", "label", "radius", "guarantee", "radius_upper", "alpha", "time_ms"];
                if attribute.is_some() {
                    header.push("attribute");
                }
                if raw.is_some() {
                    header.extend(["raw_attribute", "radius_raw"]);
                }
                w.write_record(&header)?;
            }
            for r in &rows {
                w.serialize(r)?;
            }
            w.flush()
        }
    }
}

/// The one-line summary of a certification run for a person reading stderr: rows certified and
/// abstained, the median radius of the answered rows, the guarantees given (with counts when mixed),
/// and the wall time. `model` names the model and its shape.
pub fn summary_line(model: &str, method: &str, extent: Extent, certs: &[Certificate], seconds: f64) -> String {
    let radii_of: Vec<(f64, String)> = certs.iter().filter(|c| c.answer() != Answer::Abstain).map(|c| (c.radius_value(), c.guarantee_name())).collect();
    let abstained = certs.len() - radii_of.len();
    let certified = certs.iter().filter(|c| c.radius().is_some_and(|r| r.proven_lower().is_some_and(|v| v > 0.0) || matches!(r, crate::cert::Radius::Probabilistic { radius, .. } if *radius > 0.0))).count();
    let mut radii: Vec<f64> = radii_of.iter().map(|(r, _)| *r).collect();
    radii.sort_by(|a, b| a.total_cmp(b));
    let median = match radii.len() {
        0 => "–".to_string(),
        n if n % 2 == 1 => format_radius(radii[n / 2]),
        n => format_radius(0.5 * radii[n / 2 - 1] + 0.5 * radii[n / 2]),
    };
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for (_, name) in &radii_of {
        match kinds.iter_mut().find(|(k, _)| *k == name) {
            Some((_, n)) => *n += 1,
            None => kinds.push((name, 1)),
        }
    }
    let guarantee = match kinds.as_slice() {
        [] => "none".to_string(),
        [(k, _)] => k.to_string(),
        many => many.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", "),
    };
    let extent = match extent {
        Extent::Ball(n) => n.as_str().to_string(),
        Extent::Line { attribute } => format!("along input {attribute} (1-D)"),
    };
    format!(
        "{model}: {method}, {extent}: {} rows, {certified} certified (radius > 0), {abstained} abstained; median radius {median} ({guarantee}); {seconds:.3} s",
        certs.len(),
    )
}

/// With true labels: accuracy (abstentions count as wrong) and certified accuracy — rows answered
/// correctly with a radius > 0 that the method proves (or, for smoothing, certifies at its α).
pub fn accuracy_line(certs: &[Certificate], labels: &[usize]) -> String {
    let n = certs.len().max(1) as f64;
    let correct = certs.iter().zip(labels).filter(|(c, &y)| c.answer() == Answer::Class(y)).count();
    let certified = certs
        .iter()
        .zip(labels)
        .filter(|(c, &y)| {
            c.answer() == Answer::Class(y)
                && c.radius().is_some_and(|r| r.proven_lower().is_some_and(|v| v > 0.0) || matches!(r, crate::cert::Radius::Probabilistic { radius, .. } if *radius > 0.0))
        })
        .count();
    format!(
        "accuracy against the 'label' column: {:.2}% ({correct}/{}); certified accuracy at the radii found: {:.2}% ({certified}); the output's 'label' column is the model's answer",
        100.0 * correct as f64 / n,
        certs.len(),
        100.0 * certified as f64 / n
    )
}

/// A radius for people: 6 significant digits, `inf` for an unbounded one.
fn format_radius(r: f64) -> String {
    if r.is_infinite() {
        "inf".into()
    } else {
        format!("{r:.6}")
    }
}

/// Logit bounds of one input row.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct BoundsRecord {
    pub row: usize,
    #[serde(serialize_with = "num::vec")]
    pub lower: Vec<f64>,
    #[serde(serialize_with = "num::vec")]
    pub upper: Vec<f64>,
}

impl BoundsRecord {
    pub fn new(row: usize, b: &Interval) -> Self {
        BoundsRecord { row, lower: b.lower.to_vec(), upper: b.upper.to_vec() }
    }
}

#[derive(Serialize)]
struct BoundsFile<'a> {
    method: &'a str,
    norm: Norm,
    eps: f64,
    rows: &'a [BoundsRecord],
}

/// Writes the `rp bounds` JSON document.
pub fn write_bounds(out: impl Write, method: &str, norm: Norm, eps: f64, rows: &[BoundsRecord]) -> std::io::Result<()> {
    serde_json::to_writer_pretty(out, &BoundsFile { method, norm, eps, rows })?;
    Ok(())
}

/// Writes Cohen et al.'s certify TSV: `idx label predict radius correct time`, with −1 for an
/// abstention and the time as H:MM:SS.ffffff, for users of their analysis scripts.
pub fn write_cohen_tsv(mut out: impl Write, certs: &[Certificate], labels: &[usize]) -> std::io::Result<()> {
    writeln!(out, "idx\tlabel\tpredict\tradius\tcorrect\ttime")?;
    for (c, &label) in certs.iter().zip(labels) {
        let predict = match c.answer() {
            Answer::Abstain => -1,
            Answer::Class(k) => k as i64,
        };
        let correct = (predict == label as i64) as u8;
        let t = c.time.as_secs_f64();
        let (h, m, s) = ((t / 3600.0) as u64, ((t % 3600.0) / 60.0) as u64, t % 60.0);
        writeln!(out, "{}\t{label}\t{predict}\t{:.3}\t{correct}\t{h}:{m:02}:{s:09.6}", c.row, c.radius_value())?;
    }
    Ok(())
}
