//! Criterion benchmark: randomized-smoothing throughput (one record, 10 000 estimation draws + 100
//! selection draws) on (a) the bundled 11→64→2 MLP and (b) a seeded 784→256→256→10 MLP, in both
//! noise spaces for (b). Side-by-side numbers against the reference: `benches/compare_smoothing.sh`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ndarray::Array2;
use rp::cert::Batch;
use rp::net::{init::seeded_mlp, read_onnx};
use rp::progress::NoProgress;
use rp::smooth::sampler::NoiseSpace;
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
    for (name, net, sigma, space) in [
        ("mlp-11x64x2", demo, 0.5, NoiseSpace::Auto),
        ("mlp-784x256x256x10-first-layer", wide.clone(), 0.25, NoiseSpace::FirstLayer),
        ("mlp-784x256x256x10-input", wide, 0.25, NoiseSpace::Input),
    ] {
        let x = Array2::from_elem((1, net.input_dim()), 0.3);
        let cert = SmoothingCertifier {
            net,
            decision: Decision::Argmax,
            options: SmoothOptions { sigma, n0: 100, n: 10_000, alpha: 0.001, noise_space: space, ..Default::default() },
        };
        g.bench_with_input(BenchmarkId::from_parameter(name), &x, |b, x| {
            b.iter(|| cert.run(Batch { inputs: x.view(), row_ids: &[0] }, &NoProgress).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
