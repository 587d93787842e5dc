//! The network IR: a feed-forward chain over a flat per-sample vector, as a closed set of layer kinds.
//! Every algorithm (forward, IBP, CROWN, ONNX export, …) handles every [`Layer`] by an exhaustive `match`.
//!
//! Semantics: the network is the exact real-valued function given by its f64 weights (float32 ONNX
//! constants widen to f64 exactly). Elementwise maps by constants (ONNX Add/Sub/Mul/Div, e.g. input
//! normalisation) are kept as [`Layer::Elementwise`] layers exactly as the file states them — never
//! folded into a neighbouring dense layer, whose folded weights would round — so the certified network
//! is the network in the file.
pub mod init;
#[doc(hidden)]
pub mod onnx_proto;
mod onnx_read;
mod onnx_write;

pub use onnx_read::{read_onnx, read_onnx_bytes};
pub use onnx_write::{write_onnx, write_onnx_bytes};

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// A dense affine map h ↦ W·h + b with W of shape (out, in).
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    pub weight: Array2<f64>,
    pub bias: Array1<f64>,
}

impl Affine {
    /// Builds an affine layer; `bias.len()` must equal the number of rows of `weight`.
    pub fn new(weight: Array2<f64>, bias: Array1<f64>) -> Self {
        assert_eq!(weight.nrows(), bias.len(), "affine layer: bias length must equal output size");
        Affine { weight, bias }
    }
    pub fn in_dim(&self) -> usize {
        self.weight.ncols()
    }
    pub fn out_dim(&self) -> usize {
        self.weight.nrows()
    }
}

/// The operation of an elementwise layer, with its constant v (one value per element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemOp {
    /// h + v
    Add,
    /// h − v
    Sub,
    /// v − h (ONNX Sub with the activation second)
    SubFrom,
    /// h · v
    Mul,
    /// h / v (v ≠ 0)
    Div,
    /// h / √v (v > 0): BatchNormalization's division by √(var + ε), kept exact (√ rounds)
    DivSqrt,
}

impl ElemOp {
    /// The ONNX op type.
    pub fn onnx_name(self) -> &'static str {
        match self {
            ElemOp::Add => "Add",
            ElemOp::Sub | ElemOp::SubFrom => "Sub",
            ElemOp::Mul => "Mul",
            ElemOp::Div => "Div",
            ElemOp::DivSqrt => "BatchNormalization",
        }
    }
}

/// An elementwise map h ↦ h op v by a constant vector, kept as the ONNX node states it.
#[derive(Clone, Debug, PartialEq)]
pub struct Elementwise {
    pub op: ElemOp,
    pub value: Array1<f64>,
}

impl Elementwise {
    /// The layer; an error unless every constant is finite and no divisor is 0.
    pub fn new(op: ElemOp, value: Array1<f64>) -> crate::Result<Self> {
        if value.iter().any(|v| !v.is_finite()) {
            return Err(crate::Error::OnnxModel(format!("elementwise {} by a constant that is NaN or infinite", op.onnx_name())));
        }
        if op == ElemOp::Div && value.iter().any(|&v| v == 0.0) {
            return Err(crate::Error::OnnxModel("division by a constant that contains 0".into()));
        }
        if op == ElemOp::DivSqrt && value.iter().any(|&v| !(v > 0.0)) {
            return Err(crate::Error::OnnxModel("a variance + ε that is not positive".into()));
        }
        Ok(Elementwise { op, value })
    }

    pub fn dim(&self) -> usize {
        self.value.len()
    }

    /// The f64 result for element j (one correctly rounded operation).
    #[inline]
    pub fn apply(&self, h: f64, j: usize) -> f64 {
        let v = self.value[j];
        match self.op {
            ElemOp::Add => h + v,
            ElemOp::Sub => h - v,
            ElemOp::SubFrom => v - h,
            ElemOp::Mul => h * v,
            ElemOp::Div => h / v,
            ElemOp::DivSqrt => h / v.sqrt(),
        }
    }

