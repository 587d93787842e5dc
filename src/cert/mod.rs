//! The `Certifier` trait and certificate types (SPEC §1): every method — bound propagation, MILP, line
//! analysis, smoothing, attacks, the CUDA backend — is one more implementation, certifying a batch of
//! rows at once.
pub mod deterministic;
pub mod estimate;
mod radius;

pub use deterministic::{crown_floor, BoundCertifier};
pub use radius::{RadiusSearch, SearchResult, SearchStart, SearchState, LINEAR_START, PROBE};

use crate::progress::Progress;
use crate::spec::Norm;
use ndarray::ArrayView2;
use serde::Serialize;
use std::time::Duration;

/// The default relative width at which a bracket proven at both ends counts as `exact` (EXACT-0).
pub const EXACT_REL_TOL: f64 = 1e-6;

/// The options the exact methods share, checked: a positive time limit and a tolerance in [0, 1).
pub fn check_exact_limits(time_limit: f64, exact_rel_tol: f64) -> crate::Result<()> {
    if !(time_limit > 0.0) {
        return Err(crate::Error::Option(format!("--time-limit must be > 0 seconds, got {time_limit}")));
    }
    if !(exact_rel_tol >= 0.0 && exact_rel_tol < 1.0) {
        return Err(crate::Error::Option(format!("the exact tolerance must lie in [0, 1), got {exact_rel_tol}")));
    }
    Ok(())
}

/// A closed interval [lower, upper] of radii with 0 ≤ lower ≤ upper ≤ +∞ and neither end NaN; the
/// constructor refuses anything else, so no certificate can hold an inverted or undefined bracket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bracket {
    lower: f64,
    upper: f64,
}

impl Bracket {
    /// The bracket [lower, upper]; an error (a bug in the caller: never a silent repair) unless
    /// 0 ≤ lower ≤ upper.
    pub fn new(lower: f64, upper: f64) -> crate::Result<Self> {
        if lower >= 0.0 && lower <= upper {
            Ok(Bracket { lower, upper })
        } else {
            Err(crate::Error::Internal(format!("invalid radius bracket [{lower}, {upper}]: need 0 ≤ lower ≤ upper")))
        }
    }
    /// The single point [r, r] (r ≥ 0, possibly +∞).
    pub fn point(r: f64) -> crate::Result<Self> {
        Self::new(r, r)
    }
    pub fn lower(&self) -> f64 {
        self.lower
    }
    pub fn upper(&self) -> f64 {
        self.upper
    }
    /// Both ends multiplied by `factor` > 0 (unit conversion), rounded outward so the bracket still
    /// contains the scaled radius.
    pub fn scaled(&self, factor: f64) -> Self {
        assert!(factor > 0.0 && factor.is_finite(), "scale factor {factor}");
        let lower = if self.lower.is_infinite() { f64::INFINITY } else { (self.lower * factor).next_down().max(0.0) };
        let upper = if self.upper.is_infinite() { f64::INFINITY } else { (self.upper * factor).next_up() };
        Bracket { lower, upper }
    }
}

/// What is known of the robust radius of a row the model answers (SPEC §1), named by what it rests on
/// (`proofs/EXACT.md` EXACT-0 states the rule for `exact` and the brackets).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Radius {
    /// A proven lower bound: every point of the ball (∩ the domain box) gets the same answer from the
    /// exact real-valued network (IBP, CROWN, α-CROWN).
    Sound(f64),
    /// The robust radius lies in the bracket and its ends meet within the tolerance; the lower end is
    /// proven by the sound bound propagation, the upper end by a witness whose changed answer a rigorous
    /// interval forward pass proves. The `radius` column is the lower end.
    Exact(Bracket),
    /// The robust radius lies in the bracket, both ends proven as for `Exact`, not (yet) within the
    /// tolerance (a time limit, or a proof that could not close the gap). Upper end +∞: no witness.
    Bracket(Bracket),
    /// The robust radius lies in the bracket if the MILP solver's answers are right: the upper end is a
    /// proven witness (or +∞), the lower end rests on HiGHS's infeasibility answers or dual bound, which
    /// it computes to tolerances (feasibility 1e-9), not proves. `proven` ≤ the lower end is the part
    /// that is proven (CROWN's certified radius).
    SolverBracket { bracket: Bracket, proven: f64 },
    /// Holds for the smoothed classifier with probability ≥ 1 − alpha (radius 0 for PREDICT).
    Probabilistic { radius: f64, alpha: f64 },
    /// A point at this distance gets another answer, proven by a rigorous forward pass: an upper bound
    /// of the robust radius only (attacks).
    UpperBound(f64),
    /// An answer without any certificate (always-label smoothing, or an attack that found nothing to
    /// prove); the radius column is 0.
    Uncertified,
}

