//! The model card (SPEC §3): the JSON beside a model that maps raw records to model inputs — feature
//! names in order, one-hot categories, standardization means and standard deviations fitted on the
//! training split, valid ranges, the sensitive attribute(s) and the class names — and converts radii
//! along a standardized feature back to raw units (R_raw = R · std_k).
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How one raw feature enters the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum Feature {
    /// One model input (x − mean)/std; `min`/`max` is the raw valid range.
    Numeric { name: String, mean: f64, std: f64, min: f64, max: f64 },
    /// One model input per category (one-hot, in this order).
    Categorical { name: String, categories: Vec<String> },
}

impl Feature {
    /// The raw column name.
    pub fn name(&self) -> &str {
        match self {
            Feature::Numeric { name, .. } | Feature::Categorical { name, .. } => name,
        }
    }

    /// Number of model inputs it takes.
    pub fn width(&self) -> usize {
        match self {
            Feature::Numeric { .. } => 1,
            Feature::Categorical { categories, .. } => categories.len(),
        }
    }
}

/// A model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCard {
    /// Raw features in model-input order.
    pub features: Vec<Feature>,
    /// Names of the sensitive attributes (numeric features).
    pub sensitive: Vec<String>,
    /// Class names, by class index.
    pub classes: Vec<String>,
}

