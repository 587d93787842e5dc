//! Exact radii (MILP-1…3, LINE-1, ATTACK-1 in proofs/EXACT.md): the sandwich certified ≤ exact ≤ attack
//! on random networks for every norm, MILP against the line analysis and against closed forms, the line
//! analysis against dense evaluation, brackets on a time limit, and the feasibility mode.
mod common;
use common::*;
use ndarray::{array, Array1, Array2, Axis};
use proptest::prelude::*;
use rp::attack::{PgdCertifier, PgdOptions};
use rp::bound::BoundMethod;
use rp::cert::{Batch, BoundCertifier, Certificate, Certifier, Guarantee, RadiusSearch};
use rp::compare::SOLVER_TOLERANCE;
use rp::line::{line_pieces, radius_at_zero, LineCertifier};
use rp::milp::{Formulation, MilpCertifier, MilpOptions, Verdict};
use rp::net::Network;
use rp::progress::NoProgress;
use rp::spec::{Decision, DomainBox, Norm};
use std::time::Duration;

fn one(c: &dyn Certifier, x: &Array1<f64>) -> Certificate {
    let xs = x.clone().insert_axis(Axis(0));
    c.certify(Batch { inputs: xs.view(), row_ids: &[0] }, &NoProgress).unwrap().remove(0)
}

fn milp(net: &Network, norm: Norm, domain: Option<DomainBox>, time_limit: f64) -> MilpCertifier {
    MilpCertifier { net: net.clone(), decision: Decision::Argmax, norm, domain, options: MilpOptions { time_limit, ..Default::default() } }
}

fn le(a: f64, b: f64) -> bool {
    a <= b * (1.0 + SOLVER_TOLERANCE) + 1e-9
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// certified (CROWN) ≤ exact (MILP) ≤ attack (PGD), on every norm.
    #[test]
    fn sandwich_holds(d in 1usize..=3, hidden in prop::collection::vec(2usize..=8, 1..=2), seed in any::<u64>(),
                      norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)]) {
        let mut sizes = vec![d];
        sizes.extend(hidden);
        sizes.push(2);
        let net = random_net(&sizes, seed, 2.0);
        let x = random_point(d, seed) * 0.5;
        let crown = BoundCertifier { net: net.clone(), method: BoundMethod::crown(), norm, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
        let pgd = PgdCertifier { net: net.clone(), decision: Decision::Argmax, norm, domain: None, options: PgdOptions::default() };
        let (c, m, p) = (one(&crown, &x), one(&milp(&net, norm, None, 20.0), &x), one(&pgd, &x));
        let (m_lo, m_hi) = match m.guarantee {
            Guarantee::Exact => (m.radius, m.radius),
            Guarantee::Bracket { upper } => (m.radius, upper),
            g => panic!("unexpected MILP guarantee {g:?}"),
        };
        prop_assert!(le(c.radius, m_hi), "CROWN {} > MILP {}", c.radius, m_hi);
        prop_assert!(le(m_lo, p.radius), "MILP {} > PGD {}", m_lo, p.radius);
        prop_assert!(m_lo <= m_hi);
    }
}

#[test]
fn milp_matches_the_line_analysis_on_one_input_networks() {
    for seed in 0..12u64 {
        let net = random_net(&[1, 8, 8, 3], seed, 2.0);
        let x = array![0.3 * (seed as f64 - 6.0) / 6.0];
        let (class, unique) = Decision::Argmax.decide(net.forward(x.view()).view());
        assert!(unique);
        let pieces = line_pieces(&net, Decision::Argmax, x.view(), 0, -50.0, 50.0);
        let exact_line = radius_at_zero(&pieces, class);
        let mut per_class = milp(&net, Norm::Linf, None, 30.0);
        per_class.options.formulation = Formulation::PerClass;
        let m = one(&per_class, &x);
        let mut selector = milp(&net, Norm::Linf, None, 30.0);
        selector.options.formulation = Formulation::Selector;
        let s = one(&selector, &x);
        assert_eq!((s.guarantee, s.radius > 0.0), (m.guarantee, m.radius > 0.0), "seed {seed}: selector {s:?} vs per-class {m:?}");
        if m.guarantee == Guarantee::Exact {
            assert!((s.radius - m.radius).abs() <= 1e-6 * m.radius.max(1.0), "seed {seed}: selector {} vs per-class {}", s.radius, m.radius);
        }
        if exact_line.is_infinite() {
            assert!(!matches!(m.guarantee, Guarantee::Exact) || m.radius > 49.0, "seed {seed}: line says robust, MILP {m:?}");
            continue;
        }
        assert_eq!(m.guarantee, Guarantee::Exact, "seed {seed}");
        assert!((m.radius - exact_line).abs() <= 1e-6 * exact_line.max(1.0), "seed {seed}: MILP {} vs line {exact_line}", m.radius);
    }
}

#[test]
fn milp_on_a_linear_classifier_is_the_closed_form() {
    let w = array![[1.0, 2.0, -1.0], [-0.5, 0.25, 1.5]];
    let b = array![0.1, -0.2];
    let x = array![0.3, 0.4, -0.2];
    let net = linear_net(w.clone(), b.clone());
    let y = net.forward(x.view());
    let diff = &w.row(0) - &w.row(1);
    for norm in [Norm::Linf, Norm::L1, Norm::L2] {
        let dual = match norm {
            Norm::Linf => diff.iter().map(|v| v.abs()).sum::<f64>(),
            Norm::L2 => diff.dot(&diff).sqrt(),
            Norm::L1 => diff.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        };
        let exact = (y[0] - y[1]) / dual;
        let m = one(&milp(&net, norm, None, 30.0), &x);
        assert_eq!(m.guarantee, Guarantee::Exact, "{norm:?}");
        assert!((m.radius - exact).abs() <= 1e-4 * exact, "{norm:?}: MILP {} vs closed form {exact}", m.radius);
    }
}

