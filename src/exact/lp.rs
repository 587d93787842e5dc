//! The relaxation of one sub-domain as a linear program in HiGHS (ℓ∞ and ℓ1), warm-started from its
//! parent's optimal basis: the same problem as [`super::relax`] (triangle hulls, boxes, the flip, the
//! norm), with a structure that is the same for every sub-domain of a row — the boxes are column
//! bounds, each ReLU neuron has the rows y − z ≥ 0 and y − κz ≤ ρ (κ, ρ: the triangle's upper side
//! when unstable, y ≤ z when active, y ≤ 0 when inactive) — so HiGHS keeps the problem and receives
//! each sub-domain as changes of bounds and coefficients, a parent's basis is a valid start for its
//! children, and the dual simplex reaches their optimum in a few pivots (as MIP solvers' node LPs
//! do). Measured on the demo MLP (ℓ∞, row 8): ~10 pivots and ~0.5 ms a sub-domain, against ~2.5 ms for
//! the interior-point solve. Its answers are *not* trusted: the multipliers go to
//! [`super::dual::lower_bound`] and the point to the rigorous forward pass, exactly as the
//! interior-point relaxation's.
use super::dual::{blocks, Boxes, Flip, Multipliers};
use super::relax::{Relaxed, Status};
use crate::net::{Layer, Network};
use crate::spec::Norm;
use highs_sys::*;
use ndarray::Array1;
use std::ffi::CString;
use std::os::raw::c_void;

/// An optimal basis: HiGHS's status of every column and row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Basis {
    cols: Vec<HighsInt>,
    rows: Vec<HighsInt>,
}

/// One HiGHS instance (quiet, one thread, dual simplex without presolve, Devex pricing, primal
/// feasibility 10⁻¹⁰ and dual 10⁻⁹), reused for
/// every sub-domain of a row.
pub struct LpSolver {
    highs: *mut c_void,
    /// The problem HiGHS holds now (the next one is passed as its changes: bounds and coefficients, so
    /// HiGHS keeps its basis and starts from it).
    loaded: Option<Lp>,
}

impl Drop for LpSolver {
    fn drop(&mut self) {
        // SAFETY: created by Highs_create in `new`, destroyed once here
        unsafe { Highs_destroy(self.highs) }
    }
}

impl Default for LpSolver {
    fn default() -> Self {
        Self::new()
    }
}

impl LpSolver {
    pub fn new() -> Self {
        // SAFETY: a fresh instance; the option names and values are valid C strings of HiGHS's options
        unsafe {
            let highs = Highs_create();
            let set_str = |k: &str, v: &str| {
                let (k, v) = (CString::new(k).expect("no NUL"), CString::new(v).expect("no NUL"));
                Highs_setStringOptionValue(highs, k.as_ptr(), v.as_ptr());
            };
            let set_f = |k: &str, v: f64| {
                let k = CString::new(k).expect("no NUL");
                Highs_setDoubleOptionValue(highs, k.as_ptr(), v);
            };
            let k = CString::new("output_flag").expect("no NUL");
            Highs_setBoolOptionValue(highs, k.as_ptr(), 0);
            let k = CString::new("threads").expect("no NUL");
            Highs_setIntOptionValue(highs, k.as_ptr(), 1);
            set_str("presolve", "off");
            set_str("solver", "simplex");
            set_f("primal_feasibility_tolerance", 1e-10);
            set_f("dual_feasibility_tolerance", 1e-9);
            let set_i = |k: &str, v: HighsInt| {
                let k = CString::new(k).expect("no NUL");
                Highs_setIntOptionValue(highs, k.as_ptr(), v);
            };
            // Devex pricing: steepest-edge weights would be recomputed from scratch for every new basis
            set_i("simplex_dual_edge_weight_strategy", 1);
            set_i("simplex_scale_strategy", 0);
            LpSolver { highs, loaded: None }
        }
    }

