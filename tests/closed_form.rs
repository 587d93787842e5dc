//! Hand-made networks whose bounds are known in closed form, checked in exact rational arithmetic:
//! tight cases where a rounding slip in the sound path (FP-1…4 in proofs/FP.md) would show as a bound
//! that exceeds the exact value by an ulp. Also the textbook relaxations (IBP-1, CROWN-1).
mod common;
use common::*;
use ndarray::{array, Array1, Array2};
use num_rational::BigRational;
use num_traits::{Signed, Zero};
use rp::bound::BoundMethod;
use rp::net::{Affine, Layer, Network};
use rp::rng::Philox;
use rp::spec::{Norm, Region};

fn q(x: f64) -> BigRational {
    BigRational::from_float(x).expect("finite")
}

/// Exact min over the ℓ∞ ball of w·x + b: Σ w_k x0_k + b − ε Σ|w_k|, in rationals.
fn exact_linf_min(w: &[f64], b: f64, x0: &[f64], eps: f64) -> BigRational {
    let mut s = q(b);
    for (wk, xk) in w.iter().zip(x0) {
        s += q(*wk) * q(*xk) - q(eps) * q(*wk).abs();
    }
    s
}

/// Exact min over the ℓ1 ball: Σ w_k x0_k + b − ε max|w_k|.
fn exact_l1_min(w: &[f64], b: f64, x0: &[f64], eps: f64) -> BigRational {
    let mut s = q(b);
    let mut m = BigRational::zero();
    for (wk, xk) in w.iter().zip(x0) {
        s += q(*wk) * q(*xk);
        if q(*wk).abs() > m {
            m = q(*wk).abs();
        }
    }
    s - q(eps) * m
}

/// (exact − bound) in units of ε_machine · scale, where scale is the magnitude of the terms summed.
fn gap_in_eps(bound: f64, exact: &BigRational, scale: f64) -> f64 {
    let e: f64 = num_traits::ToPrimitive::to_f64(exact).unwrap();
    (e - bound) / scale / f64::EPSILON
}

/// FP-1…3: for random linear layers with awkward decimals the bounds of IBP and CROWN never exceed the
/// exact rational minimum, and stay within a few dozen ε_machine × (size of the summed terms).
#[test]
fn linear_layer_bounds_are_rigorous_and_tight() {
    let rng = Philox::new(99);
    let mut worst: f64 = 0.0;
    for case in 0..400u64 {
        let d = 1 + (case % 13) as usize;
        let w: Vec<f64> = (0..d).map(|k| rng.uniform_in(case, k as u64, -3.0, 3.0)).collect();
        let x0: Vec<f64> = (0..d).map(|k| rng.uniform_in(case, 100 + k as u64, -1.0, 1.0)).collect();
        let b = rng.uniform_in(case, 999, -1.0, 1.0);
        let eps = rng.uniform_in(case, 998, 0.0, 0.3);
        let net = linear_net(Array2::from_shape_vec((1, d), w.clone()).unwrap(), array![b]);
        let x = Array1::from(x0.clone());
        for norm in [Norm::Linf, Norm::L1] {
            let region = Region { center: x.view(), eps, norm, domain: None };
            let exact = match norm {
                Norm::Linf => exact_linf_min(&w, b, &x0, eps),
                _ => exact_l1_min(&w, b, &x0, eps),
            };
            for m in [BoundMethod::Ibp, BoundMethod::crown()] {
                let lb = m.logit_bounds(&net, &region).lower[0];
                assert!(q(lb) <= exact, "{} {norm:?} case {case}: lower {lb} exceeds the exact minimum", m.name());
                let scale = b.abs() + w.iter().zip(&x0).map(|(a, x)| a.abs() * (x.abs() + eps)).sum::<f64>();
                worst = worst.max(gap_in_eps(lb, &exact, scale));
            }
        }
    }
    assert!(worst < 64.0, "bounds are looser than needed: {worst} ε·scale");
    eprintln!("worst gap below the exact minimum: {worst:.2} ε·scale");
}

