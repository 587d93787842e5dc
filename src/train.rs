//! Training of the paper's model (SPEC §4.1): a ReLU MLP (one hidden layer in the paper; any number
//! here) with softmax cross-entropy, Adam, and an ℓ1 penalty on the first-layer weights of every input
//! except the exempt (sensitive) ones, applied as a proximal step (soft-thresholding after each Adam
//! step, so unused inputs get weights of exactly zero). Optional Gaussian-noise augmentation trains the
//! base model of a smoothed classifier.
//!
//! What it is for: producing the small tabular models the APE experiment certifies, reproducibly. It is
//! not a general training framework. Every random choice (initialization, shuffling, noise) comes from the
//! project's Philox scheme keyed by the seed; the arithmetic is single-threaded, so the result does not
//! depend on the thread count.
use crate::net::{init::seeded_mlp, Affine, Layer, Network};
use crate::rng::Philox;
use crate::{Error, Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Training options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Widths of the hidden ReLU layers, input side first (at least one layer, each at least 1 wide).
    pub hidden: Vec<usize>,
    pub epochs: usize,
    pub batch: usize,
    /// Adam step size at the start (cosine-annealed to 1/100 of it by the last epoch).
    pub learning_rate: f64,
    /// ℓ1 penalty weight λ on the non-exempt first-layer weights.
    pub l1: f64,
    /// Model-input indices exempt from the ℓ1 penalty (the sensitive attribute).
    pub l1_exempt: Vec<usize>,
    /// Standard deviation of Gaussian noise added to each training input (0 = none), model-input units.
    pub noise_sigma: f64,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions { hidden: vec![64], epochs: 30, batch: 128, learning_rate: 0.01, l1: 1e-3, l1_exempt: vec![], noise_sigma: 0.0, seed: 0 }
    }
}

impl TrainOptions {
    /// Rejects options that cannot train, naming the fix.
    pub fn validate(&self, input_dim: usize) -> Result<()> {
        let bad = |m: String| Err(Error::Option(m));
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return bad(format!(
                "--hidden needs at least one hidden layer and every width at least 1, got [{}]; give the widths comma-separated, e.g. --hidden 64 or --hidden 64,32",
                self.hidden.iter().map(|h| h.to_string()).collect::<Vec<_>>().join(",")
            ));
        }
        if self.epochs == 0 || self.batch == 0 {
            return bad("--epochs and --batch must be at least 1".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad(format!("--lr must be a finite number > 0, got {}", self.learning_rate));
        }
        if !(self.l1 >= 0.0 && self.l1.is_finite()) || !(self.noise_sigma >= 0.0 && self.noise_sigma.is_finite()) {
            return bad("--l1 and --noise-sigma must be finite and ≥ 0".into());
        }
        // what training holds in memory: weights, gradients and Adam's moments of d×h₁ + h₁×h₂ + … + h_L×K
        // (K ≤ 2 here counts as 8), and a batch of activations of every hidden layer
        let widths: Vec<f64> = self.hidden.iter().map(|&h| h as f64).collect();
        let params = input_dim as f64 * widths[0] + widths.windows(2).map(|w| w[0] * w[1]).sum::<f64>() + 8.0 * widths[widths.len() - 1];
        let units: f64 = widths.iter().sum();
        crate::limits::check_memory("--hidden", 8.0 * (4.0 * params + 3.0 * self.batch as f64 * units), "use a smaller --hidden or --batch")?;
        if let Some(&k) = self.l1_exempt.iter().find(|&&k| k >= input_dim) {
            return bad(format!("ℓ1-exempt input {k} is out of range: the model has {input_dim} inputs"));
        }
        Ok(())
    }
}

/// Per-epoch mean training loss (cross-entropy + ℓ1 term).
#[derive(Clone, Debug, Serialize)]
pub struct TrainLog {
    pub epoch_loss: Vec<f64>,
    /// First-layer weights that are exactly zero after training, and their number.
    pub zero_first_layer_weights: usize,
    pub first_layer_weights: usize,
}