    /// Applies the map to every column of a batch (one row per sample).
    pub fn apply_rows(&self, h: &mut Array2<f64>) {
        for mut row in h.rows_mut() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = self.apply(*x, j);
            }
        }
    }

    /// The map as h ↦ scale ⊙ h + shift in round-to-nearest f64 (exact except that a division's
    /// scale 1/v rounds): for consumers that make no proof (MILP encoding, smoothing, line pieces).
    pub fn as_scale_shift(&self) -> (Array1<f64>, Array1<f64>) {
        let n = self.dim();
        match self.op {
            ElemOp::Add => (Array1::ones(n), self.value.clone()),
            ElemOp::Sub => (Array1::ones(n), self.value.mapv(|v| -v)),
            ElemOp::SubFrom => (Array1::from_elem(n, -1.0), self.value.clone()),
            ElemOp::Mul => (self.value.clone(), Array1::zeros(n)),
            ElemOp::Div => (self.value.mapv(|v| 1.0 / v), Array1::zeros(n)),
            ElemOp::DivSqrt => (self.value.mapv(|v| 1.0 / v.sqrt()), Array1::zeros(n)),
        }
    }

    /// The exact map is h ↦ a ⊙ h + b with b = the returned shift exactly and |a − scale| ≤ the
    /// returned error bound elementwise (0 except for a division, whose scale fl(1/v) is within
    /// 2u·|fl(1/v)| + η of 1/v, and a division by √v, whose fl(1/fl(√v)) is within 4u·|·| + η of 1/√v:
    /// two correctly rounded operations; FP-1). For the sound backward pass (FP-5).
    pub fn scale_shift_with_error(&self) -> (Array1<f64>, Array1<f64>, Array1<f64>) {
        use crate::rigor::{up, MIN_SUBNORMAL, UNIT_ROUNDOFF};
        let (scale, shift) = self.as_scale_shift();
        let err = match self.op {
            ElemOp::Div => scale.mapv(|s| up(2.0 * UNIT_ROUNDOFF * s.abs()) + MIN_SUBNORMAL),
            ElemOp::DivSqrt => scale.mapv(|s| up(4.0 * UNIT_ROUNDOFF * s.abs()) + MIN_SUBNORMAL),
            ElemOp::Add | ElemOp::Sub | ElemOp::SubFrom | ElemOp::Mul => Array1::zeros(self.dim()),
        };
        (scale, shift, err)
    }

    /// A rigorous enclosure of the exact image of [l, u] at element j (directed rounding, FP-1); NaN
    /// (from ∞ · 0) never occurs since a zero factor gives exactly 0.
    pub fn interval(&self, l: f64, u: f64, j: usize) -> (f64, f64) {
        use crate::rigor::{down, up};
        let v = self.value[j];
        let (lo, hi) = match self.op {
            ElemOp::Add => (down(l + v), up(u + v)),
            ElemOp::Sub => (down(l - v), up(u - v)),
            ElemOp::SubFrom => (down(v - u), up(v - l)),
            ElemOp::Mul if v == 0.0 => (0.0, 0.0),
            ElemOp::Mul if v > 0.0 => (down(l * v), up(u * v)),
            ElemOp::Mul => (down(u * v), up(l * v)),
            ElemOp::Div if v > 0.0 => (down(l / v), up(u / v)),
            ElemOp::Div => (down(u / v), up(l / v)),
            ElemOp::DivSqrt => {
                // √v ∈ [s_lo, s_hi] (FP-1); h/s is smallest at the larger s for h ≥ 0, the smaller for h < 0
                let r = v.sqrt();
                let (s_lo, s_hi) = (down(r), up(r));
                (down(l / if l >= 0.0 { s_hi } else { s_lo }), up(u / if u >= 0.0 { s_lo } else { s_hi }))
            }
        };
        (if lo.is_nan() { f64::NEG_INFINITY } else { lo }, if hi.is_nan() { f64::INFINITY } else { hi })
    }
}

/// The closed set of layer kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// Dense affine map.
    Affine(Affine),
    /// Elementwise map by a constant (ONNX Add/Sub/Mul/Div), kept exact.
    Elementwise(Elementwise),
    /// Elementwise max(0, ·).
    Relu,
    /// Flatten or reshape: the identity on the flat per-sample vector; `shape` is the per-sample shape
    /// after the layer (kept so that exported models keep their tensor shapes).
    Reshape { shape: Vec<usize> },
}

/// What the model file applies after the last layer. Every method works on the outputs of `layers`
/// (the logits): a Softmax or LogSoftmax head is strictly increasing in each logit given the others
/// and keeps the argmax, so answers and radii are unchanged; only bounds on outputs differ (`rp bounds`
/// bounds the logits and says so).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Head {
    #[default]
    Logits,
    Softmax,
    LogSoftmax,
}

/// A feed-forward network: `layers` applied in order to a flat input of `input_shape`'s size.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Per-sample input shape (without the batch dimension).
    pub input_shape: Vec<usize>,
    pub layers: Vec<Layer>,
    /// A final Softmax / LogSoftmax of the file, not part of `layers` (see [`Head`]).
    pub head: Head,
}

