//! The `Certifier` trait and certificate types (SPEC §1): every method — bound propagation, MILP, line
//! analysis, smoothing, attacks, the CUDA backend — is one more implementation, certifying a batch of
//! rows at once.
pub mod deterministic;
mod radius;

pub use deterministic::BoundCertifier;
pub use radius::{RadiusSearch, SearchResult, SearchState};

use crate::progress::Progress;
use crate::spec::Norm;
use ndarray::ArrayView2;
use serde::Serialize;
use std::time::Duration;

/// What a radius means (SPEC §1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Guarantee {
    /// The largest robust radius (MILP, exact line analysis).
    Exact,
    /// A proven lower bound of the robust radius (IBP, CROWN, α-CROWN).
    Sound,
    /// Holds for the smoothed classifier with probability ≥ 1 − alpha.
    Probabilistic { alpha: f64 },
    /// An attack changed the answer at this distance: an upper bound of the robust radius.
    UpperBound,
    /// The robust radius lies in [radius, upper] (a time-limited exact solve).
    Bracket { upper: f64 },
    /// An answer without any certificate (always-label smoothing); the radius is 0.
    None,
}

impl Guarantee {
    /// The name written in the `guarantee` column.
    pub fn name(&self) -> &'static str {
        match self {
            Guarantee::Exact => "exact",
            Guarantee::Sound => "sound",
            Guarantee::Probabilistic { .. } => "probabilistic",
            Guarantee::UpperBound => "upper-bound",
            Guarantee::Bracket { .. } => "bracket",
            Guarantee::None => "none",
        }
    }
}

/// The answer of the certified model at a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Answer {
    /// The model (e.g. a smoothed classifier) declines to answer; the radius is 0.
    Abstain,
    /// The class the model answers.
    Class(usize),
}

/// One row's certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// Row id (the index of the row in the input file).
    pub row: usize,
    pub answer: Answer,
    /// Radius in model-input units under `norm`; 0 when abstaining.
    pub radius: f64,
    pub guarantee: Guarantee,
    pub norm: Norm,
    /// Wall time spent on this row.
    pub time: Duration,
}

/// A batch of rows to certify: one model input per row of `inputs`, named by `row_ids`.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub inputs: ArrayView2<'a, f64>,
    pub row_ids: &'a [usize],
}

impl Batch<'_> {
    /// An error naming the mismatch unless every row has `expected` values.
    pub fn check_width(&self, expected: usize) -> crate::Result<()> {
        if self.inputs.ncols() == expected {
            Ok(())
        } else {
            Err(crate::Error::InputShape { row: self.row_ids.first().copied().unwrap_or(0), got: self.inputs.ncols(), expected })
        }
    }

    /// An error naming the first row outside the domain box, if any.
    pub fn check_domain(&self, domain: Option<&crate::spec::DomainBox>) -> crate::Result<()> {
        let Some(dom) = domain else { return Ok(()) };
        match self.inputs.outer_iter().zip(self.row_ids).find(|(x, _)| !dom.contains(x.view())) {
            Some((_, r)) => Err(crate::Error::Option(format!("input row {r} lies outside the domain box; fix the data or the box"))),
            None => Ok(()),
        }
    }

    /// Certifies every row independently and in parallel: `radius(x, class)` is called for rows whose
    /// answer `class` is unique (a tie gets radius 0 with guarantee `tie`), and each row's certificate
    /// carries the returned radius and guarantee.
    pub fn per_row(
        &self,
        net: &crate::net::Network,
        decision: crate::spec::Decision,
        norm: Norm,
        tie: Guarantee,
        progress: &dyn Progress,
        radius: impl Fn(ndarray::ArrayView1<f64>, usize, usize) -> (f64, Guarantee) + Sync,
    ) -> Vec<Certificate> {
        use rayon::prelude::*;
        (0..self.inputs.nrows())
            .into_par_iter()
            .map(|i| {
                let start = std::time::Instant::now();
                let x = self.inputs.row(i);
                let (class, unique) = decision.decide(net.forward(x).view());
                let (r, guarantee) = if unique { radius(x, class, self.row_ids[i]) } else { (0.0, tie) };
                progress.advance(1);
                Certificate { row: self.row_ids[i], answer: Answer::Class(class), radius: r, guarantee, norm, time: start.elapsed() }
            })
            .collect()
    }
}

/// A certification method. Implementations state their guarantee in their doc comment and return one
/// certificate per row of the batch, in order.
pub trait Certifier: Send + Sync {
    /// The method's name (`ibp`, `crown`, …), as written in output files.
    fn method(&self) -> &'static str;
    /// The norm of the certified balls.
    fn norm(&self) -> Norm;
    /// Certifies every row of the batch; `progress` advances by one per finished row.
    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>>;
}
