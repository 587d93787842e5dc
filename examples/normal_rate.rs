//! ns per normal of the smoothing noise (SMOOTH-8 table) vs Box–Muller pairs, best of 5 runs.
//!
//!     cargo run --release --example normal_rate
use rp::rng::Philox;
use std::time::Instant;

fn best_ns(mut f: impl FnMut(u64, &mut [f64])) -> f64 {
    let mut v = vec![0.0f64; 1 << 16];
    let reps = 100u64;
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for r in 0..reps {
                f(r, &mut v);
                std::hint::black_box(&v);
            }
            t.elapsed().as_secs_f64() * 1e9 / (reps as f64 * v.len() as f64)
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let g = Philox::new(1);
    let table = best_ns(|r, v| rp::smooth::normals::fill(&g, 3, r << 16, v));
    let bm = best_ns(|r, v| g.fill_normal_pairs(3, r << 15, v));
    println!("smoothing normals (SMOOTH-8 table): {table:.2} ns/normal; Box–Muller pairs: {bm:.2} ns/normal");
}
