//! Attribute privacy (APE, SPEC §1): for a record x = (x_k, x_{−k}) and the answer y a model gives, what
//! an observer who knows x_{−k} learns about the sensitive attribute x_k.
//!
//! For each mode this computes, in raw attribute units:
//! - the inference set I_y = { z ∈ D_k : g(z, x_{−k}) = y } — exact for the base network (line analysis,
//!   LINE-1), estimated on a grid for a smoothed classifier (whose answers include *abstain*, itself an
//!   observable answer with its own inference set);
//! - the attacker's interval: the connected component of I_y containing the true value, and its width;
//! - R_z, the mode's radius at the true value along attribute k (raw units), and
//! - I_y^(R) = ⋃_{z ∈ I_y} [z − R_z, z + R_z] over the grid points of I_y (an inner approximation).
//!
//! Fact 1 of SPEC §1 is checked on every row (`certified_within`): a certifier of g itself never makes
//! I_y^(R)(g) leave I_y(g). Fact 2 is the comparison of two models: `outside_base` is the length of the
//! smoothed model's I_y(g) outside the base model's exact I_y(f).
pub mod report;
pub mod spans;

use crate::bound::BoundMethod;
use crate::cert::{Answer, Batch, BoundCertifier, Certifier, Radius, RadiusSearch};
use crate::data::card::{Feature, ModelCard};
use crate::exact::{ExactCertifier, ExactOptions};
use crate::line::{line_pieces, Piece, ProvenLine};
use crate::milp::{MilpCertifier, MilpOptions};
use crate::net::Network;
use crate::progress::{NoProgress, Progress};
use crate::smooth::line::{GridNoise, LineRecord, LineSampler, MAX_GRID_POINTS};
use crate::smooth::sampler::Phase;
use crate::smooth::{SmoothOptions, SmoothingCertifier};
use crate::spec::{Decision, DomainBox, Norm};
use ndarray::{Array2, ArrayView1, ArrayView2};
use serde::Serialize;
use spans::{component, merge, measure_minus, subset, Span};

/// The sensitive attribute: its model input, standardization and valid raw range D_k.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub index: usize,
    pub mean: f64,
    pub std: f64,
    pub range: (f64, f64),
}

impl Attribute {
    /// The numeric feature `name` of a card (an unknown name is an error listing the numeric features).
    pub fn from_card(card: &ModelCard, name: &str) -> crate::Result<Self> {
        let (index, std, range) = card.numeric(name)?;
        let mean = card
            .features
            .iter()
            .find_map(|f| match f {
                Feature::Numeric { name: n, mean, .. } if n == name => Some(*mean),
                _ => None,
            })
            .expect("numeric() found it");
        Ok(Attribute { name: name.into(), index, mean, std, range })
    }

    /// Raw value of a model input.
    pub fn raw(&self, u: f64) -> f64 {
        self.mean + self.std * u
    }

    /// Model input of a raw value.
    pub fn model(&self, z: f64) -> f64 {
        (z - self.mean) / self.std
    }
}

/// One way of answering and certifying.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// The base network with exact 1-D radii (line analysis).
    Line,
    /// The base network with a bound-propagation radius along the attribute.
    Bound(BoundMethod),
    /// The base network with the exact MILP radius along the attribute (at the true value only).
    Milp(MilpOptions),
    /// The base network with its exact full-space ℓ2 radius (the branch and bound, at the true value
    /// only): the deterministic counterpart of the smoothed classifier's full-space ℓ2 radius.
    ExactL2(ExactOptions),
    /// The smoothed classifier (CERTIFY) with its full-space ℓ2 radius.
    Smooth(SmoothOptions),
}

impl Mode {
    /// Name used in outputs: line, ibp, crown, alpha-crown, milp, exact-l2, smooth.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Line => "line",
            Mode::Bound(BoundMethod::Ibp) => "ibp",
            Mode::Bound(BoundMethod::Crown(_)) => "crown",
            Mode::Bound(BoundMethod::AlphaCrown(_)) => "alpha-crown",
            Mode::Milp(_) => "milp",
            Mode::ExactL2(_) => "exact-l2",
            Mode::Smooth(_) => "smooth",
        }
    }
}

pub use crate::cert::EXACT_REL_TOL;

