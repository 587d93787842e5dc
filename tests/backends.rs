//! The bound backends' one contract (issue 19, GPU-4 in proofs/GPU.md): the same soundness proptests run
//! on every available backend — the CPU always; the GPU when built with `--features cuda` on a machine
//! with one (skipped with a printed reason otherwise; RP_REQUIRE_GPU=1 makes a missing GPU a failure).
//! On random dense networks (with or without a standardization in front), ℓ∞/ℓ2/ℓ1 balls with and without a domain box and every intermediate-bound
//! rule: no sampled or vertex point of a region has a margin below the backend's CROWN bound or an
//! output outside its IBP box, and the backend's bounds equal the CPU certifiers' (to 1e-9 relative:
//! only summation orders differ) and do not depend on which rows share the batch.
use ndarray::{Array1, Array2, Array3, Axis};
use proptest::prelude::*;
use rp::bound::{stack_specs, try_ibp_boundaries, try_ibp_lower_bounds, Backend, BoundMethod, CrownBatch, Intermediate, RegionBatch};
use rp::net::init::seeded_mlp;
use rp::net::{ElemOp, Elementwise, Layer, Network};
use rp::rng::Philox;
use rp::spec::{Decision, DomainBox, Norm};

const ROWS: usize = 4;

/// One random case: a network, centers inside the domain (when there is one), radii, the spec.
struct Case {
    net: Network,
    x: Array2<f64>,
    eps: Array1<f64>,
    norm: Norm,
    domain: Option<DomainBox>,
    spec: Array3<f64>,
}

fn case(sizes: &[usize], seed: u64, eps: f64, norm_i: usize, with_domain: bool, normalized: bool) -> Case {
    let mut net = seeded_mlp(sizes, seed);
    let d = sizes[0];
    if normalized {
        // a model card's standardization in front: (x − μ) / s
        let mu = Array1::from_shape_fn(d, |j| 0.1 * (j as f64 + 1.0));
        let sd = Array1::from_shape_fn(d, |j| 0.5 + 0.25 * j as f64);
        net.layers.insert(0, Layer::Elementwise(Elementwise::new(ElemOp::Div, sd).unwrap()));
        net.layers.insert(0, Layer::Elementwise(Elementwise::new(ElemOp::Sub, mu).unwrap()));
    }
    let k = *sizes.last().unwrap();
    let x = Array2::from_shape_fn((ROWS, d), |(i, j)| 0.8 * ((seed % 89) as f64 + (i * d + j) as f64 * 1.7).sin());
    let eps = Array1::from_shape_fn(ROWS, |i| eps * (1.0 + i as f64) / ROWS as f64);
    let norm = [Norm::Linf, Norm::L2, Norm::L1][norm_i];
    let domain = with_domain.then(|| DomainBox { lower: Array1::from_elem(d, -0.9), upper: Array1::from_elem(d, 0.85) });
    let answers: Vec<Array2<f64>> = (0..ROWS).map(|r| Decision::Argmax.margin_spec(Decision::Argmax.decide(net.forward(x.row(r)).view()).0, k)).collect();
    Case { net, x, eps, norm, domain, spec: stack_specs(&answers) }
}

