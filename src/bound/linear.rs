//! Linear lower bounds `C·f(x) ≥ Λ·h + c − slack`, for many rows at once, moved backward through the
//! layers (CROWN's backward pass) and concretized over the input regions — with every rounding error of
//! f64 arithmetic either rounded outward or added to the non-negative slack (`proofs/FP.md`).
use super::backend::{Backend, Cpu, CpuAffine};
pub(crate) use super::rows::finish;
use super::rows::{self, dot_and_abs, AffineRowData, ReluRowData};
use super::{BoxBatch, RegionBatch};
use crate::net::{Affine, ElemOp, Elementwise};
use crate::rigor::{add_error, down, dot_error, linf_norm, nonneg_dot_upper, up, MIN_SUBNORMAL, UNIT_ROUNDOFF};
use crate::spec::Norm;
use ndarray::{Array1, Array2, ArrayView1, ArrayView3, Zip};

/// Stacked linear bounds: for each row r, batch row `owner[r]` and all x in that row's region:
/// `spec_r · f(x) ≥ coef_r · h(x) + constant_r − slack_r` in exact real arithmetic with the stored f64
/// values (invariant CROWN-1 of `proofs/CROWN.md`).
/// On a device other than the CPU the same four parts live in the device's memory.
pub struct LinearBatch<B: Backend = Cpu> {
    pub coef: B::Mat,
    pub constant: B::Vector,
    pub slack: B::Vector,
    pub owner: B::Owners,
}

impl Clone for LinearBatch {
    fn clone(&self) -> Self {
        LinearBatch { coef: self.coef.clone(), constant: self.constant.clone(), slack: self.slack.clone(), owner: self.owner.clone() }
    }
}

/// Per-batch-row quantities of an affine layer for the rounding-error terms of `coef · W`: with M a
/// bound on |h_in|, `weight_mag[b] ≥ |W|·M_b` and `tail[b] ≥ n_out·η·ΣM_b`.
#[derive(Clone, Debug)]
pub struct AffineMags {
    pub weight_mag: Array2<f64>,
    pub tail: Array1<f64>,
    /// |b| of the layer.
    pub abs_bias: Array1<f64>,
}

impl AffineMags {
    /// `mag_in` (rows × n_in) bounds |h_in| for each batch row.
    pub fn new(a: &Affine, mag_in: &Array2<f64>) -> Self {
        Self::from_abs(a, &a.weight.mapv(f64::abs), a.bias.mapv(f64::abs), mag_in)
    }

    /// As [`new`](Self::new), with |W| and |b| from the CPU's derived weights of the layer.
    pub fn with_weights(a: &Affine, w: &CpuAffine, mag_in: &Array2<f64>) -> Self {
        Self::from_abs(a, &w.abs_weight, w.abs_bias.clone(), mag_in)
    }

    fn from_abs(a: &Affine, abs_w: &Array2<f64>, abs_bias: Array1<f64>, mag_in: &Array2<f64>) -> Self {
        let n_in = a.in_dim();
        let weight_mag = standard(mag_in.dot(&abs_w.t()).mapv(|v| nonneg_dot_upper(v, n_in)));
        AffineMags { weight_mag, tail: Self::tail(a, mag_in), abs_bias }
    }

    /// The per-row tail `n_out·η·ΣM_b`, rounded up.
    pub fn tail(a: &Affine, mag_in: &Array2<f64>) -> Array1<f64> {
        let n_out = a.out_dim() as f64;
        mag_in
            .rows()
            .into_iter()
            .map(|r| {
                let sum = nonneg_dot_upper(r.sum(), r.len());
                up(n_out * up(MIN_SUBNORMAL * sum))
            })
            .collect()
    }
}

/// Upper relaxation of an unstable ReLU: relu(z) ≤ slope·z + intercept on [l, u], valid in exact
/// arithmetic for the stored f64 values (FP-4).
#[derive(Clone, Copy, Debug)]
pub struct UpperLine {
    pub slope: f64,
    pub intercept: f64,
}

impl UpperLine {
    /// The chord through (l, 0) and (u, u) for l < 0 < u, with the intercept rounded up so the line
    /// stays above relu at both ends.
    #[inline(always)]
    pub fn chord(l: f64, u: f64) -> Self {
        let slope = u / (u - l);
        let at_l = up(-(slope * l));
        let at_u = up(u * up(1.0 - slope));
        UpperLine { slope, intercept: at_l.max(at_u).max(0.0) }
    }
}

