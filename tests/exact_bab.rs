//! The exact engine (branch and bound over ReLU phases, `--method exact`): EXACT-BAB-1…3 in
//! `proofs/EXACT.md`. Both ends of every answer are proven, so every check below is without tolerance
//! where two proven ends meet.
mod common;
use common::*;
use ndarray::{array, Array1, Axis};
use proptest::prelude::*;
use rp::attack::{PgdCertifier, PgdOptions};
use rp::bound::BoundMethod;
use rp::cert::{Batch, BoundCertifier, Certificate, Certifier, Radius, RadiusSearch, EXACT_REL_TOL};
use rp::exact::{ExactCertifier, ExactOptions};
use rp::line::LineCertifier;
use rp::net::Network;
use rp::progress::NoProgress;
use rp::spec::{Decision, Norm, Region};
use rp::verify::SplitKind;

fn one(c: &dyn Certifier, x: &Array1<f64>) -> Certificate {
    let xs = x.clone().insert_axis(Axis(0));
    c.certify(Batch { inputs: xs.view(), row_ids: &[0] }, &NoProgress).unwrap().remove(0)
}

fn exact(net: &Network, norm: Norm, time_limit: f64) -> ExactCertifier {
    exact_by(net, norm, time_limit, SplitKind::Auto)
}

/// The exact engine splitting input boxes or ReLU phases.
fn exact_by(net: &Network, norm: Norm, time_limit: f64, split: SplitKind) -> ExactCertifier {
    ExactCertifier { net: net.clone(), decision: Decision::Argmax, norm, domain: None, options: ExactOptions { time_limit, split, ..Default::default() } }
}

/// No sampled or attacked point of the ball of radius r around x is *proven* to change the answer.
fn ball_keeps_class(net: &Network, x: &Array1<f64>, norm: Norm, r: f64, seed: u64) -> Result<(), String> {
    if !(r > 0.0 && r.is_finite()) {
        return Ok(());
    }
    let class = Decision::Argmax.decide(net.forward(x.view()).view()).0;
    let region = Region { center: x.view(), eps: r, norm, domain: None };
    let mut pts = sample_region(&region, seed, 300);
    let k = net.output_dim();
    for j in (0..k).filter(|&j| j != class) {
        let mut w = Array1::zeros(k);
        w[j] = 1.0;
        w[class] = -1.0;
        let starts: Vec<Array1<f64>> = pts.iter().take(8).cloned().collect();
        pts.extend(pgd_points(net, &region, &w, &starts, 60));
    }
    for p in &pts {
        if rp::bound::proves_other_answer(net, Decision::Argmax, p.view(), class) {
            return Err(format!("a point at distance {} < {r} changes the answer", norm.norm((p - x).view())));
        }
    }
    Ok(())
}

