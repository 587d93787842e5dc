//! Attribute privacy (issue 5): inference sets against dense evaluation, raw-unit conversion, SPEC §1's
//! fact 1 on every deterministic mode, and the reproduction's invariants at a tiny scale.
mod common;

use common::random_net;
use ndarray::{Array1, Array2};
use rp::ape::spans::Span;
use rp::ape::{analyze, ApeOptions, Attribute, Mode};
use rp::bound::{BoundMethod, Intermediate};
use rp::cert::{Answer, Radius};
use rp::data::card::{Feature, ModelCard};
use rp::experiment::ape::{run, Config};
use rp::exact::ExactOptions;
use rp::milp::MilpOptions;
use rp::progress::NoProgress;
use rp::smooth::stats::normal_quantile;
use rp::smooth::SmoothOptions;
use rp::spec::Decision;

fn attr(index: usize, mean: f64, std: f64, range: (f64, f64)) -> Attribute {
    Attribute { name: "bmi".into(), index, mean, std, range }
}

/// I_y from the line analysis equals the answers of the network on a dense grid of the attribute (up to
/// the grid's resolution at the piece ends), and the attacker interval contains the true value.
#[test]
fn inference_sets_match_dense_evaluation() {
    for seed in 0..12u64 {
        let net = random_net(&[4, 12, 8, 3], seed, 1.0);
        let a = attr(1, 27.0, 5.0, (12.0, 50.0));
        let x = Array1::from_shape_fn(4, |i| ((seed as f64 + 1.0) * (i as f64 + 0.7)).sin());
        let inputs = x.clone().insert_axis(ndarray::Axis(0));
        let rows = analyze(&net, &a, inputs.view(), &[0], &[Mode::Line], &ApeOptions::default(), &NoProgress).unwrap();
        let r = &rows[0];
        let Answer::Class(y) = r.answer else { panic!("the base network always answers") };
        let m = 20_000;
        let mut mismatches = 0;
        for i in 0..=m {
            let z = 12.0 + 38.0 * i as f64 / m as f64;
            let mut p = x.clone();
            p[1] = a.model(z);
            let is_y = Decision::Argmax.decide(net.forward(p.view()).view()).0 == y;
            let in_set = r.inference_set.iter().any(|s| s.contains(z));
            // a grid point can disagree only when it sits on a piece end (a tie)
            if is_y != in_set {
                let near_end = r.inference_set.iter().any(|s| (s.lo - z).abs() < 1e-9 || (s.hi - z).abs() < 1e-9);
                assert!(near_end, "seed {seed}: z = {z} answers {is_y} but the set says {in_set} ({:?})", r.inference_set);
                mismatches += 1;
            }
        }
        assert!(mismatches <= 4);
        assert!(r.attacker.contains(r.true_value), "seed {seed}");
        assert_eq!(r.certified_within, Some(true), "seed {seed}: I_y^(R) must lie in I_y");
    }
}

/// Raw units: R_raw = R · std and the attribute's model value (z − mean)/std, for a known scaler.
#[test]
fn raw_unit_conversion_uses_the_card_scaler() {
    let card = ModelCard {
        features: vec![
            Feature::Numeric { name: "age".into(), mean: 40.0, std: 10.0, min: 18.0, max: 80.0 },
            Feature::Numeric { name: "bmi".into(), mean: 27.0, std: 5.0, min: 12.0, max: 50.4 },
        ],
        sensitive: vec!["bmi".into()],
        classes: vec!["low".into(), "high".into()],
    };
    let a = Attribute::from_card(&card, "bmi").unwrap();
    assert_eq!((a.index, a.mean, a.std, a.range), (1, 27.0, 5.0, (12.0, 50.4)));
    assert_eq!(a.model(32.0), 1.0);
    assert_eq!(a.raw(-0.5), 24.5);
    assert_eq!(card.radius_raw("bmi", 0.3).unwrap(), 1.5);
    // a threshold network on bmi at 33.4: the exact 1-D radius at 30 is 3.4 BMI = 0.68 model units
    let net = rp::net::Network::new(
        vec![2],
        vec![rp::net::Layer::Affine(rp::net::Affine::new(ndarray::array![[0.0, 1.0], [0.0, -1.0]], ndarray::array![-(33.4 - 27.0) / 5.0, (33.4 - 27.0) / 5.0]))],
    )
    .unwrap();
    let x = ndarray::array![[0.0, a.model(30.0)]];
    let rows = analyze(&net, &a, x.view(), &[7], &[Mode::Line, Mode::Bound(BoundMethod::Crown(Intermediate::UnstableOnly))], &ApeOptions::default(), &NoProgress).unwrap();
    for r in &rows {
        assert!((r.radius_raw - 3.4).abs() < 1e-3, "{}: {}", r.mode, r.radius_raw);
        assert!((r.radius - 0.68).abs() < 1e-3 / 5.0);
        assert!((r.attacker.lo - 12.0).abs() < 1e-9 && (r.attacker.hi - 33.4).abs() < 1e-9, "{:?}", r.attacker);
    }
    assert!(Attribute::from_card(&card, "weight").unwrap_err().to_string().contains("unknown numeric attribute 'weight'"));
}