/// How a ReLU neuron with input bounds [l, u] is treated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReluState {
    Active,
    Inactive,
    Unstable,
}

pub fn relu_state(l: f64, u: f64) -> ReluState {
    if l >= 0.0 {
        ReluState::Active
    } else if u <= 0.0 {
        ReluState::Inactive
    } else {
        ReluState::Unstable
    }
}

/// The relaxation of one ReLU layer for each batch row, as per-neuron multipliers: a coefficient
/// λ ≥ 0 becomes λ·`pos_mult` (1 active, 0 inactive, the lower slope when unstable), λ < 0 becomes
/// λ·`neg_mult` (1, 0, the chord slope) and adds λ·`neg_intercept` (0, 0, the chord intercept).
#[derive(Clone, Debug)]
pub struct ReluRelax {
    pub state: Array2<ReluState>,
    pub pos_mult: Array2<f64>,
    pub neg_mult: Array2<f64>,
    pub neg_intercept: Array2<f64>,
    /// 1.0 for active and unstable neurons, 0.0 for inactive ones (the exact part of the step).
    pub keep: Array2<f64>,
    /// The unstable neurons of each batch row.
    pub unstable_idx: Vec<Vec<usize>>,
    /// A bound on |pre-activation| for the rounding-error terms, and its row sums (rounded up).
    pub mag: Array2<f64>,
    pub mag_sum: Array1<f64>,
}

impl ReluRelax {
    /// Relaxation from `bounds` (which decide stability and the chords, with auto_LiRPA's adaptive
    /// lower slope: 1 when the chord slope exceeds ½, else 0); `tight`, sound bounds of the same values,
    /// give the magnitudes.
    pub fn new(bounds: &BoxBatch, tight: &BoxBatch) -> Self {
        let (rows, n) = bounds.lower.dim();
        let standard = |a: &Array2<f64>| a.as_standard_layout().into_owned();
        let (lower, upper, t_lower, t_upper) = (standard(&bounds.lower), standard(&bounds.upper), standard(&tight.lower), standard(&tight.upper));
        let mut columns: [Vec<f64>; 5] = std::array::from_fn(|_| vec![0.0; rows * n]);
        {
            let [pos_mult, neg_mult, neg_intercept, keep, mag] = columns.each_mut().map(|c| c.as_mut_slice());
            let out = rows::RelaxColumns { pos_mult, neg_mult, neg_intercept, keep, mag };
            rows::relax_neurons(flat(&lower), flat(&upper), flat(&t_lower), flat(&t_upper), out);
        }
        let state: Vec<ReluState> = flat(&lower).iter().zip(flat(&upper)).map(|(&l, &u)| relu_state(l, u)).collect();
        let mut unstable_idx = Vec::with_capacity(rows);
        let mut mag_sum = Vec::with_capacity(rows);
        let mut unstable = vec![0; n];
        for b in 0..rows {
            let mut count = 0;
            for (j, &s) in state[b * n..(b + 1) * n].iter().enumerate() {
                unstable[count] = j; // kept when unstable, without a branch (the state is unpredictable)
                count += (s == ReluState::Unstable) as usize;
            }
            unstable_idx.push(unstable[..count].to_vec());
            mag_sum.push(nonneg_dot_upper(rows::eightfold_sum(&columns[4][b * n..(b + 1) * n]), n)); // as ndarray's sum
        }
        let [pos_mult, neg_mult, neg_intercept, keep, mag] = columns.map(|c| Array2::from_shape_vec((rows, n), c).expect("rows × n"));
        ReluRelax {
            state: Array2::from_shape_vec((rows, n), state).expect("rows × n"),
            pos_mult,
            neg_mult,
            neg_intercept,
            keep,
            unstable_idx,
            mag,
            mag_sum: Array1::from(mag_sum),
        }
    }
}

impl LinearBatch {
/// The trivial bound spec_b · f(x) ≥ spec_b · f(x) for every batch row (rows b·m … b·m+m−1).
    pub fn from_spec(spec: ArrayView3<f64>) -> Self {
        Self::from_spec_at(spec, 0)
    }

    /// As [`from_spec`](Self::from_spec) for batch rows first_owner, first_owner + 1, ….
    pub fn from_spec_at(spec: ArrayView3<f64>, first_owner: usize) -> Self {
        let (b, m, k) = spec.dim();
        let coef = spec.as_standard_layout().into_owned().into_shape_with_order((b * m, k)).expect("contiguous");
        LinearBatch {
            coef,
            constant: Array1::zeros(b * m),
            slack: Array1::zeros(b * m),
            owner: (0..b * m).map(|r| first_owner + r / m.max(1)).collect(),
        }
    }