proptest! {
    // seeded (the same 32 networks every run; PROPTEST_RNG_SEED=… explores others)
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20261204), ..ProptestConfig::default() })]

    /// EXACT-BAB-1…6: certified (CROWN) ≤ exact ≤ attack (PGD) in every norm and with either split,
    /// the exact ends proven (no sampled or attacked point inside the lower end's ball changes the
    /// answer), and on these small networks the search closes (`exact` within the tolerance) unless it
    /// hits its time limit (input splitting: in ℓ∞, where `auto` uses it; in ℓ1 and ℓ2 it is slow to
    /// close and only its soundness is checked).
    #[test]
    fn sandwich_holds_in_every_norm(d in 1usize..=3, hidden in prop::collection::vec(2usize..=8, 1..=2), k in 2usize..=3, seed in any::<u64>(),
                                    norm in prop_oneof![Just(Norm::Linf), Just(Norm::L1), Just(Norm::L2)],
                                    split in prop_oneof![Just(SplitKind::Input), Just(SplitKind::Relu)]) {
        let mut sizes = vec![d];
        sizes.extend(hidden);
        sizes.push(k);
        let net = random_net(&sizes, seed, 2.0);
        let x = random_point(d, seed) * 0.5;
        prop_assume!(Decision::Argmax.decide(net.forward(x.view()).view()).1);
        let crown = BoundCertifier { net: net.clone(), method: BoundMethod::crown(), norm, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
        let pgd = PgdCertifier { net: net.clone(), decision: Decision::Argmax, norm, domain: None, options: PgdOptions::default() };
        let limit = if split == SplitKind::Input && norm != Norm::Linf { 2.0 } else { 10.0 };
        let (c, e, p) = (one(&crown, &x), one(&exact_by(&net, norm, limit, split), &x), one(&pgd, &x));
        let (c_lo, _) = ends(&c);
        let (e_lo, e_hi) = ends(&e);
        let (_, p_hi) = ends(&p);
        prop_assert!(c_lo <= e_hi, "CROWN {c_lo} > the exact witness {e_hi}");
        prop_assert!(e_lo <= p_hi, "the exact lower end {e_lo} > PGD's witness {p_hi}");
        if e_hi.is_infinite() {
            // no flip up to the largest radius searched: that radius is proven, nothing beyond
            prop_assert!(e_lo >= ExactOptions::default().eps_max, "{e:?}");
            return Ok(());
        }
        ball_keeps_class(&net, &x, norm, e_lo, seed).map_err(TestCaseError::fail)?;
        // the search is complete: before its time limit it closes (a few random nets need longer; their
        // bracket is checked above)
        if e.time.as_secs_f64() < 0.9 * limit && !(split == SplitKind::Input && norm != Norm::Linf) {
            let Some(Radius::Exact(b)) = e.radius() else { return Err(TestCaseError::fail(format!("stopped before the limit without closing: {e:?}"))) };
            prop_assert!(b.upper() - b.lower() <= EXACT_REL_TOL * b.upper());
        }
    }
}

/// EXACT-BAB-2 on a linear classifier: the radius is the margin over the dual norm of w_c − w_j.
#[test]
fn exact_on_a_linear_classifier_is_the_closed_form() {
    let w = array![[1.0, 2.0, -1.0], [-0.5, 0.25, 1.5]];
    let b = array![0.1, -0.2];
    let x = array![0.3, 0.4, -0.2];
    let net = linear_net(w.clone(), b.clone());
    for (norm, split) in [(Norm::Linf, SplitKind::Input), (Norm::Linf, SplitKind::Relu), (Norm::L1, SplitKind::Relu), (Norm::L2, SplitKind::Relu)] {
        let closed = linear_radius(&w, &b, &x, norm);
        let e = one(&exact_by(&net, norm, 30.0, split), &x);
        let Some(Radius::Exact(b)) = e.radius() else { panic!("{norm:?}: {e:?}") };
        assert!(b.lower() <= closed * (1.0 + 1e-12) && closed <= b.upper() * (1.0 + 1e-12), "{norm:?}: [{}, {}] vs closed form {closed}", b.lower(), b.upper());
    }
}

/// In one dimension every norm is |·|: the exact radius is the line analysis's.
#[test]
fn exact_matches_the_line_analysis_on_one_input_networks() {
    for seed in 0..10u64 {
        let net = random_net(&[1, 8, 8, 3], seed, 2.0);
        let x = array![0.3 * (seed as f64 - 5.0) / 5.0];
        let line = one(&LineCertifier { net: net.clone(), decision: Decision::Argmax, attribute: 0, range: (x[0] - 50.0, x[0] + 50.0), rel_tol: EXACT_REL_TOL }, &x);
        let (l_lo, l_hi) = ends(&line);
        if l_lo.is_infinite() {
            continue; // no flip within the line's range: nothing to compare
        }
        for (norm, split) in [(Norm::Linf, SplitKind::Input), (Norm::Linf, SplitKind::Relu), (Norm::L2, SplitKind::Relu)] {
            let e = one(&exact_by(&net, norm, 30.0, split), &x);
            let (e_lo, e_hi) = ends(&e);
            assert!(matches!(e.radius(), Some(Radius::Exact(_))), "seed {seed} {norm:?}: {e:?}");
            // proven ends never cross
            assert!(e_lo <= l_hi && l_lo <= e_hi, "seed {seed} {norm:?}: exact [{e_lo}, {e_hi}] vs line [{l_lo}, {l_hi}]");
        }
    }
}

