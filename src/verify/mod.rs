//! Deciding properties (VNN-LIB, VNN-COMP): is the unsafe set of a [`Property`] empty for the network?
//!
//! A [`Verifier`] answers with a [`Verdict`]: `Holds` (the unsafe set is empty: VNN-COMP `unsat`),
//! `Violated` with a counterexample (`sat`), `Unknown` or `Timeout`. What each rests on (`proofs/BAB.md`):
//! - `Holds`: every term's input box is covered by sub-boxes (input splitting) or sub-domains (ReLU
//!   splitting) on each of which the sound bound propagation proves some output constraint of the term
//!   false, with the same rigorous floating-point bounds as every certificate (BAB-1, BAB-2).
//! - `Violated`: an f64 input inside the term's box (the real box, not a rounded one) at which a rigorous
//!   interval forward pass proves every output constraint of the term, and which float32 evaluation (as
//!   onnxruntime runs the model) also puts in the unsafe set within VNN-COMP's 1e-3 output tolerance.
/// Orders a branch-and-bound sub-domain type with `margin: f64` and `seq: u64` fields so that a
/// `BinaryHeap` pops the worst margin first, then the oldest (a deterministic queue).
macro_rules! worst_first {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, o: &Self) -> bool {
                self.cmp(o) == std::cmp::Ordering::Equal
            }
        }
        impl Eq for $t {}
        impl PartialOrd for $t {
            fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(o))
            }
        }
        impl Ord for $t {
            fn cmp(&self, o: &Self) -> std::cmp::Ordering {
                o.margin.total_cmp(&self.margin).then(o.seq.cmp(&self.seq))
            }
        }
    };
}
use worst_first;

pub mod attack;
pub mod bab;
pub mod relu_bab;

use crate::net::Network;
use crate::vnnlib::{Property, Term};
use std::time::Duration;

/// The answer for one property.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The unsafe set is empty (VNN-COMP `unsat`).
    Holds,
    /// A checked point of the unsafe set (VNN-COMP `sat`).
    Violated(Counterexample),
    /// Neither could be shown (the reason says why: e.g. the domain cap).
    Unknown(String),
    /// The time budget ran out first.
    Timeout,
}

impl Verdict {
    /// The VNN-COMP result word: unsat, sat, unknown, timeout.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Holds => "unsat",
            Verdict::Violated(_) => "sat",
            Verdict::Unknown(_) => "unknown",
            Verdict::Timeout => "timeout",
        }
    }
}

/// A point of the unsafe set, checked (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Counterexample {
    /// The index of the property's term it satisfies.
    pub term: usize,
    pub input: Vec<f64>,
    /// The f64 forward pass at `input`.
    pub output: Vec<f64>,
}

/// A verdict with what it took.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub verdict: Verdict,
    /// Sub-domains whose bounds were computed.
    pub domains: u64,
    pub seconds: f64,
    /// Where a search stopped undecided (time-out, domain cap): how much was left open.
    pub open: Option<Open>,
}

/// The open part of a stopped branch and bound.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Open {
    /// Sub-domains left unproven.
    pub domains: usize,
    /// The worst of their margins max_j (lower bound_j − d_j) (< 0; a margin > 0 would prove one).
    pub worst_margin: f64,
}

/// Limits of one verification.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    pub time: Duration,
    /// Most sub-domains alive at once (beyond it: `Unknown("memory")`).
    pub max_domains: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { time: Duration::from_secs(60), max_domains: 2_000_000 }
    }
}

/// A complete verification method.
pub trait Verifier: Send + Sync {
    fn name(&self) -> &'static str;
    /// Decides `property` for `net` within `budget`.
    fn verify(&self, net: &Network, property: &Property, budget: &Budget) -> crate::Result<Outcome>;
}

/// VNN-COMP's output tolerance when a counterexample is checked with onnxruntime (float32).
pub const FLOAT32_OUTPUT_TOLERANCE: f64 = 1e-3;

/// Whether `x` is a checked counterexample of `term`: inside the term's real box, every output
/// constraint proven by a rigorous interval forward pass, and met by a float32 evaluation to within
/// [`FLOAT32_OUTPUT_TOLERANCE`]. Returns the f64 outputs when it is.
pub fn check_counterexample(net: &Network, term: &Term, x: &[f64]) -> Option<Vec<f64>> {
    let (lo, hi) = term.inner_box();
    if x.iter().zip(&lo).zip(&hi).any(|((v, l), h)| !(l <= v && v <= h)) {
        return None;
    }
    let xv = ndarray::ArrayView1::from(x);
    let enc = crate::bound::point_enclosure(net, xv);
    for c in &term.constraints {
        if !(upper_dot(&c.coef, &enc.lower.to_vec(), &enc.upper.to_vec()) <= c.bound.lo) {
            return None;
        }
    }
    let y32 = forward_f32(net, x);
    for c in &term.constraints {
        let v: f64 = c.coef.iter().zip(&y32).map(|(a, y)| a * *y as f64).sum();
        if !(v <= c.bound.hi + FLOAT32_OUTPUT_TOLERANCE) {
            return None;
        }
    }
    Some(net.forward(xv).to_vec())
}