/// Which space a radius was certified in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RadiusSpace {
    /// Along the attribute only (x_{−k} fixed): the 1-D radius or a lower bound of it.
    Attribute,
    /// The full-space ℓ2 ball (smoothing); a lower bound of the 1-D radius.
    FullL2,
}

/// The APE analysis of one record under one mode.
#[derive(Clone, Debug, PartialEq)]
pub struct ApeRow {
    pub row: usize,
    pub mode: &'static str,
    /// σ of a smoothing mode.
    pub sigma: Option<f64>,
    pub answer: Answer,
    /// True attribute value (raw).
    pub true_value: f64,
    /// I_y: exact (base network) or from the grid (smoothing).
    pub inference_set: Vec<Span>,
    /// Grid values where a smoothed classifier abstains (empty for the base network).
    pub abstain_set: Vec<Span>,
    /// The component of I_y containing the true value.
    pub attacker: Span,
    /// R_z at the true value, in model-input units and in raw attribute units (the certificate's
    /// `radius` column: its proven or lower end).
    pub radius: f64,
    pub radius_raw: f64,
    pub radius_space: RadiusSpace,
    /// What is known of R_z, in raw attribute units (a `radius_space` of `attribute` makes it 1-D).
    pub certificate: Radius,
    /// I_y^(R) over the grid points of I_y; None when the mode certifies the true value only (MILP).
    pub certified_set: Option<Vec<Span>>,
    /// Whether I_y^(R) ⊆ I_y; for smoothing, whether I_y^(R) holds no grid point answered with another
    /// class (its I_y is only known at grid points; abstentions contradict nothing).
    pub certified_within: Option<bool>,
    /// Length of I_y outside the base network's exact I_y of the same class (smoothing only).
    pub outside_base: Option<f64>,
}

/// Options of the analysis.
#[derive(Clone, Debug, PartialEq)]
pub struct ApeOptions {
    /// Grid step along the attribute, raw units.
    pub grid_step: f64,
    pub decision: Decision,
    /// Radius search of the bound-propagation modes.
    pub search: RadiusSearch,
    /// Smoothing: separate draws per grid point (independent queries) or shared ones.
    pub grid_noise: GridNoise,
}

impl Default for ApeOptions {
    fn default() -> Self {
        ApeOptions { grid_step: 0.1, decision: Decision::Argmax, search: RadiusSearch::default(), grid_noise: GridNoise::Independent }
    }
}

/// The analysis of one record: its line and grid.
struct RecordLine<'a> {
    x: ArrayView1<'a, f64>,
    row: usize,
    /// D_k widened to contain the true value.
    lo: f64,
    hi: f64,
    true_value: f64,
    /// Exact pieces of the base network along the attribute, in model offsets t.
    pieces: Vec<Piece>,
    /// Grid values (raw).
    grid: Vec<f64>,
}

/// Runs every mode on every row of `inputs` (model inputs; `row_ids` name them). Progress advances by
/// one per (record, mode).
pub fn analyze(
    net: &Network,
    attr: &Attribute,
    inputs: ArrayView2<f64>,
    row_ids: &[usize],
    modes: &[Mode],
    opts: &ApeOptions,
    progress: &dyn Progress,
) -> crate::Result<Vec<ApeRow>> {
    check(net, attr, inputs, row_ids, opts)?;
    let lines: Vec<RecordLine> = (0..inputs.nrows()).map(|i| record_line(net, attr, inputs.row(i), row_ids[i], opts)).collect();
    let mut out = Vec::new();
    for mode in modes {
        let rows = match mode {
            Mode::Smooth(o) => smooth_rows(net, attr, &lines, o, opts, progress)?,
            _ => {
                let mut rows = Vec::with_capacity(lines.len());
                for line in &lines {
                    rows.push(base_row(net, attr, line, mode, opts)?);
                    progress.advance(1);
                }
                rows
            }
        };
        out.extend(rows);
    }
    Ok(out)
}

