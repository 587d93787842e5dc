//! Falsification inside a box: projected (sign-)gradient descent on φ(x) = max_j (c_j·f(x) − d_j), the
//! largest violation of the term's output constraints; φ(x) ≤ 0 at a point of the box means every
//! constraint holds. Seeded random restarts; every candidate is checked (`check_counterexample`) before
//! it counts.
use super::check_counterexample;
use crate::net::Network;
use crate::rng::Philox;
use crate::vnnlib::Term;
use ndarray::Array1;

/// Options of the search.
#[derive(Clone, Debug, PartialEq)]
pub struct AttackOptions {
    pub restarts: usize,
    pub steps: usize,
    pub seed: u64,
}

impl Default for AttackOptions {
    fn default() -> Self {
        AttackOptions { restarts: 8, steps: 60, seed: 0 }
    }
}

/// φ at x and the index of the largest violation.
pub fn violation(net: &Network, term: &Term, x: &Array1<f64>) -> (f64, usize) {
    let y = net.forward(x.view());
    term.constraints
        .iter()
        .enumerate()
        .map(|(j, c)| (c.coef.iter().zip(y.iter()).map(|(a, v)| a * v).sum::<f64>() - c.bound.lo, j))
        .fold((f64::NEG_INFINITY, 0), |best, v| if v.0 > best.0 { v } else { best })
}

/// Searches the box [lo, hi] (within the term's box) for a checked counterexample of `term`; `stream`
/// names the random numbers (so searches of different boxes draw different starts).
pub fn search_box(net: &Network, term: &Term, lo: &[f64], hi: &[f64], opts: &AttackOptions, stream: u64) -> Option<(Vec<f64>, Vec<f64>)> {
    let d = lo.len();
    let rng = Philox::new(opts.seed);
    let (inner_lo, inner_hi) = term.inner_box();
    let clip = |x: &mut Array1<f64>| {
        for i in 0..d {
            let (l, h) = (lo[i].max(inner_lo[i]), hi[i].min(inner_hi[i]));
            x[i] = x[i].clamp(l.min(h), h.max(l));
        }
    };
    for r in 0..opts.restarts.max(1) {
        let mut x: Array1<f64> = (0..d)
            .map(|i| if r == 0 { 0.5 * lo[i] + 0.5 * hi[i] } else { rng.uniform_in(stream.wrapping_mul(1 << 20).wrapping_add(r as u64), i as u64, lo[i], hi[i]) })
            .collect();
        clip(&mut x);
        let mut step = 0.25;
        for _ in 0..opts.steps {
            let (phi, j) = violation(net, term, &x);
            if phi <= 0.0 {
                if let Some(y) = check_counterexample(net, term, x.as_slice().expect("contiguous")) {
                    return Some((x.to_vec(), y));
                }
                // on the boundary within rounding: push further into the unsafe set
            }
            let g = net.input_gradient(x.view(), ndarray::ArrayView1::from(&term.constraints[j].coef));
            for i in 0..d {
                let s = if g[i] > 0.0 { -1.0 } else if g[i] < 0.0 { 1.0 } else { 0.0 };
                x[i] += s * step * (hi[i] - lo[i]);
            }
            clip(&mut x);
            step *= 0.93;
        }
        if let Some(y) = check_counterexample(net, term, x.as_slice().expect("contiguous")) {
            return Some((x.to_vec(), y));
        }
    }
    None
}