impl Network {
    /// Builds a network and checks that consecutive layer sizes agree.
    pub fn new(input_shape: Vec<usize>, layers: Vec<Layer>) -> crate::Result<Self> {
        let net = Network { input_shape, layers, head: Head::Logits };
        net.boundary_dims()?;
        Ok(net)
    }

    /// Flat input size.
    pub fn input_dim(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Flat output size (number of classes for a classifier).
    pub fn output_dim(&self) -> usize {
        *self.boundary_dims().expect("network validated at construction").last().unwrap()
    }

    /// Sizes of every boundary: entry 0 is the input, entry i+1 the output of layer i.
    pub fn boundary_dims(&self) -> crate::Result<Vec<usize>> {
        let mut dims = vec![self.input_dim()];
        for (i, layer) in self.layers.iter().enumerate() {
            let d = *dims.last().unwrap();
            let next = match layer {
                Layer::Affine(a) => {
                    if a.in_dim() != d {
                        return Err(crate::Error::OnnxModel(format!(
                            "layer {i}: affine map takes {} inputs but receives {d}",
                            a.in_dim()
                        )));
                    }
                    a.out_dim()
                }
                Layer::Elementwise(e) => {
                    if e.dim() != d {
                        return Err(crate::Error::OnnxModel(format!("layer {i}: elementwise map of {} values receives {d}", e.dim())));
                    }
                    d
                }
                Layer::Relu => d,
                Layer::Reshape { shape } => {
                    let n: usize = shape.iter().product();
                    if n != d {
                        return Err(crate::Error::OnnxModel(format!(
                            "layer {i}: reshape to {shape:?} ({n} values) receives {d} values"
                        )));
                    }
                    d
                }
            };
            dims.push(next);
        }
        Ok(dims)
    }

    /// Forward pass of one input.
    pub fn forward(&self, x: ArrayView1<f64>) -> Array1<f64> {
        let mut h = x.to_owned();
        for layer in &self.layers {
            h = match layer {
                Layer::Affine(a) => a.weight.dot(&h) + &a.bias,
                Layer::Elementwise(e) => Array1::from_iter(h.iter().enumerate().map(|(j, &v)| e.apply(v, j))),
                Layer::Relu => h.mapv(|v| v.max(0.0)),
                Layer::Reshape { .. } => h,
            };
        }
        h
    }

    /// Batched forward pass: `xs` has one input per row; returns one output per row.
    pub fn forward_batch(&self, xs: ArrayView2<f64>) -> Array2<f64> {
        let mut h = xs.to_owned();
        for layer in &self.layers {
            h = match layer {
                Layer::Affine(a) => h.dot(&a.weight.t()) + &a.bias.view().insert_axis(Axis(0)),
                Layer::Elementwise(e) => {
                    e.apply_rows(&mut h);
                    h
                }
                Layer::Relu => h.mapv(|v| v.max(0.0)),
                Layer::Reshape { .. } => h,
            };
        }
        h
    }

    /// Batched forward pass that keeps what the input gradient needs: returns f(xs) (one row per input)
    /// and a function taking per-row output weights W (rows × outputs) to the gradients of
    /// W_r · f(x_r) with respect to x_r (rows × inputs; a ReLU's derivative at exactly 0 taken as 0).
    /// Used by attacks; never by a certificate.
    pub fn forward_with_tape<'s>(&'s self, xs: ArrayView2<f64>) -> (Array2<f64>, impl Fn(ArrayView2<f64>) -> Array2<f64> + 's) {
        let mut acts = Vec::with_capacity(self.layers.len());
        let mut h = xs.to_owned();
        for layer in &self.layers {
            let next = match layer {
                Layer::Affine(a) => h.dot(&a.weight.t()) + &a.bias.view().insert_axis(Axis(0)),
                Layer::Elementwise(e) => {
                    let mut v = h.clone();
                    e.apply_rows(&mut v);
                    v
                }
                Layer::Relu => h.mapv(|v| v.max(0.0)),
                Layer::Reshape { .. } => h.clone(),
            };
            acts.push(std::mem::replace(&mut h, next));
        }
        let backward = move |w: ArrayView2<f64>| {
            let mut g = w.to_owned();
            for (layer, input) in self.layers.iter().zip(&acts).rev() {
                g = match layer {
                    Layer::Affine(a) => g.dot(&a.weight),
                    Layer::Elementwise(e) => &g * &e.as_scale_shift().0.view().insert_axis(Axis(0)),
                    Layer::Relu => ndarray::Zip::from(&g).and(input).map_collect(|&gi, &v| if v > 0.0 { gi } else { 0.0 }),
                    Layer::Reshape { .. } => g,
                };
            }
            g
        };
        (h, backward)
    }

