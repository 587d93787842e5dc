//! Shared helpers of the integration tests: random networks and regions, samplers of points inside a
//! region, a PGD-style search, and a rigorous enclosure of the exact network output.
#![allow(dead_code)]
use ndarray::{Array1, Array2};
use rp::bound::{ibp_boundaries, Interval, RegionBatch};
use rp::net::{init::seeded_mlp, Affine, Layer, Network};
use rp::rng::Philox;
use rp::spec::{DomainBox, Norm, Region};

/// A random ReLU MLP: sizes from the caller, weights from `seed`, scaled by `scale` (kept f32-exact).
pub fn random_net(sizes: &[usize], seed: u64, scale: f64) -> Network {
    let mut net = seeded_mlp(sizes, seed);
    for l in &mut net.layers {
        if let Layer::Affine(a) = l {
            a.weight.mapv_inplace(|w| w * scale);
            a.bias.mapv_inplace(|b| b * scale);
        }
    }
    net.round_weights_to_f32();
    net
}

/// A rigorous enclosure of the exact real output f(x) (interval arithmetic with outward rounding on
/// the zero-radius region): an exact value outside it is impossible.
pub fn exact_output_enclosure(net: &Network, x: &Array1<f64>) -> Interval {
    let xs = x.view().insert_axis(ndarray::Axis(0));
    let eps = Array1::zeros(1);
    let regions = RegionBatch { centers: xs, eps: eps.view(), norm: Norm::Linf, domain: None, boxes: None };
    ibp_boundaries(net, &regions).pop().unwrap().row(0)
}

/// Points of the region: uniform samples, points on the sphere and vertices, all checked to lie inside.
pub fn sample_region(region: &Region, seed: u64, n: usize) -> Vec<Array1<f64>> {
    let d = region.center.len();
    let rng = Philox::new(seed);
    let mut pts = Vec::new();
    for s in 0..n as u64 {
        let mut z = vec![0.0; d + 1];
        rng.fill_normal(s, 0, &mut z);
        let u = rng.uniform_pair(s, 1 << 40)[0];
        let dir = Array1::from(z[..d].to_vec());
        let on_sphere = s % 3 == 0;
        let x = match region.norm {
            Norm::Linf => {
                let v: Array1<f64> = (0..d)
                    .map(|k| {
                        let w = rng.uniform_pair(s, (1 << 41) + k as u64);
                        if on_sphere { if w[0] < 0.5 { -1.0 } else { 1.0 } } else { 2.0 * w[1] - 1.0 }
                    })
                    .collect();
                v * region.eps
            }
            Norm::L2 | Norm::L1 => {
                let dir = match region.norm {
                    Norm::L1 if s % 5 == 1 => {
                        // a vertex ±ε e_k of the ℓ1 ball
                        let k = (s as usize / 5) % d;
                        let mut v = Array1::zeros(d);
                        v[k] = if dir[k] < 0.0 { -1.0 } else { 1.0 };
                        v
                    }
                    Norm::L1 => dir.mapv(|v| v.signum() * (-(v.abs().max(1e-300)).ln())),
                    _ => dir,
                };
                let n = region.norm.norm(dir.view());
                let r = if on_sphere || s % 5 == 1 { 1.0 } else { u.powf(1.0 / d as f64) };
                dir * (region.eps * r / n)
            }
        };
        pts.push(shrink_into(region, &region.center.to_owned(), x));
    }
    pts
}

/// center + t·delta for the largest t ≤ 1 (by halving steps) that lies inside the region (after
/// clipping to the domain): floating-point rounding can push a sphere point just outside.
pub fn shrink_into(region: &Region, center: &Array1<f64>, delta: Array1<f64>) -> Array1<f64> {
    let mut t = 1.0;
    loop {
        let mut x = center + &(&delta * t);
        if let Some(b) = region.domain {
            for ((v, l), u) in x.iter_mut().zip(&b.lower).zip(&b.upper) {
                *v = v.clamp(*l, *u);
            }
        }
        if region.contains(x.view()) {
            return x;
        }
        t *= 1.0 - 1e-12;
        if t < 0.5 {
            t = 0.0;
        }
    }
}

/// A short PGD search over the region maximizing w·f(x) from a few starts; returns every iterate that
/// lies in the region.
pub fn pgd_points(net: &Network, region: &Region, w: &Array1<f64>, starts: &[Array1<f64>], steps: usize) -> Vec<Array1<f64>> {
    let mut out = Vec::new();
    let step = region.eps / 4.0;
    for s in starts {
        let mut x = s.clone();
        for _ in 0..steps {
            let g = net.input_gradient(x.view(), w.view());
            let dir = match region.norm {
                Norm::Linf => g.mapv(f64::signum),
                Norm::L2 => {
                    let n = g.dot(&g).sqrt();
                    if n == 0.0 { break } else { &g / n }
                }
                Norm::L1 => {
                    let (k, _) = g.iter().enumerate().fold((0, 0.0f64), |b, (k, &v)| if v.abs() > b.1 { (k, v.abs()) } else { b });
                    let mut e = Array1::zeros(g.len());
                    e[k] = g[k].signum();
                    e
                }
            };
            let cand = region.project((&x + &(dir * step)).view());
            x = shrink_into(region, &region.center.to_owned(), &cand - &region.center);
            out.push(x.clone());
        }
    }
    out
}

