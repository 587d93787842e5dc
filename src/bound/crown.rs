//! CROWN (Zhang et al. 2018), batched, with CROWN intermediate bounds and auto_LiRPA's default
//! relaxation (CROWN-1/CROWN-2 in `proofs/CROWN.md`): the input bounds of every ReLU come from backward
//! passes of their own, unstable neurons get the chord as upper line and the adaptive 0/1 lower slope.
//!
//! Which neurons get a backward pass is chosen by [`Intermediate`]; the others keep the interval that
//! interval arithmetic on the previous layers' bounds gives them (which proves them stable).
//!
//! The driver here is the only CROWN: it runs on any [`Backend`] (the CPU, or the GPU through
//! `crate::gpu`), which evaluates the steps it decides.
use super::backend::{infallible, Backend, Cpu, CpuWeights};
use super::ibp::{elementwise_box, first_affine_on};
use super::linear::{input_box, relu_state, reshape_rows, LinearBatch, ReluRelax, ReluState};
use super::{BoxBatch, Intermediate, RegionBatch};
use crate::net::{Layer, Network};
use ndarray::{Array1, Array2, ArrayView3, Axis};
use rayon::prelude::*;

/// What CROWN knows about a batch of input regions: the relaxation of every ReLU layer and the
/// rounding-error data of every affine layer, on backend `B`. Built once, then used for any output
/// specification.
pub struct CrownBatch<'n, 'r, B: Backend = Cpu> {
    net: &'n Network,
    backend: &'n B,
    weights: Held<'n, B::Weights>,
    regions: RegionBatch<'r>,
    relax: Vec<Option<(ReluRelax, B::Relax)>>,
    mags: Vec<Option<B::Mags>>,
    /// Bounds on |input| of each elementwise layer, for the rounding-error terms of its backward step.
    elem_mags: Vec<Option<Array2<f64>>>,
    /// Sound (tightest known) boxes of every boundary; a ReLU's input boundary holds its CROWN-refined
    /// bounds (intersected with the interval ones).
    boxes: Vec<BoxBatch>,
}

/// The backend's weights of the network: the caller's, or (the CPU driver's own) built for this batch.
enum Held<'n, W> {
    Borrowed(&'n W),
    Owned(W),
}

impl<W> std::ops::Deref for Held<'_, W> {
    type Target = W;
    fn deref(&self) -> &W {
        match self {
            Held::Borrowed(w) => w,
            Held::Owned(w) => w,
        }
    }
}

/// Splits `items` (sorted by owner) into groups of the backend's rows per task (consecutive owners),
/// runs `f` on the groups (in parallel where the backend says so), and concatenates the results in
/// order. `per_owner` is the most coefficients one owner's rows hold (for the backend's sizing).
fn by_owner<T: Sync, B: Backend>(
    backend: &B,
    per_owner: usize,
    items: &[T],
    owner: impl Fn(&T) -> usize + Sync,
    f: impl Fn(&[T]) -> Result<Array1<f64>, B::Error> + Sync,
) -> Result<Array1<f64>, B::Error> {
    let (per_task, parallel) = backend.task_rows(per_owner);
    let per_task = per_task.max(1);
    let mut bounds = vec![0];
    for i in 1..items.len() {
        if owner(&items[i]) / per_task != owner(&items[i - 1]) / per_task {
            bounds.push(i);
        }
    }
    bounds.push(items.len());
    let parts: Vec<Array1<f64>> = if parallel {
        bounds.par_windows(2).map(|w| f(&items[w[0]..w[1]])).collect::<Result<_, _>>()?
    } else {
        bounds.windows(2).map(|w| f(&items[w[0]..w[1]])).collect::<Result<_, _>>()?
    };
    Ok(ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.view()).collect::<Vec<_>>()).expect("1-D parts"))
}

