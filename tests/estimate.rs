//! RADIUS-3's estimated start (`rp::cert::estimate`): on one hidden layer the estimate is CROWN's own
//! radius (its relaxation of the network linearized at x₀ is CROWN's relaxation there), so the
//! default search closes in about two checks per row; on deeper networks it is a start only. Soundness
//! of the searches that use it is `soundness::certified_balls_keep_the_answer` (the default search).
mod common;
use common::*;
use ndarray::{Array1, Array2, Axis};
use rp::bound::BoundMethod;
use rp::cert::deterministic::{lockstep_search, outputs_and_starts, BoundCertifier};
use rp::cert::{estimate, Batch, Certificate, RadiusSearch, SearchStart};
use rp::progress::NoProgress;
use rp::spec::{Decision, Norm};
use std::cell::Cell;

fn inputs(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let rows: Vec<Array1<f64>> = (0..n).map(|i| random_point(d, seed * 1000 + i as u64)).collect();
    ndarray::stack(Axis(0), &rows.iter().map(|r| r.view()).collect::<Vec<_>>()).unwrap()
}

/// The CROWN radii of every row under `start`, and the checks the searches took.
fn radii(cert: &BoundCertifier, xs: &Array2<f64>, start: SearchStart) -> (Vec<f64>, usize) {
    let ids: Vec<usize> = (0..xs.nrows()).collect();
    let search = RadiusSearch { start, ..cert.search.clone() };
    let checks = Cell::new(0);
    let certs = lockstep_search(&cert.net, cert.decision, cert.norm, &search, Batch { inputs: xs.view(), row_ids: &ids }, &NoProgress, |c, k, e| {
        checks.set(checks.get() + k.len());
        cert.certifies(c, k, e)
    })
    .unwrap();
    (certs.iter().map(Certificate::radius_value).collect(), checks.get())
}

