//! The big-M MILP encoding of a ReLU network around x₀ (MILP-1 in `proofs/EXACT.md`): exact for every
//! input whose pre-activations lie within the given sound bounds.
use crate::bound::BoxBatch;
use crate::net::{Layer, Network};
use crate::spec::{DomainBox, Norm};
use highs::{Col, RowProblem};
use ndarray::ArrayView1;

/// A linear expression Σ coef·col + constant over MILP columns.
#[derive(Clone, Debug, Default)]
pub(crate) struct Expr {
    pub terms: Vec<(Col, f64)>,
    pub constant: f64,
}

/// The encoded network: input columns, the distortion column (or ℓ1 slacks), and the logits.
#[derive(Clone, Debug)]
pub(crate) struct Encoding {
    pub problem: RowProblem,
    pub x: Vec<Col>,
    /// ℓ∞/ℓ2: t ≥ ‖δ‖ (ℓ2 by cuts); ℓ1: the sum of the slacks is the distortion.
    pub distortion: Vec<Col>,
    pub logits: Vec<Expr>,
}

/// How the distortion enters the objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Goal {
    /// Minimize ‖x − x₀‖ (ℓ2 through tangent cuts added by the caller).
    MinDistortion,
    /// No distortion term: the caller sets an objective on the logits.
    Feasibility,
}

/// Encodes `net` with x in box(x₀, radius) ∩ domain. `boxes[b]` are sound bounds of boundary b valid for
/// every input that matters (the norm ball of `radius`): for such inputs the encoding is exact.
pub(crate) fn encode(
    net: &Network,
    x0: ArrayView1<f64>,
    radius: f64,
    norm: Norm,
    domain: Option<&DomainBox>,
    boxes: &[BoxBatch],
    goal: Goal,
) -> Encoding {
    let mut pb = RowProblem::default();
    let d = x0.len();
    let x: Vec<Col> = (0..d)
        .map(|i| {
            let (mut lo, mut hi) = (x0[i] - radius, x0[i] + radius);
            if let Some(b) = domain {
                lo = lo.max(b.lower[i]);
                hi = hi.min(b.upper[i]);
            }
            pb.add_column(0.0, lo..=hi)
        })
        .collect();
    let cost = if goal == Goal::MinDistortion { 1.0 } else { 0.0 };
    let distortion = match norm {
        Norm::Linf | Norm::L2 => {
            let t = pb.add_column(cost, 0.0..=radius * if norm == Norm::L2 { (d as f64).sqrt() } else { 1.0 });
            for (i, &xi) in x.iter().enumerate() {
                // |x_i − x0_i| ≤ t (for ℓ2 the first cuts of t ≥ ‖δ‖₂, since ‖δ‖₂ ≥ ‖δ‖∞)
                pb.add_row(..=x0[i], [(xi, 1.0), (t, -1.0)]);
                pb.add_row(x0[i].., [(xi, 1.0), (t, 1.0)]);
            }
            if norm == Norm::L2 && d > 1 {
                // and ‖δ‖₂ ≥ ‖δ‖₁/√d: √d·t ≥ Σ s_i with s_i ≥ |x_i − x0_i|
                let mut row = vec![(t, (d as f64).sqrt())];
                for (i, &xi) in x.iter().enumerate() {
                    let s = pb.add_column(0.0, 0.0..=radius);
                    pb.add_row(..=x0[i], [(xi, 1.0), (s, -1.0)]);
                    pb.add_row(x0[i].., [(xi, 1.0), (s, 1.0)]);
                    row.push((s, -1.0));
                }
                pb.add_row(0.0.., row);
            }
            vec![t]
        }
        Norm::L1 => x
            .iter()
            .enumerate()
            .map(|(i, &xi)| {
                let s = pb.add_column(cost, 0.0..=radius);
                pb.add_row(..=x0[i], [(xi, 1.0), (s, -1.0)]);
                pb.add_row(x0[i].., [(xi, 1.0), (s, 1.0)]);
                s
            })
            .collect(),
    };
    let mut h: Vec<Expr> = x.iter().map(|&c| Expr { terms: vec![(c, 1.0)], constant: 0.0 }).collect();
    for (i, layer) in net.layers.iter().enumerate() {
        h = match layer {
            Layer::Affine(a) => (0..a.out_dim())
                .map(|j| {
                    let (lo, hi) = (boxes[i + 1].lower[[0, j]], boxes[i + 1].upper[[0, j]]);
                    let z = pb.add_column(0.0, lo..=hi);
                    // z − Σ W_jk h_k = b_j + Σ W_jk·const_k
                    let mut row = vec![(z, 1.0)];
                    let mut rhs = a.bias[j];
                    for (k, e) in h.iter().enumerate() {
                        let w = a.weight[[j, k]];
                        if w == 0.0 {
                            continue;
                        }
                        rhs += w * e.constant;
                        row.extend(e.terms.iter().map(|&(c, v)| (c, -w * v)));
                    }
                    pb.add_row(rhs..=rhs, row);
                    Expr { terms: vec![(z, 1.0)], constant: 0.0 }
                })
                .collect(),
            Layer::Relu => h
                .into_iter()
                .enumerate()
                .map(|(j, z)| {
                    let (l, u) = (boxes[i].lower[[0, j]], boxes[i].upper[[0, j]]);
                    if l >= 0.0 {
                        z
                    } else if u <= 0.0 {
                        Expr::default()
                    } else {
                        // y ≥ 0, y ≥ z, y ≤ u·a, y ≤ z − l·(1 − a), a ∈ {0, 1}
                        let y = pb.add_column(0.0, 0.0..=u);
                        let a = pb.add_integer_column(0.0, 0.0..=1.0);
                        let with = |extra: Vec<(Col, f64)>, sign: f64| {
                            let mut r = extra;
                            r.extend(z.terms.iter().map(|&(c, v)| (c, sign * v)));
                            r
                        };
                        pb.add_row(z.constant.., with(vec![(y, 1.0)], -1.0));
                        pb.add_row(..=0.0, [(y, 1.0), (a, -u)]);
                        pb.add_row(..=(-l + z.constant), with(vec![(y, 1.0), (a, -l)], -1.0));
                        Expr { terms: vec![(y, 1.0)], constant: 0.0 }
                    }
                })
                .collect(),
            // the solver's model of an exact elementwise map (a division's 1/v rounds; nothing here is
            // a proof: every answer is re-proven, EXACT-0)
            Layer::Elementwise(e) => {
                let (scale, shift) = e.as_scale_shift();
                h.into_iter()
                    .enumerate()
                    .map(|(j, ex)| Expr { terms: ex.terms.iter().map(|&(c, v)| (c, v * scale[j])).collect(), constant: ex.constant * scale[j] + shift[j] })
                    .collect()
            }
            Layer::Reshape { .. } => h,
        };
    }
    Encoding { problem: pb, x, distortion, logits: h }
}

