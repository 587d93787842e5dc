//! Interval bound propagation (IBP-1 in `proofs/IBP.md`). The first affine layer over an ℓp ball is
//! bounded exactly per neuron, W·x₀ + b ± ε‖Wᵢ‖_q (as auto_LiRPA does), not by boxing the ball first.
use super::linear::{input_box, sum_up, weight_magnitude, LinearLower};
use super::Interval;
use crate::net::{Affine, Layer, Network};
use crate::rigor::{abs_dot_up, add_error, down, dot_error, up};
use crate::spec::Region;
use ndarray::{concatenate, Array1, Array2, Axis, Zip};

/// Sound intervals for every boundary of the network over the region: entry 0 contains the region,
/// entry i+1 contains the output of layer i for every x in the region.
pub fn ibp_boundaries(net: &Network, region: &Region) -> Vec<Interval> {
    let mut out = vec![input_box(region)];
    let mut on_input = true; // boundary reached from the input by reshapes only
    for layer in &net.layers {
        let prev = out.last().unwrap();
        let next = match layer {
            Layer::Affine(a) if on_input => first_affine(a, region),
            Layer::Affine(a) => affine_interval(a, prev),
            Layer::Relu => Interval { lower: prev.lower.mapv(|v| v.max(0.0)), upper: prev.upper.mapv(|v| v.max(0.0)) },
            Layer::Reshape { .. } => prev.clone(),
        };
        on_input &= matches!(layer, Layer::Reshape { .. });
        out.push(next);
    }
    out
}

/// Sound lower bounds of spec·f(x): IBP up to the last layer; a final affine layer is merged with the
/// spec (C·W, C·b) before concretizing over its input interval, as auto_LiRPA's IBP does with C.
pub fn ibp_lower_bounds(net: &Network, region: &Region, spec: &Array2<f64>) -> Array1<f64> {
    let bounds = ibp_boundaries(net, region);
    let mut lin = LinearLower::identity(spec.as_standard_layout().to_owned());
    match net.layers.split_last() {
        Some((Layer::Affine(a), before)) => {
            let inp = &bounds[before.len()];
            let mag = inp.magnitude();
            lin.through_affine(a, sum_up(&mag), weight_magnitude(a, &mag).view());
            if before.iter().all(|l| matches!(l, Layer::Reshape { .. })) {
                lin.concretize(region) // a purely affine network: exact over the region
            } else {
                lin.concretize_box(inp)
            }
        }
        _ => lin.concretize_box(bounds.last().unwrap()),
    }
}

/// Exact per-neuron bounds of W·x + b over the region (both signs through one concretization).
fn first_affine(a: &Affine, region: &Region) -> Interval {
    let k = a.out_dim();
    let spec = concatenate(Axis(0), &[a.weight.view(), a.weight.mapv(|v| -v).view()]).unwrap();
    let mut lin = LinearLower::identity(spec);
    lin.constant = concatenate(Axis(0), &[a.bias.view(), a.bias.mapv(|v| -v).view()]).unwrap();
    let lb = lin.concretize(region);
    Interval { lower: lb.slice(ndarray::s![..k]).to_owned(), upper: lb.slice(ndarray::s![k..]).mapv(|v| -v) }
}

/// Interval image of a box under W·h + b in midpoint–radius form with rigorous outward rounding.
pub(crate) fn affine_interval(a: &Affine, inp: &Interval) -> Interval {
    let mid = Zip::from(&inp.lower).and(&inp.upper).map_collect(|l, u| 0.5 * l + 0.5 * u);
    let rad = Zip::from(&inp.lower).and(&inp.upper).and(&mid).map_collect(|l, u, m| up(u - m).max(up(m - l)));
    let abs_mid = mid.mapv(f64::abs);
    let n = a.in_dim();
    let center = a.weight.dot(&mid);
    let mut lower = Array1::zeros(a.out_dim());
    let mut upper = Array1::zeros(a.out_dim());
    for (j, row) in a.weight.axis_iter(Axis(0)).enumerate() {
        let row = row.as_slice().unwrap();
        let c = center[j] + a.bias[j];
        let spread = up(abs_dot_up(row, rad.as_slice().unwrap()) + dot_error(n, abs_dot_up(row, abs_mid.as_slice().unwrap())));
        let spread = up(spread + add_error(c));
        lower[j] = down(c - spread);
        upper[j] = up(c + spread);
    }
    Interval { lower, upper }
}