impl Case {
    fn regions(&self) -> RegionBatch<'_> {
        RegionBatch { centers: self.x.view(), eps: self.eps.view(), norm: self.norm, domain: self.domain.as_ref(), boxes: None }
    }

    /// Points of row r's region: random directions at random radii, and (ℓ∞) random vertices, clamped
    /// into the domain box (which holds the center, so clamping stays in the ball).
    fn points(&self, r: usize, seed: u64) -> Vec<Array1<f64>> {
        let d = self.x.ncols();
        let rng = Philox::new(seed);
        (0..200u64)
            .map(|s| {
                let mut z = vec![0.0; d];
                rng.fill_normal(s, r as u64, &mut z);
                let len: f64 = match self.norm {
                    Norm::Linf => z.iter().fold(0.0f64, |m, v| m.max(v.abs())),
                    Norm::L2 => z.iter().map(|v| v * v).sum::<f64>().sqrt(),
                    Norm::L1 => z.iter().map(|v| v.abs()).sum(),
                };
                let scale = if s % 2 == 0 { 1.0 } else { rng.uniform_pair(s, 1 << 40)[0] };
                let vertex = self.norm == Norm::Linf && s % 4 == 0;
                let mut p = Array1::from_shape_fn(d, |j| {
                    let step = if vertex { z[j].signum() } else { scale * z[j] / len.max(1e-300) };
                    self.x[[r, j]] + self.eps[r] * 0.999_999 * step
                });
                if let Some(dom) = &self.domain {
                    for j in 0..d {
                        p[j] = p[j].clamp(dom.lower[j], dom.upper[j]);
                    }
                }
                p
            })
            .collect()
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

/// CROWN on `backend` under `inter`: sound at sampled points, equal to the CPU certifier's bounds, and
/// each row's bound independent of the other rows of its batch (except auto_LiRPA's batch-wide rule).
fn crown_contract<B: Backend>(backend: &B, c: &Case, inter: Intermediate, seed: u64) -> Result<(), TestCaseError> {
    let w = backend.weights(&c.net).expect("weights on the device");
    let lb = CrownBatch::on(backend, &w, &c.net, c.regions(), inter).expect("a batch").try_lower_bounds(c.spec.view()).expect("bounds");
    let cpu = BoundMethod::Crown(inter).lower_bounds_batch(&c.net, &c.regions(), c.spec.view());
    for (a, b) in lb.iter().zip(cpu.iter()) {
        prop_assert!(close(*a, *b), "{} CROWN {a} vs the CPU's {b} ({inter:?}, {:?})", backend.name(), c.norm);
    }
    for r in 0..ROWS {
        for p in c.points(r, seed) {
            let y = c.net.forward(p.view());
            for (s, row) in c.spec.index_axis(Axis(0), r).outer_iter().enumerate() {
                prop_assert!(row.dot(&y) >= lb[[r, s]] - 1e-12, "{} CROWN bound {} above a reachable margin {}", backend.name(), lb[[r, s]], row.dot(&y));
            }
        }
        if inter != Intermediate::AutoLirpa {
            let one = RegionBatch { centers: c.x.slice(ndarray::s![r..r + 1, ..]), eps: c.eps.slice(ndarray::s![r..r + 1]), ..c.regions() };
            let alone = CrownBatch::on(backend, &w, &c.net, one, inter).unwrap().try_lower_bounds(c.spec.slice(ndarray::s![r..r + 1, .., ..])).unwrap();
            for (a, b) in alone.iter().zip(lb.row(r).iter()) {
                prop_assert_eq!(a.to_bits(), b.to_bits(), "row {} depends on its batch (GPU-5)", r);
            }
        }
    }
    Ok(())
}

/// IBP on `backend`: every sampled output inside its boxes, boxes and margins equal to the CPU's.
fn ibp_contract<B: Backend>(backend: &B, c: &Case, seed: u64) -> Result<(), TestCaseError> {
    let w = backend.weights(&c.net).expect("weights on the device");
    let boxes = try_ibp_boundaries(backend, &w, &c.net, &c.regions()).expect("boxes");
    let cpu = rp::bound::ibp_boundaries(&c.net, &c.regions());
    for (a, b) in boxes.iter().zip(&cpu) {
        prop_assert!(a.lower.iter().zip(b.lower.iter()).all(|(p, q)| close(*p, *q)) && a.upper.iter().zip(b.upper.iter()).all(|(p, q)| close(*p, *q)));
    }
    let lb = try_ibp_lower_bounds(backend, &w, &c.net, &c.regions(), c.spec.view()).expect("bounds");
    let cpu_lb = BoundMethod::Ibp.lower_bounds_batch(&c.net, &c.regions(), c.spec.view());
    prop_assert!(lb.iter().zip(cpu_lb.iter()).all(|(p, q)| close(*p, *q)));
    let out = boxes.last().unwrap();
    for r in 0..ROWS {
        for p in c.points(r, seed) {
            let y = c.net.forward(p.view());
            for j in 0..y.len() {
                prop_assert!(out.lower[[r, j]] <= y[j] + 1e-12 && y[j] <= out.upper[[r, j]] + 1e-12, "{} IBP box misses an output", backend.name());
            }
            for (s, row) in c.spec.index_axis(Axis(0), r).outer_iter().enumerate() {
                prop_assert!(row.dot(&y) >= lb[[r, s]] - 1e-12);
            }
        }
    }
    Ok(())
}

/// The soundness and agreement proptests on one backend (`$make` gives `Option<backend>`; None skips).
macro_rules! backend_tests {
    ($name:ident, $make:expr) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig { cases: 40, rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha, ..ProptestConfig::default() })]

                #[test]
                fn crown_is_sound_and_equals_the_cpu(d in 1usize..=5, hidden in proptest::collection::vec(1usize..=12, 1..=3), k in 2usize..=4,
                                                     seed in any::<u64>(), eps in 0.001f64..0.6, norm_i in 0usize..3, with_domain in any::<bool>(), inter_i in 0usize..4,
                                                     normalized in any::<bool>()) {
                    let Some(backend) = $make else { return Ok(()) };
                    let mut sizes = vec![d];
                    sizes.extend(&hidden);
                    sizes.push(k);
                    let inter = [Intermediate::UnstableOnly, Intermediate::All, Intermediate::Ibp, Intermediate::AutoLirpa][inter_i];
                    crown_contract(&backend, &case(&sizes, seed, eps, norm_i, with_domain, normalized), inter, seed)?;
                }

                #[test]
                fn ibp_is_sound_and_equals_the_cpu(d in 1usize..=5, hidden in proptest::collection::vec(1usize..=12, 1..=3), k in 2usize..=4,
                                                   seed in any::<u64>(), eps in 0.001f64..0.6, norm_i in 0usize..3, with_domain in any::<bool>(),
                                                   normalized in any::<bool>()) {
                    let Some(backend) = $make else { return Ok(()) };
                    let mut sizes = vec![d];
                    sizes.extend(&hidden);
                    sizes.push(k);
                    ibp_contract(&backend, &case(&sizes, seed, eps, norm_i, with_domain, normalized), seed)?;
                }
            }
        }
    };
}

backend_tests!(cpu, Some(rp::bound::Cpu));

#[cfg(feature = "cuda")]
fn gpu_backend() -> Option<rp::gpu::backend::GpuBackend> {
    static GPU: std::sync::OnceLock<Option<std::sync::Arc<rp::gpu::cuda::Gpu>>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| match rp::gpu::cuda::Gpu::open() {
        Ok(g) => Some(std::sync::Arc::new(g)),
        Err(why) => {
            assert!(std::env::var("RP_REQUIRE_GPU").map(|v| v != "1").unwrap_or(true), "RP_REQUIRE_GPU=1 but {why}");
            eprintln!("skipped: {why}");
            None
        }
    })
    .clone()
    .map(|gpu| rp::gpu::backend::GpuBackend { gpu })
}

#[cfg(feature = "cuda")]
backend_tests!(cuda, super::gpu_backend());