fn check(net: &Network, attr: &Attribute, inputs: ArrayView2<f64>, row_ids: &[usize], opts: &ApeOptions) -> crate::Result<()> {
    let bad = |m: String| Err(crate::Error::Option(m));
    if inputs.ncols() != net.input_dim() {
        return bad(format!("the records have {} model inputs but the model takes {}", inputs.ncols(), net.input_dim()));
    }
    if attr.index >= net.input_dim() {
        return bad(format!("attribute '{}' is model input {} but the model has {} inputs", attr.name, attr.index, net.input_dim()));
    }
    if !(opts.grid_step > 0.0 && opts.grid_step.is_finite()) {
        return bad(format!("--grid-step must be a finite number > 0, got {}", opts.grid_step));
    }
    Batch { inputs: inputs.reborrow(), row_ids }.answers(net, opts.decision)?; // finite outputs of a classifier
    let points = (attr.range.1 - attr.range.0) / opts.grid_step;
    if points > (MAX_GRID_POINTS - 2) as f64 {
        return bad(format!("--grid-step {} gives {points:.0} grid points over [{}, {}]; use a coarser step", opts.grid_step, attr.range.0, attr.range.1));
    }
    Ok(())
}

fn record_line<'a>(net: &Network, attr: &Attribute, x: ArrayView1<'a, f64>, row: usize, opts: &ApeOptions) -> RecordLine<'a> {
    let true_value = attr.raw(x[attr.index]);
    let (lo, hi) = (attr.range.0.min(true_value), attr.range.1.max(true_value));
    let xk = x[attr.index];
    let pieces = line_pieces(net, opts.decision, x, attr.index, attr.model(lo) - xk, attr.model(hi) - xk);
    let steps = ((hi - lo) / opts.grid_step).floor() as usize;
    let mut grid: Vec<f64> = (0..=steps).map(|j| (lo + j as f64 * opts.grid_step).min(hi)).collect();
    if *grid.last().expect("at least lo") < hi {
        grid.push(hi);
    }
    RecordLine { x, row, lo, hi, true_value, pieces, grid }
}

impl RecordLine<'_> {
    /// Raw spans of the base network's pieces of `class`.
    fn base_set(&self, attr: &Attribute, class: usize) -> Vec<Span> {
        let xk = self.x[attr.index];
        let spans = self.pieces.iter().filter(|p| p.class == class).map(|p| Span { lo: attr.raw(xk + p.t_lo), hi: attr.raw(xk + p.t_hi) });
        merge(spans.collect())
    }

    /// The class of the base network at raw value z (from the exact pieces).
    fn base_class(&self, attr: &Attribute, z: f64) -> usize {
        let t = attr.model(z) - self.x[attr.index];
        self.pieces.iter().find(|p| p.t_lo <= t && t <= p.t_hi).map_or(self.pieces[0].class, |p| p.class)
    }

    /// The box that pins every input but the attribute, which ranges over D_k (model units).
    fn pinned_box(&self, attr: &Attribute) -> DomainBox {
        let (mut lower, mut upper) = (self.x.to_owned(), self.x.to_owned());
        let (lo, hi) = self.model_range(attr);
        lower[attr.index] = lo;
        upper[attr.index] = hi;
        DomainBox { lower, upper }
    }

    /// D_k in model units, widened to hold the record's own input exactly (the raw round trip may round).
    fn model_range(&self, attr: &Attribute) -> (f64, f64) {
        let xk = self.x[attr.index];
        (attr.model(self.lo).min(xk), attr.model(self.hi).max(xk))
    }
}

