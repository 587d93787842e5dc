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
    // without an estimate the default search starts from the linearized distance
    let net = random_net(&[40, 20, 3], 2, 1.0);
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
