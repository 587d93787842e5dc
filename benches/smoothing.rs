//! Criterion benchmark: randomized-smoothing throughput (one record, 10 000 estimation draws + 100
//! selection draws) on (a) the bundled 11→64→2 MLP and (b) a seeded 784→256→256→10 MLP, in both
//! noise spaces for (b), in f64 and f32 evaluation; and the SMOOTH-8 normals: ns per normal, and once per
//! run a check of 10⁸ draws (moments, and a Kolmogorov–Smirnov distance over 2¹⁶ equal-probability bins).
//! Side-by-side numbers against the reference: `benches/compare_smoothing.sh`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use rp::cert::Batch;
use rp::net::{init::seeded_mlp, read_onnx};
use rp::progress::NoProgress;
use rp::rng::Philox;
use rp::smooth::normals;
use rp::smooth::sampler::{Eval, NoiseSpace};
use statrs::distribution::{ContinuousCDF, Normal};
use rp::smooth::{SmoothOptions, SmoothingCertifier};
use rp::spec::Decision;
use std::path::Path;
use std::time::Duration;

fn bench(c: &mut Criterion) {
    let demo = read_onnx(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/demo-mlp/model.onnx")).unwrap();
    let wide = seeded_mlp(&[784, 256, 256, 10], 7);
    let mut g = c.benchmark_group("smoothing-10100-draws");
    g.sample_size(10).measurement_time(Duration::from_secs(6)).warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(10_100));
    for (name, net, sigma, space, eval) in [
        ("mlp-11x64x2", demo.clone(), 0.5, NoiseSpace::Auto, Eval::F64),
        ("mlp-11x64x2-f32", demo, 0.5, NoiseSpace::Auto, Eval::F32),
        ("mlp-784x256x256x10-first-layer", wide.clone(), 0.25, NoiseSpace::FirstLayer, Eval::F64),
        ("mlp-784x256x256x10-input", wide.clone(), 0.25, NoiseSpace::Input, Eval::F64),
        ("mlp-784x256x256x10-input-f32", wide, 0.25, NoiseSpace::Input, Eval::F32),
    ] {
        let x = Array2::from_elem((1, net.input_dim()), 0.3);
        let cert = SmoothingCertifier {
            net,
            decision: Decision::Argmax,
            options: SmoothOptions { sigma, n0: 100, n: 10_000, alpha: 0.001, noise_space: space, eval, ..Default::default() },
        };
        g.bench_with_input(BenchmarkId::from_parameter(name), &x, |b, x| {
            b.iter(|| cert.run(Batch { inputs: x.view(), row_ids: &[0] }, &NoProgress).unwrap())
        });
    }
    g.finish();
}

/// ns per normal of `normals::fill` (2¹⁶ draws per iteration).
fn bench_normals(c: &mut Criterion) {
    let g = Philox::new(1);
    let mut v = vec![0.0; 1 << 16];
    let mut grp = c.benchmark_group("smoothing-normals");
    grp.throughput(Throughput::Elements(v.len() as u64));
    let mut first = 0u64;
    grp.bench_function("fill-65536", |b| {
        b.iter(|| {
            normals::fill(&g, 3, first, &mut v);
            first += 1 << 16;
            std::hint::black_box(&v);
        })
    });
    grp.finish();
    check_10e8_draws();
}

/// 10⁸ draws: mean, variance, kurtosis and a binned KS distance against their sampling error (printed;
/// panics beyond 6 standard errors or the KS level-10⁻⁶ critical value).
fn check_10e8_draws() {
    const N: u64 = 100_000_000;
    const BINS: usize = 1 << 16;
    let g = Philox::new(2024);
    let nd = Normal::standard();
    let edges: Vec<f64> = (1..BINS).map(|k| nd.inverse_cdf(k as f64 / BINS as f64)).collect();
    let mut hist = vec![0u64; BINS];
    let (mut s1, mut s2, mut s4) = (0.0, 0.0, 0.0);
    let mut buf = vec![0.0; 1 << 20];
    let start = std::time::Instant::now();
    let mut done = 0;
    while done < N {
        normals::fill(&g, 7, done, &mut buf);
        for &z in &buf {
            s1 += z;
            let z2 = z * z;
            s2 += z2;
            s4 += z2 * z2;
            hist[edges.partition_point(|&e| e <= z)] += 1;
        }
        done += buf.len() as u64;
    }
    let n = done as f64;
    let (mean, var, m4) = (s1 / n, s2 / n - (s1 / n).powi(2), s4 / n);
    let mut cum = 0u64;
    let ks = hist.iter().enumerate().map(|(k, &h)| {
        cum += h;
        (cum as f64 / n - (k + 1) as f64 / BINS as f64).abs()
    }).fold(0.0, f64::max);
    let ks_scaled = ks * n.sqrt();
    println!(
        "SMOOTH-8 normals, {done} draws ({:.1} s incl. binning): mean {mean:.2e} (se {:.1e}), var-1 {:.2e} (se {:.1e}), E z^4 - 3 {:.2e} (se {:.1e}), binned KS sqrt(n)*D {ks_scaled:.3} (level 1e-6: 2.63)",
        start.elapsed().as_secs_f64(),
        1.0 / n.sqrt(),
        var - 1.0,
        (2.0 / n).sqrt(),
        m4 - 3.0,
        (96.0 / n).sqrt()
    );
    assert!(mean.abs() < 6.0 / n.sqrt() && (var - 1.0).abs() < 6.0 * (2.0 / n).sqrt() && (m4 - 3.0).abs() < 6.0 * (96.0 / n).sqrt());
    assert!(ks_scaled < 2.63, "KS");
}

criterion_group!(benches, bench, bench_normals);
criterion_main!(benches);
