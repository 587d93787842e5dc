//! Comparison of methods on the same records (SPEC §1): certified ≤ exact ≤ attack must hold on every
//! record. Each certificate contributes by its guarantee — `sound` a lower bound, `exact` both bounds,
//! `bracket` its two ends, `upper-bound` an upper bound; a 1-D `line` radius is an upper bound of the
//! full-space radius (moving along one axis is one particular direction); probabilistic radii belong to
//! the smoothed classifier and are reported but not compared.
use crate::cert::{Answer, Certificate, Guarantee};
use serde::Serialize;

/// Relative slack for comparisons involving a numerical solver's answer (MILP feasibility and gap
/// tolerances are 1e-9; this leaves room for the conditioning of the encoding).
pub const SOLVER_TOLERANCE: f64 = 1e-6;

/// One method's certificates.
pub struct MethodResult {
    pub method: String,
    /// Whether the method's radius is along one axis only (line analysis).
    pub one_dimensional: bool,
    pub certs: Vec<Certificate>,
}

/// One record across methods.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComparisonRow {
    pub row: usize,
    /// The answer all deterministic methods agree on ("abstain" cannot occur for them).
    pub label: String,
    /// Largest proven lower bound of the radius, and the method giving it.
    pub lower: f64,
    pub lower_method: String,
    /// Smallest upper bound, and the method giving it.
    pub upper: f64,
    pub upper_method: String,
    /// Whether some lower bound exceeds some upper bound (a bug in one of the methods).
    pub violation: bool,
}

/// Compares the methods record by record (all results list the same rows in the same order).
pub fn compare(results: &[MethodResult]) -> Vec<ComparisonRow> {
    let n = results.first().map_or(0, |r| r.certs.len());
    (0..n)
        .map(|i| {
            let mut lower = (0.0f64, String::from("-"));
            let mut upper = (f64::INFINITY, String::from("-"));
            let mut labels = Vec::new();
            for r in results {
                let c = &r.certs[i];
                assert_eq!(c.row, results[0].certs[i].row, "methods list the same rows");
                let (lo, hi) = match (c.guarantee, r.one_dimensional) {
                    (_, true) => (None, Some(c.radius)),
                    (Guarantee::Sound, _) => (Some(c.radius), None),
                    (Guarantee::Exact, _) => (Some(c.radius), Some(c.radius)),
                    (Guarantee::Bracket { upper }, _) => (Some(c.radius), Some(upper)),
                    (Guarantee::UpperBound, _) => (None, Some(c.radius)),
                    (Guarantee::Probabilistic { .. } | Guarantee::None, _) => (None, None),
                };
                if lo.is_some() || hi.is_some() {
                    labels.push(c.answer);
                }
                if let Some(v) = lo.filter(|&v| v > lower.0) {
                    lower = (v, r.method.clone());
                }
                if let Some(v) = hi.filter(|&v| v < upper.0) {
                    upper = (v, r.method.clone());
                }
            }
            let label_disagrees = labels.windows(2).any(|w| w[0] != w[1]);
            let violation = label_disagrees || lower.0 > upper.0 * (1.0 + SOLVER_TOLERANCE) + 1e-12;
            ComparisonRow {
                row: results[0].certs[i].row,
                label: match labels.first() {
                    Some(Answer::Class(k)) => k.to_string(),
                    _ => "abstain".into(),
                },
                lower: lower.0,
                lower_method: lower.1,
                upper: upper.0,
                upper_method: upper.1,
                violation,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Norm;
    use std::time::Duration;

    fn cert(radius: f64, guarantee: Guarantee) -> Certificate {
        Certificate { row: 0, answer: Answer::Class(1), radius, guarantee, norm: Norm::Linf, time: Duration::ZERO }
    }

    fn result(method: &str, c: Certificate) -> MethodResult {
        MethodResult { method: method.into(), one_dimensional: method == "line", certs: vec![c] }
    }

    #[test]
    fn sandwich_and_violations() {
        let ok = compare(&[
            result("crown", cert(0.1, Guarantee::Sound)),
            result("milp", cert(0.2, Guarantee::Exact)),
            result("pgd", cert(0.21, Guarantee::UpperBound)),
            result("line", cert(0.5, Guarantee::Exact)),
        ]);
        assert_eq!((ok[0].lower, ok[0].upper, ok[0].violation), (0.2, 0.2, false));
        let bad = compare(&[result("crown", cert(0.3, Guarantee::Sound)), result("milp", cert(0.2, Guarantee::Exact))]);
        assert!(bad[0].violation);
        let within_tol = compare(&[result("crown", cert(0.2 * (1.0 + 1e-9), Guarantee::Sound)), result("milp", cert(0.2, Guarantee::Exact))]);
        assert!(!within_tol[0].violation);
    }
}
