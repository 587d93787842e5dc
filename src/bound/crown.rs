//! CROWN (Zhang et al. 2018) with CROWN intermediate bounds and auto_LiRPA's default relaxation
//! (CROWN-1/CROWN-2 in `proofs/CROWN.md`): every ReLU's input bounds come from a backward pass of their
//! own, unstable neurons get the chord as upper line and the adaptive 0/1 lower slope.
use super::ibp::ibp_boundaries;
use super::linear::{adaptive_slope, relu_state, sum_up, weight_magnitude, LinearLower, ReluState, UpperLine};
use super::Interval;
use crate::net::{Layer, Network};
use crate::spec::Region;
use ndarray::{concatenate, s, Array1, Array2, Axis};

/// Everything CROWN knows about one input region: sound bounds at every boundary and the relaxation of
/// every ReLU. Built once per region, then used for any number of output specifications.
pub struct CrownContext<'n, 'r> {
    net: &'n Network,
    region: Region<'r>,
    /// CROWN bounds of the input of each ReLU layer (indexed by layer), `None` for other layers.
    pre: Vec<Option<Interval>>,
    /// Chords of the unstable neurons of each ReLU layer.
    lines: Vec<Vec<Option<UpperLine>>>,
    /// auto_LiRPA's adaptive lower slopes of each ReLU layer.
    adaptive: Vec<Vec<f64>>,
    /// Per affine layer: (Σ mag_in, |W|·mag_in), for the rounding-error terms of the backward pass.
    weight_mags: Vec<Option<(f64, Array1<f64>)>>,
}

/// A record of the backward pass for α-CROWN's gradient: the coefficients on each ReLU's output.
pub(crate) type Tape = Vec<(usize, Array2<f64>)>;

impl<'n, 'r> CrownContext<'n, 'r> {
    /// Computes IBP bounds, then CROWN bounds for the input of every ReLU layer in order.
    pub fn new(net: &'n Network, region: Region<'r>) -> Self {
        let n_layers = net.layers.len();
        let ibp = ibp_boundaries(net, &region);
        let mut mags: Vec<Array1<f64>> = ibp.iter().map(Interval::magnitude).collect();
        let mut ctx = CrownContext {
            net,
            region,
            pre: vec![None; n_layers],
            lines: vec![Vec::new(); n_layers],
            adaptive: vec![Vec::new(); n_layers],
            weight_mags: vec![None; n_layers],
        };
        for (i, layer) in net.layers.iter().enumerate() {
            match layer {
                Layer::Affine(a) => ctx.weight_mags[i] = Some((sum_up(&mags[i]), weight_magnitude(a, &mags[i]))),
                Layer::Relu => {
                    let bounds = ctx.boundary_bounds(i);
                    let tight = bounds.intersect(&ibp[i]);
                    mags[i] = tight.magnitude();
                    mags[i + 1] = tight.upper.mapv(|u| u.max(0.0));
                    ctx.lines[i] = (0..bounds.lower.len())
                        .map(|j| {
                            let (l, u) = (bounds.lower[j], bounds.upper[j]);
                            (relu_state(l, u) == ReluState::Unstable).then(|| UpperLine::chord(l, u))
                        })
                        .collect();
                    ctx.adaptive[i] =
                        bounds.lower.iter().zip(&bounds.upper).map(|(&l, &u)| adaptive_slope(l, u)).collect();
                    ctx.pre[i] = Some(bounds);
                }
                Layer::Reshape { .. } => {}
            }
        }
        ctx
    }

    /// The network this context bounds.
    pub fn network(&self) -> &Network {
        self.net
    }

    /// CROWN bounds of the input of ReLU layer `layer` (None for other layers).
    pub fn relu_input_bounds(&self, layer: usize) -> Option<&Interval> {
        self.pre[layer].as_ref()
    }

    /// Sound CROWN lower bounds of spec·f(x) over the region (auto_LiRPA's `method='CROWN'`).
    pub fn lower_bounds(&self, spec: &Array2<f64>) -> Array1<f64> {
        let adaptive = |layer: usize, _row: usize, j: usize| self.adaptive[layer][j];
        let lin = self.backward(self.net.layers.len(), LinearLower::identity(spec.as_standard_layout().to_owned()), &adaptive, None);
        lin.concretize(&self.region)
    }

    /// Bounds of boundary `end` (the input of layer `end`) by a backward pass of [I; −I].
    fn boundary_bounds(&self, end: usize) -> Interval {
        let adaptive = |layer: usize, _row: usize, j: usize| self.adaptive[layer][j];
        // Start one layer down when the boundary is an affine output: I·W = W exactly, so the first
        // step needs no product and no rounding-error term.
        let (start, lin) = match end.checked_sub(1).map(|i| &self.net.layers[i]) {
            Some(Layer::Affine(a)) => {
                let coef = concatenate(Axis(0), &[a.weight.view(), a.weight.mapv(|v| -v).view()]).unwrap();
                let constant = concatenate(Axis(0), &[a.bias.view(), a.bias.mapv(|v| -v).view()]).unwrap();
                let m = coef.nrows();
                (end - 1, LinearLower { coef, constant, slack: Array1::zeros(m) })
            }
            _ => {
                let n = self.net.boundary_dims().expect("validated")[end];
                (end, LinearLower::identity(crate::spec::logit_spec(n)))
            }
        };
        let lb = self.backward(start, lin, &adaptive, None).concretize(&self.region);
        let n = lb.len() / 2;
        Interval { lower: lb.slice(s![..n]).to_owned(), upper: lb.slice(s![n..]).mapv(|v| -v) }
    }

    /// Moves `lin` (a bound over boundary `end`) back to the input through layers end−1 … 0, relaxing
    /// each ReLU with lower slope `slope(layer, row, neuron)`; records ReLU coefficients on `tape`.
    pub(crate) fn backward(
        &self,
        end: usize,
        mut lin: LinearLower,
        slope: &dyn Fn(usize, usize, usize) -> f64,
        mut tape: Option<&mut Tape>,
    ) -> LinearLower {
        for i in (0..end).rev() {
            match &self.net.layers[i] {
                Layer::Affine(a) => {
                    let (mag_sum, wm) = self.weight_mags[i].as_ref().expect("computed in order");
                    lin.through_affine(a, *mag_sum, wm.view());
                }
                Layer::Relu => {
                    if let Some(t) = tape.as_deref_mut() {
                        t.push((i, lin.coef.clone()));
                    }
                    let pre = self.pre[i].as_ref().expect("ReLU bounds computed in order");
                    lin.through_relu(pre, &self.lines[i], |row, j| slope(i, row, j));
                }
                Layer::Reshape { .. } => {}
            }
        }
        lin
    }

    /// The region the context was built for.
    pub fn region(&self) -> &Region<'r> {
        &self.region
    }

    /// Chords of ReLU layer `layer`.
    pub(crate) fn lines(&self, layer: usize) -> &[Option<UpperLine>] {
        &self.lines[layer]
    }

    /// Adaptive lower slopes of ReLU layer `layer`.
    pub(crate) fn adaptive_slopes(&self, layer: usize) -> &[f64] {
        &self.adaptive[layer]
    }
}

/// Sound CROWN lower bounds of spec·f(x) over the region.
pub fn crown_lower_bounds(net: &Network, region: &Region, spec: &Array2<f64>) -> Array1<f64> {
    CrownContext::new(net, region.clone()).lower_bounds(spec)
}