#[test]
fn line_analysis_agrees_with_dense_evaluation() {
    for seed in 0..20u64 {
        let net = random_net(&[3, 10, 10, 3], seed, 1.5);
        let x = random_point(3, seed);
        let k = (seed % 3) as usize;
        let pieces = line_pieces(&net, Decision::Argmax, x.view(), k, -4.0, 4.0);
        assert_eq!(pieces.first().unwrap().t_lo, -4.0);
        assert_eq!(pieces.last().unwrap().t_hi, 4.0);
        for w in pieces.windows(2) {
            assert_eq!(w[0].t_hi, w[1].t_lo);
            assert_ne!(w[0].class, w[1].class, "pieces are maximal");
        }
        for i in 0..=4000 {
            let t = -4.0 + 8.0 * i as f64 / 4000.0;
            let near_break = pieces.iter().any(|p| (p.t_lo - t).abs() < 1e-9 || (p.t_hi - t).abs() < 1e-9);
            if near_break {
                continue;
            }
            let mut xt = x.clone();
            xt[k] += t;
            let class = Decision::Argmax.decide(net.forward(xt.view()).view()).0;
            let piece = pieces.iter().find(|p| p.t_lo <= t && t <= p.t_hi).unwrap();
            assert_eq!(piece.class, class, "seed {seed}, t = {t}");
        }
    }
}

#[test]
fn line_radius_equals_milp_restricted_to_the_line() {
    for seed in 0..8u64 {
        let net = random_net(&[3, 8, 8, 2], 40 + seed, 2.0);
        let x = random_point(3, seed) * 0.5;
        let k = (seed % 3) as usize;
        // a domain box that pins every other coordinate: the MILP then searches the line only
        let mut lo = x.clone();
        let mut hi = x.clone();
        lo[k] = x[k] - 3.0;
        hi[k] = x[k] + 3.0;
        let line = one(&LineCertifier { net: net.clone(), decision: Decision::Argmax, attribute: k, range: (lo[k], hi[k]) }, &x);
        let m = one(&milp(&net, Norm::Linf, Some(DomainBox { lower: lo, upper: hi }), 30.0), &x);
        if line.radius.is_infinite() {
            assert_ne!(m.guarantee, Guarantee::Exact, "seed {seed}: the line has no flip in range");
            continue;
        }
        assert_eq!(m.guarantee, Guarantee::Exact, "seed {seed}");
        assert!((m.radius - line.radius).abs() <= 1e-6 * line.radius.max(1.0), "seed {seed}: MILP {} vs line {}", m.radius, line.radius);
    }
}

#[test]
fn a_time_limit_gives_a_correct_bracket() {
    let net = random_net(&[5, 24, 24, 2], 3, 1.0);
    let x = random_point(5, 3) * 0.3;
    let exact = one(&milp(&net, Norm::Linf, None, 120.0), &x);
    assert_eq!(exact.guarantee, Guarantee::Exact);
    let quick = one(&milp(&net, Norm::Linf, None, 0.002), &x);
    match quick.guarantee {
        Guarantee::Bracket { upper } => {
            assert!(le(quick.radius, exact.radius) && le(exact.radius, upper), "bracket [{}, {upper}] vs exact {}", quick.radius, exact.radius)
        }
        g => panic!("a 2 ms limit should give a bracket, got {g:?}"),
    }
}

#[test]
fn feasibility_mode_answers_robust_below_and_finds_counterexamples_above() {
    let net = random_net(&[3, 10, 2], 8, 2.0);
    let x = random_point(3, 8) * 0.3;
    let class = Decision::Argmax.decide(net.forward(x.view()).view()).0;
    for norm in [Norm::Linf, Norm::L1, Norm::L2] {
        let m = milp(&net, norm, None, 60.0);
        let r = one(&m, &x);
        assert_eq!(r.guarantee, Guarantee::Exact, "{norm:?}");
        assert_eq!(m.verify_ball(x.view(), class, 0.9 * r.radius, Duration::from_secs(60)), Verdict::Robust, "{norm:?}");
        match m.verify_ball(x.view(), class, 1.1 * r.radius, Duration::from_secs(60)) {
            Verdict::Counterexample(p) => {
                assert!(norm.norm((&p - &x).view()) <= 1.1 * r.radius * (1.0 + 1e-6));
                assert_ne!(Decision::Argmax.decide(net.forward(p.view()).view()).0, class);
            }
            v => panic!("{norm:?}: expected a counterexample, got {v:?}"),
        }
    }
}

#[test]
fn attack_counterexamples_are_real() {
    let net = random_net(&[4, 16, 3], 12, 2.0);
    for seed in 0..10 {
        let x = random_point(4, seed);
        let pgd = PgdCertifier { net: net.clone(), decision: Decision::Argmax, norm: Norm::L2, domain: None, options: PgdOptions::default() };
        let r = one(&pgd, &x);
        assert_eq!(r.guarantee, Guarantee::UpperBound);
        assert!(r.radius > 0.0);
    }
    let _ = Array2::<f64>::zeros((1, 1));
}
