//! Statistical soundness of randomized smoothing (SMOOTH-1…5 in proofs/SMOOTHING.md). Every test uses
//! fixed seeds, so it is deterministic; the thresholds are binomial tests at significance 1e-3, so a
//! correct implementation passes them with overwhelming probability over the choice of seeds.
mod common;
use common::*;
use ndarray::{array, Array1, Array2, Axis};
use rp::cert::{Answer, Batch, Certificate};
use rp::net::{Affine, Layer, Network};
use rp::progress::NoProgress;
use rp::smooth::sampler::{NoiseSpace, NoisyRecord, Phase, Sampler};
use rp::smooth::stats::{binomial_upper_tail, normal_cdf};
use rp::smooth::{RadiusRule, SmoothMode, SmoothOptions, SmoothingCertifier};
use rp::spec::Decision;

/// Two logits (m, −m) with m = w·x + b: class 0 iff w·x + b > 0; the smoothed probability of class 0
/// is Φ((w·x + b)/(σ‖w‖)) and the smoothed ℓ2 radius is (w·x + b)/‖w‖ in closed form.
fn linear(w: &[f64], b: f64) -> Network {
    let w = Array1::from(w.to_vec());
    let weight = ndarray::stack(Axis(0), &[w.view(), (-&w).view()]).unwrap();
    Network::new(vec![w.len()], vec![Layer::Affine(Affine::new(weight, array![b, -b]))]).unwrap()
}

fn run(net: &Network, x: &Array2<f64>, options: SmoothOptions) -> Vec<(Certificate, rp::smooth::SmoothDetail)> {
    let ids: Vec<usize> = (0..x.nrows()).collect();
    let c = SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options };
    c.run(Batch { inputs: x.view(), row_ids: &ids }, &NoProgress).unwrap()
}

/// P(Binomial(runs, α) ≥ k) > 1e-3: the number of failures is consistent with a rate ≤ α.
fn consistent_with_rate(failures: u64, runs: u64, alpha: f64) -> bool {
    binomial_upper_tail(failures, runs, alpha) > 1e-3
}

#[test]
fn certify_lower_bound_exceeds_the_truth_at_most_alpha_of_the_time() {
    let w = [0.6, -0.8, 0.0];
    let sigma = 0.5;
    let alpha = 0.05;
    for margin in [0.3, 0.7, 1.2] {
        // x on the line through w/‖w‖ at signed distance `margin` from the hyperplane w·x + 0.1 = 0
        let x0: Array1<f64> = Array1::from(w.to_vec()) * (margin - 0.1);
        let net = linear(&w, 0.1);
        let p_true = normal_cdf(margin / sigma);
        let r_true = margin;
        let runs = 300u64;
        let x = x0.clone().insert_axis(Axis(0));
        let (mut above_p, mut above_r) = (0u64, 0u64);
        for seed in 0..runs {
            let opts = SmoothOptions { sigma, n0: 50, n: 500, alpha, seed: 1000 + seed, ..Default::default() };
            let (c, d) = &run(&net, &x, opts)[0];
            if let Answer::Class(k) = c.answer() {
                if k == 0 && d.statistic > p_true {
                    above_p += 1;
                }
                if c.radius_value() > r_true {
                    above_r += 1;
                }
            }
        }
        assert!(consistent_with_rate(above_p, runs, alpha), "margin {margin}: p̲A > pA in {above_p}/{runs} runs");
        assert!(consistent_with_rate(above_r, runs, alpha), "margin {margin}: R > R* in {above_r}/{runs} runs");
    }
}

#[test]
fn two_class_radius_is_valid_and_below_cohens() {
    let w = [1.0, 0.5];
    let net = linear(&w, 0.0);
    let x0 = array![[0.4, 0.2]];
    let norm = (1.25f64).sqrt();
    let r_true = (0.4 + 0.1) / norm;
    let (runs, alpha) = (300u64, 0.05);
    let mut above = 0;
    for seed in 0..runs {
        let base = SmoothOptions { sigma: 0.4, n0: 50, n: 500, alpha, seed, ..Default::default() };
        let cohen = run(&net, &x0, base.clone())[0].0.radius_value();
        let two = run(&net, &x0, SmoothOptions { radius: RadiusRule::TwoClass, ..base })[0].0.radius_value();
        assert!(two <= cohen, "seed {seed}: two-class {two} > Cohen {cohen}");
        above += (two > r_true) as u64;
    }
    assert!(consistent_with_rate(above, runs, alpha), "two-class R > R* in {above}/{runs}");
}