/// Adam state of one parameter tensor.
struct Adam {
    m: Vec<f64>,
    v: Vec<f64>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Adam { m: vec![0.0; n], v: vec![0.0; n] }
    }

    /// One Adam step (β₁ = 0.9, β₂ = 0.999, ε = 1e-8) at step count `t` ≥ 1.
    fn step(&mut self, params: &mut [f64], grads: &[f64], lr: f64, t: i32) {
        let (b1, b2) = (0.9f64, 0.999f64);
        let (c1, c2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        for ((p, &g), (m, v)) in params.iter_mut().zip(grads).zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// Trains an MLP `d → hidden[0] → … → hidden[L-1] → K` (ReLU after every hidden layer) on rows `x`
/// with classes `y` (K = max class + 1, at least 2). The ℓ1 penalty applies to the first layer only.
/// The returned network's weights are rounded to f32, so it exports to ONNX exactly.
pub fn train_mlp(x: ArrayView2<f64>, y: &[usize], opts: &TrainOptions) -> Result<(Network, TrainLog)> {
    let (n, d) = x.dim();
    opts.validate(d)?;
    if n == 0 || n != y.len() {
        return Err(Error::Option(format!("training needs one class per row and at least one row (rows {n}, labels {})", y.len())));
    }
    if x.iter().any(|v| !v.is_finite()) {
        return Err(Error::Option("training inputs contain NaN or infinite values".into()));
    }
    let k = (y.iter().copied().max().unwrap_or(0) + 1).max(2);
    let sizes: Vec<usize> = std::iter::once(d).chain(opts.hidden.iter().copied()).chain(std::iter::once(k)).collect();
    let init = seeded_mlp(&sizes, opts.seed);
    // the affine layers' weights and biases, input side first (seeded_mlp puts a ReLU between each two)
    let (mut ws, mut bs): (Vec<Array2<f64>>, Vec<Array1<f64>>) = init
        .layers
        .iter()
        .filter_map(|l| match l {
            Layer::Affine(a) => Some((a.weight.clone(), a.bias.clone())),
            _ => None,
        })
        .unzip();
    let depth = ws.len(); // affine layers: hidden layers + 1
    debug_assert_eq!(depth, sizes.len() - 1);
    let penalized: Vec<bool> = (0..d).map(|j| !opts.l1_exempt.contains(&j)).collect();
    // Adam state per affine layer: (weight, bias)
    let mut adam: Vec<(Adam, Adam)> = ws.iter().zip(&bs).map(|(w, b)| (Adam::new(w.len()), Adam::new(b.len()))).collect();
    let rng = Philox::new(opts.seed ^ 0x7472_6169_6e00); // "train": a stream family apart from the initialization
    let mut order: Vec<usize> = (0..n).collect();
    let mut step = 0i32;
    let mut epoch_loss = Vec::with_capacity(opts.epochs);
    for epoch in 0..opts.epochs as u64 {
        shuffle(&mut order, &rng, 2 * epoch);
        let mut total = 0.0;
        for (b, chunk) in order.chunks(opts.batch).enumerate() {
            let mut xb = x.select(Axis(0), chunk);
            if opts.noise_sigma > 0.0 {
                let mut z = vec![0.0; xb.len()];
                rng.fill_normal_pairs(2 * epoch + 1, (b * (opts.batch * d).div_ceil(2)) as u64, &mut z);
                xb.iter_mut().zip(&z).for_each(|(v, e)| *v += opts.noise_sigma * e);
            }
            // forward: inputs[l] feeds affine layer l, pres[l] is its output before the ReLU
            let mut inputs: Vec<Array2<f64>> = Vec::with_capacity(depth);
            let mut pres: Vec<Array2<f64>> = Vec::with_capacity(depth - 1);
            inputs.push(xb);
            for l in 0..depth - 1 {
                let pre = inputs[l].dot(&ws[l].t()) + &bs[l];
                inputs.push(pre.mapv(|v| v.max(0.0)));
                pres.push(pre);
            }
            let logits = inputs[depth - 1].dot(&ws[depth - 1].t()) + &bs[depth - 1];
            // softmax cross-entropy and its gradient (mean over the batch)
            let m = chunk.len() as f64;
            let mut g_logits = Array2::<f64>::zeros(logits.dim());
            for (i, (row, &c)) in logits.outer_iter().zip(chunk.iter().map(|&r| &y[r])).enumerate() {
                let top = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
                let sum: f64 = row.iter().map(|v| (v - top).exp()).sum();
                total += (sum.ln() + top - row[c]) / n as f64;
                for j in 0..k {
                    g_logits[[i, j]] = ((row[j] - top).exp() / sum - (j == c) as u8 as f64) / m;
                }
            }
            // backward, output side first: g is the gradient at affine layer l's output
            let mut g_ws: Vec<Array2<f64>> = Vec::with_capacity(depth);
            let mut g_bs: Vec<Array1<f64>> = Vec::with_capacity(depth);
            let mut g = g_logits;
            for l in (0..depth).rev() {
                g_ws.push(g.t().dot(&inputs[l]));
                g_bs.push(g.sum_axis(Axis(0)));
                if l > 0 {
                    let mut g_pre = g.dot(&ws[l]);
                    g_pre.zip_mut_with(&pres[l - 1], |g, &p| if p <= 0.0 { *g = 0.0 });
                    g = g_pre;
                }
            }
            g_ws.reverse();
            g_bs.reverse();
            step += 1;
            let lr = cosine_rate(opts.learning_rate, epoch as f64 / opts.epochs as f64);
            for l in 0..depth {
                adam[l].0.step(ws[l].as_slice_mut().unwrap(), g_ws[l].as_standard_layout().as_slice().unwrap(), lr, step);
                adam[l].1.step(bs[l].as_slice_mut().unwrap(), g_bs[l].as_slice().unwrap(), lr, step);
            }
            soft_threshold(&mut ws[0], &penalized, &adam[0].0, lr * opts.l1, step);
        }
        let l1_term: f64 = ws[0].indexed_iter().filter(|((_, j), _)| penalized[*j]).map(|(_, v)| v.abs()).sum::<f64>() * opts.l1;
        let loss = total + l1_term;
        if !loss.is_finite() || ws.iter().flat_map(|w| w.iter()).any(|v| !v.is_finite()) {
            return Err(Error::Option(format!(
                "training diverged in epoch {} (loss {loss}, with --lr {}): the weights overflowed; use a smaller --lr",
                epoch_loss.len() + 1,
                opts.learning_rate
            )));
        }
        epoch_loss.push(loss);
    }
    let zero = ws[0].iter().filter(|&&v| v == 0.0).count();
    let mut layers = Vec::with_capacity(2 * depth - 1);
    for (l, (w, b)) in ws.into_iter().zip(bs).enumerate() {
        if l > 0 {
            layers.push(Layer::Relu);
        }
        layers.push(Layer::Affine(Affine::new(w, b)));
    }
    let mut net = Network::new(vec![d], layers)?;
    net.round_weights_to_f32();
    let first_layer_weights = d * opts.hidden[0];
    Ok((net, TrainLog { epoch_loss, zero_first_layer_weights: zero, first_layer_weights }))
}

/// Proximal step of lr·λ·Σ|w| on the penalized columns in Adam's diagonal metric (proximal Adam):
/// w ← sign(w)·max(|w| − τ_w, 0) with τ_w = lr·λ / (√v̂_w + ε), the same per-weight scaling Adam gives
/// the loss gradient, so the penalty competes with the loss on equal terms.
fn soft_threshold(w: &mut Array2<f64>, penalized: &[bool], adam: &Adam, lr_l1: f64, t: i32) {
    let d = penalized.len();
    let c2 = 1.0 - 0.999f64.powi(t);
    for (i, v) in w.as_slice_mut().expect("standard layout").iter_mut().enumerate() {
        if penalized[i % d] {
            let tau = lr_l1 / ((adam.v[i] / c2).sqrt() + 1e-8);
            *v = v.signum() * (v.abs() - tau).max(0.0);
        }
    }
}

/// Cosine annealing from `lr` at progress 0 to `lr`/100 at progress 1 (a stable end point: the last
/// epochs take small steps, so the final weights do not depend on where an oscillation stopped).
fn cosine_rate(lr: f64, progress: f64) -> f64 {
    let floor = lr / 100.0;
    floor + 0.5 * (lr - floor) * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Fisher–Yates shuffle driven by Philox stream `stream`.
fn shuffle(order: &mut [usize], rng: &Philox, stream: u64) {
    for i in (1..order.len()).rev() {
        let u = rng.uniform_pair(stream, i as u64)[0];
        let j = ((u * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
}

/// Fraction of rows whose answer (argmax) equals `y`.
pub fn accuracy(net: &Network, x: ArrayView2<f64>, y: &[usize]) -> f64 {
    let out = net.forward_batch(x);
    let hits = out.outer_iter().zip(y).filter(|(o, &c)| crate::net::argmax(o.view()).0 == c).count();
    hits as f64 / y.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two informative inputs and three noise inputs: the penalty must zero the noise inputs' weights
    /// while the exempt input carries the label.
    #[test]
    fn learns_a_threshold_and_zeroes_penalized_noise_inputs() {
        let rng = Philox::new(3);
        let n = 2000;
        let x = Array2::from_shape_fn((n, 4), |(i, j)| rng.normal_pair(i as u64, j as u64)[0]);
        let y: Vec<usize> = (0..n).map(|i| (x[[i, 0]] > 0.5) as usize).collect();
        let opts = TrainOptions { hidden: vec![8], epochs: 40, l1: 1e-2, l1_exempt: vec![0], ..Default::default() };
        let (net, log) = train_mlp(x.view(), &y, &opts).unwrap();
        assert!(accuracy(&net, x.view(), &y) > 0.99, "accuracy {}", accuracy(&net, x.view(), &y));
        assert!(log.epoch_loss.last().unwrap() < &log.epoch_loss[0]);
        let Layer::Affine(a) = &net.layers[0] else { panic!() };
        let noise_mass: f64 = a.weight.column(1).iter().chain(a.weight.column(2)).chain(a.weight.column(3)).map(|v| v.abs()).sum();
        let informative: f64 = a.weight.column(0).iter().map(|v| v.abs()).sum();
        assert!(noise_mass < 1e-2 * informative && log.zero_first_layer_weights >= 12, "penalized weights not suppressed: {noise_mass} vs {informative}, {} zeros", log.zero_first_layer_weights);
        // reproducible
        let (again, _) = train_mlp(x.view(), &y, &opts).unwrap();
        assert_eq!(format!("{:?}", again.layers), format!("{:?}", net.layers));
    }

    #[test]
    fn rejects_bad_options_and_data() {
        let x = Array2::<f64>::zeros((3, 2));
        let e = train_mlp(x.view(), &[0, 1], &TrainOptions::default()).unwrap_err().to_string();
        assert!(e.contains("one class per row"), "{e}");
        let e = train_mlp(x.view(), &[0, 1, 0], &TrainOptions { l1_exempt: vec![5], ..Default::default() }).unwrap_err().to_string();
        assert!(e.contains("ℓ1-exempt input 5"), "{e}");
        let mut bad = x.clone();
        bad[[0, 0]] = f64::NAN;
        assert!(train_mlp(bad.view(), &[0, 1, 0], &TrainOptions::default()).is_err());
        for hidden in [vec![], vec![0], vec![16, 0]] {
            let e = train_mlp(x.view(), &[0, 1, 0], &TrainOptions { hidden: hidden.clone(), ..Default::default() }).unwrap_err().to_string();
            assert!(e.contains("--hidden") && e.contains("--hidden 64,32") && !e.contains('\n'), "{hidden:?}: {e}");
        }
        // every layer counts towards the memory estimate
        let e = TrainOptions { hidden: vec![4, 1 << 40], ..Default::default() }.validate(2).unwrap_err().to_string();
        assert!(e.contains("--hidden") && e.contains("GiB"), "{e}");
        // the widths are a JSON array, and unknown fields are refused
        let json = serde_json::to_value(TrainOptions { hidden: vec![64, 32], ..Default::default() }).unwrap();
        assert_eq!(json["hidden"], serde_json::json!([64, 32]));
        assert_eq!(serde_json::from_value::<TrainOptions>(json.clone()).unwrap().hidden, vec![64, 32]);
        let mut extra = json;
        extra["width"] = 3.into();
        assert!(serde_json::from_value::<TrainOptions>(extra).is_err());
    }

    /// Two hidden layers learn three regions of the plane (a disc and the two half-planes around it),
    /// which no linear model separates; training is reproducible.
    #[test]
    fn two_hidden_layers_learn_three_nonlinear_regions() {
        let rng = Philox::new(11);
        let n = 2000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| rng.normal_pair(i as u64, 0)[j]);
        let y: Vec<usize> = (0..n)
            .map(|i| {
                let (a, b) = (x[[i, 0]], x[[i, 1]]);
                if a * a + b * b < 1.0 {
                    0
                } else if b > 0.0 {
                    1
                } else {
                    2
                }
            })
            .collect();
        assert!((0..3).all(|c| y.iter().filter(|&&v| v == c).count() > n / 5), "unbalanced toy problem");
        let opts = TrainOptions { hidden: vec![16, 8], epochs: 60, batch: 64, learning_rate: 0.01, l1: 0.0, seed: 5, ..Default::default() };
        let (net, log) = train_mlp(x.view(), &y, &opts).unwrap();
        let acc = accuracy(&net, x.view(), &y);
        assert!(acc > 0.95, "training accuracy {acc}");
        assert!(log.epoch_loss.last().unwrap() < &log.epoch_loss[0]);
        assert_eq!(log.first_layer_weights, 2 * 16);
        let shapes: Vec<Option<(usize, usize)>> = net
            .layers
            .iter()
            .map(|l| match l {
                Layer::Affine(a) => {
                    assert_eq!(a.bias.len(), a.weight.nrows());
                    assert!(a.weight.iter().chain(a.bias.iter()).all(|&v| v == v as f32 as f64), "weights not rounded to f32");
                    Some(a.weight.dim())
                }
                Layer::Relu => None,
                other => panic!("unexpected layer {other:?}"),
            })
            .collect();
        assert_eq!(shapes, vec![Some((16, 2)), None, Some((8, 16)), None, Some((3, 8))]);
        let (again, log_again) = train_mlp(x.view(), &y, &opts).unwrap();
        assert_eq!(format!("{:?}", again.layers), format!("{:?}", net.layers));
        assert_eq!(log_again.epoch_loss, log.epoch_loss);
    }
}