    /// Gradient of `weights · f(x)` with respect to x (a subgradient where a ReLU input is exactly 0,
    /// taking the ReLU's derivative there as 0). Used by attacks; never by a certificate.
    pub fn input_gradient(&self, x: ArrayView1<f64>, weights: ArrayView1<f64>) -> Array1<f64> {
        let mut acts = Vec::with_capacity(self.layers.len());
        let mut h = x.to_owned();
        for layer in &self.layers {
            acts.push(h.clone());
            h = match layer {
                Layer::Affine(a) => a.weight.dot(&h) + &a.bias,
                Layer::Elementwise(e) => Array1::from_iter(h.iter().enumerate().map(|(j, &v)| e.apply(v, j))),
                Layer::Relu => h.mapv(|v| v.max(0.0)),
                Layer::Reshape { .. } => h,
            };
        }
        let mut g = weights.to_owned();
        for (layer, input) in self.layers.iter().zip(&acts).rev() {
            g = match layer {
                Layer::Affine(a) => g.view().insert_axis(Axis(0)).dot(&a.weight).remove_axis(Axis(0)),
                Layer::Elementwise(e) => &g * &e.as_scale_shift().0,
                Layer::Relu => ndarray::Zip::from(&g).and(input).map_collect(|&gi, &v| if v > 0.0 { gi } else { 0.0 }),
                Layer::Reshape { .. } => g,
            };
        }
        g
    }

    /// Rounds every weight and bias to the nearest f32, so that the network equals its float32 ONNX
    /// export exactly.
    pub fn round_weights_to_f32(&mut self) {
        for layer in &mut self.layers {
            match layer {
                Layer::Affine(a) => {
                    a.weight.mapv_inplace(|v| v as f32 as f64);
                    a.bias.mapv_inplace(|v| v as f32 as f64);
                }
                Layer::Elementwise(e) => e.value.mapv_inplace(|v| v as f32 as f64),
                Layer::Relu | Layer::Reshape { .. } => {}
            }
        }
    }

    /// A two-class network for a single-logit binary model (BCE-style): appends the exact affine map
    /// y ↦ (t, y), so that argmax answers class 1 exactly when the logit y exceeds t and class 0
    /// otherwise (also at y = t: ties go to the lower index). t = 0 is sigmoid(y) > ½.
    pub fn threshold_head(&self, t: f64) -> crate::Result<Network> {
        if self.output_dim() != 1 {
            return Err(crate::Error::Option(format!("--decision threshold needs a model with one output (a logit); this one has {}", self.output_dim())));
        }
        if !t.is_finite() {
            return Err(crate::Error::Option(format!("--threshold must be a finite number, got {t}")));
        }
        if self.head != Head::Logits {
            return Err(crate::Error::Option("the model ends in a Softmax over one output, which is the constant 1: it answers nothing".into()));
        }
        let mut layers = self.layers.clone();
        layers.push(Layer::Affine(Affine::new(ndarray::array![[0.0], [1.0]], ndarray::array![t, 0.0])));
        Network::new(self.input_shape.clone(), layers)
    }

    /// The network with every run of elementwise layers that feeds an affine layer folded into it
    /// (W·diag(scale), b + W·shift) in round-to-nearest f64: the same function up to rounding, cheaper
    /// to sample. Only for consumers that evaluate in floating point and prove nothing (smoothing's
    /// Monte Carlo counts); the sound path always bounds the exact layers.
    pub fn fold_elementwise(&self) -> Network {
        let mut layers: Vec<Layer> = Vec::with_capacity(self.layers.len());
        let mut i = 0;
        while i < self.layers.len() {
            // a run of elementwise and reshape layers ending in an affine layer
            let run_end = self.layers[i..].iter().position(|l| !matches!(l, Layer::Elementwise(_) | Layer::Reshape { .. })).map(|p| i + p);
            let has_elem = self.layers[i..run_end.unwrap_or(self.layers.len())].iter().any(|l| matches!(l, Layer::Elementwise(_)));
            match run_end.map(|e| (e, &self.layers[e])) {
                Some((e, Layer::Affine(a))) if has_elem => {
                    let n = a.in_dim();
                    let (mut scale, mut shift): (Array1<f64>, Array1<f64>) = (Array1::ones(n), Array1::zeros(n));
                    for l in &self.layers[i..e] {
                        if let Layer::Elementwise(el) = l {
                            let (s2, t2) = el.as_scale_shift();
                            shift = &shift * &s2 + &t2;
                            scale = &scale * &s2;
                        }
                    }
                    let mut weight = a.weight.clone();
                    let bias = &a.bias + &a.weight.dot(&shift);
                    for (mut col, s) in weight.columns_mut().into_iter().zip(&scale) {
                        col.mapv_inplace(|w| w * s);
                    }
                    layers.extend(self.layers[i..e].iter().filter(|l| matches!(l, Layer::Reshape { .. })).cloned());
                    layers.push(Layer::Affine(Affine::new(weight, bias)));
                    i = e + 1;
                }
                _ => {
                    layers.push(self.layers[i].clone());
                    i += 1;
                }
            }
        }
        Network { input_shape: self.input_shape.clone(), layers, head: self.head }
    }

