//! Reproducibility (non-negotiable 5): a row's bounds and radius do not depend on the batch it is
//! certified in, on the chunking, or on the thread count.
mod common;
use common::*;
use ndarray::{Array1, Array2, Axis};
use rp::bound::{AlphaCrownOptions, BoundMethod, Intermediate, RegionBatch};
use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
use rp::progress::NoProgress;
use rp::spec::{Decision, Norm};

fn inputs(n: usize, d: usize) -> Array2<f64> {
    let rows: Vec<Array1<f64>> = (0..n).map(|i| random_point(d, 100 + i as u64)).collect();
    ndarray::stack(Axis(0), &rows.iter().map(|r| r.view()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn bounds_of_a_row_do_not_depend_on_its_batch() {
    let net = random_net(&[4, 24, 24, 3], 11, 1.0);
    let xs = inputs(150, 4); // more than one chunk
    let eps = Array1::from_iter((0..150).map(|i| 0.01 + 0.002 * i as f64));
    for m in [
        BoundMethod::Ibp,
        BoundMethod::Crown(Intermediate::UnstableOnly),
        BoundMethod::Crown(Intermediate::All),
        BoundMethod::AlphaCrown(AlphaCrownOptions { iterations: 3, ..Default::default() }),
    ] {
        for norm in [Norm::Linf, Norm::L2] {
            let all = m.logit_bounds_batch(&net, &RegionBatch { centers: xs.view(), eps: eps.view(), norm, domain: None, boxes: None });
            for i in [0usize, 37, 149] {
                let one = m.logit_bounds_batch(
                    &net,
                    &RegionBatch { centers: xs.slice(ndarray::s![i..i + 1, ..]), eps: eps.slice(ndarray::s![i..i + 1]), norm, domain: None, boxes: None },
                );
                assert_eq!(one.row(0), all.row(i), "{} {norm:?} row {i}", m.name());
            }
        }
    }
}

#[test]
fn radii_do_not_depend_on_thread_count_or_sharding() {
    // more rows than one chunk of the batched forward pass that starts each row's search (RADIUS-3),
    // and a shard boundary that moves rows across its chunks
    let n = 600;
    let net = random_net(&[5, 32, 32, 3], 5, 1.0);
    let xs = inputs(n, 5);
    let ids: Vec<usize> = (0..n).collect();
    let cert = BoundCertifier {
        net,
        method: BoundMethod::crown(),
        norm: Norm::L2,
        decision: Decision::Argmax,
        domain: None,
        search: RadiusSearch::default(),
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| cert.certify(Batch { inputs: xs.view(), row_ids: &ids }, &NoProgress).unwrap())
    };
    let one = run(1);
    let two = run(2);
    let radii = |c: &[rp::cert::Certificate]| c.iter().map(|c| (c.row, c.radius_value())).collect::<Vec<_>>();
    assert_eq!(radii(&one), radii(&two));
    // shards 0..17 and 17..n certified separately give the same rows
    let a = cert.certify(Batch { inputs: xs.slice(ndarray::s![..17, ..]), row_ids: &ids[..17] }, &NoProgress).unwrap();
    let b = cert.certify(Batch { inputs: xs.slice(ndarray::s![17.., ..]), row_ids: &ids[17..] }, &NoProgress).unwrap();
    let mut merged = radii(&a);
    merged.extend(radii(&b));
    assert_eq!(merged, radii(&one));
    assert!(one.iter().any(|c| c.radius_value() > 0.0));
}
