//! Property tests that try to break the deterministic certifiers (zero tolerance). Every sampled,
//! boundary and PGD point of the region must lie inside the computed logit bounds — judged against a
//! rigorous enclosure of the exact output, so a violation is a real bug — and a certified ball must
//! keep the answer. Soundness statements: IBP-1 (proofs/IBP.md), CROWN-2 (proofs/CROWN.md), ALPHA-1
//! (proofs/ALPHA.md), RADIUS-1 and RADIUS-4 (proofs/RADIUS.md), FP-1…5 (proofs/FP.md); half the networks carry
//! exact elementwise layers (FP-5).
mod common;
use common::*;
use ndarray::Array1;
use proptest::prelude::*;
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate};
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
use rp::progress::NoProgress;
use rp::spec::{Decision, Norm, Region};

fn methods() -> Vec<BoundMethod> {
    vec![
        BoundMethod::Ibp,
        BoundMethod::Crown(Intermediate::UnstableOnly),
        BoundMethod::Crown(Intermediate::All),
        BoundMethod::Crown(Intermediate::AutoLirpa),
        BoundMethod::AlphaCrown(AlphaCrownOptions { iterations: 5, ..Default::default() }),
    ]
}

fn norm_strategy() -> impl Strategy<Value = Norm> {
    prop_oneof![Just(Norm::Linf), Just(Norm::L2), Just(Norm::L1)]
}

#[derive(Debug, Clone)]
struct Case {
    sizes: Vec<usize>,
    seed: u64,
    scale: f64,
    eps: f64,
    norm: Norm,
    with_domain: bool,
    /// Exact elementwise layers (normalisation, scalings) between the affine ones.
    elementwise: bool,
}

impl Case {
    fn net(&self) -> rp::net::Network {
        let net = random_net(&self.sizes, self.seed, self.scale);
        if self.elementwise {
            with_elementwise(&net, self.seed)
        } else {
            net
        }
    }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1usize..=5,
        prop::collection::vec(1usize..=32, 1..=4),
        2usize..=4,
        any::<u64>(),
        prop_oneof![Just(0.5), Just(1.0), Just(2.0)],
        0.001f64..1.0,
        norm_strategy(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(d_in, hidden, d_out, seed, scale, eps, norm, with_domain, elementwise)| {
            let mut sizes = vec![d_in];
            sizes.extend(hidden);
            sizes.push(d_out);
            Case { sizes, seed, scale, eps, norm, with_domain, elementwise }
        })
}

