//! Falsification inside a box: projected (sign-)gradient descent on φ(x) = max_j (c_j·f(x) − d_j), the
//! largest violation of the term's output constraints; φ(x) ≤ 0 at a point of the box means every
//! constraint holds. Seeded random restarts; every candidate is checked (`check_counterexample`) before
//! it counts.
use super::{check_counterexample, Counterexample};
use crate::net::Network;
use crate::rng::Philox;
use crate::vnnlib::Term;
use ndarray::Array2;

/// Options of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackOptions {
    pub restarts: usize,
    pub steps: usize,
    pub seed: u64,
}

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions { restarts: 16, steps: 60, seed: 0 }
    }
}

/// Searches the box [lo, hi] (within term `attacked`'s box) for a checked counterexample of the
/// property whose terms are `terms`, descending on the largest violation of term `attacked`; `stream`
/// names the random numbers (so searches of different boxes draw different starts). All restarts run
/// together as the rows of one batch (restart 0 starts at the center, the others at seeded uniform
/// points); each step moves every row by step·width against the sign of the gradient of its largest
/// violation, the step shrinking geometrically to 1% of its first value. Every iterate is screened
/// against *every* term (the unsafe set is their union: descending toward one class often lands in
/// another's, MNIST-FC 256x4 prop_6_0.05), and a hit counts only once `check_counterexample` holds.
/// Stops at `until`.
#[allow(clippy::too_many_arguments)]
pub fn search_box(net: &Network, terms: &[Term], attacked: usize, lo: &[f64], hi: &[f64], opts: &AttackOptions, stream: u64, until: std::time::Instant) -> Option<Counterexample> {
    let term = &terms[attacked];
    let d = lo.len();
    let rows = opts.restarts.max(1);
    let rng = Philox::new(opts.seed);
    let (inner_lo, inner_hi) = term.inner_box();
    let (clo, chi): (Vec<f64>, Vec<f64>) = (0..d)
        .map(|i| {
            let (l, h) = (lo[i].max(inner_lo[i]), hi[i].min(inner_hi[i]));
            (l.min(h), h.max(l))
        })
        .unzip();
    let mut x = Array2::from_shape_fn((rows, d), |(r, i)| {
        let v = if r == 0 { 0.5 * lo[i] + 0.5 * hi[i] } else { rng.uniform_in(stream.wrapping_mul(1 << 20).wrapping_add(r as u64), i as u64, lo[i], hi[i]) };
        v.clamp(clo[i], chi[i])
    });
    let coefs = Array2::from_shape_fn((term.constraints.len().max(1), net.output_dim()), |(j, q)| term.constraints.get(j).map_or(0.0, |c| c.coef[q]));
    let offsets: Vec<f64> = term.constraints.iter().map(|c| c.bound.lo).collect();
    let decay = 0.01f64.powf(1.0 / opts.steps.max(1) as f64);
    let mut step = 0.25;
    // every term's constraints stacked: one product screens a row against all of them
    let all: Vec<&crate::vnnlib::OutputConstraint> = terms.iter().flat_map(|tm| &tm.constraints).collect();
    let all_coefs = Array2::from_shape_fn((all.len(), net.output_dim()), |(k, q)| all[k].coef[q]);
    let firsts: Vec<usize> = terms.iter().scan(0, |k, tm| Some(std::mem::replace(k, *k + tm.constraints.len()))).collect();
    for it in 0..=opts.steps {
        let (y, grad_of) = net.forward_with_tape(x.view());
        let screen = y.dot(&all_coefs.t());
        for r in 0..rows {
            for (t, tm) in terms.iter().enumerate() {
                if (firsts[t]..firsts[t] + tm.constraints.len()).all(|k| screen[[r, k]] <= all[k].bound.lo) {
                    let xr = x.row(r).to_vec();
                    // (a point on the boundary within rounding fails the check: keep pushing)
                    if let Some(out) = check_counterexample(net, tm, &xr) {
                        return Some(Counterexample { term: t, input: xr, output: out });
                    }
                }
            }
        }
        // per row: the largest violation of the attacked term and its constraint
        let viol = y.dot(&coefs.t());
        let mut w = Array2::zeros(y.raw_dim());
        for r in 0..rows {
            let j = (0..offsets.len()).map(|j| (viol[[r, j]] - offsets[j], j)).fold((f64::NEG_INFINITY, 0), |b, v| if v.0 > b.0 { v } else { b }).1;
            w.row_mut(r).assign(&coefs.row(j));
        }
        if it == opts.steps || std::time::Instant::now() >= until {
            break;
        }
        let g = grad_of(w.view());
        for r in 0..rows {
            for i in 0..d {
                let sg = if g[[r, i]] > 0.0 { -1.0 } else if g[[r, i]] < 0.0 { 1.0 } else { 0.0 };
                x[[r, i]] = (x[[r, i]] + sg * step * (hi[i] - lo[i])).clamp(clo[i], chi[i]);
            }
        }
        step *= decay;
    }
    None
}