    /// Moves the bound from an affine layer's output to its input (CROWN-1, affine step).
    pub fn through_affine(&mut self, a: &Affine, mags: &AffineMags) {
        let new_coef = product_skipping_zero_columns(&self.coef, &self.owner, &a.weight);
        let data = AffineRowData {
            weight_mag: mags.weight_mag.as_slice().expect("standard layout"),
            tail: mags.tail.as_slice().expect("contiguous"),
            bias: a.bias.as_slice().expect("contiguous"),
            abs_bias: mags.abs_bias.as_slice().expect("contiguous"),
        };
        let (constant, slack) = (self.constant.as_slice_mut().expect("contiguous"), self.slack.as_slice_mut().expect("contiguous"));
        rows::affine_scalars(self.coef.as_slice().expect("standard layout"), &self.owner, &data, constant, slack);
        self.coef = new_coef;
    }

    /// Moves the bound from an elementwise layer's output to its input (CROWN-1, elementwise step;
    /// FP-5): h_out = a ⊙ h_in + b exactly, with b and a representative scale ã of a (|a − ã| ≤ δ) in
    /// f64. The new coefficients are fl(λⱼ·ãⱼ); with M ≥ |h_in|, the dropped terms
    /// Σⱼ (|λⱼ|·δⱼ + u·|fl(λⱼãⱼ)|)·Mⱼ + η·ΣM go to the slack, and λ·b is added with FP-2/FP-3.
    pub fn through_elementwise(&mut self, e: &Elementwise, mag_in: &Array2<f64>) {
        let (scale, shift, scale_err) = e.scale_shift_with_error();
        let n = e.dim();
        let exact_products = matches!(e.op, ElemOp::Add | ElemOp::Sub | ElemOp::SubFrom); // ×(±1)
        for (r, mut row) in self.coef.outer_iter_mut().enumerate() {
            let m = row_of(mag_in, self.owner[r]);
            let row = row.as_slice_mut().expect("standard layout");
            let (mut c_dot, mut c_abs, mut prod_mag, mut err_mag, mut mag_sum) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for j in 0..n {
                let lam = row[j];
                let t = lam * shift[j];
                c_dot += t;
                c_abs += t.abs();
                let p = lam * scale[j];
                prod_mag += p.abs() * m[j];
                err_mag += up(lam.abs() * scale_err[j]) * m[j];
                mag_sum += m[j];
                row[j] = p;
            }
            let mut slack = self.slack[r];
            if !exact_products {
                // rounding of each λ·ã (u|p| + η per entry, times |h| ≤ M)
                let mul = up(up(UNIT_ROUNDOFF * nonneg_dot_upper(prod_mag, n)) + up(MIN_SUBNORMAL * nonneg_dot_upper(mag_sum, n)));
                slack = up(up(slack + mul) + nonneg_dot_upper(err_mag, n));
            }
            let c = self.constant[r] + c_dot;
            self.constant[r] = c;
            self.slack[r] = up(up(slack + dot_error(n, nonneg_dot_upper(c_abs, n))) + add_error(c));
        }
    }

    /// Moves the bound from a ReLU's output to its input (CROWN-1, ReLU step): a coefficient λ ≥ 0 on
    /// an unstable neuron uses relu(z) ≥ α·z with α = `alpha[r, j]` (default: the adaptive slope),
    /// λ < 0 uses the chord.
    pub fn through_relu(&mut self, rx: &ReluRelax, alpha: Option<&Array2<f64>>) {
        // η·Σmag per batch row, once per call (a product with a subnormal result is slow on x86)
        let eta_mag: Vec<f64> = rx.mag_sum.iter().map(|&s| up(MIN_SUBNORMAL * s)).collect();
        let data = ReluRowData {
            n: self.coef.ncols(),
            pos_mult: flat(&rx.pos_mult),
            neg_mult: flat(&rx.neg_mult),
            neg_intercept: flat(&rx.neg_intercept),
            keep: flat(&rx.keep),
            mag: flat(&rx.mag),
            unstable: &rx.unstable_idx,
            eta_mag: &eta_mag,
            alpha: alpha.map(|a| a.as_slice().expect("standard layout")),
        };
        let (constant, slack) = (self.constant.as_slice_mut().expect("contiguous"), self.slack.as_slice_mut().expect("contiguous"));
        rows::relu_rows(self.coef.as_slice_mut().expect("standard layout"), &self.owner, &data, constant, slack);
    }