/// The first of `points` (term, input), in order, that is a checked counterexample; one batched
/// forward pass screens them (a point counts only after `check_counterexample`).
pub(crate) fn first_counterexample(net: &Network, property: &Property, points: &[(usize, ndarray::Array1<f64>)]) -> Option<Counterexample> {
    if points.is_empty() {
        return None;
    }
    let d = points[0].1.len();
    let xs = ndarray::Array2::from_shape_fn((points.len(), d), |(r, i)| points[r].1[i]);
    let ys = net.forward_batch(xs.view());
    for ((t, x), y) in points.iter().zip(ys.rows()) {
        let term = &property.terms[*t];
        if term.constraints.iter().all(|c| c.coef.iter().zip(y.iter()).map(|(a, v)| a * v).sum::<f64>() <= c.bound.lo) {
            if let Some(out) = check_counterexample(net, term, x.as_slice().expect("contiguous")) {
                return Some(Counterexample { term: *t, input: x.to_vec(), output: out });
            }
        }
    }
    None
}

/// An upper bound of Σ aⱼ·yⱼ over yⱼ ∈ [lo_j, hi_j]: each product and partial sum rounded up.
pub(crate) fn upper_dot(a: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    use crate::rigor::up;
    a.iter().zip(lo.iter().zip(hi)).fold(0.0, |s, (&aj, (&l, &h))| {
        let term = if aj > 0.0 {
            up(aj * h)
        } else if aj < 0.0 {
            up(aj * l)
        } else {
            0.0
        };
        if term.is_nan() { f64::INFINITY } else { up(s + term) }
    })
}

/// The network evaluated in float32, layer by layer in order, as onnxruntime would (its summation
/// order may differ; VNN-COMP's tolerance covers that).
pub fn forward_f32(net: &Network, x: &[f64]) -> Vec<f32> {
    use crate::net::Layer;
    let mut h: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    for layer in &net.layers {
        h = match layer {
            Layer::Affine(a) => (0..a.out_dim())
                .map(|o| {
                    let w = a.weight.row(o);
                    w.iter().zip(&h).fold(a.bias[o] as f32, |s, (&wv, &hv)| s + wv as f32 * hv)
                })
                .collect(),
            Layer::Elementwise(e) => h
                .iter()
                .enumerate()
                .map(|(j, &v)| {
                    let c = e.value[j] as f32;
                    match e.op {
                        crate::net::ElemOp::Add => v + c,
                        crate::net::ElemOp::Sub => v - c,
                        crate::net::ElemOp::SubFrom => c - v,
                        crate::net::ElemOp::Mul => v * c,
                        crate::net::ElemOp::Div => v / c,
                        crate::net::ElemOp::DivSqrt => v / c.sqrt(),
                    }
                })
                .collect(),
            Layer::Relu => h.iter().map(|v| v.max(0.0)).collect(),
            Layer::Reshape { .. } => h,
        };
    }
    h
}

/// The VNN-COMP result text: `unsat`, `timeout`, `unknown`, or `sat` followed by
/// `((X_0 v) … (Y_0 v) …)`.
pub fn result_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Violated(c) => {
            let mut s = String::from("sat\n(");
            for (i, v) in c.input.iter().enumerate() {
                s.push_str(&format!("(X_{i} {v:e})\n"));
            }
            for (j, v) in c.output.iter().enumerate() {
                s.push_str(&format!("(Y_{j} {v:e})\n"));
            }
            s.push(')');
            s
        }
        v => v.word().to_string(),
    }
}

/// How the branch and bound splits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum SplitKind {
    /// Input splitting for at most [`AUTO_INPUT_SPLIT_DIMS`] inputs (ACAS Xu: 5), ReLU splitting beyond.
    #[default]
    Auto,
    /// Split input boxes (BAB-1): complete for low-dimensional inputs.
    Input,
    /// Split unstable ReLUs with β-CROWN bounds (BAB-3): for wide inputs (MNIST-FC: 784).
    Relu,
}

/// The most inputs for which `SplitKind::Auto` splits the input.
pub const AUTO_INPUT_SPLIT_DIMS: usize = 16;

/// The verifier `SplitKind::Auto` would pick (or the one named): input or ReLU splitting.
pub struct Dispatch {
    pub kind: SplitKind,
    pub input: bab::InputSplitBab,
    pub relu: relu_bab::ReluSplitBab,
}

impl Dispatch {
    /// The verifier used for `net`.
    pub fn pick(&self, net: &Network) -> &dyn Verifier {
        match self.kind {
            SplitKind::Input => &self.input,
            SplitKind::Relu => &self.relu,
            SplitKind::Auto if net.input_dim() <= AUTO_INPUT_SPLIT_DIMS => &self.input,
            SplitKind::Auto => &self.relu,
        }
    }
}

impl Verifier for Dispatch {
    fn name(&self) -> &'static str {
        "auto"
    }

    fn verify(&self, net: &Network, property: &Property, budget: &Budget) -> crate::Result<Outcome> {
        self.pick(net).verify(net, property, budget)
    }
}
