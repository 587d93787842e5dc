//! The CUDA kernels (issue 6): the per-thread math compiled as C++ must reproduce the Rust noise bit for
//! bit (no GPU needed); with `--features cuda`, every kernel compiles to PTX for sm_90 through NVRTC
//! (CI installs NVRTC from the `nvidia-cuda-nvrtc-cu12` wheel), and on a machine with a GPU the device
//! results equal the CPU's. Tests that cannot run here say why and pass; set RP_REQUIRE_NVRTC=1 (CI) or
//! RP_REQUIRE_GPU=1 to make a missing NVRTC or GPU a failure instead.
use rp::rng::Philox;
use std::process::Command;

#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
fn required(var: &str) -> bool {
    std::env::var(var).map(|v| v == "1").unwrap_or(false)
}

/// Writes the kernel header and `harness` (C++ including it) to `dir` and compiles them with g++
/// without FMA contraction; None (with the reason printed) when there is no g++ here.
fn build_harness(dir: &std::path::Path, harness: &str) -> Option<std::path::PathBuf> {
    std::fs::write(dir.join("rp_common.cuh"), rp::gpu::COMMON_HEADER).unwrap();
    std::fs::write(dir.join("rp_bound.cuh"), rp::gpu::BOUND_HEADER).unwrap();
    std::fs::write(dir.join("h.cpp"), harness).unwrap();
    let exe = dir.join("h");
    let built = match Command::new("g++").args(["-O2", "-ffp-contract=off", "-std=c++17", "-o"]).arg(&exe).arg(dir.join("h.cpp")).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: no g++ to compile the kernel header as C++ ({e}); scripts/bootstrap.sh installs it");
            return None;
        }
    };
    assert!(built.status.success(), "the kernel header does not compile as C++: {}", String::from_utf8_lossy(&built.stderr));
    Some(exe)
}

/// The kernels' Philox, uniforms, ln, sincos and Box–Muller, compiled by g++ without FMA contraction,
/// give the same bits as `rng::Philox::normal_pair` on a spread of (seed, stream, index).
#[test]
fn kernel_math_compiled_as_cpp_matches_the_rust_noise() {
    let dir = tempfile::tempdir().unwrap();
    let harness = r#"
#include <cstdio>
#include "rp_common.cuh"
int main() {
    unsigned long long seed, stream, index;
    while (std::scanf("%llu %llu %llu", &seed, &stream, &index) == 3) {
        double a, b;
        rp_normal_pair(seed, stream, index, &a, &b);
        std::printf("%016llx %016llx\n", rp_bits(a), rp_bits(b));
    }
    return 0;
}
"#;
    let Some(exe) = build_harness(dir.path(), harness) else { return };
    let mut cases = Vec::new();
    for (i, seed) in [0u64, 1, 0xDEAD_BEEF_CAFE, u64::MAX].into_iter().enumerate() {
        for stream in [0u64, 1, 4 * 12345 + 1, 1 << 40] {
            for index in (0..200u64).map(|j| j * 7919 + i as u64).chain([u32::MAX as u64, (1 << 33) + 5]) {
                cases.push((seed, stream, index));
            }
        }
    }
    let input: String = cases.iter().map(|(s, t, i)| format!("{s} {t} {i}\n")).collect();
    let mut child = Command::new(&exe).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), cases.len());
    for ((seed, stream, index), line) in cases.iter().zip(lines) {
        let want = Philox::new(*seed).normal_pair(*stream, *index);
        let got = format!("{:016x} {:016x}", want[0].to_bits(), want[1].to_bits());
        assert_eq!(line, got, "seed {seed} stream {stream} index {index}");
    }
}