/// A random point in [-2, 2]^d.
pub fn random_point(d: usize, seed: u64) -> Array1<f64> {
    let rng = Philox::new(seed ^ 0xABCD);
    (0..d).map(|k| rng.uniform_in(7, k as u64, -2.0, 2.0)).collect()
}

/// A 1-layer linear network y = W x + b.
/// The robust radius of the two-class linear classifier x ↦ Wx + b at x (answer 0): the margin over the
/// dual norm of w₀ − w₁ (no domain box).
pub fn linear_radius(w: &Array2<f64>, b: &Array1<f64>, x: &Array1<f64>, norm: Norm) -> f64 {
    let y = w.dot(x) + b;
    let diff = &w.row(0) - &w.row(1);
    let dual = match norm {
        Norm::Linf => diff.iter().map(|v| v.abs()).sum::<f64>(),
        Norm::L2 => diff.dot(&diff).sqrt(),
        Norm::L1 => diff.iter().fold(0.0f64, |m, v| m.max(v.abs())),
    };
    (y[0] - y[1]) / dual
}

pub fn linear_net(w: Array2<f64>, b: Array1<f64>) -> Network {
    let d = w.ncols();
    Network::new(vec![d], vec![Layer::Affine(Affine::new(w, b))]).unwrap()
}

/// A domain box around x (so x is inside).
pub fn domain_around(x: &Array1<f64>, width: f64) -> DomainBox {
    DomainBox { lower: x.mapv(|v| v - width), upper: x.mapv(|v| v + 0.5 * width) }
}

/// The (lower, upper) ends a certificate states of the robust radius: a sound radius is [r, ∞], an
/// attack's (or none) [0, r], a bracket or exact radius its two ends; an abstention [0, ∞].
pub fn ends(c: &rp::cert::Certificate) -> (f64, f64) {
    use rp::cert::Radius;
    match c.radius() {
        None => (0.0, f64::INFINITY),
        Some(r) => match *r {
            Radius::Sound(v) => (v, f64::INFINITY),
            Radius::Exact(b) | Radius::Bracket(b) | Radius::SolverBracket { bracket: b, .. } => (b.lower(), b.upper()),
            Radius::UpperBound(v) => (0.0, v),
            Radius::Probabilistic { .. } | Radius::Uncertified => (0.0, f64::INFINITY),
        },
    }
}

/// The lower end a certificate *proves* (0 when it proves none).
pub fn proven_lower(c: &rp::cert::Certificate) -> f64 {
    c.radius().and_then(|r| r.proven_lower()).unwrap_or(0.0)
}

/// `net` with exact elementwise layers inserted (SPEC: ONNX normalisation and scalings kept as they
/// are): a Sub then a Div at the input, and after every affine layer but the last one of Mul, Add, Div or
/// SubFrom (chosen by `seed`), with constants whose reciprocals are not binary64 numbers (3, 7, 0.3, …).
pub fn with_elementwise(net: &Network, seed: u64) -> Network {
    use rp::net::{ElemOp, Elementwise};
    let rng = Philox::new(seed ^ 0xe1e);
    let mut counter = 0u64;
    let mut constant = |n: usize, divisor: bool| -> Array1<f64> {
        counter += 1;
        (0..n)
            .map(|j| {
                let u = rng.uniform_pair(counter, j as u64);
                let pool = [3.0, 7.0, 0.3, 1.1, 0.7, 13.0, 2.5, 0.9];
                let v = pool[(u[0] * pool.len() as f64) as usize % pool.len()] as f32 as f64;
                if divisor || u[1] < 0.5 { v } else { -v * 0.5 }
            })
            .collect()
    };
    let d = net.input_dim();
    let mut layers = vec![
        Layer::Elementwise(Elementwise::new(ElemOp::Sub, constant(d, false).mapv(|v| v * 0.1)).unwrap()),
        Layer::Elementwise(Elementwise::new(ElemOp::Div, constant(d, true)).unwrap()),
    ];
    let last_affine = net.layers.iter().rposition(|l| matches!(l, Layer::Affine(_)));
    for (i, l) in net.layers.iter().enumerate() {
        layers.push(l.clone());
        if let Layer::Affine(a) = l {
            if Some(i) == last_affine {
                continue;
            }
            let ops = [ElemOp::Mul, ElemOp::Add, ElemOp::Div, ElemOp::SubFrom];
            let op = ops[(seed as usize + i) % ops.len()];
            let v = match op {
                ElemOp::Add | ElemOp::SubFrom => constant(a.out_dim(), false).mapv(|v| v * 0.2),
                _ => constant(a.out_dim(), true),
            };
            layers.push(Layer::Elementwise(Elementwise::new(op, v).unwrap()));
        }
    }
    Network::new(net.input_shape.clone(), layers).unwrap()
}

/// `../shared/benchmarks` (the VNN-COMP benchmarks), or `$RP_SHARED/benchmarks` where the shared folder
/// lies elsewhere (a test binary carried to another machine, whose checkout path differs from the one
/// compiled in); `None` with a printed reason when it is absent.
pub fn shared_benchmarks() -> Option<std::path::PathBuf> {
    let shared = std::env::var_os("RP_SHARED").map(std::path::PathBuf::from);
    let shared = shared.unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let p = shared.join("benchmarks");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipped: {} not found (the VNN-COMP benchmarks live in ../shared, or set RP_SHARED)", p.display());
        None
    }
}