/// Every deterministic mode keeps I_y^(R) inside I_y; CROWN/IBP ≤ exact; MILP equals the line radius;
/// the exact full-space ℓ2 radius is proven at both ends and never above the 1-D one (the ball holds
/// the segment along the attribute).
#[test]
fn deterministic_modes_are_sandwiched_and_keep_fact_one() {
    for seed in 0..4u64 {
        let net = random_net(&[3, 10, 2], 100 + seed, 1.0);
        let a = attr(0, 0.0, 2.0, (-6.0, 6.0));
        let x = Array2::from_shape_fn((3, 3), |(i, j)| 0.4 * ((seed * 7 + i as u64 * 3 + j as u64) as f64).cos());
        let modes = [
            Mode::Line,
            Mode::Bound(BoundMethod::Ibp),
            Mode::Bound(BoundMethod::Crown(Intermediate::UnstableOnly)),
            Mode::Milp(MilpOptions { time_limit: 30.0, ..Default::default() }),
            Mode::ExactL2(ExactOptions { time_limit: 30.0, ..Default::default() }),
        ];
        let rows = analyze(&net, &a, x.view(), &[0, 1, 2], &modes, &ApeOptions { grid_step: 0.05, ..Default::default() }, &NoProgress).unwrap();
        for rec in 0..3 {
            let of = |m: &str| rows.iter().find(|r| r.mode == m && r.row == rec).unwrap();
            let exact = of("line").radius_raw;
            // the line's radius is proven at both ends (LINE-2): sound radii never pass its upper end
            let line_upper = of("line").certificate.upper().expect("a proven bracket");
            assert!(matches!(of("line").certificate, Radius::Exact(_)), "seed {seed} rec {rec}: {:?}", of("line").certificate);
            assert!(of("ibp").radius_raw <= line_upper && of("crown").radius_raw <= line_upper, "seed {seed} rec {rec}");
            let milp = of("milp");
            let tight = |r: &Radius| r.upper().is_some_and(|u| u - r.value() <= 1e-6 * u);
            if tight(&milp.certificate) {
                assert!((milp.radius_raw - exact).abs() <= 1e-5 * (1.0 + exact), "seed {seed} rec {rec}: milp {} vs line {exact}", milp.radius_raw);
            }
            for m in ["line", "ibp", "crown"] {
                assert_eq!(of(m).certified_within, Some(true), "seed {seed} rec {rec} {m}");
            }
            let full = of("exact-l2");
            assert!(matches!(full.certificate, Radius::Exact(_)), "seed {seed} rec {rec}: {:?}", full.certificate);
            assert_eq!(full.radius_space, rp::ape::RadiusSpace::FullL2);
            assert!(full.radius_raw <= line_upper, "seed {seed} rec {rec}: full-space {} > 1-D {line_upper}", full.radius_raw);
        }
    }
}