/// Every sampled point of `region` and every point PGD finds against each of `class`'s margins keeps
/// the answer `class` for the exact network (judged by a rigorous enclosure of its output).
fn ball_keeps_the_answer(net: &rp::net::Network, region: &Region, class: usize, seed: u64, what: &str) -> Result<(), TestCaseError> {
    let mut pts = sample_region(region, seed, 48);
    let k = net.output_dim();
    for j in (0..k).filter(|&j| j != class) {
        let mut w = Array1::zeros(k);
        w[j] = 1.0;
        w[class] = -1.0;
        pts.extend(pgd_points(net, region, &w, &pts[..4].to_vec(), 10));
    }
    for p in &pts {
        let y = exact_output_enclosure(net, p);
        for j in (0..k).filter(|&j| j != class) {
            // the exact margin f_c − f_j must be able to be positive
            prop_assert!(y.upper[class] > y.lower[j], "{what}: class {class} loses to {j} at {p}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// IBP-1, CROWN-2, ALPHA-1: no point of the region has an exact logit outside the bounds.
    #[test]
    fn logit_bounds_contain_every_reachable_output(c in case_strategy()) {
        let net = c.net();
        let x0 = random_point(c.sizes[0], c.seed);
        let dom = domain_around(&x0, 0.7 * c.eps);
        let region = Region { center: x0.view(), eps: c.eps, norm: c.norm, domain: c.with_domain.then_some(&dom) };
        let mut pts = sample_region(&region, c.seed, 48);
        let k = net.output_dim();
        for j in 0..k {
            for sign in [1.0, -1.0] {
                let mut w = Array1::zeros(k);
                w[j] = sign;
                pts.extend(pgd_points(&net, &region, &w, &pts[..4].to_vec(), 8));
            }
        }
        for m in methods() {
            let b = m.logit_bounds(&net, &region);
            for p in &pts {
                prop_assert!(region.contains(p.view()));
                let y = exact_output_enclosure(&net, p);
                for j in 0..k {
                    prop_assert!(b.lower[j] <= y.upper[j], "{}: lower {} > exact ≤ {} (logit {j})", m.name(), b.lower[j], y.upper[j]);
                    prop_assert!(b.upper[j] >= y.lower[j], "{}: upper {} < exact ≥ {} (logit {j})", m.name(), b.upper[j], y.lower[j]);
                }
            }
        }
    }

    /// RADIUS-1: inside a certified ball every sampled and attacked point keeps the answer.
    #[test]
    fn certified_balls_keep_the_answer(c in case_strategy()) {
        let net = c.net();
        let x0 = random_point(c.sizes[0], c.seed);
        let dom = domain_around(&x0, 0.5);
        let domain = c.with_domain.then(|| dom.clone());
        for m in methods() {
            let cert = BoundCertifier {
                net: net.clone(), method: m.clone(), norm: c.norm, decision: Decision::Argmax,
                domain: domain.clone(), search: RadiusSearch { rel_tol: 1e-3, ..Default::default() },
            };
            let xs = x0.clone().insert_axis(ndarray::Axis(0));
            let out = cert.certify(Batch { inputs: xs.view(), row_ids: &[0] }, &NoProgress).unwrap();
            let r = out[0].radius_value();
            let rp::cert::Answer::Class(class) = out[0].answer() else { unreachable!() };
            if r == 0.0 { continue; }
            let region = Region { center: x0.view(), eps: r, norm: c.norm, domain: domain.as_ref() };
            ball_keeps_the_answer(&net, &region, class, c.seed ^ 1, &format!("{} radius {r}", m.name()))?;
        }
    }

    /// RADIUS-4: the radius a check's own linear bounds prove — here at a random ε, failed or not — lies
    /// within ε, and every sampled and attacked point of that ball (∩ the domain) keeps the answer.
    #[test]
    fn the_floors_of_checks_keep_the_answer(c in case_strategy()) {
        let net = c.net();
        let x0 = random_point(c.sizes[0], c.seed);
        let dom = domain_around(&x0, 0.5);
        let domain = c.with_domain.then(|| dom.clone());
        let (class, _) = Decision::Argmax.decide(net.forward(x0.view()).view());
        let k = net.output_dim();
        let spec = Decision::Argmax.margin_spec(class, k).insert_axis(ndarray::Axis(0));
        let xs = x0.clone().insert_axis(ndarray::Axis(0));
        let eps = Array1::from_elem(1, c.eps);
        let regions = rp::bound::RegionBatch { centers: xs.view(), eps: eps.view(), norm: c.norm, domain: domain.as_ref(), boxes: None };
        for m in methods() {
            let (lb, floors) = m.lower_bounds_and_floors_batch(&net, &regions, spec.view());
            prop_assert_eq!(lb, m.lower_bounds_batch(&net, &regions, spec.view()), "{}: the same bounds", m.name());
            let r = floors[0];
            prop_assert!((0.0..=c.eps).contains(&r), "{}: floor {r} outside [0, {}]", m.name(), c.eps);
            if matches!(m, BoundMethod::Ibp | BoundMethod::AlphaCrown(_)) {
                prop_assert_eq!(r, 0.0);
            }
            if r == 0.0 { continue; }
            let region = Region { center: x0.view(), eps: r, norm: c.norm, domain: domain.as_ref() };
            ball_keeps_the_answer(&net, &region, class, c.seed ^ 2, &format!("{} floor {r} (ε {})", m.name(), c.eps))?;
        }
    }

    /// The tighter methods are at least as tight where they promise it: α-CROWN never looser than CROWN.
    #[test]
    fn alpha_crown_is_never_looser_than_crown(c in case_strategy()) {
        let net = c.net();
        let x0 = random_point(c.sizes[0], c.seed);
        let region = Region { center: x0.view(), eps: c.eps, norm: c.norm, domain: None };
        let (class, _) = Decision::Argmax.decide(net.forward(x0.view()).view());
        let spec = Decision::Argmax.margin_spec(class, net.output_dim());
        let crown = BoundMethod::crown().lower_bounds(&net, &region, &spec);
        let alpha = BoundMethod::AlphaCrown(AlphaCrownOptions::default()).lower_bounds(&net, &region, &spec);
        for (a, c) in alpha.iter().zip(&crown) {
            prop_assert!(a >= c, "alpha-CROWN {a} looser than CROWN {c}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Per-row box regions (input splitting's sub-domains, BAB-1): no point of a row's box has an exact
    /// logit outside that row's bounds, for every method; rows of different boxes in one batch.
    #[test]
    fn box_regions_contain_every_reachable_output(c in case_strategy(), widths in prop::collection::vec(0.001f64..1.0, 3)) {
        use rp::bound::{BoxView, RegionBatch};
        let net = c.net();
        let d = c.sizes[0];
        let centers = ndarray::Array2::from_shape_fn((3, d), |(r, i)| random_point(d, c.seed ^ r as u64)[i]);
        let w = ndarray::Array2::from_shape_fn((3, d), |(r, i)| widths[r] * (1.0 + 0.5 * ((i + r) % 3) as f64));
        let (lower, upper) = (&centers - &w, &centers + &w);
        let zeros = ndarray::Array1::zeros(3);
        let regions = RegionBatch::of_boxes(BoxView { lower: lower.view(), upper: upper.view() }, centers.view(), zeros.view());
        for m in methods() {
            let b = m.logit_bounds_batch(&net, &regions);
            for r in 0..3 {
                let rng = rp::rng::Philox::new(c.seed ^ 77);
                for s in 0..40u64 {
                    let x: ndarray::Array1<f64> = (0..d).map(|i| {
                        let u = rng.uniform_pair(s * 8 + r as u64, i as u64);
                        if s % 4 == 0 { if u[0] < 0.5 { lower[[r, i]] } else { upper[[r, i]] } } else { lower[[r, i]] + u[1] * (upper[[r, i]] - lower[[r, i]]) }
                    }).collect();
                    let y = exact_output_enclosure(&net, &x);
                    for j in 0..net.output_dim() {
                        prop_assert!(b.lower[[r, j]] <= y.upper[j] && b.upper[[r, j]] >= y.lower[j], "{}: row {r} logit {j}", m.name());
                    }
                }
            }
        }
    }
}

/// RADIUS-4 is not vacuous: on random networks a check just past CROWN's radius fails, and its floor
/// lies just below the radius (the failed check closes the bracket from below), inside the ball.
#[test]
fn a_failed_check_just_past_the_radius_proves_nearly_the_radius() {
    let mut closed = 0;
    for seed in 0..20u64 {
        let net = random_net(&[4, 16, 16, 3], seed, 1.0);
        let x0 = random_point(4, seed);
        let cert = BoundCertifier {
            net: net.clone(), method: BoundMethod::crown(), norm: Norm::Linf, decision: Decision::Argmax,
            domain: None, search: RadiusSearch { rel_tol: 1e-6, ..Default::default() },
        };
        let xs = x0.clone().insert_axis(ndarray::Axis(0));
        let out = cert.certify(Batch { inputs: xs.view(), row_ids: &[0] }, &NoProgress).unwrap();
        let r = out[0].radius_value();
        let rp::cert::Answer::Class(class) = out[0].answer() else { unreachable!() };
        let eps = 1.001 * r;
        let check = cert.certifies(xs.view(), &[class], &Array1::from_elem(1, eps))[0];
        assert!(check.floor <= eps, "seed {seed}: floor {} beyond ε {eps}", check.floor);
        if check.margin <= 0.0 && check.floor > 0.99 * r {
            closed += 1;
        }
    }
    assert!(closed >= 10, "only {closed} of 20 failed checks proved ≥ 0.99 of the radius");
}
