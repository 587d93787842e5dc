//! Seeded random networks: PyTorch's default `nn.Linear` initialisation (weights and biases uniform in
//! ±1/√fan_in) drawn from the project's Philox scheme, rounded to f32 so they export to ONNX exactly.
use super::{Affine, Layer, Network};
use crate::rng::Philox;
use ndarray::{Array1, Array2};

/// A ReLU MLP with layer sizes `sizes` (input, hidden…, output), reproducible from `seed`.
pub fn seeded_mlp(sizes: &[usize], seed: u64) -> Network {
    assert!(sizes.len() >= 2 && sizes.iter().all(|&s| s > 0), "an MLP needs an input and an output size");
    let rng = Philox::new(seed);
    let mut layers = Vec::new();
    for (l, w) in sizes.windows(2).enumerate() {
        let (n_in, n_out) = (w[0], w[1]);
        let bound = 1.0 / (n_in as f64).sqrt();
        let stream = l as u64;
        let weight = Array2::from_shape_fn((n_out, n_in), |(o, i)| rng.uniform_in(stream, (o * n_in + i) as u64, -bound, bound));
        let bias = Array1::from_shape_fn(n_out, |o| rng.uniform_in(stream, (n_out * n_in + o) as u64, -bound, bound));
        layers.push(Layer::Affine(Affine::new(weight, bias)));
        if l + 2 < sizes.len() {
            layers.push(Layer::Relu);
        }
    }
    let mut net = Network::new(vec![sizes[0]], layers).expect("sizes chain");
    net.round_weights_to_f32();
    net
}
