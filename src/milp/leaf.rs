//! The LP of a sub-domain on which every ReLU is fixed (active or inactive): there the network is
//! affine, so min over the polyhedron of max_j (c_j·f(x) − d_j) is a linear program. HiGHS solves it in
//! floating point; its point is only a *candidate* counterexample, re-checked rigorously by the caller
//! (BAB-2). Nothing here is a proof.
use crate::net::{Layer, Network};
use highs::{Col, HighsModelStatus, RowProblem, Sense};
use std::time::Duration;

/// Fixed bounds of every ReLU layer's input (l ≥ 0: active, u ≤ 0: inactive), per layer index.
pub type FixedBounds<'a> = &'a [Option<(ndarray::Array1<f64>, ndarray::Array1<f64>)>];

/// A point x of the box [lo, hi] on which the fixed activation pattern holds and which minimizes the
/// largest constraint excess t = max_j (c_j·f(x) − d_j), with t; `None` when the LP is infeasible or
/// HiGHS fails or runs out of time. `relu` must fix every neuron (else the LP is not the network).
pub fn fixed_pattern_minimum(net: &Network, lo: &[f64], hi: &[f64], relu: FixedBounds, constraints: &[(Vec<f64>, f64)], time: Duration) -> Option<(Vec<f64>, f64)> {
    let mut pb = RowProblem::default();
    let x: Vec<Col> = lo.iter().zip(hi).map(|(&l, &h)| pb.add_column(0.0, l..=h)).collect();
    // each value is a linear expression Σ coef·col + constant
    let mut h: Vec<(Vec<(Col, f64)>, f64)> = x.iter().map(|&c| (vec![(c, 1.0)], 0.0)).collect();
    for (i, layer) in net.layers.iter().enumerate() {
        h = match layer {
            Layer::Affine(a) => (0..a.out_dim())
                .map(|j| {
                    let z = pb.add_column(0.0, f64::NEG_INFINITY..=f64::INFINITY);
                    let mut row = vec![(z, 1.0)];
                    let mut rhs = a.bias[j];
                    for (k, (terms, c)) in h.iter().enumerate() {
                        let w = a.weight[[j, k]];
                        if w != 0.0 {
                            rhs += w * c;
                            row.extend(terms.iter().map(|&(col, v)| (col, -w * v)));
                        }
                    }
                    pb.add_row(rhs..=rhs, row);
                    (vec![(z, 1.0)], 0.0)
                })
                .collect(),
            Layer::Relu => {
                let (l, u) = relu[i].as_ref()?;
                h.into_iter()
                    .enumerate()
                    .map(|(j, (terms, c))| {
                        if l[j] >= 0.0 {
                            pb.add_row((-c).., terms.clone()); // z ≥ 0
                            Some((terms, c))
                        } else if u[j] <= 0.0 {
                            pb.add_row(..=(-c), terms); // z ≤ 0
                            Some((vec![], 0.0))
                        } else {
                            None // unstable: not a fixed pattern
                        }
                    })
                    .collect::<Option<Vec<_>>>()?
            }
            Layer::Elementwise(e) => {
                let (scale, shift) = e.as_scale_shift();
                h.into_iter()
                    .enumerate()
                    .map(|(j, (terms, c))| (terms.iter().map(|&(col, v)| (col, v * scale[j])).collect(), c * scale[j] + shift[j]))
                    .collect()
            }
            Layer::Reshape { .. } => h,
        };
    }
    let t = pb.add_column(1.0, f64::NEG_INFINITY..=f64::INFINITY);
    for (coef, d) in constraints {
        // Σ_q coef_q·y_q − d ≤ t
        let mut row = vec![(t, -1.0)];
        let mut constant = 0.0;
        for (q, &a) in coef.iter().enumerate() {
            if a != 0.0 {
                constant += a * h[q].1;
                row.extend(h[q].0.iter().map(|&(col, v)| (col, a * v)));
            }
        }
        pb.add_row(..=(d - constant), row);
    }
    let mut model = pb.try_optimise(Sense::Minimise).ok()?;
    model.make_quiet();
    model.set_option("time_limit", time.as_secs_f64().max(0.01));
    model.set_option("threads", 1i32);
    let solved = model.try_solve().ok()?;
    if solved.status() != HighsModelStatus::Optimal {
        return None;
    }
    let sol = solved.get_solution();
    let cols = sol.columns();
    Some((x.iter().map(|c| cols[c.index()]).collect(), solved.objective_value()))
}