    /// Adds the Lagrange terms of split constraints (BETA-1): on a sub-domain where s_j·z_j ≥ 0 for
    /// the split neurons of this ReLU's input z, and β_j ≥ 0, coef·z ≥ (coef − β⊙s)·z. `signed_beta`
    /// (rows × neurons) holds β_j·s_j (exact, s = ±1; 0 where no split). The new coefficients are
    /// rounded: |exact − fl| ≤ u·|fl| per entry (subtraction is exact in the subnormal range), times
    /// |z_j| ≤ mag_j, goes to the slack.
    pub fn add_split_terms(&mut self, signed_beta: &Array2<f64>, rx: &ReluRelax) {
        for (r, mut row) in self.coef.outer_iter_mut().enumerate() {
            let o = self.owner[r];
            let sb = signed_beta.row(r);
            let m = row_of(&rx.mag, o);
            let (mut err, mut n) = (0.0, 0usize);
            for ((v, &b), &mj) in row.iter_mut().zip(sb.iter()).zip(m) {
                if b != 0.0 {
                    *v -= b;
                    err += v.abs() * mj;
                    n += 1;
                }
            }
            if n > 0 {
                self.slack[r] = up(self.slack[r] + up(UNIT_ROUNDOFF * nonneg_dot_upper(err, n)));
            }
        }
    }

    /// Each row's constant minus its slack, rounded down (a NaN, from an overflowed bound, as −∞): then
    /// spec·f(x) ≥ coef·h + constant_lower holds in exact arithmetic (CROWN-1).
    pub fn constant_lower(&self) -> Array1<f64> {
        Zip::from(&self.constant).and(&self.slack).map_collect(|&c, &s| {
            let v = down(c - s);
            if v.is_nan() {
                f64::NEG_INFINITY
            } else {
                v
            }
        })
    }

    /// Sound lower bounds of every row over its owner's region (CROWN-2): a·x₀ + c − ε‖a‖_q for a ball;
    /// with a domain box, the better of that and the exact minimum over the box containing the
    /// intersection (which alone is exact for ℓ∞).
    pub fn concretize(&self, regions: &RegionBatch) -> Array1<f64> {
        let mode = Concretization::of(regions);
        let boxes = (mode != Concretization::Ball).then(|| input_box(regions));
        let d = self.coef.ncols();
        let mut out = Array1::zeros(self.coef.nrows());
        for (r, row) in self.coef.outer_iter().enumerate() {
            let o = self.owner[r];
            let (c, s) = (self.constant[r], self.slack[r]);
            let ball = || {
                let x0 = regions.centers.row(o);
                let (dot, abs) = dot_and_abs(row.as_slice().unwrap(), &x0.to_vec());
                let err = dot_error(d, nonneg_dot_upper(abs, d));
                let eps_nrm = up(regions.eps[o] * dual_norm_up(regions.norm, row));
                finish(dot, c, up(up(s + err) + eps_nrm))
            };
            let in_box = || {
                let b = boxes.as_ref().expect("a box mode");
                box_min(row, b.lower.row(o), b.upper.row(o), c, s)
            };
            out[r] = match mode {
                Concretization::Ball => ball(),
                Concretization::Box => in_box(),
                Concretization::Both => ball().max(in_box()),
            };
        }
        out
    }
}


/// coef·W: by [`rows::product_rows`] (bit for bit matrixmultiply's product, without the columns an
/// owner's rows share as zeros) where owners have several rows (CROWN's intermediate bounds: two per
/// unstable neuron), W is small enough to stay in cache for every row, fits one of matrixmultiply's
/// k-blocks (256) and is finite; by matrixmultiply otherwise (one product of all rows is cheaper when
/// each owner has a single row).
fn product_skipping_zero_columns(coef: &Array2<f64>, owner: &[usize], w: &Array2<f64>) -> Array2<f64> {
    const MAX_K_BLOCK: usize = 256;
    const MAX_CACHED_WEIGHTS: usize = 1 << 14;
    const MIN_ROWS_PER_OWNER: usize = 2;
    let (rows, n) = coef.dim();
    let n_in = w.ncols();
    let owners = 1 + owner.windows(2).filter(|p| p[0] != p[1]).count();
    if rows < MIN_ROWS_PER_OWNER * owners || n > MAX_K_BLOCK || w.len() > MAX_CACHED_WEIGHTS || n_in == 0 || !w.iter().all(|v| v.is_finite()) {
        return standard(coef.dot(w));
    }
    let stride = rows::padded_width(n_in);
    let mut padded = vec![0.0; n * stride];
    for (dst, src) in padded.chunks_exact_mut(stride).zip(w.rows()) {
        dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
    }
    let mut out = Array2::zeros((rows, n_in));
    rows::product_rows(flat(coef), owner, &padded, n_in, out.as_slice_mut().expect("standard layout"));
    out
}