    /// Solves the relaxation of the sub-domain with `boxes` (split-clamped) for `flip`, from `warm`
    /// when given (a basis of the same row's problem); `slack` > 0 shrinks it as [`super::relax::solve`]
    /// does. Returns the answer (with its optimal basis, when optimal).
    #[allow(clippy::too_many_arguments)]
    pub fn solve(&mut self, net: &Network, x0: &[f64], boxes: &Boxes, flip: Flip, norm: Norm, slack: f64, warm: Option<&Basis>) -> Relaxed {
        let lp = Lp::build(net, x0, boxes, flip, norm, slack);
        if norm == Norm::L2 {
            return lp.failed(net, boxes, Status::Failed);
        }
        let (nc, nr) = (lp.cost.len(), lp.row_lo.len());
        // SAFETY: every array has the length HiGHS reads, and the instance is owned by self
        let loaded = unsafe { self.load(&lp) };
        if !loaded {
            return lp.failed(net, boxes, Status::Failed);
        }
        let (mut col_value, mut col_dual, mut row_value, mut row_dual) = (vec![0.0; nc], vec![0.0; nc], vec![0.0; nr], vec![0.0; nr]);
        let (status, objective, basis);
        // SAFETY: every array has the length HiGHS reads (num_col, num_row, num_nz; the row-wise
        // matrix's starts has num_row entries), and the instance is owned by self
        unsafe {
            let h = self.highs;
            if let Some(b) = warm.filter(|b| b.cols.len() == nc && b.rows.len() == nr) {
                Highs_setBasis(h, b.cols.as_ptr(), b.rows.as_ptr());
            }
            Highs_run(h);
            let model_status = Highs_getModelStatus(h);
            if model_status == kHighsModelStatusOptimal {
                Highs_getSolution(h, col_value.as_mut_ptr(), col_dual.as_mut_ptr(), row_value.as_mut_ptr(), row_dual.as_mut_ptr());
                let (mut cols, mut rows) = (vec![0; nc], vec![0; nr]);
                Highs_getBasis(h, cols.as_mut_ptr(), rows.as_mut_ptr());
                basis = Some(Basis { cols, rows });
                objective = Highs_getObjectiveValue(h);
                status = Status::Solved;
            } else if model_status == kHighsModelStatusInfeasible {
                // a Farkas certificate, when HiGHS has one: the row multipliers of the dual ray
                let mut has: HighsInt = 0;
                Highs_getDualRay(h, &mut has, row_dual.as_mut_ptr());
                if has == 0 {
                    row_dual.iter_mut().for_each(|v| *v = 0.0);
                }
                basis = None;
                objective = f64::INFINITY;
                status = Status::Infeasible;
            } else {
                return lp.failed(net, boxes, Status::Failed);
            }
        }
        lp.answer(net, boxes, status, &col_value, &col_dual, &row_dual, objective, basis)
    }
}

impl LpSolver {
    /// Gives HiGHS the problem `lp`: as changes to the one it holds when their shapes agree, else
    /// whole. False when HiGHS refused it.
    ///
    /// # Safety
    /// `self.highs` is a live instance (it is, from `new` until `drop`).
    unsafe fn load(&mut self, lp: &Lp) -> bool {
        let h = self.highs;
        let (nc, nr) = (lp.cost.len(), lp.row_lo.len());
        let same_shape = self.loaded.as_ref().is_some_and(|old| old.cost == lp.cost && old.row_lo.len() == nr);
        if same_shape {
            let old = self.loaded.as_ref().expect("checked");
            let mut ok = true;
            if old.col_lo != lp.col_lo || old.col_hi != lp.col_hi {
                ok &= Highs_changeColsBoundsByRange(h, 0, nc as HighsInt - 1, lp.col_lo.as_ptr(), lp.col_hi.as_ptr()) != kHighsStatusError;
            }
            if old.row_lo != lp.row_lo || old.row_hi != lp.row_hi {
                ok &= Highs_changeRowsBoundsByRange(h, 0, nr as HighsInt - 1, lp.row_lo.as_ptr(), lp.row_hi.as_ptr()) != kHighsStatusError;
            }
            for (r, (a, b)) in old.rows.iter().zip(&lp.rows).enumerate() {
                if a == b {
                    continue;
                }
                // every column of either version: the new value, or 0 where the entry is gone
                for &(c, _) in a {
                    if !b.iter().any(|e| e.0 == c) {
                        ok &= Highs_changeCoeff(h, r as HighsInt, c as HighsInt, 0.0) != kHighsStatusError;
                    }
                }
                for &(c, v) in b {
                    if !a.contains(&(c, v)) {
                        ok &= Highs_changeCoeff(h, r as HighsInt, c as HighsInt, v) != kHighsStatusError;
                    }
                }
            }
            if ok {
                self.loaded = Some(lp.clone());
                return true;
            }
        }
        let mut start: Vec<HighsInt> = Vec::with_capacity(nr + 1);
        let (mut index, mut value) = (Vec::new(), Vec::new());
        for row in &lp.rows {
            start.push(index.len() as HighsInt);
            for &(c, v) in row {
                index.push(c as HighsInt);
                value.push(v);
            }
        }
        let passed = Highs_passLp(h, nc as HighsInt, nr as HighsInt, index.len() as HighsInt, kHighsMatrixFormatRowwise, kHighsObjSenseMinimize, 0.0, lp.cost.as_ptr(), lp.col_lo.as_ptr(), lp.col_hi.as_ptr(), lp.row_lo.as_ptr(), lp.row_hi.as_ptr(), start.as_ptr(), index.as_ptr(), value.as_ptr());
        self.loaded = (passed != kHighsStatusError).then(|| lp.clone());
        self.loaded.is_some()
    }
}