impl Encoding {
    /// Adds sign·(logit_j − logit_c) ≥ 0: the answer can be j instead of c.
    pub fn add_class_flip(&mut self, c: usize, j: usize, sign: f64) {
        let (ec, ej) = (&self.logits[c], &self.logits[j]);
        let mut row: Vec<(Col, f64)> = ej.terms.iter().map(|&(col, v)| (col, sign * v)).collect();
        row.extend(ec.terms.iter().map(|&(col, v)| (col, -sign * v)));
        let rhs = -sign * (ej.constant - ec.constant);
        self.problem.add_row(rhs.., row);
    }

    /// Adds "some class in `others` beats c": binaries s_j with Σ s_j = 1 and
    /// sign·(logit_j − logit_c) ≥ −M_j·(1 − s_j), where M_j ≥ max sign·(logit_c − logit_j) over the box
    /// `logits` of the outputs (so an unselected row is slack).
    pub fn add_class_selector(&mut self, c: usize, others: &[usize], sign: f64, logits: &BoxBatch) {
        let mut pick = Vec::new();
        for &j in others {
            let m = if sign > 0.0 { logits.upper[[0, c]] - logits.lower[[0, j]] } else { logits.upper[[0, j]] - logits.lower[[0, c]] };
            let m = m.max(0.0);
            let s = self.problem.add_integer_column(0.0, 0.0..=1.0);
            let (ec, ej) = (&self.logits[c], &self.logits[j]);
            let mut row: Vec<(Col, f64)> = ej.terms.iter().map(|&(col, v)| (col, sign * v)).collect();
            row.extend(ec.terms.iter().map(|&(col, v)| (col, -sign * v)));
            row.push((s, -m));
            let rhs = -m - sign * (ej.constant - ec.constant);
            self.problem.add_row(rhs.., row);
            pick.push((s, 1.0));
        }
        self.problem.add_row(1.0..=1.0, pick);
    }

    /// Adds the tangent cut t ≥ g·(x − x₀) of ‖δ‖₂ at direction g (‖g‖₂ = 1).
    pub fn add_l2_cut(&mut self, x0: ArrayView1<f64>, g: &[f64]) {
        let t = self.distortion[0];
        let mut row = vec![(t, 1.0)];
        row.extend(self.x.iter().zip(g).map(|(&c, &gi)| (c, -gi)));
        let rhs = -g.iter().zip(x0.iter()).map(|(a, b)| a * b).sum::<f64>();
        self.problem.add_row(rhs.., row);
    }

    /// Adds g·(x − x₀) ≤ radius: an outer cut of the ℓ2 ball (feasibility mode).
    pub fn add_l2_ball_cut(&mut self, x0: ArrayView1<f64>, g: &[f64], radius: f64) {
        let row: Vec<(Col, f64)> = self.x.iter().zip(g).map(|(&c, &gi)| (c, gi)).collect();
        let rhs = radius + g.iter().zip(x0.iter()).map(|(a, b)| a * b).sum::<f64>();
        self.problem.add_row(..=rhs, row);
    }

    /// Adds Σ slacks ≤ radius (ℓ1 ball; feasibility mode).
    pub fn add_l1_ball(&mut self, radius: f64) {
        let row: Vec<(Col, f64)> = self.distortion.iter().map(|&s| (s, 1.0)).collect();
        self.problem.add_row(..=radius, row);
    }

    /// Adds distortion ≥ floor, for a floor proven by a sound certifier (no counterexample is closer):
    /// a valid cut that gives HiGHS's dual bound a head start.
    pub fn add_distortion_floor(&mut self, floor: f64) {
        let row: Vec<(Col, f64)> = self.distortion.iter().map(|&c| (c, 1.0)).collect();
        self.problem.add_row(floor.., row);
    }

    /// Sets the objective to sign·(logit_j − logit_c) (to be maximized).
    pub fn set_margin_objective(&mut self, c: usize, j: usize, sign: f64) {
        for &(col, v) in &self.logits[j].terms {
            self.problem.change_column_cost(col, sign * v);
        }
        for &(col, v) in &self.logits[c].terms {
            self.problem.change_column_cost(col, -sign * v);
        }
    }
}