/// SMOOTH-8 in the kernel header, compiled as C++: the table of cubics built by `rp_cell_cubic` and the
/// draws of `rp_smooth_normal` (table path and AS 241 tail path) are the bits of `smooth::normals`.
#[test]
fn kernel_smoothing_normals_compiled_as_cpp_match_the_rust_noise() {
    let dir = tempfile::tempdir().unwrap();
    let harness = r#"
#include <cstdio>
#include "rp_common.cuh"
static double table[4 * RP_CELLS];
int main() {
    for (int i = 0; i < RP_CELLS; ++i) rp_cell_cubic(i, table + 4 * i);
    for (int i = 0; i < 4 * RP_CELLS; ++i) std::printf("%016llx\n", rp_bits(table[i]));
    unsigned long long seed, stream, index;
    while (std::scanf("%llu %llu %llu", &seed, &stream, &index) == 3) {
        std::printf("%016llx\n", rp_bits(rp_smooth_normal(seed, stream, index, table)));
    }
    return 0;
}
"#;
    let Some(exe) = build_harness(dir.path(), harness) else { return };
    // a spread of counters, and enough consecutive draws (20 000 per stream) to hit the tail path
    let mut cases = Vec::new();
    for seed in [0u64, 7, u64::MAX] {
        for stream in [1u64, 4 * 999 + 1, 1 << 40] {
            cases.extend((0..20_000u64).map(|i| (seed, stream, i)));
            cases.extend([(seed, stream, u32::MAX as u64 * 4 + 3), (seed, stream, (1 << 35) + 1)]);
        }
    }
    let input: String = cases.iter().map(|(s, t, i)| format!("{s} {t} {i}\n")).collect();
    let mut child = Command::new(&exe).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    // the table is printed before any input is read: feed stdin from a thread so that neither side blocks
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let table = rp::smooth::normals::table();
    assert_eq!(lines.len(), 4 * table.len() + cases.len());
    for (i, line) in lines[..4 * table.len()].iter().enumerate() {
        assert_eq!(*line, format!("{:016x}", table[i / 4][i % 4].to_bits()), "table entry {i}");
    }
    let mut tails = 0;
    for ((seed, stream, index), line) in cases.iter().zip(&lines[4 * table.len()..]) {
        let want = rp::smooth::normals::normal(&Philox::new(*seed), *stream, *index);
        tails += (want.abs() > 3.66) as usize;
        assert_eq!(*line, format!("{:016x}", want.to_bits()), "seed {seed} stream {stream} index {index}");
    }
    assert!(tails > 10, "the tail path was exercised {tails} times");
}