#[test]
fn predict_returns_the_wrong_class_at_most_alpha_of_the_time() {
    // pA = Φ(0.1) ≈ 0.54: a close call that PREDICT must usually abstain on, and rarely get wrong
    let net = linear(&[1.0], 0.0);
    let x = array![[0.05]];
    let (runs, alpha) = (400u64, 0.05);
    let (mut wrong, mut answered) = (0, 0);
    for seed in 0..runs {
        let opts = SmoothOptions { sigma: 0.5, n: 300, alpha, mode: SmoothMode::Predict, seed, ..Default::default() };
        match run(&net, &x, opts)[0].0.answer() {
            Answer::Class(1) => wrong += 1,
            Answer::Class(_) => answered += 1,
            Answer::Abstain => {}
        }
    }
    assert!(consistent_with_rate(wrong, runs, alpha), "PREDICT wrong in {wrong}/{runs}");
    assert!(answered > 0);
}

#[test]
fn certified_balls_keep_the_smoothed_label() {
    let net = random_net(&[3, 16, 16, 3], 21, 2.0);
    let xs: Vec<Array1<f64>> = (0..6).map(|i| random_point(3, 300 + i)).collect();
    let x = ndarray::stack(Axis(0), &xs.iter().map(|v| v.view()).collect::<Vec<_>>()).unwrap();
    let sigma = 0.5;
    let certs = run(&net, &x, SmoothOptions { sigma, n0: 100, n: 4000, alpha: 0.001, seed: 9, ..Default::default() });
    let sampler = Sampler::new(&net, sigma, 77, Decision::Argmax, NoiseSpace::Input).unwrap();
    let mut checked = 0;
    for (i, (c, _)) in certs.iter().enumerate() {
        let Answer::Class(class) = c.answer() else { continue };
        if c.radius_value() <= 0.0 {
            continue;
        }
        // points strictly inside: at 0.8·R the guarantee gives p_c ≥ Φ(0.2·Φ⁻¹(p̲A)) > ½
        let region = rp::spec::Region { center: xs[i].view(), eps: 0.8 * c.radius_value(), norm: rp::spec::Norm::L2, domain: None };
        let pts = sample_region(&region, 40 + i as u64, 12);
        let recs: Vec<NoisyRecord> = pts.iter().enumerate().map(|(j, p)| NoisyRecord { x: p.view(), row: 1000 * i as u64 + j as u64 }).collect();
        let n = 20_000;
        for (p, counts) in pts.iter().zip(sampler.counts(&recs, Phase::Estimation, n).unwrap()) {
            let share = counts[class] as f64 / n as f64;
            // 4.5 standard errors below ½ would be a violation beyond any sampling doubt
            assert!(share > 0.5 - 4.5 * (0.25 / n as f64).sqrt(), "row {i}: smoothed share of class {class} at {p} is {share}");
            checked += 1;
        }
    }
    assert!(checked >= 24, "too few certified rows to test ({checked})");
}

#[test]
fn sharded_and_threaded_runs_are_identical() {
    let net = random_net(&[4, 12, 3], 3, 1.5);
    let xs: Vec<Array1<f64>> = (0..9).map(|i| random_point(4, 50 + i)).collect();
    let x = ndarray::stack(Axis(0), &xs.iter().map(|v| v.view()).collect::<Vec<_>>()).unwrap();
    let opts = SmoothOptions { sigma: 0.3, n0: 64, n: 3000, alpha: 0.01, seed: 5, ..Default::default() };
    let c = SmoothingCertifier { net, decision: Decision::Argmax, options: opts };
    let ids: Vec<usize> = (0..9).collect();
    let strip = |v: Vec<Certificate>| v.into_iter().map(|c| (c.row, c.answer(), c.radius_value())).collect::<Vec<_>>();
    let pool = |t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
    let one = strip(pool(1).install(|| c.certify_all(&x, &ids)));
    let two = strip(pool(2).install(|| c.certify_all(&x, &ids)));
    assert_eq!(one, two);
    let mut shards = strip(c.certify_all(&x.slice(ndarray::s![..4, ..]).to_owned(), &ids[..4]));
    shards.extend(strip(c.certify_all(&x.slice(ndarray::s![4.., ..]).to_owned(), &ids[4..])));
    assert_eq!(one, shards);
}

trait CertifyAll {
    fn certify_all(&self, x: &Array2<f64>, ids: &[usize]) -> Vec<Certificate>;
}

impl CertifyAll for SmoothingCertifier {
    fn certify_all(&self, x: &Array2<f64>, ids: &[usize]) -> Vec<Certificate> {
        use rp::cert::Certifier;
        self.certify(Batch { inputs: x.view(), row_ids: ids }, &NoProgress).unwrap()
    }
}