impl Radius {
    /// The kind's name in the `guarantee` column (before any `-1d` suffix).
    pub fn name(&self) -> &'static str {
        match self {
            Radius::Sound(_) => "sound",
            Radius::Exact(_) => "exact",
            Radius::Bracket(_) => "bracket",
            Radius::SolverBracket { .. } => "solver-bracket",
            Radius::Probabilistic { .. } => "probabilistic",
            Radius::UpperBound(_) => "upper-bound",
            Radius::Uncertified => "none",
        }
    }

    /// The `radius` column: the proven (or, for brackets, the lower) end; the attack's distance for an
    /// upper bound; 0 without a certificate.
    pub fn value(&self) -> f64 {
        match *self {
            Radius::Sound(r) | Radius::UpperBound(r) => r,
            Radius::Exact(b) | Radius::Bracket(b) | Radius::SolverBracket { bracket: b, .. } => b.lower(),
            Radius::Probabilistic { radius, .. } => radius,
            Radius::Uncertified => 0.0,
        }
    }

    /// The `radius_upper` column: the upper end of an exact radius or a bracket.
    pub fn upper(&self) -> Option<f64> {
        match self {
            Radius::Exact(b) | Radius::Bracket(b) | Radius::SolverBracket { bracket: b, .. } => Some(b.upper()),
            Radius::Sound(_) | Radius::Probabilistic { .. } | Radius::UpperBound(_) | Radius::Uncertified => None,
        }
    }

    /// The `alpha` column of a probabilistic radius.
    pub fn alpha(&self) -> Option<f64> {
        match self {
            Radius::Probabilistic { alpha, .. } => Some(*alpha),
            _ => None,
        }
    }

    /// The largest radius this certificate proves (a lower bound of the robust radius), if it proves
    /// one deterministically: the lower end of `Sound`, `Exact` and `Bracket`, the proven part of a
    /// `SolverBracket`.
    pub fn proven_lower(&self) -> Option<f64> {
        match *self {
            Radius::Sound(r) => Some(r),
            Radius::Exact(b) | Radius::Bracket(b) => Some(b.lower()),
            Radius::SolverBracket { proven, .. } => Some(proven),
            Radius::Probabilistic { .. } | Radius::UpperBound(_) | Radius::Uncertified => None,
        }
    }

    /// Every number multiplied by `factor` > 0 (e.g. model units to raw units), rounded outward.
    pub fn scaled(&self, factor: f64) -> Radius {
        let lo = |r: f64| if r.is_infinite() { r } else { (r * factor).next_down().max(0.0) };
        let hi = |r: f64| if r.is_infinite() { r } else { (r * factor).next_up() };
        match *self {
            Radius::Sound(r) => Radius::Sound(lo(r)),
            Radius::Exact(b) => Radius::Exact(b.scaled(factor)),
            Radius::Bracket(b) => Radius::Bracket(b.scaled(factor)),
            Radius::SolverBracket { bracket, proven } => Radius::SolverBracket { bracket: bracket.scaled(factor), proven: lo(proven).min(bracket.scaled(factor).lower()) },
            Radius::Probabilistic { radius, alpha } => Radius::Probabilistic { radius: lo(radius), alpha },
            Radius::UpperBound(r) => Radius::UpperBound(hi(r)),
            Radius::Uncertified => Radius::Uncertified,
        }
    }
}

/// What a certificate says of one row: the model abstains, or it answers a class with what is known
/// of the radius of that answer. Consumers match on it; an abstention carries no radius.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// The model (e.g. a smoothed classifier) declines to answer.
    Abstain,
    /// The model answers `class`.
    Answer { class: usize, radius: Radius },
}

/// The answer of the certified model at a row, without its radius.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Answer {
    /// The model (e.g. a smoothed classifier) declines to answer.
    Abstain,
    /// The class the model answers.
    Class(usize),
}

/// What set a radius is a radius of: a full-space ℓp ball, or a segment along one input (the other
/// inputs fixed), whose 1-D radius is only an upper bound of any full-space radius.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    Ball(Norm),
    /// Along model input `attribute` (0-based).
    Line { attribute: usize },
}

impl Extent {
    /// `linf`, `l2`, `l1`, or `line` (the JSON `norm` field).
    pub fn as_str(&self) -> &'static str {
        match self {
            Extent::Ball(n) => n.as_str(),
            Extent::Line { .. } => "line",
        }
    }
}