/// Smoothing rows: the answer at the true value has I_y holding it (or abstains), radii are capped by
/// σ·Φ⁻¹(α^(1/n)), and no certified set holds a grid point answered with another class.
#[test]
fn smoothing_rows_respect_the_cap_and_fact_one() {
    let net = random_net(&[3, 8, 2], 5, 1.0);
    let a = attr(2, 0.0, 1.0, (-3.0, 3.0));
    let x = Array2::from_shape_fn((4, 3), |(i, j)| 0.3 * (i as f64 - 1.5) + 0.1 * j as f64);
    let o = SmoothOptions { sigma: 0.5, n0: 100, n: 1000, alpha: 0.01, ..Default::default() };
    let rows = analyze(&net, &a, x.view(), &[0, 1, 2, 3], &[Mode::Smooth(o)], &ApeOptions { grid_step: 0.05, ..Default::default() }, &NoProgress).unwrap();
    let cap = 0.5 * normal_quantile(0.01f64.powf(1.0 / 1000.0));
    for r in &rows {
        assert!(r.radius <= cap + 1e-12, "{} > {cap}", r.radius);
        assert!(r.certified_within != Some(false));
        if r.answer != Answer::Abstain {
            assert!(r.inference_set.iter().any(|s: &Span| s.contains(r.attacker.lo)));
        }
    }
}

/// The reproduction at a tiny scale: SPEC §4.1's invariants.
#[test]
fn tiny_reproduction_keeps_the_invariants() {
    let cfg = Config {
        rows: 3000,
        augmented_records: Some(12),
        steps: 100,
        boundary_records: 3,
        boundary_samples: 2000,
        mode_records: 2,
        milp_time_limit: 10.0,
        ..Config::quick()
    };
    let out = run(&cfg, &NoProgress).unwrap();
    let base = &out.table1[0];
    assert_eq!(base.accuracy, 1.0, "the paper's recipe fits the label exactly");
    // the base network has no positive at or below B
    let below_b = (out.base_hist.lo - out.threshold).abs() < 1e-9;
    assert!(below_b || out.base_hist.lo < out.threshold);
    let bins_below = ((out.threshold - out.base_hist.lo) / 0.2).round() as usize;
    assert!(out.base_hist.counts[..bins_below].iter().all(|&c| c == 0), "base positives below B: {:?}", &out.base_hist.counts[..bins_below]);
    // abstention grows with σ; accuracy + abstention ≈ 100%; radii capped
    let smoothed = &out.table1[1..];
    for w in smoothed.windows(2) {
        assert!(w[0].abstention <= w[1].abstention + 0.01, "{} then {}", w[0].abstention, w[1].abstention);
    }
    for (r, &sigma) in smoothed.iter().zip(&cfg.sigmas) {
        assert!((r.accuracy + r.abstention - 1.0).abs() < 0.01, "σ {sigma}: {} + {}", r.accuracy, r.abstention);
        let cap = sigma * normal_quantile(cfg.alpha.powf(1.0 / cfg.n as f64));
        assert!(r.mean_radius_positive.unwrap() <= cap);
    }
    for m in &out.modes {
        let cap = m.sigma.map(|s| s * normal_quantile(cfg.alpha.powf(1.0 / cfg.n as f64)));
        if let Some(cap) = cap {
            assert!(m.radius <= cap + 1e-12);
        }
        assert!(m.certified_within != Some(false), "{} row {}", m.mode, m.row);
    }
    assert_eq!(out.expansion.len(), out.runs.len());
    // positives below B are bounded in expectation by α × queries; far above that would be a bug
    for e in &out.expansion {
        assert!(e.failures <= e.checked && (e.positives_at_or_below_b as f64) <= 3.0 * e.alpha_times_queries + 30.0, "{e:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    rp::experiment::ape_out::write(&out, &cfg, dir.path()).unwrap();
    for f in ["table1.csv", "table1.md", "fig1.png", "fig1.svg", "fig1_bins.csv", "fig4.png", "fig4.svg", "fig4_bins.csv", "expansion.csv", "modes.csv", "report.md", "model/model.onnx", "model/card.json"] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // the written model reads back and answers as the trained one
    let back = rp::net::read_onnx(&dir.path().join("model/model.onnx")).unwrap();
    let x = ndarray::Array1::zeros(back.input_dim());
    assert_eq!(back.forward(x.view()), out.net.forward(x.view()));
}