/// How CROWN-2 bounds a linear function over a batch's regions (decided once for every backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concretization {
    /// Over the ball: a·x₀ − ε‖a‖_q.
    Ball = 0,
    /// Over the region's box, exactly (per-row boxes, or an ℓ∞ ball ∩ a domain box).
    Box = 1,
    /// The better of the ball's and the box's bound (an ℓ2/ℓ1 ball ∩ a domain box).
    Both = 2,
}

impl Concretization {
    /// The rule for `regions`.
    pub fn of(regions: &RegionBatch) -> Self {
        match (regions.boxes.is_some(), regions.domain.is_some(), regions.norm) {
            (true, _, _) => Concretization::Box,
            (false, false, _) => Concretization::Ball,
            (false, true, Norm::Linf) => Concretization::Box,
            (false, true, Norm::L2 | Norm::L1) => Concretization::Both,
        }
    }
}

/// A standard-layout matrix as one slice.
fn flat(a: &Array2<f64>) -> &[f64] {
    a.as_slice().expect("standard layout")
}

/// `a` in standard layout (itself when it already is: a product's result always is).
pub(crate) fn standard(a: Array2<f64>) -> Array2<f64> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// Row `o` of a standard-layout matrix as a slice.
#[inline]
fn row_of(a: &Array2<f64>, o: usize) -> &[f64] {
    let n = a.ncols();
    &a.as_slice().expect("standard layout")[o * n..(o + 1) * n]
}

/// Exact-arithmetic minimum of row·h over the box [lo, hi], rounded down, plus c − s.
fn box_min(row: ArrayView1<f64>, lo: ArrayView1<f64>, hi: ArrayView1<f64>, c: f64, s: f64) -> f64 {
    let (mut dot, mut abs) = (0.0, 0.0);
    for ((&a, &l), &u) in row.iter().zip(lo.iter()).zip(hi.iter()) {
        let x = if a >= 0.0 { l } else { u };
        dot += a * x;
        abs += (a * x).abs();
    }
    let err = dot_error(row.len(), nonneg_dot_upper(abs, row.len()));
    finish(dot, c, up(s + err))
}

/// RADIUS-4: the radii a check's final linear bounds prove beyond their own. `coef` and `lower`
/// (rows of linear bounds, and their constants rounded down: spec·f(x) ≥ coef·x + lower for every x of
/// the row's region, CROWN-1) were computed over regions ε-balls around x₀ (∩ the domain); for each row
/// the largest ε' ≤ ε (its owner's) found at which the same bound over the ε'-ball, by CROWN-2's ball
/// formula ⌊⌊dot + lower⌋ − ⌈err + ⌈ε'·‖a‖_q⌉⌉⌋ with FP-2's error `err` of the dot product coef·x₀, is
/// positive — checked at the returned value; 0 where none is (or for per-row boxes, which are no balls).
/// Sound because the ε'-ball (∩ the domain) lies in the region the bound holds on.
pub(crate) fn ball_floors(coef: ndarray::ArrayView2<f64>, lower: ArrayView1<f64>, owner: impl Fn(usize) -> usize, regions: &RegionBatch) -> Array1<f64> {
    if regions.boxes.is_some() {
        return Array1::zeros(coef.nrows());
    }
    let d = coef.ncols();
    Array1::from_iter(coef.outer_iter().zip(lower).enumerate().map(|(r, (row, &c))| {
        let o = owner(r);
        let eps = regions.eps[o];
        let x0 = regions.centers.row(o).to_vec();
        let (dot, abs) = dot_and_abs(&row.to_vec(), &x0);
        let err = dot_error(d, nonneg_dot_upper(abs, d));
        let norm = dual_norm_up(regions.norm, row);
        let bound = |e: f64| finish(dot, c, up(err + up(e * norm)));
        let at0 = bound(0.0);
        if !(at0 > 0.0 && eps > 0.0) {
            return 0.0;
        }
        if bound(eps) > 0.0 {
            return eps; // (also every row whose norm is 0)
        }
        // the root of the bound's line, then a little below it until the rounded bound is positive (a
        // NaN or infinite norm gives no positive candidate: 0)
        let guess = (at0 / norm).min(eps);
        let mut shrink = f64::powi(2.0, -40);
        for _ in 0..20 {
            let e = guess * (1.0 - shrink);
            if e > 0.0 && bound(e) > 0.0 {
                return e;
            }
            shrink *= 4.0;
        }
        0.0
    }))
}