/// ℓ2: the exact minimum w·x0 + b − ε‖w‖₂ involves a square root; check against a rational enclosure.
#[test]
fn l2_linear_bound_is_below_the_exact_minimum() {
    let rng = Philox::new(5);
    for case in 0..200u64 {
        let d = 1 + (case % 9) as usize;
        let w: Vec<f64> = (0..d).map(|k| rng.uniform_in(case, k as u64, -2.0, 2.0)).collect();
        let x0: Vec<f64> = (0..d).map(|k| rng.uniform_in(case, 50 + k as u64, -1.0, 1.0)).collect();
        let eps = rng.uniform_in(case, 77, 0.0, 0.5);
        let net = linear_net(Array2::from_shape_vec((1, d), w.clone()).unwrap(), array![0.0]);
        let x = Array1::from(x0.clone());
        let region = Region { center: x.view(), eps, norm: Norm::L2, domain: None };
        let lb = BoundMethod::crown().logit_bounds(&net, &region).lower[0];
        // exact = dot − ε·‖w‖; lb ≤ exact ⇔ dot − lb ≥ ε‖w‖ ⇔ (dot − lb)² ≥ ε²‖w‖² when dot − lb ≥ 0
        let dot: BigRational = w.iter().zip(&x0).map(|(a, b)| q(*a) * q(*b)).fold(BigRational::zero(), |s, v| s + v);
        let gap = dot - q(lb);
        let w2: BigRational = w.iter().map(|a| q(*a) * q(*a)).fold(BigRational::zero(), |s, v| s + v);
        assert!(gap >= BigRational::zero() && &gap * &gap >= q(eps) * q(eps) * w2, "case {case}: {lb} above exact ℓ2 minimum");
    }
}

/// IBP-1 and CROWN-1 on y = relu(x), x ∈ [−1, 3]: IBP gives [0, 3]; CROWN's adaptive lower slope is 1
/// (u > −l) so its lower bound is −1, and the chord through (−1,0),(3,3) gives the upper bound 3.
#[test]
fn single_relu_textbook_bounds() {
    let net = Network::new(
        vec![1],
        vec![Layer::Affine(Affine::new(array![[1.0]], array![0.0])), Layer::Relu, Layer::Affine(Affine::new(array![[1.0]], array![0.0]))],
    )
    .unwrap();
    let x = array![1.0];
    let region = Region { center: x.view(), eps: 2.0, norm: Norm::Linf, domain: None };
    let ibp = BoundMethod::Ibp.logit_bounds(&net, &region);
    assert!(ibp.lower[0] <= 0.0 && ibp.lower[0] > -1e-15, "{:?}", ibp);
    assert!(ibp.upper[0] >= 3.0 && ibp.upper[0] < 3.0 + 1e-14);
    let crown = BoundMethod::crown().logit_bounds(&net, &region);
    assert!(crown.lower[0] <= -1.0 && crown.lower[0] > -1.0 - 1e-14, "{:?}", crown);
    assert!(crown.upper[0] >= 3.0 && crown.upper[0] < 3.0 + 1e-14, "{:?}", crown);
    // x ∈ [−2, 1]: u < −l, so the lower slope is 0 and CROWN's lower bound is 0
    let x = array![-0.5];
    let region = Region { center: x.view(), eps: 1.5, norm: Norm::Linf, domain: None };
    let crown = BoundMethod::crown().logit_bounds(&net, &region);
    assert!(crown.lower[0] <= 0.0 && crown.lower[0] > -1e-15);
    assert!(crown.upper[0] >= 1.0 && crown.upper[0] < 1.0 + 1e-14);
}

/// CROWN-1: relu(x) − relu(−x) = x exactly; with x ∈ [−1, 3] CROWN relaxes both unstable neurons.
/// Lower: relu(x) ≥ x (slope 1) and −relu(−x) ≥ −chord(−x) = −(x+3)/4·... → known value −2.
#[test]
fn two_relu_identity_crown_bound() {
    let net = Network::new(
        vec![1],
        vec![
            Layer::Affine(Affine::new(array![[1.0], [-1.0]], array![0.0, 0.0])),
            Layer::Relu,
            Layer::Affine(Affine::new(array![[1.0, -1.0]], array![0.0])),
        ],
    )
    .unwrap();
    let x = array![1.0];
    let region = Region { center: x.view(), eps: 2.0, norm: Norm::Linf, domain: None };
    let b = BoundMethod::crown().logit_bounds(&net, &region);
    // neuron 1: z = x ∈ [−1, 3], lower slope 1 → relu ≥ x; chord slope 3/4, intercept 3/4.
    // neuron 2: z = −x ∈ [−3, 1], lower slope 0; chord slope 1/4, intercept 3/4.
    // lower of relu(x) − relu(−x) ≥ x − (−x/4 + 3/4) = 1.25x − 0.75 ≥ −2 at x = −1.
    // upper ≤ (0.75x + 0.75) − 0 ≤ 3 at x = 3.
    assert!(b.lower[0] <= -2.0 && b.lower[0] > -2.0 - 1e-14, "{b:?}");
    assert!(b.upper[0] >= 3.0 && b.upper[0] < 3.0 + 1e-14, "{b:?}");
}