/// The problem in HiGHS's form: min costᵀv, col_lo ≤ v ≤ col_hi, row_lo ≤ rows·v ≤ row_hi, and where
/// each part of the answer is.
#[derive(Clone)]
struct Lp {
    cost: Vec<f64>,
    col_lo: Vec<f64>,
    col_hi: Vec<f64>,
    rows: Vec<Vec<(usize, f64)>>,
    row_lo: Vec<f64>,
    row_hi: Vec<f64>,
    /// Column of boundary b's entry j: offset[block[b]] + j.
    offset: Vec<usize>,
    block: Vec<usize>,
    /// First row of each linear layer's equalities.
    eq_of_layer: Vec<Option<usize>>,
    margin_row: usize,
}

impl Lp {
    fn col(&self, b: usize, j: usize) -> usize {
        self.offset[self.block[b]] + j
    }

    fn build(net: &Network, x0: &[f64], boxes: &Boxes, flip: Flip, norm: Norm, slack: f64) -> Lp {
        let block = blocks(net).expect("checked when the engine was built");
        let d = x0.len();
        let mut offset = vec![usize::MAX; block.iter().max().map_or(1, |b| b + 1)];
        let (mut col_lo, mut col_hi) = (Vec::new(), Vec::new());
        for (b, &k) in block.iter().enumerate() {
            if offset[k] == usize::MAX {
                offset[k] = col_lo.len();
                col_lo.extend(boxes.lower[b].iter());
                col_hi.extend(boxes.upper[b].iter());
            }
        }
        let col = |b: usize, j: usize| offset[block[b]] + j;
        let aux = col_lo.len();
        let n_aux = if norm == Norm::L1 { d } else { 1 };
        col_lo.extend(std::iter::repeat_n(0.0, n_aux));
        col_hi.extend(std::iter::repeat_n(f64::INFINITY, n_aux));
        let mut cost = vec![0.0; aux];
        cost.extend(std::iter::repeat_n(1.0, n_aux));
        let (mut rows, mut row_lo, mut row_hi) = (Vec::new(), Vec::new(), Vec::new());
        let mut push = |row: Vec<(usize, f64)>, lo: f64, hi: f64| {
            rows.push(row);
            row_lo.push(lo);
            row_hi.push(hi);
            rows.len() - 1
        };
        let mut eq_of_layer = vec![None; net.layers.len()];
        for (i, layer) in net.layers.iter().enumerate() {
            match layer {
                Layer::Affine(a) => {
                    let mut first_row = None;
                    for j in 0..a.out_dim() {
                        let mut row = vec![(col(i + 1, j), 1.0)];
                        row.extend(a.weight.row(j).iter().enumerate().filter(|(_, w)| **w != 0.0).map(|(k, w)| (col(i, k), -w)));
                        let r = push(row, a.bias[j], a.bias[j]);
                        first_row.get_or_insert(r);
                    }
                    eq_of_layer[i] = first_row;
                }
                Layer::Elementwise(e) => {
                    let (scale, shift) = e.as_scale_shift();
                    let mut first_row = None;
                    for j in 0..e.dim() {
                        let r = push(vec![(col(i + 1, j), 1.0), (col(i, j), -scale[j])], shift[j], shift[j]);
                        first_row.get_or_insert(r);
                    }
                    eq_of_layer[i] = first_row;
                }
                Layer::Relu => {
                    let scale = 1.0 + boxes.lower[i].iter().chain(boxes.upper[i].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
                    for j in 0..boxes.lower[i].len() {
                        let (l, u) = (boxes.lower[i][j], boxes.upper[i][j]);
                        let (p, q) = (col(i, j), col(i + 1, j));
                        push(vec![(q, 1.0), (p, -1.0)], 0.0, f64::INFINITY);
                        if l >= 0.0 {
                            push(vec![(q, 1.0), (p, -1.0)], f64::NEG_INFINITY, 0.0);
                            if slack > 0.0 {
                                col_lo[p] = col_lo[p].max(slack * scale);
                            }
                        } else if u <= 0.0 {
                            push(vec![(q, 1.0)], f64::NEG_INFINITY, 0.0);
                            if slack > 0.0 {
                                col_hi[p] = col_hi[p].min(-slack * scale);
                            }
                        } else {
                            let s = u / (u - l);
                            push(vec![(q, 1.0), (p, -s)], f64::NEG_INFINITY, -s * l);
                        }
                    }
                }
                Layer::Reshape { .. } => {}
            }
        }
        let last = net.layers.len();
        let out_scale = 1.0 + boxes.lower[last].iter().chain(boxes.upper[last].iter()).fold(0.0f64, |m, v| m.max(v.abs()));
        let margin_row = push(vec![(col(last, flip.j), flip.sign), (col(last, flip.c), -flip.sign)], slack * out_scale, f64::INFINITY);
        match norm {
            Norm::Linf => {
                for i in 0..d {
                    push(vec![(col(0, i), 1.0), (aux, -1.0)], f64::NEG_INFINITY, x0[i]);
                    push(vec![(col(0, i), 1.0), (aux, 1.0)], x0[i], f64::INFINITY);
                }
            }
            // ℓ2 is not linear: its relaxation is relax.rs's cone program (never built here)
            Norm::L1 | Norm::L2 => {
                for i in 0..d {
                    push(vec![(col(0, i), 1.0), (aux + i, -1.0)], f64::NEG_INFINITY, x0[i]);
                    push(vec![(col(0, i), 1.0), (aux + i, 1.0)], x0[i], f64::INFINITY);
                }
                if boxes.ball.is_finite() {
                    push((0..d).map(|i| (aux + i, 1.0)).collect(), f64::NEG_INFINITY, boxes.ball);
                }
            }
        }
        Lp { cost, col_lo, col_hi, rows, row_lo, row_hi, offset, block, eq_of_layer, margin_row }
    }

    /// The answer from HiGHS's primal values and duals (row duals y: the Lagrangian is
    /// costᵀv − yᵀ(rows·v − bounds), so the equalities' multipliers in EXACT-BAB-2's form are −y, the
    /// margin row's is y; the input columns' reduced costs r give the box multipliers −r).
    #[allow(clippy::too_many_arguments)]
    fn answer(&self, net: &Network, boxes: &Boxes, status: Status, col_value: &[f64], col_dual: &[f64], row_dual: &[f64], objective: f64, basis: Option<Basis>) -> Relaxed {
        let d = boxes.lower[0].len();
        let layers = self
            .eq_of_layer
            .iter()
            .enumerate()
            .map(|(i, first)| first.map(|r| Array1::from_iter((0..boxes.lower[i + 1].len()).map(|j| -row_dual[r + j]))))
            .collect();
        let input_box = (status == Status::Solved).then(|| (0..d).map(|i| -col_dual[self.col(0, i)]).collect());
        let multipliers = Multipliers { layers, margin: row_dual[self.margin_row], input_box };
        let relu_part = |shift: usize| -> Vec<Option<Vec<f64>>> {
            net.layers.iter().enumerate().map(|(i, layer)| matches!(layer, Layer::Relu).then(|| (0..boxes.lower[i].len()).map(|j| col_value[self.col(i + shift, j)]).collect())).collect()
        };
        Relaxed { status, x: (0..d).map(|i| col_value[self.col(0, i)]).collect(), multipliers, pre: relu_part(0), post: relu_part(1), objective, basis }
    }

    /// An answer with no information (a failed solve).
    fn failed(&self, net: &Network, boxes: &Boxes, status: Status) -> Relaxed {
        let nc = self.cost.len();
        let nr = self.row_lo.len();
        self.answer(net, boxes, status, &vec![0.0; nc], &vec![0.0; nc], &vec![0.0; nr], f64::NAN, None)
    }
}