/// Whether some ReLU's input is not a single affine map of the input (so CROWN refines its bounds by
/// a backward pass, rather than taking the exact first-layer bounds).
pub(crate) fn has_refined_relu(net: &Network) -> bool {
    let (mut on_input, mut exact) = (true, true);
    for layer in &net.layers {
        match layer {
            Layer::Affine(_) => exact = on_input,
            Layer::Elementwise(_) => exact = false,
            Layer::Relu if !exact => return true,
            Layer::Relu => exact = false,
            Layer::Reshape { .. } => {}
        }
        on_input &= matches!(layer, Layer::Reshape { .. });
    }
    false
}

/// α-CROWN's record of the backward pass: the coefficients on each ReLU's output, by layer.
pub(crate) type Tape = Vec<(usize, Array2<f64>)>;

/// Per-layer options of a backward pass: α lower slopes and β·s split terms (rows × neurons, by layer).
pub(crate) type LayerArrays<'a> = Option<&'a [Option<Array2<f64>>]>;

impl<'n, 'r> CrownBatch<'n, 'r> {
    /// Computes, layer by layer, sound boxes and (for ReLU inputs) CROWN bounds, on the CPU.
    pub fn new(net: &'n Network, regions: RegionBatch<'r>, intermediate: Intermediate) -> Self {
        infallible(Self::build(&Cpu, Held::Owned(CpuWeights::of(net)), net, regions, intermediate, None, None, true))
    }

    /// As [`new`](Self::new), but each ReLU layer i takes `given[i]` (sound bounds of its input for
    /// every x of the row's sub-domain, e.g. a parent's bounds clamped by split constraints, BETA-2)
    /// intersected with the interval bounds, instead of a backward pass of its own.
    pub(crate) fn with_relu_bounds(net: &'n Network, regions: RegionBatch<'r>, given: &[Option<BoxBatch>]) -> Self {
        infallible(Self::build(&Cpu, Held::Owned(CpuWeights::of(net)), net, regions, Intermediate::Ibp, Some(given), None, true))
    }

    /// As [`with_relu_bounds`](Self::with_relu_bounds), but where `refine_after[row]` is `Some(k)`,
    /// the unstable neurons of every ReLU layer i > k of that row also get a CROWN backward pass of
    /// their own over the layers' bounds computed before them (BETA-3: e.g. after a split in layer k,
    /// whose clamped bound tightens the relaxations below it); the result is intersected with
    /// `given[i]`, so it is never looser.
    pub(crate) fn with_relu_bounds_refined(net: &'n Network, regions: RegionBatch<'r>, given: &[Option<BoxBatch>], refine_after: &[Option<usize>]) -> Self {
        infallible(Self::build(&Cpu, Held::Owned(CpuWeights::of(net)), net, regions, Intermediate::UnstableOnly, Some(given), Some(refine_after), true))
    }

    /// Sound CROWN lower bounds of spec[b]·f(x) (auto_LiRPA's `method='CROWN'`); rows × m.
    pub fn lower_bounds(&self, spec: ArrayView3<f64>) -> Array2<f64> {
        infallible(self.try_lower_bounds(spec))
    }

    /// As [`lower_bounds`](Self::lower_bounds), with the input coefficients a of each final linear
    /// bound spec·f(x) ≥ a·x + c − slack (rows × m × inputs): where the bound is smallest in the box (its
    /// minimizing corner, a candidate point) and which inputs it depends on most (for branching).
    pub fn lower_bounds_and_coefficients(&self, spec: ArrayView3<f64>) -> (Array2<f64>, ndarray::Array3<f64>) {
        infallible(self.try_lower_bounds_and_coefficients(spec))
    }

    /// CROWN's final linear bounds themselves: for every batch row b, spec row r and every x in region
    /// b, spec[b, r]·f(x) ≥ coef[b, r]·x + constant[b, r] in exact real arithmetic with the returned f64
    /// values (CROWN-1 at the input; the slack is folded into the constant, rounded down, and a NaN
    /// constant becomes −∞). The caller bounds coef·x over its own set (e.g. a box and a ball).
    pub fn linear_bounds(&self, spec: ArrayView3<f64>) -> (ndarray::Array3<f64>, Array2<f64>) {
        infallible(self.final_bounds(spec, |lin| Ok(lin.constant_lower())))
    }