/// A domain box intersected with an ℓ∞ ball is bounded exactly: y = x over [0.5 − 0.3, 0.5 + 0.3] ∩ [0, 0.6].
#[test]
fn domain_box_is_intersected() {
    let net = linear_net(array![[1.0]], array![0.0]);
    let x = array![0.5];
    let dom = rp::spec::DomainBox { lower: array![0.0], upper: array![0.6] };
    let region = Region { center: x.view(), eps: 0.3, norm: Norm::Linf, domain: Some(&dom) };
    let b = BoundMethod::crown().logit_bounds(&net, &region);
    assert!(b.upper[0] >= 0.6 && b.upper[0] < 0.6 + 1e-15, "{b:?}");
    assert!(b.lower[0] <= 0.2 && b.lower[0] > 0.2 - 1e-15, "{b:?}");
}

/// For a linear classifier the exact radius is margin / ‖w_c − w_j‖_q; the certified radius must not
/// exceed it and must reach it to the search tolerance.
#[test]
fn linear_classifier_radius_matches_closed_form() {
    use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
    let w = array![[1.0, 2.0, -1.0], [-0.5, 0.25, 1.5]];
    let b = array![0.1, -0.2];
    let x = array![[0.3, 0.4, -0.2]];
    let logits = w.dot(&x.row(0)) + &b;
    let margin = logits[0] - logits[1];
    assert!(margin > 0.0);
    let diff = &w.row(0) - &w.row(1);
    for norm in [Norm::Linf, Norm::L2, Norm::L1] {
        let dual = match norm {
            Norm::Linf => diff.iter().map(|v| v.abs()).sum::<f64>(),
            Norm::L2 => diff.dot(&diff).sqrt(),
            Norm::L1 => diff.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        };
        let exact = margin / dual;
        for method in [BoundMethod::Ibp, BoundMethod::crown()] {
            let c = BoundCertifier {
                net: linear_net(w.clone(), b.clone()),
                method: method.clone(),
                norm,
                decision: Default::default(),
                domain: None,
                search: RadiusSearch::default(),
            };
            let r = c.certify(Batch { inputs: x.view(), row_ids: &[0] }, &rp::progress::NoProgress).unwrap()[0].radius_value();
            assert!(r <= exact && r >= exact * (1.0 - 2e-4), "{} {norm:?}: radius {r}, exact {exact}", method.name());
        }
    }
}

/// The network in exact rational arithmetic (affine maps, the elementwise ops as stated, ReLU).
fn exact_forward(net: &Network, x: &[BigRational]) -> Vec<BigRational> {
    use rp::net::ElemOp;
    let mut h: Vec<BigRational> = x.to_vec();
    for layer in &net.layers {
        h = match layer {
            Layer::Affine(a) => (0..a.out_dim()).map(|o| (0..a.in_dim()).fold(q(a.bias[o]), |s, i| s + q(a.weight[[o, i]]) * &h[i])).collect(),
            Layer::Elementwise(e) => h
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    let c = q(e.value[j]);
                    match e.op {
                        ElemOp::Add => v + c,
                        ElemOp::Sub => v - c,
                        ElemOp::SubFrom => c - v,
                        ElemOp::Mul => v * c,
                        ElemOp::Div => v / c,
                        ElemOp::DivSqrt => unreachable!("√ is irrational: checked by squares in division_by_a_square_root_is_enclosed"),
                    }
                })
                .collect(),
            Layer::Relu => h.iter().map(|v| if v.is_negative() { BigRational::zero() } else { v.clone() }).collect(),
            Layer::Reshape { .. } => h,
        };
    }
    h
}

