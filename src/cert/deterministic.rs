//! Deterministic certification by bound propagation and radius search.
//!
//! Guarantee: for each row with answer c = decide(f(x₀)) the reported radius r satisfies: every x with
//! ‖x − x₀‖ₚ ≤ r (inside the domain box, when one is given) has decide(f(x)) = c — for the exact
//! real-valued network (RADIUS-1 with IBP-1 / CROWN-2 / ALPHA-1 and FP-1…4).
use super::{Answer, Batch, Certificate, Certifier, Guarantee, RadiusSearch};
use crate::bound::BoundMethod;
use crate::net::Network;
use crate::progress::Progress;
use crate::spec::{Decision, DomainBox, Norm, Region};
use rayon::prelude::*;
use std::time::Instant;

/// A sound certifier: the largest ε (to the search tolerance) at which `method` proves every margin of
/// the answer positive.
pub struct BoundCertifier {
    pub net: Network,
    pub method: BoundMethod,
    pub norm: Norm,
    pub decision: Decision,
    pub domain: Option<DomainBox>,
    pub search: RadiusSearch,
}

impl BoundCertifier {
    /// Whether the ε-ball around `x` provably keeps answer `class` (all margin lower bounds > 0).
    pub fn certifies(&self, x: ndarray::ArrayView1<f64>, class: usize, eps: f64) -> bool {
        let spec = self.decision.margin_spec(class, self.net.output_dim());
        let region = Region { center: x.reborrow(), eps, norm: self.norm, domain: self.domain.as_ref() };
        self.method.lower_bounds(&self.net, &region, &spec).iter().all(|&v| v > 0.0)
    }

    fn certify_row(&self, x: ndarray::ArrayView1<f64>, row: usize) -> Certificate {
        let start = Instant::now();
        let (class, unique) = self.decision.decide(self.net.forward(x).view());
        let radius = if unique { self.search.run(|eps| self.certifies(x, class, eps)).certified } else { 0.0 };
        Certificate {
            row,
            answer: Answer::Class(class),
            radius,
            guarantee: Guarantee::Sound,
            norm: self.norm,
            time: start.elapsed(),
        }
    }
}

impl Certifier for BoundCertifier {
    fn method(&self) -> &'static str {
        self.method.name()
    }

    fn norm(&self) -> Norm {
        self.norm
    }

    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>> {
        self.search.validate()?;
        let d = self.net.input_dim();
        if batch.inputs.ncols() != d {
            return Err(crate::Error::InputShape { row: batch.row_ids.first().copied().unwrap_or(0), got: batch.inputs.ncols(), expected: d });
        }
        if let Some(dom) = &self.domain {
            if let Some((r, _)) = batch.inputs.outer_iter().zip(batch.row_ids).map(|(x, &r)| (r, dom.contains(x))).find(|(_, ok)| !ok) {
                return Err(crate::Error::Option(format!("input row {r} lies outside the domain box; fix the data or the box")));
            }
        }
        Ok((0..batch.inputs.nrows())
            .into_par_iter()
            .map(|i| {
                let c = self.certify_row(batch.inputs.row(i), batch.row_ids[i]);
                progress.advance(1);
                c
            })
            .collect())
    }
}
