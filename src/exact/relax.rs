//! The convex relaxation of one sub-domain's minimal-distortion problem, solved by Clarabel: the
//! triangle hull of every unstable ReLU, the boxes, the margin, and the norm (ℓ2 as a second-order
//! cone, ℓ∞ and ℓ1 linearly). Its answers are *not* trusted: the multipliers go to
//! [`super::dual::lower_bound`], which proves a bound from them, and the point to the rigorous forward
//! pass, which proves a witness from it.
use super::dual::{blocks, Boxes, Flip, Multipliers};
use crate::net::{Layer, Network};
use crate::spec::Norm;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT};
use ndarray::Array1;

/// The solver tolerances of every sub-domain's relaxation.
pub const ACCURACY: f64 = 1e-10;
/// The tolerances of a leaf's second solve.
pub const FINE_ACCURACY: f64 = 1e-13;

/// How a relaxation's solve ended (nothing of it is trusted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Optimal (or nearly so): its multipliers usually prove a tight bound.
    Solved,
    /// Infeasible: its multipliers are the solver's certificate, if it had one.
    Infeasible,
    /// Anything else (iteration limit, numerical trouble).
    Failed,
}

/// What a solve gives back.
#[derive(Clone, Debug)]
pub struct Relaxed {
    pub status: Status,
    /// The optimum's input point (or the last iterate).
    pub x: Vec<f64>,
    /// The equalities' and the margin's multipliers (a certificate of infeasibility when infeasible).
    pub multipliers: Multipliers,
    /// Per ReLU layer i, the optimum's pre-activations and post-activations.
    pub pre: Vec<Option<Vec<f64>>>,
    pub post: Vec<Option<Vec<f64>>>,
    /// The solver's primal objective (not a proof of anything).
    pub objective: f64,
    /// The optimal basis (the simplex's, for warm starts), when there is one.
    pub basis: Option<super::lp::Basis>,
}

/// The multipliers with every sign flipped (a certificate read with the other sign convention).
pub fn negated(m: &Multipliers) -> Multipliers {
    Multipliers { layers: m.layers.iter().map(|l| l.as_ref().map(|v| v.mapv(|x| -x))).collect(), margin: -m.margin, input_box: m.input_box.as_ref().map(|b| b.iter().map(|x| -x).collect()) }
}

/// Rows of one cone kind: (column, value) entries and the right-hand side, in A·v + s = b form.
#[derive(Default)]
struct Rows {
    entries: Vec<Vec<(usize, f64)>>,
    rhs: Vec<f64>,
}

impl Rows {
    fn push(&mut self, row: Vec<(usize, f64)>, b: f64) -> usize {
        self.entries.push(row);
        self.rhs.push(b);
        self.entries.len() - 1
    }
}