/// Upper bound of the dual norm ‖a‖_q of a row (q = 1 for ℓ∞, 2 for ℓ2, ∞ for ℓ1).
pub(crate) fn dual_norm_up(norm: Norm, a: ArrayView1<f64>) -> f64 {
    let n = a.len();
    match norm {
        Norm::Linf => nonneg_dot_upper(a.iter().map(|v| v.abs()).sum(), n),
        Norm::L2 => up(nonneg_dot_upper(a.iter().map(|v| v * v).sum(), n).sqrt()),
        Norm::L1 => linf_norm(a.as_slice().unwrap_or(&a.to_vec())),
    }
}

/// Boxes containing the regions: the per-row boxes when given, else [x₀ − ε, x₀ + ε] rounded outward,
/// intersected with the domain.
pub(crate) fn input_box(regions: &RegionBatch) -> BoxBatch {
    if let Some(b) = regions.boxes {
        return BoxBatch { lower: b.lower.to_owned(), upper: b.upper.to_owned() };
    }
    let mut lower = regions.centers.to_owned();
    let mut upper = regions.centers.to_owned();
    for ((mut lo, mut hi), &e) in lower.outer_iter_mut().zip(upper.outer_iter_mut()).zip(regions.eps.iter()) {
        lo.mapv_inplace(|x| down(x - e));
        hi.mapv_inplace(|x| up(x + e));
        if let Some(d) = regions.domain {
            Zip::from(&mut lo).and(&d.lower).for_each(|l, &dl| *l = l.max(dl));
            Zip::from(&mut hi).and(&d.upper).for_each(|u, &du| *u = u.min(du));
        }
    }
    BoxBatch { lower, upper }
}

/// Stacks the rows ±e_j of selected (batch row, neuron) pairs: row 2k is +e_j and 2k+1 is −e_j for
/// the k-th pair; returns coefficients over an n-dimensional boundary.
pub(crate) fn signed_unit_rows(pairs: &[(usize, usize)], n: usize) -> LinearBatch {
    let mut coef = Array2::zeros((2 * pairs.len(), n));
    let mut owner = Vec::with_capacity(2 * pairs.len());
    for (k, &(b, j)) in pairs.iter().enumerate() {
        coef[[2 * k, j]] = 1.0;
        coef[[2 * k + 1, j]] = -1.0;
        owner.extend([b, b]);
    }
    let r = coef.nrows();
    LinearBatch { coef, constant: Array1::zeros(r), slack: Array1::zeros(r), owner }
}

/// The rows ±(W_j, b_j) of an affine layer for selected pairs: exactly the bound of ±e_j moved
/// through the layer (I·W = W needs no product, so no rounding-error term).
pub(crate) fn signed_affine_rows(pairs: &[(usize, usize)], a: &Affine) -> LinearBatch {
    let n_in = a.in_dim();
    let mut coef = Array2::zeros((2 * pairs.len(), n_in));
    let mut constant = Array1::zeros(2 * pairs.len());
    let mut owner = Vec::with_capacity(2 * pairs.len());
    for (k, &(b, j)) in pairs.iter().enumerate() {
        let w = a.weight.row(j);
        coef.row_mut(2 * k).assign(&w);
        coef.row_mut(2 * k + 1).assign(&w.mapv(|v| -v));
        constant[2 * k] = a.bias[j];
        constant[2 * k + 1] = -a.bias[j];
        owner.extend([b, b]);
    }
    let r = coef.nrows();
    LinearBatch { coef, constant, slack: Array1::zeros(r), owner }
}

/// Number of rows per batch row of a result laid out as `from_spec` does.
pub(crate) fn reshape_rows(v: Array1<f64>, batch: usize) -> Array2<f64> {
    let m = if batch == 0 { 0 } else { v.len() / batch };
    v.into_shape_with_order((batch, m)).expect("m rows per batch row")
}