#[test]
fn on_one_hidden_layer_the_estimate_is_crowns_radius_and_two_checks_find_it() {
    let (mut rows, mut agree, mut checks) = (0, 0, 0);
    for seed in 0..12u64 {
        let (d, h, k) = (2 + seed as usize % 5, 8 + 3 * seed as usize, 2 + seed as usize % 3);
        let net = random_net(&[d, h, k], seed, 1.0);
        let net = if seed % 2 == 1 { with_elementwise(&net, seed) } else { net };
        let norm = [Norm::Linf, Norm::L2, Norm::L1][seed as usize % 3];
        let xs = inputs(40, d, seed);
        let cert = BoundCertifier { net, method: BoundMethod::crown(), norm, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
        assert!(estimate::affordable(&cert.net));
        let (_, _, est) = outputs_and_starts(&cert.net, cert.decision, norm, xs.view(), &cert.search);
        let (linearized, _) = radii(&cert, &xs, SearchStart::Linearized);
        let (estimated, n) = radii(&cert, &xs, SearchStart::Estimated);
        checks += n;
        for ((&e, &r), &r2) in est.iter().zip(&linearized).zip(&estimated) {
            rows += 1;
            // both searches report CROWN's radius to the tolerance
            assert!((r - r2).abs() <= 2e-4 * r.max(r2), "seed {seed}: radii {r} and {r2}");
            if (e - r).abs() <= 1.5e-4 * r {
                agree += 1;
            }
        }
    }
    eprintln!("{agree} of {rows} estimates are CROWN's radius; {:.2} checks per row", checks as f64 / rows as f64);
    // CROWN's bound may jump (its adaptive lower slope flips), where the two searches may stop at
    // different jumps: nearly every row agrees
    assert!(agree * 100 >= rows * 95, "{agree} of {rows} estimates are CROWN's radius");
    assert!(checks * 10 <= rows * 23, "{:.2} checks per row", checks as f64 / rows as f64);
}

#[test]
fn the_estimate_is_only_computed_where_it_is_cheap() {
    assert!(estimate::affordable(&random_net(&[5, 50, 50, 5], 1, 1.0)));
    assert!(!estimate::affordable(&random_net(&[784, 256, 256, 10], 1, 0.1)));
    // one ReLU layer: the tangents are the first layer's weights, shared by every row
    assert!(estimate::affordable(&random_net(&[2048, 64, 10], 1, 0.1)));
    // without an estimate the default search starts from the linearized distance
    let net = random_net(&[40, 20, 20, 3], 2, 1.0);
    let xs = inputs(5, 40, 2);
    let (_, linear, est) = outputs_and_starts(&net, Decision::Argmax, Norm::Linf, xs.view(), &RadiusSearch::default());
    assert!(est.iter().all(|e| e.is_nan()) && linear.iter().all(|l| *l > 0.0));
}

#[test]
fn on_deeper_networks_the_estimate_is_a_start_near_the_radius() {
    let net = random_net(&[4, 24, 24, 24, 3], 5, 1.0);
    let xs = inputs(60, 4, 5);
    let cert = BoundCertifier { net, method: BoundMethod::crown(), norm: Norm::Linf, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
    let (_, linear, est) = outputs_and_starts(&cert.net, cert.decision, cert.norm, xs.view(), &cert.search);
    let (r, _) = radii(&cert, &xs, SearchStart::Estimated);
    let (r_lin, _) = radii(&cert, &xs, SearchStart::Linearized);
    let log_gap = |a: &[f64]| a.iter().zip(&r).filter(|(_, r)| **r > 0.0).map(|(a, r)| (a / r).ln().abs()).sum::<f64>();
    eprintln!("log gaps: estimate {:.2}, linearized {:.2}", log_gap(&est), log_gap(&linear));
    // the estimate lies nearer the radius than the linearized distance does, and both searches agree
    assert!(log_gap(&est) < log_gap(&linear), "estimate {} vs linearized {}", log_gap(&est), log_gap(&linear));
    let same = r.iter().zip(&r_lin).filter(|(a, b)| (*a - *b).abs() <= 2e-4 * a.max(**b)).count();
    eprintln!("{same} of {} radii agree", r.len());
    assert!(same * 10 >= r.len() * 9, "{same} of {} radii agree", r.len());
}

/// The surrogate written out plainly, one row and one spec row at a time: a forward pass of the input's
/// Jacobian (d tangents), each ReLU input's bounds z ± ε‖∇z‖_q, and CROWN's final backward pass over
/// them; its root by bisection in log scale.
fn reference_estimate(net: &rp::net::Network, x: ndarray::ArrayView1<f64>, norm: Norm, spec: ndarray::ArrayView2<f64>, lin: f64) -> f64 {
    use rp::net::Layer;
    let dual = |r: ndarray::ArrayView1<f64>| match norm {
        Norm::Linf => r.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => r.dot(&r).sqrt(),
        Norm::L1 => r.iter().fold(0.0f64, |a, v| a.max(v.abs())),
    };
    let (mut h, mut j) = (x.to_owned(), Array2::<f64>::eye(x.len()));
    let mut relus: Vec<(Vec<f64>, Vec<f64>)> = vec![];
    for layer in &net.layers {
        match layer {
            Layer::Affine(a) => {
                h = a.weight.dot(&h) + &a.bias;
                j = a.weight.dot(&j);
            }
            Layer::Elementwise(e) => {
                let (s, t) = e.as_scale_shift();
                h = &h * &s + &t;
                for (mut r, sv) in j.outer_iter_mut().zip(s.iter()) {
                    r *= *sv;
                }
            }
            Layer::Relu => {
                relus.push((h.to_vec(), j.outer_iter().map(dual).collect()));
                for (k, mut r) in j.outer_iter_mut().enumerate() {
                    if h[k] <= 0.0 {
                        r.fill(0.0);
                    }
                }
                h.mapv_inplace(|v| v.max(0.0));
            }
            Layer::Reshape { .. } => {}
        }
    }
    let bound = |eps: f64| -> f64 {
        let (mut lam, mut c) = (spec.to_owned(), Array1::<f64>::zeros(spec.nrows()));
        let mut ri = relus.len();
        for layer in net.layers.iter().rev() {
            match layer {
                Layer::Affine(a) => {
                    c += &lam.dot(&a.bias);
                    lam = lam.dot(&a.weight);
                }
                Layer::Elementwise(e) => {
                    let (sc, sh) = e.as_scale_shift();
                    c += &lam.dot(&sh);
                    lam = &lam * &sc;
                }
                Layer::Relu => {
                    ri -= 1;
                    let (z, g) = &relus[ri];
                    for (mut row, cc) in lam.outer_iter_mut().zip(c.iter_mut()) {
                        for k in 0..z.len() {
                            let (l, u) = (z[k] - eps * g[k], z[k] + eps * g[k]);
                            if l >= 0.0 {
                                continue;
                            }
                            if u <= 0.0 {
                                row[k] = 0.0;
                                continue;
                            }
                            let s = u / (u - l);
                            if row[k] >= 0.0 {
                                if s <= 0.5 {
                                    row[k] = 0.0;
                                }
                            } else {
                                *cc += row[k] * (-s * l);
                                row[k] *= s;
                            }
                        }
                    }
                }
                Layer::Reshape { .. } => {}
            }
        }
        lam.outer_iter().zip(c.iter()).map(|(r, cc)| r.dot(&x) + cc - eps * dual(r)).fold(f64::INFINITY, f64::min)
    };
    let (mut a, mut b) = (lin * 2f64.powi(-30), lin * 8.0);
    for _ in 0..80 {
        let m = (a * b).sqrt();
        if bound(m) > 0.0 { a = m } else { b = m }
    }
    a
}

#[test]
fn the_estimate_is_the_plainly_written_surrogates_radius() {
    let (mut rows, mut agree) = (0, 0);
    for seed in 0..9u64 {
        let sizes = [vec![3, 16, 12, 3], vec![5, 20, 20, 20, 4], vec![2, 24, 2]][seed as usize % 3].clone();
        let net = random_net(&sizes, seed, 1.0);
        let net = if seed % 2 == 1 { with_elementwise(&net, seed) } else { net };
        let norm = [Norm::Linf, Norm::L2, Norm::L1][(seed as usize / 3) % 3];
        let xs = inputs(30, sizes[0], seed + 50);
        let (outputs, linear, est) = outputs_and_starts(&net, Decision::Argmax, norm, xs.view(), &RadiusSearch::default());
        for (b, &e) in est.iter().enumerate() {
            let class = Decision::Argmax.decide(outputs.row(b)).0;
            let spec = Decision::Argmax.margin_spec(class, net.output_dim());
            let r = reference_estimate(&net, xs.row(b), norm, spec.view(), linear[b]);
            rows += 1;
            if (e - r).abs() <= 1e-4 * r {
                agree += 1;
            }
        }
    }
    eprintln!("{agree} of {rows} estimates are the reference's");
    // the surrogate may jump too (the adaptive slope), where the two root searches may stop at
    // different crossings: nearly every row agrees
    assert!(agree * 100 >= rows * 95, "{agree} of {rows} estimates are the reference's");
}