/// Issue 11.1 / FP-5: networks of affine and exact elementwise layers (no ReLU: affine as a whole, so
/// the exact minimum over an ℓ∞ box is at a vertex) — IBP and CROWN lower bounds never exceed the exact
/// rational minimum and CROWN stays within a few ε_machine of it; each elementwise interval contains
/// the exact image of its ends.
#[test]
fn elementwise_layers_are_bounded_rigorously() {
    let rng = Philox::new(7);
    for case in 0..200u64 {
        let d = 1 + (case % 4) as usize;
        let base = random_net(&[d, 3, 2], case, 1.0);
        let net = with_elementwise(&base, case);
        let x0: Vec<f64> = (0..d).map(|k| rng.uniform_in(case, k as u64, -1.0, 1.0)).collect();
        let eps = rng.uniform_in(case, 50, 0.0, 0.2);
        let x = Array1::from(x0.clone());
        let region = Region { center: x.view(), eps, norm: Norm::Linf, domain: None };
        // drop the ReLU: the network is then affine in x
        let affine = Network::new(net.input_shape.clone(), net.layers.iter().filter(|l| !matches!(l, Layer::Relu)).cloned().collect()).unwrap();
        let zero: Vec<BigRational> = vec![BigRational::zero(); d];
        let c = exact_forward(&affine, &zero);
        let grads: Vec<Vec<BigRational>> = (0..d)
            .map(|j| {
                let mut e = zero.clone();
                e[j] = q(1.0);
                exact_forward(&affine, &e).iter().zip(&c).map(|(a, b)| a - b).collect()
            })
            .collect();
        for method in [BoundMethod::Ibp, BoundMethod::crown()] {
            let b = method.logit_bounds(&affine, &region);
            for o in 0..2 {
                let mut min = c[o].clone();
                let mut scale = 0.0f64;
                for j in 0..d {
                    let g = &grads[j][o];
                    let lo = q(x0[j]) - q(eps);
                    let hi = q(x0[j]) + q(eps);
                    min += if g.is_negative() { g * hi } else { g * lo };
                    scale += num_traits::ToPrimitive::to_f64(g).unwrap().abs() * (x0[j].abs() + eps);
                }
                assert!(q(b.lower[o]) <= min, "case {case} {}: lower bound {} above the exact minimum {min}", method.name(), b.lower[o]);
                if method != BoundMethod::Ibp {
                    let gap = gap_in_eps(b.lower[o], &min, scale.max(num_traits::ToPrimitive::to_f64(&c[o]).unwrap().abs()).max(1e-300));
                    assert!(gap < 1e3, "case {case}: CROWN loose by {gap} ε");
                }
            }
        }
        // the interval of every elementwise op contains the exact images of its ends
        for l in &net.layers {
            if let Layer::Elementwise(e) = l {
                for j in 0..e.dim() {
                    let (lo, hi) = (rng.uniform_in(case, 200 + j as u64, -2.0, 0.0), rng.uniform_in(case, 300 + j as u64, 0.0, 2.0));
                    let (a, b) = e.interval(lo, hi, j);
                    let one = Network::new(vec![e.dim()], vec![l.clone()]).unwrap();
                    for end in [lo, hi] {
                        let mut v = vec![BigRational::zero(); e.dim()];
                        v[j] = q(end);
                        let y = &exact_forward(&one, &v)[j];
                        assert!(q(a) <= *y && *y <= q(b), "case {case}: {:?} on [{lo}, {hi}] gives [{a}, {b}], misses {y}", e.op);
                    }
                }
            }
        }
    }
}

/// FP-5 for BatchNormalization's h/√v: the interval of each end contains the exact value, checked
/// without irrationals (for y = h/√v and a bound a: a ≤ y ⟺ a ≤ 0 ≤ h, or signs agree and a²v vs h²).
#[test]
fn division_by_a_square_root_is_enclosed() {
    use rp::net::{ElemOp, Elementwise};
    let rng = Philox::new(11);
    let le_ratio = |a: f64, h: f64, v: f64| -> bool {
        // a ≤ h/√v, exactly
        let (a_q, h_q, v_q) = (q(a), q(h), q(v));
        match (a_q.is_negative(), h_q.is_negative()) {
            (true, false) => true,
            (false, true) => false,
            (false, false) => &a_q * &a_q * &v_q <= &h_q * &h_q,
            (true, true) => &a_q * &a_q * &v_q >= &h_q * &h_q,
        }
    };
    for case in 0..2000u64 {
        let v = rng.uniform_in(case, 0, 1e-3, 50.0);
        let e = Elementwise::new(ElemOp::DivSqrt, ndarray::array![v]).unwrap();
        let (l, u) = (rng.uniform_in(case, 1, -3.0, 1.0), rng.uniform_in(case, 2, -1.0, 3.0));
        let (l, u) = (l.min(u), l.max(u));
        let (a, b) = e.interval(l, u, 0);
        for h in [l, u] {
            assert!(le_ratio(a, h, v), "case {case}: lower end {a} above {h}/√{v}");
            // b ≥ h/√v ⟺ −b ≤ (−h)/√v
            assert!(le_ratio(-b, -h, v), "case {case}: upper end {b} below {h}/√{v}");
        }
    }
}