/// Runs `exe` on `input` and returns its stdout lines.
fn run_harness(exe: &std::path::Path, input: String) -> Vec<String> {
    let mut child = Command::new(exe).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(input.as_bytes()).unwrap();
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

fn hex(v: &[f64]) -> String {
    v.iter().map(|x| format!("{:016x} ", x.to_bits())).collect()
}

fn unhex(s: &str) -> Vec<f64> {
    s.split_whitespace().map(|w| f64::from_bits(u64::from_str_radix(w, 16).unwrap())).collect()
}

/// GPU-4: the bound kernels' per-row arithmetic (kernels/rp_bound.cuh), compiled as C++ without FMA
/// contraction, gives the CPU backend's bits for the ReLU, elementwise and split-term steps, both
/// concretizations and up/down, and
/// the CPU's constant and slack (to the rounding of one differently ordered dot product) for the affine
/// step — on random rows with stable, unstable and tied neurons, zeros, subnormals and signed zeros; and
/// the fixed-order GEMM's entries and the signed rows (the ±e_j / ±W_j rows CROWN starts from) bit for
/// bit.
#[test]
fn bound_kernel_rows_compiled_as_cpp_match_the_cpu_backend() {
    use ndarray::{Array1, Array2, Axis};
    use rp::bound::{AffineMags, BoxBatch, LinearBatch, ReluRelax, ReluState};
    use rp::net::Affine;
    use rp::spec::Norm;
    let dir = tempfile::tempdir().unwrap();
    let harness = r#"
#include <cstdio>
#include <vector>
#include <string>
#include "rp_common.cuh"
#include "rp_bound.cuh"
static std::vector<double> rd(size_t n) {
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) { unsigned long long b; std::scanf("%llx", &b); v[i] = rp_from_bits(b); }
    return v;
}
static void pr(double x) { std::printf("%016llx ", rp_bits(x)); }
int main() {
    char op[16];
    unsigned long long n;
    while (std::scanf("%15s %llu", op, &n) == 2) {
        std::string o(op);
        if (o == "relu") {
            auto row = rd(n), uns = rd(n), pm = rd(n), nm = rd(n), ni = rd(n), keep = rd(n), mag = rd(n), rest = rd(3);
            std::vector<unsigned char> u(n);
            for (size_t j = 0; j < n; ++j) u[j] = uns[j] != 0.0;
            rp_relu_row(row.data(), n, u.data(), pm.data(), nm.data(), ni.data(), keep.data(), mag.data(), rest[0], &rest[1], &rest[2]);
            for (double x : row) pr(x);
            pr(rest[1]); pr(rest[2]);
        } else if (o == "affine") {
            auto row = rd(n), wm = rd(n), ab = rd(n), b = rd(n), rest = rd(3);
            rp_affine_slack_row(row.data(), n, wm.data(), ab.data(), b.data(), rest[0], &rest[1], &rest[2]);
            pr(rest[1]); pr(rest[2]);
        } else if (o == "ball") {
            auto a = rd(n), x0 = rd(n), rest = rd(4);
            pr(rp_ball_min(a.data(), x0.data(), n, rest[0], (int)rest[1], rest[2], rest[3]));
        } else if (o == "box") {
            auto a = rd(n), lo = rd(n), hi = rd(n), rest = rd(2);
            pr(rp_box_min(a.data(), lo.data(), hi.data(), n, rest[0], rest[1]));
        } else if (o == "elem") {
            auto row = rd(n), sc = rd(n), sh = rd(n), se = rd(n), m = rd(n), rest = rd(3);
            rp_elementwise_row(row.data(), n, sc.data(), sh.data(), se.data(), m.data(), rest[0] != 0.0, &rest[1], &rest[2]);
            for (double x : row) pr(x);
            pr(rest[1]); pr(rest[2]);
        } else if (o == "split") {
            auto row = rd(n), sb = rd(n), m = rd(n), rest = rd(1);
            rp_split_row(row.data(), n, sb.data(), m.data(), &rest[0]);
            for (double x : row) pr(x);
            pr(rest[0]);
        } else if (o == "gemm") {
            auto a = rd(n), bt = rd(3 * n), b = rd(3 * n);
            for (unsigned long long j = 0; j < 3; ++j) { pr(rp_gemm_entry(a.data(), n, bt.data(), 3, j, 1)); pr(rp_gemm_entry(a.data(), n, b.data(), 3, j, 0)); }
        } else if (o == "signed") {
            auto w = rd(3 * n), j = rd(1);
            for (int affine = 1; affine >= 0; --affine)
                for (unsigned long long row = 0; row < 2; ++row)
                    for (unsigned long long c = 0; c < n; ++c) pr(rp_signed_entry(row, c, (unsigned long long)j[0], w.data(), n, affine));
        } else if (o == "updown") {
            auto v = rd(n);
            for (double x : v) { pr(rp_up(x)); pr(rp_down(x)); }
        }
        std::printf("\n");
    }
    return 0;
}
"#;
    let Some(exe) = build_harness(dir.path(), harness) else { return };
    let rng = Philox::new(20261204);
    let mut k = 0u64;
    let mut draw = |n: usize| -> Vec<f64> {
        k += 1;
        let mut z = vec![0.0; n];
        rng.fill_normal(k, 0, &mut z);
        z
    };
    let mut input = String::new();
    let mut want: Vec<(String, Vec<f64>, f64)> = Vec::new(); // (what, expected values, relative tolerance)
    // up/down on awkward values
    let specials = [0.0, -0.0, 1.0, -1.0, f64::MIN_POSITIVE, -f64::MIN_POSITIVE, f64::from_bits(1), -f64::from_bits(1), f64::MAX, -f64::MAX, f64::INFINITY, f64::NEG_INFINITY, 1e-310, 3.5];
    input += &format!("updown {} {}\n", specials.len(), hex(&specials));
    want.push(("up/down".into(), specials.iter().flat_map(|&x| [rp::rigor::up(x), rp::rigor::down(x)]).collect(), 0.0));
    for case in 0..60usize {
        let n = 1 + case % 23;
        // a ReLU layer's relaxation for one batch row, with ties (u = -l) and stable neurons
        let (c, w) = (draw(n), draw(n));
        let mut lower = Array1::from_shape_fn(n, |j| c[j] - w[j].abs());
        let mut upper = Array1::from_shape_fn(n, |j| c[j] + w[j].abs());
        if n > 2 {
            (lower[0], upper[0]) = (-0.75, 0.75); // a tie of the adaptive slope
            (lower[1], upper[1]) = (0.0, 0.0);
        }
        let bounds = BoxBatch { lower: lower.insert_axis(Axis(0)), upper: upper.insert_axis(Axis(0)) };
        let rx = ReluRelax::new(&bounds, &bounds);
        let mut row = Array1::from(draw(n));
        if n > 3 {
            row[2] = 0.0;
            row[3] = -0.0;
        }
        let lin = || LinearBatch { coef: row.clone().insert_axis(Axis(0)), constant: Array1::from(vec![0.25]), slack: Array1::from(vec![1e-12]), owner: vec![0] };
        let mut l = lin();
        l.through_relu(&rx, None);
        let uns: Vec<f64> = rx.state.iter().map(|&s| (s == ReluState::Unstable) as u8 as f64).collect();
        let r0 = |a: &Array2<f64>| a.row(0).to_vec();
        input += &format!(
            "relu {n} {}{}{}{}{}{}{}{}\n",
            hex(&row.to_vec()),
            hex(&uns),
            hex(&r0(&rx.pos_mult)),
            hex(&r0(&rx.neg_mult)),
            hex(&r0(&rx.neg_intercept)),
            hex(&r0(&rx.keep)),
            hex(&r0(&rx.mag)),
            hex(&[rx.mag_sum[0], 0.25, 1e-12])
        );
        let mut e = l.coef.row(0).to_vec();
        e.extend([l.constant[0], l.slack[0]]);
        want.push((format!("relu case {case}"), e, 0.0));
        // the affine step's constant and slack (m = n outputs, 3 inputs)
        let wts = Array2::from_shape_vec((n, 3), draw(3 * n)).unwrap();
        let a = Affine::new(wts, Array1::from(draw(n)));
        let mag_in = Array2::from_shape_vec((1, 3), draw(3).iter().map(|v| v.abs()).collect()).unwrap();
        let mags = AffineMags::new(&a, &mag_in);
        let mut l = lin();
        l.through_affine(&a, &mags);
        input += &format!(
            "affine {n} {}{}{}{}{}\n",
            hex(&row.to_vec()),
            hex(&mags.weight_mag.row(0).to_vec()),
            hex(&a.bias.mapv(f64::abs).to_vec()),
            hex(&a.bias.to_vec()),
            hex(&[mags.tail[0], 0.25, 1e-12])
        );
        want.push((format!("affine case {case}"), vec![l.constant[0], l.slack[0]], 1e-13));
        // the elementwise step (exact and rounded products) and the split terms
        for (op, values) in [(rp::net::ElemOp::Sub, draw(n)), (rp::net::ElemOp::Div, draw(n).iter().map(|v| v.abs() + 0.5).collect())] {
            let e = rp::net::Elementwise::new(op, Array1::from(values)).unwrap();
            let mag_in = Array2::from_shape_vec((1, n), draw(n).iter().map(|v| v.abs()).collect()).unwrap();
            let mut l = lin();
            l.through_elementwise(&e, &mag_in);
            let (scale, shift, err) = e.scale_shift_with_error();
            let exact = matches!(op, rp::net::ElemOp::Sub) as u8 as f64;
            input += &format!("elem {n} {}{}{}{}{}{}\n", hex(&row.to_vec()), hex(&scale.to_vec()), hex(&shift.to_vec()), hex(&err.to_vec()), hex(&mag_in.row(0).to_vec()), hex(&[exact, 0.25, 1e-12]));
            let mut e = l.coef.row(0).to_vec();
            e.extend([l.constant[0], l.slack[0]]);
            want.push((format!("elementwise {op:?} case {case}"), e, 0.0));
        }
        let beta: Vec<f64> = draw(n).iter().enumerate().map(|(j, v)| if j % 3 == 0 { 0.0 } else { *v }).collect();
        let mut l = lin();
        l.add_split_terms(&Array2::from_shape_vec((1, n), beta.clone()).unwrap(), &rx);
        input += &format!("split {n} {}{}{}{}\n", hex(&row.to_vec()), hex(&beta), hex(&rx.mag.row(0).to_vec()), hex(&[1e-12]));
        let mut e = l.coef.row(0).to_vec();
        e.push(l.slack[0]);
        want.push((format!("split case {case}"), e, 0.0));
        // concretization over a ball (each norm) and over a box
        let x0 = Array2::from_shape_vec((1, n), draw(n)).unwrap();
        let eps = Array1::from(vec![0.125]);
        for (code, norm) in [(0.0, Norm::Linf), (1.0, Norm::L2), (2.0, Norm::L1)] {
            let regions = rp::bound::RegionBatch { centers: x0.view(), eps: eps.view(), norm, domain: None, boxes: None };
            let v = lin().concretize(&regions)[0];
            input += &format!("ball {n} {}{}{}\n", hex(&row.to_vec()), hex(&x0.row(0).to_vec()), hex(&[0.125, code, 0.25, 1e-12]));
            want.push((format!("ball {norm:?} case {case}"), vec![v], 0.0));
        }
        let (lo, hi) = (x0.mapv(|v| v - 0.5), x0.mapv(|v| v + 0.25));
        let zeros = Array1::zeros(1);
        let regions = rp::bound::RegionBatch::of_boxes(rp::bound::BoxView { lower: lo.view(), upper: hi.view() }, x0.view(), zeros.view());
        let v = lin().concretize(&regions)[0];
        input += &format!("box {n} {}{}{}{}\n", hex(&row.to_vec()), hex(&lo.row(0).to_vec()), hex(&hi.row(0).to_vec()), hex(&[0.25, 1e-12]));
        want.push((format!("box case {case}"), vec![v], 0.0));
        // the fixed-order GEMM's entries (GPU-5): the sum over k in ascending order, with B as 3 rows
        // (A·Bᵀ) and as 3 columns (A·B)
        let (a_row, bt) = (draw(n), draw(3 * n));
        let b: Vec<f64> = (0..3 * n).map(|t| bt[(t % 3) * n + t / 3]).collect(); // b[q][j] = bt[j][q]
        input += &format!("gemm {n} {}{}{}\n", hex(&a_row), hex(&bt), hex(&b));
        let ordered = |j: usize| a_row.iter().enumerate().fold(0.0, |acc, (q, x)| acc + x * bt[j * n + q]);
        want.push((format!("gemm case {case}"), (0..3).flat_map(|j| [ordered(j), ordered(j)]).collect(), 0.0));
        // the signed rows of a pair (batch row 0, neuron j), through an affine layer and as units
        let mut w = draw(3 * n);
        let j = case % n.min(3); // a neuron of the 3-output layer, and a column of the n-wide unit rows
        w[j * n] = 0.0; // -0 in the negated row, as the CPU's
        let a = Affine::new(Array2::from_shape_vec((3, n), w.clone()).unwrap(), Array1::from(draw(3)));
        input += &format!("signed {n} {}{}\n", hex(&w), hex(&[j as f64]));
        let net = rp::net::Network::new(vec![n], vec![rp::net::Layer::Affine(a.clone())]).unwrap();
        let cpu_weights = rp::bound::Backend::weights(&rp::bound::Cpu, &net).unwrap();
        let mut e = Vec::new();
        for affine in [Some((0, &a)), None] {
            let lin = rp::bound::Backend::signed_rows(&rp::bound::Cpu, &cpu_weights, affine, &[(0, j)], n).unwrap();
            assert_eq!((lin.owner.clone(), lin.constant[0], lin.constant[1]), (vec![0, 0], affine.map_or(0.0, |_| a.bias[j]), affine.map_or(0.0, |_| -a.bias[j])));
            e.extend(lin.coef.iter());
        }
        want.push((format!("signed rows case {case}"), e, 0.0));
    }
    let lines = run_harness(&exe, input);
    assert_eq!(lines.len(), want.len());
    for (line, (what, expected, tol)) in lines.iter().zip(&want) {
        let got = unhex(line);
        assert_eq!(got.len(), expected.len(), "{what}");
        for (g, e) in got.iter().zip(expected) {
            if *tol == 0.0 {
                assert_eq!(g.to_bits(), e.to_bits(), "{what}: kernel {g:e} vs CPU {e:e}");
            } else {
                assert!((g - e).abs() <= tol * e.abs().max(1e-300), "{what}: kernel {g:e} vs CPU {e:e}");
            }
        }
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use super::required;
    use ndarray::Array2;
    use rp::gpu::cuda::{compile_kernels, nvrtc_present, Gpu};
    use rp::net::init::seeded_mlp;
    use rp::rng::Philox;
    use rp::smooth::sampler::{NoiseSpace, NoisyRecord, Phase, Sampler};
    use rp::spec::{Decision, Norm};

    /// Every kernel compiles to PTX for sm_90, with every entry point, and without FMA contraction.
    #[test]
    fn kernels_compile_to_ptx_for_sm90() {
        if !nvrtc_present() {
            assert!(!required("RP_REQUIRE_NVRTC"), "RP_REQUIRE_NVRTC=1 but NVRTC is not on LD_LIBRARY_PATH");
            eprintln!("skipped: NVRTC (libnvrtc.so.12) not found; .ci/run installs it from the nvidia-cuda-nvrtc-cu12 wheel");
            return;
        }
        let ptx = compile_kernels("compute_90").unwrap();
        let all: String = ptx.iter().map(|(_, p)| p.to_src()).collect();
        for entry in rp::gpu::cuda::ENTRIES.iter().flat_map(|(_, e)| e.iter()) {
            assert!(all.contains(&format!(".entry {entry}")), "no entry {entry} in the PTX");
        }
        assert!(all.contains(".target sm_90"), "not compiled for sm_90");
        assert!(!all.contains("fma.rn.f64"), "FMA contraction would change the noise bits and the kernels' error terms");
    }

    fn gpu() -> Option<Gpu> {
        match Gpu::open() {
            Ok(g) => Some(g),
            Err(why) => {
                assert!(!required("RP_REQUIRE_GPU"), "RP_REQUIRE_GPU=1 but {why}");
                eprintln!("skipped: {why}");
                None
            }
        }
    }

    #[test]
    fn gpu_noise_and_counts_equal_the_cpu() {
        let Some(g) = gpu() else { return };
        let got = g.normals(42, 4 * 7 + 1, 1000, 5000).unwrap();
        let rng = Philox::new(42);
        for (i, pair) in got.chunks(2).enumerate() {
            let want = rng.normal_pair(4 * 7 + 1, 1000 + i as u64);
            assert_eq!((pair[0].to_bits(), pair[1].to_bits()), (want[0].to_bits(), want[1].to_bits()), "pair {i}");
        }
        let table = g.normal_table().unwrap();
        let want: Vec<u64> = rp::smooth::normals::table().iter().flatten().map(|v| v.to_bits()).collect();
        assert_eq!(table.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "device table of cubics");
        let got = g.smooth_normals(42, 4 * 7 + 1, 1000, 50_000).unwrap();
        for (i, z) in got.iter().enumerate() {
            assert_eq!(z.to_bits(), rp::smooth::normals::normal(&rng, 4 * 7 + 1, 1000 + i as u64).to_bits(), "smoothing normal {i}");
        }
        let net = seeded_mlp(&[11, 64, 3], 5);
        let x = Array2::from_shape_fn((6, 11), |(i, j)| ((i * 11 + j) as f64).sin());
        let recs: Vec<NoisyRecord> = (0..6).map(|i| NoisyRecord { x: x.row(i), row: 10 + i as u64 }).collect();
        let sampler = Sampler::new(&net, 0.5, 9, Decision::Argmax, NoiseSpace::Input).unwrap();
        let cpu = sampler.counts(&recs, Phase::Estimation, 20_000).unwrap();
        let dev = g.smooth_counts(&g.smoothing(&sampler).unwrap(), &recs, Phase::Estimation, 20_000).unwrap();
        assert_eq!(cpu, dev, "input space");
        // first-layer space (a narrowing first layer): the same plan, Cholesky factor and draws
        let net = seeded_mlp(&[20, 8, 8, 3], 6);
        let x = Array2::from_shape_fn((4, 20), |(i, j)| ((i * 20 + j) as f64).cos());
        let recs: Vec<NoisyRecord> = (0..4).map(|i| NoisyRecord { x: x.row(i), row: 3 + i as u64 }).collect();
        let sampler = Sampler::new(&net, 0.25, 11, Decision::Argmin, NoiseSpace::FirstLayer).unwrap();
        assert!(sampler.first_layer_space());
        let cpu = sampler.counts(&recs, Phase::Selection, 30_000).unwrap();
        let dev = g.smooth_counts(&g.smoothing(&sampler).unwrap(), &recs, Phase::Selection, 30_000).unwrap();
        assert_eq!(cpu, dev, "first-layer space");
    }

    /// The GPU certifiers give the CPU's answers and radii within the search's tolerance (the bounds
    /// agree to rounding, not bit for bit: the sums run in other orders, so a search may stop at another
    /// ε of the same tolerance), each row's radius bit for bit the same whether certified alone or in
    /// the batch (GPU-5: sharding changes nothing), and the CPU's smoothing certificates.
    #[test]
    fn gpu_certifiers_match_the_cpu_certifiers() {
        use rp::cert::{Batch, BoundCertifier, Certifier, RadiusSearch};
        use rp::gpu::certifier::{GpuBoundCertifier, GpuSmoothing};
        use rp::progress::NoProgress;
        let Some(g) = gpu() else { return };
        let g = std::sync::Arc::new(g);
        let net = seeded_mlp(&[5, 24, 24, 3], 8);
        let x = Array2::from_shape_fn((20, 5), |(i, j)| ((i * 5 + j) as f64 * 0.37).sin());
        let ids: Vec<usize> = (0..20).collect();
        let batch = Batch { inputs: x.view(), row_ids: &ids };
        let cpu = BoundCertifier { net: net.clone(), method: rp::bound::BoundMethod::Crown(rp::bound::Intermediate::All), norm: Norm::L2, decision: Decision::Argmax, domain: None, search: RadiusSearch::default() };
        let dev = GpuBoundCertifier::new(g.clone(), net.clone(), rp::bound::BoundMethod::Crown(rp::bound::Intermediate::All), Norm::L2, Decision::Argmax, None, RadiusSearch::default()).unwrap();
        let (a, b) = (cpu.certify(batch, &NoProgress).unwrap(), dev.certify(batch, &NoProgress).unwrap());
        let tol = RadiusSearch::default().rel_tol;
        for (p, q) in a.iter().zip(&b) {
            assert_eq!(p.answer(), q.answer());
            let (r, s) = (p.radius_value(), q.radius_value());
            assert!((r - s).abs() <= tol * r.max(s), "row {}: CPU {r} vs GPU {s}", p.row);
        }
        for i in [0, 7, 19] {
            let alone = dev.certify(Batch { inputs: x.slice(ndarray::s![i..i + 1, ..]), row_ids: &ids[i..i + 1] }, &NoProgress).unwrap();
            assert_eq!(alone[0].radius_value().to_bits(), b[i].radius_value().to_bits(), "row {i} alone vs in the batch");
        }
        let options = rp::smooth::SmoothOptions { sigma: 0.5, n0: 100, n: 10_000, alpha: 0.001, noise_space: NoiseSpace::Auto, ..Default::default() };
        let inner = rp::smooth::SmoothingCertifier { net: net.clone(), decision: Decision::Argmax, options };
        let cpu = inner.certify(batch, &NoProgress).unwrap();
        let dev = GpuSmoothing { gpu: g, inner }.certify(batch, &NoProgress).unwrap();
        for (p, q) in cpu.iter().zip(&dev) {
            assert_eq!((p.answer(), p.radius_value().to_bits()), (q.answer(), q.radius_value().to_bits()));
        }
    }
}