#[test]
fn first_layer_noise_has_the_input_noise_distribution() {
    // 12 → 5 narrowing first layer: both spaces must give the same class frequencies
    let net = random_net(&[12, 5, 8, 3], 17, 1.0);
    let x0 = random_point(12, 9) * 0.2;
    let n = 200_000u64;
    let rec = [NoisyRecord { x: x0.view(), row: 0 }];
    let a = Sampler::new(&net, 0.8, 1, Decision::Argmax, NoiseSpace::Input).unwrap();
    let b = Sampler::new(&net, 0.8, 2, Decision::Argmax, NoiseSpace::FirstLayer).unwrap();
    assert!(b.first_layer_space() && !a.first_layer_space());
    let (ca, cb) = (&a.counts(&rec, Phase::Estimation, n).unwrap()[0], &b.counts(&rec, Phase::Estimation, n).unwrap()[0]);
    for k in 0..3 {
        let (pa, pb) = (ca[k] as f64 / n as f64, cb[k] as f64 / n as f64);
        let pooled = (pa + pb) / 2.0;
        let se = (2.0 * pooled * (1.0 - pooled) / n as f64).sqrt().max(1e-12);
        assert!(((pa - pb) / se).abs() < 4.0, "class {k}: input {pa} vs first-layer {pb}");
    }
    assert!(ca.iter().filter(|&&c| c > 1000).count() >= 2, "the test point should be a mixed one: {ca:?}");
}

#[test]
fn invalid_options_are_rejected_with_the_fix() {
    let bad = |o: SmoothOptions| o.validate().unwrap_err().to_string();
    assert!(bad(SmoothOptions { sigma: 0.0, ..Default::default() }).contains("--sigma must be a finite number > 0"));
    assert!(bad(SmoothOptions { sigma: -1.0, ..Default::default() }).contains("--sigma"));
    let e = bad(SmoothOptions { n: 6, alpha: 0.01, ..Default::default() });
    assert!(e.contains("can never certify") && e.contains("use --n 7"), "{e}");
    let e = bad(SmoothOptions { n: 7, alpha: 0.01, mode: SmoothMode::Predict, ..Default::default() });
    assert!(e.contains("use --n 8"), "{e}");
    assert!(bad(SmoothOptions { alpha: 1.0, ..Default::default() }).contains("--alpha"));
    assert!(SmoothOptions { n: 7, alpha: 0.01, ..Default::default() }.validate().is_ok());
    assert!(SmoothOptions { n: 1, mode: SmoothMode::AlwaysLabel, ..Default::default() }.validate().is_ok());
}

/// SMOOTH-9: `--eval f32` smooths the float32 network on the same draws. Its counts differ from the
/// binary64 ones only where rounding moves a draw across the boundary (a handful of 10⁵), in both noise
/// spaces; and an f32 run is a pure function of (seed, row, sample) like an f64 one.
#[test]
fn f32_evaluation_counts_agree_with_f64_on_the_same_draws() {
    use rp::smooth::sampler::Eval;
    let net = random_net(&[12, 5, 8, 3], 17, 1.0);
    let x0 = random_point(12, 9) * 0.2;
    let n = 100_000u64;
    let rec = [NoisyRecord { x: x0.view(), row: 3 }];
    for space in [NoiseSpace::Input, NoiseSpace::FirstLayer] {
        let c64 = Sampler::new(&net, 0.8, 5, Decision::Argmax, space).unwrap().counts(&rec, Phase::Estimation, n).unwrap();
        let s32 = Sampler::new(&net, 0.8, 5, Decision::Argmax, space).unwrap().evaluated_in(Eval::F32);
        let c32 = s32.counts(&rec, Phase::Estimation, n).unwrap();
        let moved: u64 = c64[0].iter().zip(&c32[0]).map(|(a, b)| a.abs_diff(*b)).sum();
        assert!(moved <= 50, "{space:?}: f64 {:?} vs f32 {:?}", c64[0], c32[0]);
        assert!(c64[0].iter().filter(|&&c| c > 1000).count() >= 2, "a mixed point: {:?}", c64[0]);
        // the same counts however the samples are split
        let twice = s32.counts(&[NoisyRecord { x: x0.view(), row: 3 }, NoisyRecord { x: x0.view(), row: 3 }], Phase::Estimation, n).unwrap();
        assert_eq!(twice[0], c32[0]);
        assert_eq!(twice[1], c32[0]);
    }
}

/// `eval` is a typed option: serde reads "f32"/"f64", refuses anything else, and defaults to f64.
#[test]
fn eval_option_is_typed() {
    let o: SmoothOptions = serde_json::from_str(&serde_json::to_string(&SmoothOptions::default()).unwrap().replace("\"f64\"", "\"f32\"")).unwrap();
    assert_eq!(o.eval, rp::smooth::sampler::Eval::F32);
    assert!(serde_json::from_str::<SmoothOptions>(&serde_json::to_string(&SmoothOptions::default()).unwrap().replace("\"f64\"", "\"f16\"")).is_err());
}