/// A base-network mode on one record.
fn base_row(net: &Network, attr: &Attribute, line: &RecordLine, mode: &Mode, opts: &ApeOptions) -> crate::Result<ApeRow> {
    let y = opts.decision.decide(net.forward(line.x).view()).0;
    let inference_set = line.base_set(attr, y);
    let z0 = line.true_value;
    let attacker = component(&inference_set, z0).unwrap_or(Span { lo: z0, hi: z0 });
    let in_set: Vec<f64> = line.grid.iter().copied().filter(|&z| line.base_class(attr, z) == y).collect();
    let (certificate, certified) = match mode {
        Mode::Line => {
            // LINE-2: the pieces proven once per record; every grid point's radius derives from them
            let proven = ProvenLine::prove_all(net, opts.decision, line.x, attr.index, line.model_range(attr));
            let at = |u: f64| proven.radius_at(u, y, EXACT_REL_TOL).map(|r| r.scaled(attr.std));
            let grid_r: Vec<f64> = in_set.iter().map(|&z| at(attr.model(z)).map(|r| r.value())).collect::<crate::Result<_>>()?;
            (at(line.x[attr.index])?, Some(certified_set(&in_set, &grid_r, (line.lo, line.hi))))
        }
        Mode::Bound(method) => {
            let mut points: Vec<f64> = vec![z0];
            points.extend(&in_set);
            let inputs = Array2::from_shape_fn((points.len(), line.x.len()), |(i, j)| if j == attr.index { attr.model(points[i]) } else { line.x[j] });
            // the record's own input exactly (attr.model(z0) may round differently from x_k)
            let mut inputs = inputs;
            inputs.row_mut(0).assign(&line.x);
            let ids: Vec<usize> = (0..points.len()).collect();
            let certifier = BoundCertifier {
                net: net.clone(),
                method: method.clone(),
                norm: Norm::Linf,
                decision: opts.decision,
                domain: Some(line.pinned_box(attr)),
                search: opts.search.clone(),
            };
            let certs = certifier.certify(Batch { inputs: inputs.view(), row_ids: &ids }, &NoProgress)?;
            let radii: Vec<Radius> = certs.iter().map(|c| if c.answer() == Answer::Class(y) { c.radius().copied().unwrap_or(Radius::Sound(0.0)).scaled(attr.std) } else { Radius::Sound(0.0) }).collect();
            let values: Vec<f64> = radii.iter().map(|r| r.value()).collect();
            (radii[0], Some(certified_set(&in_set, &values[1..], (line.lo, line.hi))))
        }
        Mode::Milp(o) => {
            let certifier = MilpCertifier { net: net.clone(), decision: opts.decision, norm: Norm::Linf, domain: Some(line.pinned_box(attr)), options: o.clone() };
            let x = line.x.to_owned().insert_axis(ndarray::Axis(0));
            let cert = certifier.certify(Batch { inputs: x.view(), row_ids: &[line.row] }, &NoProgress)?.remove(0);
            (cert.radius().copied().unwrap_or(Radius::Sound(0.0)).scaled(attr.std), None)
        }
        Mode::ExactL2(o) => {
            let certifier = ExactCertifier { net: net.clone(), decision: opts.decision, norm: Norm::L2, domain: None, options: o.clone() };
            let x = line.x.to_owned().insert_axis(ndarray::Axis(0));
            let cert = certifier.certify(Batch { inputs: x.view(), row_ids: &[line.row] }, &NoProgress)?.remove(0);
            (cert.radius().copied().unwrap_or(Radius::Sound(0.0)).scaled(attr.std), None)
        }
        Mode::Smooth(_) => unreachable!("smoothing rows are built by smooth_rows"),
    };
    let space = if matches!(mode, Mode::ExactL2(_)) { RadiusSpace::FullL2 } else { RadiusSpace::Attribute };
    let tol = 1e-9 * (line.hi - line.lo);
    let certified_within = certified.as_ref().map(|c| subset(c, &inference_set, tol));
    Ok(ApeRow {
        row: line.row,
        mode: mode.name(),
        sigma: None,
        answer: Answer::Class(y),
        true_value: z0,
        inference_set,
        abstain_set: vec![],
        attacker,
        radius: certificate.value() / attr.std,
        radius_raw: certificate.value(),
        radius_space: space,
        certificate,
        certified_set: certified,
        certified_within,
        outside_base: None,
    })
}

/// ⋃ [z − R_z, z + R_z] ∩ D_k over grid points (points of radius 0 add themselves).
fn certified_set(points: &[f64], radii_raw: &[f64], (lo, hi): (f64, f64)) -> Vec<Span> {
    merge(points.iter().zip(radii_raw).map(|(&z, &r)| Span { lo: (z - r).max(lo), hi: (z + r).min(hi) }).collect())
}

/// Maximal runs of consecutive grid points whose answer satisfies `pred`, as [first, last] spans.
fn runs(grid: &[f64], answers: &[Answer], pred: impl Fn(Answer) -> bool) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut open: Option<Span> = None;
    for (&z, &a) in grid.iter().zip(answers) {
        match (pred(a), open.as_mut()) {
            (true, Some(s)) => s.hi = z,
            (true, None) => open = Some(Span { lo: z, hi: z }),
            (false, _) => out.extend(open.take()),
        }
    }
    out.extend(open);
    out
}

