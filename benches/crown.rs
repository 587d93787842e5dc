//! Criterion benchmarks: CROWN logit bounds and the CROWN radius search, batch 1000, on (a) the bundled
//! 11→64→2 MLP and (b) ACAS Xu 1_1 (5→6×50→5, from ../shared; skipped when absent). Side-by-side
//! numbers against auto_LiRPA come from `benches/compare_lirpa.sh`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::{Array1, Array2};
use rp::bound::{BoundMethod, Intermediate, RegionBatch};
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
use rp::net::{read_onnx, Network};
use rp::progress::NoProgress;
use rp::rng::Philox;
use rp::spec::{Decision, Norm};
use std::path::Path;
use std::time::Duration;

fn rows(n: usize, d: usize, scale: f64, seed: u64) -> Array2<f64> {
    let g = Philox::new(seed);
    Array2::from_shape_fn((n, d), |(i, k)| g.uniform_in(i as u64, k as u64, -scale, scale))
}

fn models() -> Vec<(&'static str, Network, Array2<f64>, f64, Decision)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![(
        "mlp-11x64x2",
        read_onnx(&root.join("models/demo-mlp/model.onnx")).expect("bundled demo model"),
        rows(1000, 11, 1.5, 1),
        0.1,
        Decision::Argmax,
    )];
    let acas = root.join("../shared/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx");
    match read_onnx(&acas) {
        Ok(net) => v.push(("acasxu-1-1", net, rows(1000, 5, 0.3, 2), 0.02, Decision::Argmin)),
        Err(e) => eprintln!("skipping ACAS Xu: {e}"),
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("crown-batch-1000");
    g.sample_size(10).measurement_time(Duration::from_secs(8)).warm_up_time(Duration::from_secs(1));
    for (name, net, xs, eps, decision) in models() {
        let eps_all = Array1::from_elem(xs.nrows(), eps);
        for inter in [Intermediate::UnstableOnly, Intermediate::All] {
            let m = BoundMethod::Crown(inter);
            g.bench_with_input(BenchmarkId::new(format!("logit-bounds-{inter:?}"), name), &xs, |b, xs| {
                b.iter(|| m.logit_bounds_batch(&net, &RegionBatch { centers: xs.view(), eps: eps_all.view(), norm: Norm::Linf, domain: None, boxes: None }))
            });
        }
        let cert = BoundCertifier {
            net: net.clone(),
            method: BoundMethod::crown(),
            norm: Norm::Linf,
            decision,
            domain: None,
            search: RadiusSearch { eps_start: eps, ..Default::default() },
        };
        let ids: Vec<usize> = (0..xs.nrows()).collect();
        g.bench_with_input(BenchmarkId::new("radius-search", name), &xs, |b, xs| {
            b.iter(|| cert.certify(Batch { inputs: xs.view(), row_ids: &ids }, &NoProgress).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