impl ModelCard {
    /// Reads and checks a card.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| Error::Io { path: path.into(), err })?;
        let card: ModelCard =
            serde_json::from_str(&text).map_err(|e| Error::Data { path: path.into(), reason: format!("not a valid model card: {e}") })?;
        card.validate().map_err(|reason| Error::Data { path: path.into(), reason })?;
        Ok(card)
    }

    /// Checks the card's internal consistency.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for f in &self.features {
            match f {
                Feature::Numeric { name, std, min, max, mean } => {
                    if !(*std > 0.0 && std.is_finite() && mean.is_finite() && min <= max) {
                        return Err(format!("feature '{name}': std must be > 0 and finite, mean finite, min ≤ max"));
                    }
                }
                Feature::Categorical { name, categories } if categories.is_empty() => {
                    return Err(format!("feature '{name}' has no categories"));
                }
                Feature::Categorical { .. } => {}
            }
        }
        for s in &self.sensitive {
            self.numeric(s).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Names of the model inputs: numeric features by name, one-hot inputs as `name=category`.
    pub fn input_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(|f| match f {
                Feature::Numeric { name, .. } => vec![name.clone()],
                Feature::Categorical { name, categories } => categories.iter().map(|c| format!("{name}={c}")).collect(),
            })
            .collect()
    }

    /// Number of model inputs.
    pub fn input_dim(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    /// The model input index, standard deviation and raw range of a numeric feature; an unknown or
    /// categorical name is an error listing the numeric features.
    pub fn numeric(&self, name: &str) -> Result<(usize, f64, (f64, f64))> {
        let mut offset = 0;
        for f in &self.features {
            if let Feature::Numeric { name: n, std, min, max, .. } = f {
                if n == name {
                    return Ok((offset, *std, (*min, *max)));
                }
            }
            offset += f.width();
        }
        let numeric: Vec<&str> = self.features.iter().filter(|f| matches!(f, Feature::Numeric { .. })).map(Feature::name).collect();
        Err(Error::Option(format!("unknown numeric attribute '{name}'; the card's numeric features are {}", numeric.join(", "))))
    }

    /// Model inputs of one raw record given as (column name → text) in any column order; every card
    /// feature must be present, numbers finite, categories known.
    pub fn transform(&self, header: &[String], record: &[String]) -> std::result::Result<Vec<f64>, String> {
        self.transform_at(header, record).map_err(|(_, reason)| reason)
    }

    /// As [`Self::transform`], the error with the 0-based column of the offending cell.
    pub fn transform_at(&self, header: &[String], record: &[String]) -> std::result::Result<Vec<f64>, (usize, String)> {
        let mut out = Vec::with_capacity(self.input_dim());
        for f in &self.features {
            let k = header.iter().position(|h| h == f.name()).ok_or_else(|| (0, format!("missing column '{}'", f.name())))?;
            let cell = record[k].trim();
            match f {
                Feature::Numeric { name, mean, std, .. } => {
                    let v: f64 = cell.parse().map_err(|_| (k, format!("'{cell}' ({name}) is not a number")))?;
                    if !v.is_finite() {
                        return Err((k, format!("'{cell}' ({name}) is not finite")));
                    }
                    out.push((v - mean) / std);
                }
                Feature::Categorical { name, categories } => {
                    let i = categories
                        .iter()
                        .position(|c| c == cell)
                        .ok_or_else(|| (k, format!("'{cell}' is not a category of {name} ({})", categories.join(", "))))?;
                    out.extend((0..categories.len()).map(|j| (j == i) as u8 as f64));
                }
            }
        }
        Ok(out)
    }

    /// The first sensitive attribute and its std (raw units per model-input unit); None when the card
    /// names none.
    pub fn sensitive_std(&self) -> Result<Option<(String, f64)>> {
        self.sensitive.first().map(|name| Ok((name.clone(), self.numeric(name)?.1))).transpose()
    }

    /// A radius along standardized feature `name` in raw units: R_raw = R · std.
    pub fn radius_raw(&self, name: &str, radius_model: f64) -> Result<f64> {
        Ok(radius_model * self.numeric(name)?.1)
    }

    /// Fits a card on training records: numeric features get their mean, (population) standard deviation
    /// and observed range; categorical ones their sorted distinct values.
    pub fn fit(header: &[String], records: &[Vec<String>], numeric: &[&str], categorical: &[&str], sensitive: &[&str], classes: &[&str]) -> std::result::Result<Self, String> {
        let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| format!("missing column '{name}'"));
        let mut features = Vec::new();
        for &name in numeric {
            let k = col(name)?;
            let vals: Vec<f64> = records.iter().map(|r| r[k].trim().parse::<f64>().map_err(|_| format!("'{}' ({name}) is not a number", r[k]))).collect::<std::result::Result<_, _>>()?;
            let n = vals.len() as f64;
            let mean = vals.iter().sum::<f64>() / n;
            let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let (min, max) = vals.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
            features.push(Feature::Numeric { name: name.into(), mean, std: if std > 0.0 { std } else { 1.0 }, min, max });
        }
        for &name in categorical {
            let k = col(name)?;
            let mut cats: Vec<String> = records.iter().map(|r| r[k].trim().to_string()).collect();
            cats.sort();
            cats.dedup();
            features.push(Feature::Categorical { name: name.into(), categories: cats });
        }
        let card = ModelCard { features, sensitive: sensitive.iter().map(|s| s.to_string()).collect(), classes: classes.iter().map(|s| s.to_string()).collect() };
        card.validate()?;
        Ok(card)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn fit_transform_and_raw_radius() {
        let header = s(&["bmi", "smoker", "age"]);
        let rows = vec![s(&["20", "Never", "30"]), s(&["30", "Current", "50"]), s(&["25", "Former", "40"])];
        let card = ModelCard::fit(&header, &rows, &["bmi", "age"], &["smoker"], &["bmi"], &["low", "high"]).unwrap();
        assert_eq!(card.input_dim(), 5);
        let (k, std, range) = card.numeric("bmi").unwrap();
        assert_eq!((k, range), (0, (20.0, 30.0)));
        assert!((std - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
        let x = card.transform(&s(&["age", "bmi", "smoker"]), &s(&["40", "25", "Former"])).unwrap();
        assert_eq!(x, vec![0.0, 0.0, 0.0, 1.0, 0.0]); // bmi, age standardized; smoker one-hot (Current, Former, Never)
        assert!((card.radius_raw("bmi", 0.5).unwrap() - 0.5 * std).abs() < 1e-15);
        let json = serde_json::to_string(&card).unwrap();
        assert_eq!(serde_json::from_str::<ModelCard>(&json).unwrap(), card);
    }

    #[test]
    fn errors_name_the_problem() {
        let header = s(&["bmi", "smoker"]);
        let rows = vec![s(&["20", "Never"]), s(&["30", "Current"])];
        let card = ModelCard::fit(&header, &rows, &["bmi"], &["smoker"], &["bmi"], &["a", "b"]).unwrap();
        let e = card.numeric("weight").unwrap_err().to_string();
        assert!(e.contains("unknown numeric attribute 'weight'") && e.contains("bmi"), "{e}");
        assert!(card.transform(&header, &s(&["20", "Sometimes"])).unwrap_err().contains("not a category of smoker"));
        assert!(card.transform(&header, &s(&["x", "Never"])).unwrap_err().contains("is not a number"));
        assert!(serde_json::from_str::<ModelCard>(r#"{"features":[],"sensitive":[],"classes":[],"extra":1}"#).is_err());
    }
}