/// Solves the relaxation of the sub-domain with `boxes` (split-clamped) for `flip`. With `slack` > 0 the
/// problem is shrunk: the margin must be ≤ −slack and every fixed neuron's input at least `slack` from
/// 0 (each scaled by 1 + the boundary's magnitude), so that its optimum lies strictly inside — a point a
/// rigorous forward pass can confirm. `accuracy`: Clarabel's gap and feasibility tolerances
/// ([`ACCURACY`] for every sub-domain, [`FINE_ACCURACY`] where that leaves a leaf's ends apart: the
/// proven bound loses about the dual residual times the boxes' magnitudes).
pub fn solve(net: &Network, x0: &[f64], boxes: &Boxes, flip: Flip, norm: Norm, slack: f64, accuracy: f64) -> Relaxed {
    let block = blocks(net).expect("checked when the engine was built");
    let d = x0.len();
    // column offsets: one run of columns per block, then the norm's auxiliaries
    let mut offset = vec![usize::MAX; block.iter().max().map_or(1, |b| b + 1)];
    let mut n = 0;
    for (b, &k) in block.iter().enumerate() {
        if offset[k] == usize::MAX {
            offset[k] = n;
            n += boxes.lower[b].len();
        }
    }
    let col = |b: usize, j: usize| offset[block[b]] + j;
    let aux = n;
    n += match norm {
        Norm::L2 | Norm::Linf => 1,
        Norm::L1 => d,
    };
    let (mut eq, mut ineq) = (Rows::default(), Rows::default());
    let mut eq_of_layer: Vec<Option<usize>> = vec![None; net.layers.len()]; // first equality row
    for (i, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Affine(a) => {
                eq_of_layer[i] = Some(eq.entries.len());
                for j in 0..a.out_dim() {
                    let mut row = vec![(col(i + 1, j), 1.0)];
                    row.extend(a.weight.row(j).iter().enumerate().filter(|(_, w)| **w != 0.0).map(|(k, w)| (col(i, k), -w)));
                    eq.push(row, a.bias[j]);
                }
            }
            Layer::Elementwise(e) => {
                eq_of_layer[i] = Some(eq.entries.len());
                let (scale, shift) = e.as_scale_shift();
                for j in 0..e.dim() {
                    eq.push(vec![(col(i + 1, j), 1.0), (col(i, j), -scale[j])], shift[j]);
                }
            }
            Layer::Relu => {
                let scale = 1.0 + boxes.lower[i].iter().chain(boxes.upper[i].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
                for j in 0..boxes.lower[i].len() {
                    let (l, u) = (boxes.lower[i][j], boxes.upper[i][j]);
                    let (p, q) = (col(i, j), col(i + 1, j));
                    if l >= 0.0 {
                        ineq.push(vec![(q, 1.0), (p, -1.0)], 0.0);
                        ineq.push(vec![(q, -1.0), (p, 1.0)], 0.0);
                        if slack > 0.0 {
                            ineq.push(vec![(p, -1.0)], -slack * scale);
                        }
                    } else if u <= 0.0 {
                        ineq.push(vec![(q, 1.0)], 0.0);
                        ineq.push(vec![(q, -1.0)], 0.0);
                        if slack > 0.0 {
                            ineq.push(vec![(p, 1.0)], -slack * scale);
                        }
                    } else {
                        let s = u / (u - l);
                        ineq.push(vec![(q, -1.0)], 0.0);
                        ineq.push(vec![(p, 1.0), (q, -1.0)], 0.0);
                        ineq.push(vec![(q, 1.0), (p, -s)], -s * l);
                    }
                }
            }
            Layer::Reshape { .. } => {}
        }
    }
    // boxes (a block's box: the first of its boundaries; they are equal for reshapes' outputs); the
    // input's rows are remembered (their multipliers split the input's coefficients). Rows the ReLU
    // rows imply are left out (the same feasible set, a smaller problem): a ReLU's outputs (its
    // inputs' box and the graph rows bound them), and an unstable neuron's input (y ≥ 0 and the
    // triangle's upper side give z ≥ l; y ≥ z and the upper side give z ≤ u)
    let mut seen = vec![false; offset.len()];
    let mut input_rows = vec![(None, None); d];
    let mut relu_in = vec![None; offset.len()];
    for (i, layer) in net.layers.iter().enumerate() {
        if let Layer::Relu = layer {
            relu_in[block[i]] = Some(i);
            seen[block[i + 1]] = true;
        }
    }
    for (b, &k) in block.iter().enumerate() {
        if std::mem::replace(&mut seen[k], true) {
            continue;
        }
        for j in 0..boxes.lower[b].len() {
            let (l, u) = (boxes.lower[b][j], boxes.upper[b][j]);
            if relu_in[k].is_some_and(|i| boxes.lower[i][j] < 0.0 && boxes.upper[i][j] > 0.0) {
                continue;
            }
            let hi = u.is_finite().then(|| ineq.push(vec![(col(b, j), 1.0)], u));
            let lo = l.is_finite().then(|| ineq.push(vec![(col(b, j), -1.0)], -l));
            if k == 0 {
                input_rows[j] = (hi, lo);
            }
        }
    }
    let last = net.layers.len();
    let out_scale = 1.0 + boxes.lower[last].iter().chain(boxes.upper[last].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
    let margin_row = ineq.push(vec![(col(last, flip.j), -flip.sign), (col(last, flip.c), flip.sign)], -slack * out_scale);
    // the norm, and the ball ‖x − x₀‖ ≤ boxes.ball (ℓ2: a second cone (ball, x − x₀))
    let mut soc = Rows::default();
    let mut q = vec![0.0; n];
    let ball = boxes.ball.is_finite();
    match norm {
        Norm::L2 => {
            q[aux] = 1.0;
            soc.push(vec![(aux, -1.0)], 0.0);
            for i in 0..d {
                soc.push(vec![(col(0, i), -1.0)], -x0[i]);
            }
            if ball {
                soc.push(vec![], boxes.ball);
                for i in 0..d {
                    soc.push(vec![(col(0, i), -1.0)], -x0[i]);
                }
            }
        }
        Norm::Linf => {
            q[aux] = 1.0;
            for i in 0..d {
                ineq.push(vec![(col(0, i), 1.0), (aux, -1.0)], x0[i]);
                ineq.push(vec![(col(0, i), -1.0), (aux, -1.0)], -x0[i]);
            }
        }
        Norm::L1 => {
            for i in 0..d {
                q[aux + i] = 1.0;
                ineq.push(vec![(col(0, i), 1.0), (aux + i, -1.0)], x0[i]);
                ineq.push(vec![(col(0, i), -1.0), (aux + i, -1.0)], -x0[i]);
            }
            if ball {
                ineq.push((0..d).map(|i| (aux + i, 1.0)).collect(), boxes.ball);
            }
        }
    }
    let (m_eq, m_in, m_soc) = (eq.entries.len(), ineq.entries.len(), soc.entries.len());
    let (mut ii, mut jj, mut vv, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (r, row) in eq.entries.iter().chain(&ineq.entries).chain(&soc.entries).enumerate() {
        for &(c, v) in row {
            ii.push(r);
            jj.push(c);
            vv.push(v);
        }
    }
    b.extend(eq.rhs.iter().chain(&ineq.rhs).chain(&soc.rhs));
    let m = m_eq + m_in + m_soc;
    let a = CscMatrix::new_from_triplets(m, n, ii, jj, vv);
    let p = CscMatrix::zeros((n, n));
    let mut cones = Vec::new();
    if m_eq > 0 {
        cones.push(SupportedConeT::ZeroConeT(m_eq));
    }
    cones.push(SupportedConeT::NonnegativeConeT(m_in));
    if m_soc > 0 {
        // one cone for the norm, one for the ball
        let k = d + 1;
        for _ in 0..m_soc / k {
            cones.push(SupportedConeT::SecondOrderConeT(k));
        }
    }
    let settings = DefaultSettingsBuilder::default().verbose(false).max_threads(1).tol_gap_abs(accuracy).tol_gap_rel(accuracy).tol_feas(accuracy).build().expect("valid settings");
    let status;
    let (xs, zs, objective);
    match DefaultSolver::new(&p, &q, &a, &b, &cones, settings) {
        Ok(mut solver) => {
            solver.solve();
            status = match solver.solution.status {
                SolverStatus::Solved | SolverStatus::AlmostSolved => Status::Solved,
                SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => Status::Infeasible,
                _ => Status::Failed,
            };
            xs = solver.solution.x.clone();
            zs = solver.solution.z.clone();
            objective = solver.solution.obj_val;
        }
        Err(_) => {
            status = Status::Failed;
            xs = vec![0.0; n];
            zs = vec![0.0; m];
            objective = f64::NAN;
        }
    }
    let layers = eq_of_layer
        .iter()
        .enumerate()
        .map(|(i, first)| first.map(|r| Array1::from_iter((0..boxes.lower[i + 1].len()).map(|j| zs[r + j]))))
        .collect();
    let z_in = |r: Option<usize>| r.map_or(0.0, |r| zs[m_eq + r]);
    let input_box = Some(input_rows.iter().map(|&(hi, lo)| z_in(hi) - z_in(lo)).collect());
    let multipliers = Multipliers { layers, margin: zs[m_eq + margin_row], input_box };
    let pre = net.layers.iter().enumerate().map(|(i, layer)| matches!(layer, Layer::Relu).then(|| (0..boxes.lower[i].len()).map(|j| xs[col(i, j)]).collect())).collect();
    let post = net.layers.iter().enumerate().map(|(i, layer)| matches!(layer, Layer::Relu).then(|| (0..boxes.lower[i].len()).map(|j| xs[col(i + 1, j)]).collect())).collect();
    Relaxed { status, x: (0..d).map(|i| xs[col(0, i)]).collect(), multipliers, pre, post, objective, basis: None }
}