/// A tiny time limit gives a bracket, and it contains the radius the full search finds.
#[test]
fn a_time_limit_gives_a_bracket_containing_the_radius() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp");
    let net = rp::net::read_onnx(&dir.join("model.onnx")).unwrap();
    let table = rp::data::read_inputs(&dir.join("inputs.csv"), net.input_dim()).unwrap();
    let x = table.rows.row(6).to_owned();
    let full = one(&exact(&net, Norm::L2, 60.0), &x);
    let Some(Radius::Exact(f)) = full.radius() else { panic!("{full:?}") };
    let quick = one(&exact(&net, Norm::L2, 0.01), &x);
    let (q_lo, q_hi) = ends(&quick);
    assert!(matches!(quick.radius(), Some(Radius::Bracket(_))), "{quick:?}");
    assert!(q_lo <= f.upper() && f.lower() <= q_hi, "bracket [{q_lo}, {q_hi}] vs [{}, {}]", f.lower(), f.upper());
    assert!(q_hi - q_lo > EXACT_REL_TOL * q_hi, "a bracket is not closed: {quick:?}");
}

/// The demo MLP (11 → 64 → 2) in ℓ2: exact radii, proven at both ends (the ball of the lower end keeps
/// its answer under sampling and attack; the upper end is a witness), on rows the search closes fast.
#[test]
fn demo_rows_are_exact_in_l2() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp");
    let net = rp::net::read_onnx(&dir.join("model.onnx")).unwrap();
    let table = rp::data::read_inputs(&dir.join("inputs.csv"), net.input_dim()).unwrap();
    for row in [0usize, 4, 5, 12, 16] {
        let x = table.rows.row(row).to_owned();
        let e = one(&exact(&net, Norm::L2, 60.0), &x);
        let Some(Radius::Exact(b)) = e.radius() else { panic!("row {row}: {e:?}") };
        ball_keeps_class(&net, &x, Norm::L2, b.lower(), row as u64).unwrap_or_else(|m| panic!("row {row}: {m}"));
        let pgd = one(&PgdCertifier { net: net.clone(), decision: Decision::Argmax, norm: Norm::L2, domain: None, options: PgdOptions::default() }, &x);
        assert!(b.lower() <= ends(&pgd).1, "row {row}");
    }
}


/// A case the sandwich proptest found: a fully split leaf whose optimum no pushed point proves, and whose
/// shrunk problem's proven point lay 1.2e-6 (relative) beyond the leaf's bound — above the tolerance.
#[test]
fn a_leaf_witness_comes_within_the_tolerance() {
    let seed = 6782843095283700992u64;
    let net = random_net(&[2, 3, 7, 2], seed, 2.0);
    let x = random_point(2, seed) * 0.5;
    let e = one(&exact(&net, Norm::L1, 10.0), &x);
    let Some(Radius::Exact(b)) = e.radius() else { panic!("{e:?}") };
    ball_keeps_class(&net, &x, Norm::L1, b.lower(), seed).unwrap();
}

/// Cases the sandwich proptest found, each stopped short of closing: a split sub-domain with no point
/// in the ball whose relaxation Clarabel calls infeasible without a usable certificate, and whose
/// problem without the ball was then bounded far below its optimum (the input's box part, ℓ1: 0.0098
/// for an optimum of 0.65). The input part over the box is now exact in ℓ1 and ℓ∞ and uses the best
/// multiplier in ℓ2 (EXACT-BAB-2), a relaxation whose optimum lies on the ball is bounded again without
/// the ball, and each closes.
#[test]
fn sub_domains_outside_the_ball_are_proven_so() {
    let cases: [(&[usize], u64, Norm); 6] = [
        (&[3, 4, 3], 10449583659619940955, Norm::L1),
        (&[3, 3, 4, 3], 13508618914488532966, Norm::L1),
        (&[3, 5, 2], 9182741424271661819, Norm::L2),
        (&[2, 2, 8, 3], 12074639125781987248, Norm::L2),
        (&[3, 8, 3, 3], 427824176220283847, Norm::L2),
        // a leaf whose optimum lies on the ball's surface: its multipliers proved 1.49 of 1.61
        (&[3, 6, 3], 3651591058939213235, Norm::L1),
    ];
    for (sizes, seed, norm) in cases {
        let net = random_net(sizes, seed, 2.0);
        let x = random_point(sizes[0], seed) * 0.5;
        let e = one(&exact(&net, norm, 10.0), &x);
        let Some(Radius::Exact(b)) = e.radius() else { panic!("{sizes:?} {seed}: {e:?}") };
        ball_keeps_class(&net, &x, norm, b.lower(), seed).unwrap();
    }
}

