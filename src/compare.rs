//! Comparison of methods on the same records (SPEC §1): certified ≤ exact ≤ attack must hold on every
//! record. Each certificate contributes by its kind — `sound` a lower bound, `exact` and the brackets
//! their two ends (a `solver-bracket`'s lower end is the solver's, so a violation there may be the
//! solver's tolerance), `upper-bound` an upper bound; a radius along one input (`line`, any `-1d` kind)
//! contributes only its upper end, an upper bound of the full-space radius (moving along one axis is one
//! particular direction); probabilistic radii belong to the smoothed classifier and are reported but
//! not compared.
use crate::cert::{Answer, Certificate, Extent, Radius};
use serde::Serialize;

/// Relative slack for comparisons involving a numerical solver's answer (MILP feasibility and gap
/// tolerances are 1e-9; this leaves room for the conditioning of the encoding).
pub const SOLVER_TOLERANCE: f64 = 1e-6;

/// One method's certificates.
pub struct MethodResult {
    pub method: String,
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
                let (lo, hi) = match (c.radius(), c.extent) {
                    (None, _) => (None, None),
                    (Some(k), Extent::Line { .. }) => match k {
                        Radius::Exact(b) | Radius::Bracket(b) | Radius::SolverBracket { bracket: b, .. } => (None, Some(b.upper())),
                        Radius::UpperBound(v) => (None, Some(*v)),
                        Radius::Sound(_) | Radius::Probabilistic { .. } | Radius::Uncertified => (None, None),
                    },
                    (Some(k), Extent::Ball(_)) => match *k {
                        Radius::Sound(v) => (Some(v), None),
                        Radius::Exact(b) | Radius::Bracket(b) | Radius::SolverBracket { bracket: b, .. } => (Some(b.lower()), Some(b.upper())),
                        Radius::UpperBound(v) => (None, Some(v)),
                        Radius::Probabilistic { .. } | Radius::Uncertified => (None, None),
                    },
                };
                if lo.is_some() || hi.is_some() {
                    labels.push(c.answer());
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

    fn cert(radius: Radius) -> Certificate {
        Certificate { row: 0, outcome: crate::cert::Outcome::Answer { class: 1, radius }, extent: Extent::Ball(Norm::Linf), time: Duration::ZERO }
    }

    fn exact(r: f64) -> Radius {
        Radius::Exact(crate::cert::Bracket::point(r).unwrap())
    }

    fn result(method: &str, mut c: Certificate) -> MethodResult {
        if method == "line" {
            c.extent = Extent::Line { attribute: 0 };
        }
        MethodResult { method: method.into(), certs: vec![c] }
    }

    #[test]
    fn sandwich_and_violations() {
        let ok = compare(&[
            result("crown", cert(Radius::Sound(0.1))),
            result("milp", cert(exact(0.2))),
            result("pgd", cert(Radius::UpperBound(0.21))),
            result("line", cert(exact(0.5))),
        ]);
        assert_eq!((ok[0].lower, ok[0].upper, ok[0].violation), (0.2, 0.2, false));
        let bad = compare(&[result("crown", cert(Radius::Sound(0.3))), result("milp", cert(exact(0.2)))]);
        assert!(bad[0].violation);
        let within_tol = compare(&[result("crown", cert(Radius::Sound(0.2 * (1.0 + 1e-9)))), result("milp", cert(exact(0.2)))]);
        assert!(!within_tol[0].violation);
        // a 1-D radius is only an upper bound of the full-space radius
        let line_low = compare(&[result("crown", cert(Radius::Sound(0.3))), result("line", cert(exact(0.2)))]);
        assert!(line_low[0].violation, "a full-space certificate above the 1-D radius is a contradiction");
        let line_high = compare(&[result("line", cert(exact(0.5))), result("pgd", cert(Radius::UpperBound(0.3)))]);
        assert_eq!((line_high[0].lower, line_high[0].violation), (0.0, false));
    }
}