/// One row's certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct Certificate {
    /// Row id (the index of the row in the input file).
    pub row: usize,
    pub outcome: Outcome,
    pub extent: Extent,
    /// Wall time spent on this row.
    pub time: Duration,
}

impl Certificate {
    /// The answer without its radius.
    pub fn answer(&self) -> Answer {
        match self.outcome {
            Outcome::Abstain => Answer::Abstain,
            Outcome::Answer { class, .. } => Answer::Class(class),
        }
    }

    /// The radius of the answer (None when abstaining).
    pub fn radius(&self) -> Option<&Radius> {
        match &self.outcome {
            Outcome::Abstain => None,
            Outcome::Answer { radius, .. } => Some(radius),
        }
    }

    /// The `radius` column (0 when abstaining).
    pub fn radius_value(&self) -> f64 {
        self.radius().map_or(0.0, Radius::value)
    }

    /// The `guarantee` column: the radius kind, with `-1d` appended for a radius along one input
    /// (so it cannot be read as a full-space radius); `none` for an abstention.
    pub fn guarantee_name(&self) -> String {
        let base = self.radius().map_or("none", Radius::name);
        match self.extent {
            Extent::Line { .. } if self.radius().is_some() && base != "none" => format!("{base}-1d"),
            _ => base.to_string(),
        }
    }
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

    /// The answer of every row (`decide_checked`: an error names the first row whose outputs are not
    /// finite, or a model with fewer than two outputs).
    pub fn answers(&self, net: &crate::net::Network, decision: crate::spec::Decision) -> crate::Result<Vec<(usize, bool)>> {
        self.decide(self.finite_outputs(net)?.view(), decision)
    }

    /// As [`answers`](Self::answers), from the rows' outputs already computed.
    pub fn decide(&self, logits: ndarray::ArrayView2<f64>, decision: crate::spec::Decision) -> crate::Result<Vec<(usize, bool)>> {
        logits.outer_iter().zip(self.row_ids).map(|(l, &r)| decision.decide_checked(l, r)).collect()
    }

    /// The network's outputs at every row; an error names the first row where one is not finite.
    pub fn finite_outputs(&self, net: &crate::net::Network) -> crate::Result<ndarray::Array2<f64>> {
        let logits = net.forward_batch(self.inputs);
        self.check_finite(logits.view())?;
        Ok(logits)
    }

    /// An error naming the first row whose outputs `logits` (one row per input row) are not finite.
    pub fn check_finite(&self, logits: ndarray::ArrayView2<f64>) -> crate::Result<()> {
        match logits.outer_iter().zip(self.row_ids).find(|(l, _)| l.iter().any(|v| !v.is_finite())) {
            Some((_, &row)) => Err(crate::Error::NonFinite { row, what: "the network's output".into() }),
            None => Ok(()),
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

    /// Certifies every row independently and in parallel: `radius(x, class, row)` is called for rows
    /// whose answer `class` is unique (a tie gets `tie`: the answer changes arbitrarily close to x₀), and
    /// each row's certificate carries the returned radius.
    pub fn per_row(
        &self,
        net: &crate::net::Network,
        decision: crate::spec::Decision,
        extent: Extent,
        tie: Radius,
        progress: &dyn Progress,
        radius: impl Fn(ndarray::ArrayView1<f64>, usize, usize) -> crate::Result<Radius> + Sync,
    ) -> crate::Result<Vec<Certificate>> {
        use rayon::prelude::*;
        (0..self.inputs.nrows())
            .into_par_iter()
            .map(|i| {
                let start = std::time::Instant::now();
                let x = self.inputs.row(i);
                let (class, unique) = decision.decide_checked(net.forward(x).view(), self.row_ids[i])?;
                let r = if unique { radius(x, class, self.row_ids[i])? } else { tie };
                progress.advance(1);
                Ok(Certificate { row: self.row_ids[i], outcome: Outcome::Answer { class, radius: r }, extent, time: start.elapsed() })
            })
            .collect()
    }
}

/// A certification method. Implementations state their guarantee in their doc comment and return one
/// certificate per row of the batch, in order.
pub trait Certifier: Send + Sync {
    /// The method's name (`ibp`, `crown`, …), as written in output files.
    fn method(&self) -> &'static str;
    /// What the radii are radii of: ℓp balls of a norm, or segments along one input.
    fn extent(&self) -> Extent;
    /// Certifies every row of the batch; `progress` advances by one per finished row.
    fn certify(&self, batch: Batch<'_>, progress: &dyn Progress) -> crate::Result<Vec<Certificate>>;
}