/// Where today's MILP (HiGHS) closes its bracket in ℓ∞ or ℓ1, the exact engine's proven radius lies in
/// it (to the solver's tolerance): two independent exact methods agree on random networks.
#[test]
fn exact_equals_the_milp_where_the_milp_closes() {
    use rp::milp::{MilpCertifier, MilpOptions};
    let mut compared = 0;
    for seed in 0..12u64 {
        let net = random_net(&[3, 8, 6, 3], 500 + seed, 2.0);
        let x = random_point(3, 500 + seed) * 0.5;
        for norm in [Norm::Linf, Norm::L1] {
            let m = one(&MilpCertifier { net: net.clone(), decision: Decision::Argmax, norm, domain: None, options: MilpOptions { time_limit: 20.0, ..Default::default() } }, &x);
            let (m_lo, m_hi) = ends(&m);
            let splits: &[SplitKind] = if norm == Norm::Linf { &[SplitKind::Input, SplitKind::Relu] } else { &[SplitKind::Relu] };
            for &split in splits {
                let e = one(&exact_by(&net, norm, 20.0, split), &x);
                let Some(Radius::Exact(b)) = e.radius() else { panic!("seed {seed} {norm:?} {split:?}: {e:?}") };
                if m_hi.is_finite() && m_hi - m_lo <= 1e-6 * m_hi {
                    compared += 1;
                    let tol = 1e-5 * m_hi;
                    assert!(b.lower() <= m_hi + tol && m_lo - tol <= b.upper(), "seed {seed} {norm:?} {split:?}: exact [{}, {}] vs MILP [{m_lo}, {m_hi}]", b.lower(), b.upper());
                }
            }
        }
    }
    assert!(compared >= 18, "the MILP closed only {compared} of 36 comparisons");
}

/// A case the sandwich proptest hit about once in 5 000 (ℓ1): every ReLU is stable over the ball, so the
/// relaxation is the exact LP, yet the interior-point solve stopped 7·10⁻⁷ (relative) short of the
/// optimum and the row ended as a proven bracket 4·10⁻⁶ wide. The ℓ1 and ℓ∞ relaxations are now solved
/// by the simplex (a vertex, duals exact to rounding), and it closes.
#[test]
fn an_affine_sub_domain_closes_in_l1() {
    let seed = 16381391796032948821u64;
    let net = random_net(&[3, 3, 2], seed, 2.0);
    let x = random_point(3, seed) * 0.5;
    for split in [SplitKind::Relu, SplitKind::Auto] {
        let e = one(&exact_by(&net, Norm::L1, 10.0, split), &x);
        let Some(Radius::Exact(b)) = e.radius() else { panic!("{split:?}: {e:?}") };
        ball_keeps_class(&net, &x, Norm::L1, b.lower(), seed).unwrap();
    }
}

/// The sandwich proptest's ℓ1 case of 2026-12-04 (2 → 3 → 2): it ends in 4 ms as a sound bracket
/// 1.4·10⁻⁶ (relative) wide instead of closing — a completeness bug, not a soundness one (open).
#[test]
#[ignore = "known open bug: this l1 search ends as a bracket 1.4e-6 wide before its time limit"]
fn a_small_l1_network_closes() {
    let seed = 103598153019777210u64;
    let net = random_net(&[2, 3, 2], seed, 2.0);
    let x = random_point(2, seed) * 0.5;
    let e = one(&exact_by(&net, Norm::L1, 10.0, SplitKind::Relu), &x);
    let Some(Radius::Exact(b)) = e.radius() else { panic!("{e:?}") };
    ball_keeps_class(&net, &x, Norm::L1, b.lower(), seed).unwrap();
}