/// The smoothing mode on every record: the true value and all grid points of a record share the noise.
fn smooth_rows(net: &Network, attr: &Attribute, lines: &[RecordLine], o: &SmoothOptions, opts: &ApeOptions, progress: &dyn Progress) -> crate::Result<Vec<ApeRow>> {
    o.validate()?;
    let sampler = LineSampler::new(net, o.sigma, o.seed, opts.decision, opts.grid_noise)?;
    let certifier = SmoothingCertifier { net: net.clone(), decision: opts.decision, options: o.clone() };
    let decider = certifier.decider()?;
    let mut out = Vec::with_capacity(lines.len());
    for group in lines.chunks(16) {
        // attribute values [true value, grid…] of each record (model units); all share the record's noise
        let values: Vec<Vec<f64>> =
            group.iter().map(|l| std::iter::once(l.x[attr.index]).chain(l.grid.iter().map(|&z| attr.model(z))).collect()).collect();
        let recs: Vec<LineRecord> = group.iter().zip(&values).map(|(l, v)| LineRecord { x: l.x.view(), row: l.row as u64, values: v }).collect();
        let sel = sampler.counts(&recs, attr.index, Phase::Selection, o.n0)?;
        let est = sampler.counts(&recs, attr.index, Phase::Estimation, o.n)?;
        for (line, (sel, est)) in group.iter().zip(sel.iter().zip(&est)) {
            let decided: Vec<(Answer, f64)> = sel.iter().zip(est).map(|(s, e)| {
                let (a, r, _) = decider.decide(Some(s), e);
                (a, r)
            }).collect();
            out.push(smooth_row(attr, line, &decided, o));
        }
        progress.advance(group.len() as u64);
    }
    Ok(out)
}

fn smooth_row(attr: &Attribute, line: &RecordLine, decided: &[(Answer, f64)], o: &SmoothOptions) -> ApeRow {
    let (y, r0) = decided[0];
    let answers: Vec<Answer> = decided[1..].iter().map(|d| d.0).collect();
    let inference_set = runs(&line.grid, &answers, |a| a == y);
    let abstain_set = runs(&line.grid, &answers, |a| a == Answer::Abstain);
    let z0 = line.true_value;
    // the attacker's interval: the run(s) of y-answers next to the true value, joined through it
    let left = line.grid.iter().rposition(|&z| z <= z0);
    let right = line.grid.iter().position(|&z| z >= z0);
    let mut attacker = Span { lo: z0, hi: z0 };
    for j in [left, right].into_iter().flatten() {
        if answers[j] == y {
            if let Some(s) = component(&inference_set, line.grid[j]) {
                attacker = Span { lo: attacker.lo.min(s.lo), hi: attacker.hi.max(s.hi) };
            }
        }
    }
    let points: Vec<f64> = line.grid.iter().zip(&answers).filter(|(_, &a)| a == y).map(|(&z, _)| z).collect();
    let radii: Vec<f64> = decided[1..].iter().filter(|d| d.0 == y).map(|d| d.1 * attr.std).collect();
    let certified = match y {
        Answer::Class(_) => Some(certified_set(&points, &radii, (line.lo, line.hi))),
        Answer::Abstain => None,
    };
    // Fact 1 for an estimated I_y(g): no grid point where g answers another class lies in I_y^(R)(g)
    // (abstaining grid points are unknown, not contradictions).
    let within = certified.as_ref().map(|c| {
        line.grid.iter().zip(&answers).all(|(&z, &a)| matches!(a, Answer::Abstain) || a == y || !c.iter().any(|s| s.contains(z)))
    });
    let outside_base = match y {
        Answer::Class(c) => Some(measure_minus(&inference_set, &line.base_set(attr, c))),
        Answer::Abstain => None,
    };
    ApeRow {
        row: line.row,
        mode: "smooth",
        sigma: Some(o.sigma),
        answer: y,
        true_value: z0,
        inference_set,
        abstain_set,
        attacker,
        radius: r0,
        radius_raw: r0 * attr.std,
        radius_space: RadiusSpace::FullL2,
        certificate: match y {
            Answer::Abstain => Radius::Uncertified,
            Answer::Class(_) => Radius::Probabilistic { radius: r0 * attr.std, alpha: o.alpha },
        },
        certified_set: certified,
        certified_within: within,
        outside_base,
    }
}