    /// CROWN's linear bounds of single neurons of boundary `end` (a ReLU's input) for (batch row, neuron)
    /// pairs: row 2k of the result bounds +z, row 2k + 1 bounds −z of the k-th pair, each as
    /// ±z ≥ coef·x + constant for every x of the row's region, in exact real arithmetic (as
    /// [`linear_bounds`](Self::linear_bounds)).
    pub(crate) fn neuron_linear_bounds(&self, end: usize, pairs: &[(usize, usize)]) -> (Array2<f64>, Array1<f64>) {
        let d = self.net.input_dim();
        if pairs.is_empty() {
            return (Array2::zeros((0, d)), Array1::zeros(0));
        }
        let (start, lin) = infallible(self.neuron_rows(end, pairs));
        let lin = self.backward(start, lin, None, None, None);
        let constant = lin.constant_lower();
        (lin.coef, constant)
    }

    /// Moves `lin` back to the input on the CPU (see [`try_backward`](Self::try_backward)).
    pub(crate) fn backward(&self, end: usize, lin: LinearBatch, alpha: LayerArrays, signed_beta: LayerArrays, tape: Option<&mut Tape>) -> LinearBatch {
        infallible(self.try_backward(end, lin, alpha, signed_beta, tape))
    }
}

impl<'n, 'r, B: Backend> CrownBatch<'n, 'r, B> {
    /// [`CrownBatch::new`] on `backend`, whose `weights` are `net`'s (from [`Backend::weights`]), for
    /// bounding output specifications: when the network ends in an affine layer, the output
    /// boundary's box is not computed (no linear bound reads it) and
    /// [`boundary_box`](Self::boundary_box) gives (−∞, ∞) there.
    pub fn on(backend: &'n B, weights: &'n B::Weights, net: &'n Network, regions: RegionBatch<'r>, intermediate: Intermediate) -> Result<Self, B::Error> {
        Self::build(backend, Held::Borrowed(weights), net, regions, intermediate, None, None, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        backend: &'n B,
        weights: Held<'n, B::Weights>,
        net: &'n Network,
        regions: RegionBatch<'r>,
        intermediate: Intermediate,
        given: Option<&[Option<BoxBatch>]>,
        refine_after: Option<&[Option<usize>]>,
        output_box: bool,
    ) -> Result<Self, B::Error> {
        let n = net.layers.len();
        let mut ctx = CrownBatch {
            net,
            backend,
            weights,
            regions,
            relax: (0..n).map(|_| None).collect(),
            mags: (0..n).map(|_| None).collect(),
            elem_mags: vec![None; n],
            boxes: Vec::with_capacity(n + 1),
        };
        ctx.boxes.push(input_box(&ctx.regions));
        let mut on_input = true; // reached from the input by reshapes only
        let mut exact = true; // the current boundary's box is exact (an affine image of the input)
        for (i, layer) in net.layers.iter().enumerate() {
            let cur = ctx.boxes.last().unwrap();
            let next = match layer {
                Layer::Affine(a) => {
                    ctx.mags[i] = Some(backend.affine_mags(&ctx.weights, i, a, &cur.magnitude())?);
                    exact = on_input;
                    if i + 1 == n && !output_box {
                        // the output's box: nothing of a lower bound reads it (see `on`)
                        let rows = ctx.regions.len();
                        BoxBatch { lower: Array2::from_elem((rows, a.out_dim()), f64::NEG_INFINITY), upper: Array2::from_elem((rows, a.out_dim()), f64::INFINITY) }
                    } else if on_input {
                        first_affine_on(backend, &ctx.weights, i, a, &ctx.regions)?
                    } else {
                        backend.affine_box(&ctx.weights, i, a, cur)?
                    }
                }
                Layer::Elementwise(e) => {
                    ctx.elem_mags[i] = Some(cur.magnitude());
                    exact = false; // the image of a ball's box, not of the ball: refine the next ReLU
                    elementwise_box(e, cur)
                }
                Layer::Relu => {
                    let reference = cur.clone();
                    let bounds = match given.and_then(|g| g[i].as_ref()) {
                        Some(g) => {
                            let base = g.intersect(&reference);
                            let redo = |b: usize| refine_after.is_some_and(|r| r[b].is_some_and(|k| i > k));
                            if exact || !(0..base.lower.nrows()).any(redo) {
                                base
                            } else {
                                ctx.refine_rows(i, &base, intermediate, &redo)?.intersect(&base)
                            }
                        }
                        None if exact => reference.clone(),
                        None => ctx.refine_rows(i, &reference, intermediate, &|_| true)?,
                    };
                    // auto_LiRPA carries the bounds it computed, not their intersection with the interval
                    let tight = match intermediate {
                        Intermediate::AutoLirpa => bounds.clone(),
                        Intermediate::All | Intermediate::UnstableOnly | Intermediate::Ibp => bounds.intersect(&reference),
                    };
                    let rx = ReluRelax::new(&bounds, &tight);
                    let dev = backend.relax(&rx)?;
                    ctx.relax[i] = Some((rx, dev));
                    exact = false;
                    let post = tight.relu();
                    *ctx.boxes.last_mut().unwrap() = tight;
                    post
                }
                Layer::Reshape { .. } => cur.clone(),
            };
            on_input &= matches!(layer, Layer::Reshape { .. });
            ctx.boxes.push(next);
        }
        Ok(ctx)
    }

    /// CROWN bounds of boundary `end` for the (row, neuron) pairs [`Intermediate`] selects among the
    /// rows `row` selects; the others keep their reference interval.
    fn refine_rows(&self, end: usize, reference: &BoxBatch, intermediate: Intermediate, row: &dyn Fn(usize) -> bool) -> Result<BoxBatch, B::Error> {
        let unstable = |b: usize, j: usize| relu_state(reference.lower[[b, j]], reference.upper[[b, j]]) == ReluState::Unstable;
        let (rows, dim) = reference.lower.dim();
        let all = || (0..rows).flat_map(|b| (0..dim).map(move |j| (b, j))).collect::<Vec<_>>();
        let pairs: Vec<(usize, usize)> = match intermediate {
            Intermediate::Ibp => Vec::new(),
            Intermediate::All => all(),
            Intermediate::UnstableOnly => all().into_iter().filter(|&(b, j)| unstable(b, j)).collect(),
            Intermediate::AutoLirpa => {
                let merged: Vec<usize> = (0..dim).filter(|&j| (0..rows).any(|b| unstable(b, j))).collect();
                if 10 * merged.len() > 9 * dim {
                    all()
                } else {
                    (0..rows).flat_map(|b| merged.iter().map(move |&j| (b, j))).collect()
                }
            }
        };
        let pairs: Vec<(usize, usize)> = pairs.into_iter().filter(|&(b, _)| row(b)).collect();
        if pairs.is_empty() {
            return Ok(reference.clone());
        }
        let lb = by_owner(self.backend, 2 * dim * self.widest(), &pairs, |p| p.0, |part| {
            let (start, lin) = self.neuron_rows(end, part)?;
            let lin = self.try_backward(start, lin, None, None, None)?;
            self.backend.concretize(&lin, &self.regions)
        })?;
        let mut out = reference.clone();
        for (k, &(b, j)) in pairs.iter().enumerate() {
            out.lower[[b, j]] = lb[2 * k];
            out.upper[[b, j]] = -lb[2 * k + 1];
        }
        Ok(out)
    }

    /// The widest boundary: the most coefficients a linear-bound row holds during a backward pass.
    fn widest(&self) -> usize {
        self.boxes.iter().map(|b| b.lower.ncols()).max().unwrap_or(1)
    }

    /// The rows ±e_j of boundary `end` for the pairs, moved through the affine layer before it when
    /// there is one (exactly: I·W needs no product): the layer where their backward pass starts.
    fn neuron_rows(&self, end: usize, pairs: &[(usize, usize)]) -> Result<(usize, LinearBatch<B>), B::Error> {
        Ok(match end.checked_sub(1).map(|i| &self.net.layers[i]) {
            Some(Layer::Affine(a)) => (end - 1, self.backend.signed_rows(&self.weights, Some((end - 1, a)), pairs, a.in_dim())?),
            _ => (end, self.backend.signed_rows(&self.weights, None, pairs, self.boxes[end].lower.ncols())?),
        })
    }

    /// Sound CROWN lower bounds of spec[b]·f(x) on the backend (auto_LiRPA's `method='CROWN'`); rows × m.
    pub fn try_lower_bounds(&self, spec: ArrayView3<f64>) -> Result<Array2<f64>, B::Error> {
        let lb = self.final_pass(spec, |_, lin| self.backend.concretize(lin, &self.regions))?;
        Ok(reshape_rows(lb, self.regions.len()))
    }

    /// [`try_lower_bounds`](Self::try_lower_bounds) with, for each batch row, the largest ε' ≤ its ε
    /// at which its final linear bounds prove every spec row positive over the ε'-ball (RADIUS-4,
    /// [`ball_floors`](super::linear::ball_floors); 0 where they do not).
    pub fn try_lower_bounds_and_floors(&self, spec: ArrayView3<f64>) -> Result<(Array2<f64>, Array1<f64>), B::Error> {
        let m = spec.shape()[1].max(1);
        let floors = std::sync::Mutex::new(Vec::new());
        let lb = self.final_pass(spec, |first, lin| {
            let (coef, lower) = (self.backend.coef_to_host(lin)?, self.backend.constant_lower(lin)?);
            let rows = super::linear::ball_floors(coef.view(), lower.view(), |r| first + r / m, &self.regions);
            let per_row: Array1<f64> = rows.exact_chunks(m).into_iter().map(|f| f.fold(f64::INFINITY, |a, &v| a.min(v))).collect();
            floors.lock().expect("no panics while held").push((first, per_row));
            self.backend.concretize(lin, &self.regions)
        })?;
        let mut parts = floors.into_inner().expect("no panics while held");
        parts.sort_by_key(|p| p.0);
        let floors = Array1::from_iter(parts.into_iter().flat_map(|p| p.1));
        Ok((reshape_rows(lb, self.regions.len()), floors))
    }

    /// The final backward pass of `spec` over the backend's groups of batch rows: `per_group(first
    /// batch row, the group's final linear bounds)` gives the group's lower bounds, concatenated in
    /// row order.
    fn final_pass(&self, spec: ArrayView3<f64>, per_group: impl Fn(usize, &LinearBatch<B>) -> Result<Array1<f64>, B::Error> + Sync) -> Result<Array1<f64>, B::Error> {
        let owners: Vec<usize> = (0..self.regions.len()).collect();
        by_owner(self.backend, spec.shape()[1] * self.widest(), &owners, |&b| b, |part| {
            let (first, last) = (part[0], part[part.len() - 1] + 1);
            let lin = self.backend.upload(LinearBatch::from_spec_at(spec.slice(ndarray::s![first..last, .., ..]), first))?;
            let lin = self.try_backward(self.net.layers.len(), lin, None, None, None)?;
            per_group(first, &lin)
        })
    }

    /// [`lower_bounds_and_coefficients`](CrownBatch::lower_bounds_and_coefficients) on the backend.
    pub fn try_lower_bounds_and_coefficients(&self, spec: ArrayView3<f64>) -> Result<(Array2<f64>, ndarray::Array3<f64>), B::Error> {
        let (coef, lb) = self.final_bounds(spec, |lin| self.backend.concretize(lin, &self.regions))?;
        Ok((lb, coef))
    }

    /// The backward pass of `spec` over groups of batch rows: each group's input coefficients and
    /// `per_row` of its linear bounds, as (rows × m × inputs, rows × m).
    fn final_bounds(&self, spec: ArrayView3<f64>, per_row: impl Fn(&LinearBatch<B>) -> Result<Array1<f64>, B::Error> + Sync) -> Result<(ndarray::Array3<f64>, Array2<f64>), B::Error> {
        let n = self.regions.len();
        let (_, m, _) = spec.dim();
        if n == 0 {
            return Ok((ndarray::Array3::zeros((0, m, self.net.input_dim())), Array2::zeros((0, m))));
        }
        let (per_task, parallel) = self.backend.task_rows(m * self.widest());
        let per_task = per_task.max(1);
        let task = |c: usize| -> Result<(Array1<f64>, Array2<f64>), B::Error> {
            let (first, last) = (c * per_task, ((c + 1) * per_task).min(n));
            let lin = self.backend.upload(LinearBatch::from_spec_at(spec.slice(ndarray::s![first..last, .., ..]), first))?;
            let lin = self.try_backward(self.net.layers.len(), lin, None, None, None)?;
            Ok((per_row(&lin)?, self.backend.coef_to_host(&lin)?))
        };
        let parts: Vec<(Array1<f64>, Array2<f64>)> = if parallel {
            (0..n.div_ceil(per_task)).into_par_iter().map(task).collect::<Result<_, _>>()?
        } else {
            (0..n.div_ceil(per_task)).map(task).collect::<Result<_, _>>()?
        };
        let values = ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.0.view()).collect::<Vec<_>>()).expect("1-D parts");
        let coef = ndarray::concatenate(Axis(0), &parts.iter().map(|p| p.1.view()).collect::<Vec<_>>()).expect("2-D parts");
        let d = coef.ncols();
        Ok((coef.into_shape_with_order((n, m, d)).expect("m rows per batch row"), reshape_rows(values, n)))
    }

    /// Moves `lin` (bounds over boundary `end`) back to the input through layers end−1 … 0. ReLUs use
    /// the slopes `alpha[layer]` (rows × neurons) where given, else the adaptive ones; where
    /// `signed_beta[layer]` is given (rows × neurons, β_j·s_j for split constraints s_j·z_j ≥ 0 of the
    /// row's sub-domain, β_j ≥ 0), its Lagrange terms are added (BETA-1); the coefficients on each
    /// ReLU's output are recorded on `tape`.
    pub(crate) fn try_backward(&self, end: usize, mut lin: LinearBatch<B>, alpha: LayerArrays, signed_beta: LayerArrays, mut tape: Option<&mut Tape>) -> Result<LinearBatch<B>, B::Error> {
        let b = self.backend;
        for i in (0..end).rev() {
            match &self.net.layers[i] {
                Layer::Affine(a) => b.affine_back(&mut lin, &self.weights, i, a, self.mags[i].as_ref().expect("computed in order"))?,
                Layer::Elementwise(e) => b.elementwise_back(&mut lin, e, self.elem_mags[i].as_ref().expect("computed in order"))?,
                Layer::Relu => {
                    if let Some(t) = tape.as_deref_mut() {
                        t.push((i, b.coef_to_host(&lin)?));
                    }
                    let (rx, dev) = self.relax[i].as_ref().expect("computed in order");
                    b.relu_back(&mut lin, rx, dev, alpha.and_then(|a| a[i].as_ref()))?;
                    if let Some(sb) = signed_beta.and_then(|s| s[i].as_ref()) {
                        b.split_terms(&mut lin, sb, rx)?;
                    }
                }
                Layer::Reshape { .. } => {}
            }
        }
        Ok(lin)
    }

    /// The network.
    pub fn network(&self) -> &Network {
        self.net
    }

    /// The regions.
    pub fn regions(&self) -> &RegionBatch<'r> {
        &self.regions
    }

    /// The relaxation of ReLU layer `layer`.
    pub(crate) fn relaxation(&self, layer: usize) -> Option<&ReluRelax> {
        self.relax[layer].as_ref().map(|r| &r.0)
    }

    /// The tightest known sound box of boundary `b` (the input of layer b) for each batch row.
    pub fn boundary_box(&self, b: usize) -> &BoxBatch {
        &self.boxes[b]
    }
}