    /// A one-line shape, e.g. `11→64→2 (1 ReLU layer, 64 ReLUs)`: the input shape, then the output size
    /// of every affine layer.
    pub fn describe(&self) -> String {
        let input = self.input_shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×");
        let mut dims = vec![input];
        let mut relu_layers = 0;
        for layer in &self.layers {
            match layer {
                Layer::Affine(a) => dims.push(a.out_dim().to_string()),
                Layer::Relu => relu_layers += 1,
                Layer::Elementwise(_) | Layer::Reshape { .. } => {}
            }
        }
        let plural = |n: usize, one: &str, many: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {many}") };
        let head = match self.head {
            Head::Logits => "",
            Head::Softmax => " + Softmax",
            Head::LogSoftmax => " + LogSoftmax",
        };
        format!(
            "{}{head} ({}, {})",
            dims.join("→"),
            plural(relu_layers, "ReLU layer", "ReLU layers"),
            plural(self.relu_count(), "ReLU", "ReLUs")
        )
    }

    /// Number of ReLU neurons.
    pub fn relu_count(&self) -> usize {
        let dims = self.boundary_dims().expect("validated");
        self.layers
            .iter()
            .enumerate()
            .map(|(i, l)| match l {
                Layer::Relu => dims[i],
                Layer::Affine(_) | Layer::Elementwise(_) | Layer::Reshape { .. } => 0,
            })
            .sum()
    }
}

/// Index of the largest entry (the lowest index on ties) and whether the maximum is unique.
pub fn argmax(v: ArrayView1<f64>) -> (usize, bool) {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    let unique = v.iter().enumerate().all(|(i, &x)| i == best || x < v[best]);
    (best, unique)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn tiny() -> Network {
        Network::new(
            vec![2],
            vec![
                Layer::Affine(Affine::new(array![[1.0, -1.0], [2.0, 1.0]], array![0.0, -1.0])),
                Layer::Relu,
                Layer::Affine(Affine::new(array![[1.0, 1.0], [-1.0, 0.5]], array![0.5, 0.0])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn forward_matches_hand_computation() {
        let net = tiny();
        // x = (1, 2): pre = (-1, 3) -> relu (0, 3) -> (3.5, 1.5)
        let y = net.forward(array![1.0, 2.0].view());
        assert_eq!(y, array![3.5, 1.5]);
        let yb = net.forward_batch(array![[1.0, 2.0], [0.0, 0.0]].view());
        assert_eq!(yb.row(0), y);
        assert_eq!(yb.row(1), array![0.5, 0.0]);
    }

    #[test]
    fn gradient_matches_finite_difference() {
        let net = tiny();
        let x = array![1.0, 2.0];
        let w = array![1.0, -2.0];
        let g = net.input_gradient(x.view(), w.view());
        let f = |x: &Array1<f64>| net.forward(x.view()).dot(&w);
        for k in 0..2 {
            let mut xp = x.clone();
            xp[k] += 1e-6;
            let fd = (f(&xp) - f(&x)) / 1e-6;
            assert!((fd - g[k]).abs() < 1e-6);
        }
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let e = Network::new(vec![3], vec![Layer::Affine(Affine::new(array![[1.0, 1.0]], array![0.0]))]);
        assert!(e.unwrap_err().to_string().contains("takes 2 inputs but receives 3"));
    }

    #[test]
    fn argmax_reports_ties() {
        assert_eq!(argmax(array![1.0, 3.0, 3.0].view()), (1, false));
        assert_eq!(argmax(array![1.0, 3.0, 2.0].view()), (1, true));
    }
}
