//! Measures this machine's f64 and f32 matrix-product rates with the GEMM the engine uses (ndarray /
//! matrixmultiply), single- and multi-threaded, on the shapes of a smoothing block: (1024×k)·(k×m).
//!
//!     cargo run --release --example matmul_peak -- [K M]
use ndarray::Array2;
use rayon::prelude::*;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("integer")).collect();
    let (k, m) = (args.first().copied().unwrap_or(784), args.get(1).copied().unwrap_or(256));
    peak::<f64>("f64", k, m);
    peak::<f32>("f32", k, m);
}

fn peak<T: ndarray::LinalgScalar + Send + Sync + From<u8>>(name: &str, k: usize, m: usize) {
    let a = Array2::from_shape_fn((1024, k), |(i, j)| T::from(((i * 7 + j) % 13) as u8));
    let b = Array2::from_shape_fn((k, m), |(i, j)| T::from(((i + 3 * j) % 11) as u8));
    let flops = 2.0 * 1024.0 * k as f64 * m as f64;
    let reps = ((2e10 / flops) as usize).max(3);
    let t = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(a.dot(&b));
    }
    let one = flops * reps as f64 / t.elapsed().as_secs_f64() / 1e9;
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    (0..reps * threads).into_par_iter().for_each(|_| {
        std::hint::black_box(a.dot(&b));
    });
    let all = flops * (reps * threads) as f64 / t.elapsed().as_secs_f64() / 1e9;
    println!("{name} GEMM (1024x{k})·({k}x{m}): {one:.1} GFLOP/s on 1 thread, {all:.1} GFLOP/s on {threads} threads");
}
