#!/usr/bin/env bash
# GPU vs 2-core CPU, one run (issue 6): the GPU equality tests, then CROWN radius-search rows/s and
# smoothing samples/s for the same model and inputs on both devices. Needs a machine with a GPU and the
# CUDA driver; NVRTC comes from .gpu-carry (scripts/gpu_carry.sh, packed here and carried) or the pip
# wheel (scripts/nvrtc_env.sh) when the system has none.
#   bash benches/gpu.sh [ROWS]        (RP_BIN=path/to/rp built with --features cuda skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-2000}
out=${RP_BENCH_OUT:-target/gpu-bench}
mkdir -p "$out"
# NVRTC 12.8 carried in the working tree (scripts/gpu_carry.sh; the GPU machine has no network) comes
# first on the path, else the system's, else the wheel's (which needs the network)
if [ -f .gpu-carry/xz/SHA256SUMS ]; then
  export LD_LIBRARY_PATH="$(bash scripts/gpu_carry.sh --unpack)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
elif ! ls /usr/lib/x86_64-linux-gnu/libnvrtc.so* /usr/local/cuda/lib64/libnvrtc.so* >/dev/null 2>&1; then
  export LD_LIBRARY_PATH="$(bash scripts/nvrtc_env.sh)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [ -z "${RP_BIN:-}" ]; then
  cargo build --release --features cuda --examples --bins
  RP_BIN=target/release/rp
  RP_REQUIRE_GPU=1 RP_REQUIRE_NVRTC=1 cargo test --release --features cuda --test kernels --test nvrtc --test backends --test verify
fi
# versions, device and CUBIN architecture, every kernel compiled and loaded (fails here if not)
info=$(dirname "$RP_BIN")/examples/gpu_info
[ -x "$info" ] || info="cargo run --release --features cuda --example gpu_info --"
$info
mlp=$(dirname "$RP_BIN")/examples/make_mlp
[ -x "$mlp" ] || mlp="cargo run --release --example make_mlp --"
$mlp 784,256,256,10 7 "$out/mnist_like.onnx"
# seeded inputs in [0, 1): a linear congruential generator in awk (no Python needed)
awk -v n="$rows" 'BEGIN { s = 12345; for (j = 0; j < 784; j++) printf "%sx%d", (j ? "," : ""), j; print "";
  for (i = 0; i < n; i++) { for (j = 0; j < 784; j++) { s = (s * 1103515245 + 12345) % 2147483648; printf "%s%.6f", (j ? "," : ""), s / 2147483648 } print "" } }' > "$out/inputs.csv"
head -n 101 "$out/inputs.csv" > "$out/inputs100.csv"
time_of() { local t0 t1; t0=$(date +%s.%N); "$@" > /dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
declare -A t s
gpu=${RP_GPU_DEVICE:-cuda}   # RP_GPU_DEVICE=cpu dry-runs the script without a GPU
common=(--model "$out/mnist_like.onnx")
echo "| task | CPU (2 threads) s | GPU s | CPU/GPU |"
echo "|---|---|---|---|"
for dev in cpu $gpu; do
  t[$dev]=$(time_of "$RP_BIN" --threads 2 certify "${common[@]}" --input "$out/inputs.csv" --method crown --norm linf --device $dev --output "$out/crown_$dev.csv")
done
echo "| CROWN radius search, $rows rows ($(calc %.0f "$rows / ${t[$gpu]}") rows/s on the GPU) | ${t[cpu]} | ${t[$gpu]} | $(calc %.1f "${t[cpu]} / ${t[$gpu]}") |"
n=100000
for dev in cpu $gpu; do
  s[$dev]=$(time_of "$RP_BIN" --threads 2 certify "${common[@]}" --input "$out/inputs100.csv" --method smooth --sigma 0.25 --n0 100 --n $n --alpha 0.001 --noise-space input --device $dev --output "$out/smooth_$dev.csv")
done
samples=$((100 * (n + 100)))
echo "| smoothing, 100 rows × $((n + 100)) samples ($(calc %.3g "$samples / ${s[$gpu]}") samples/s on the GPU) | ${s[cpu]} | ${s[$gpu]} | $(calc %.1f "${s[cpu]} / ${s[$gpu]}") |"
# the certificates must agree: identical smoothing rows, CROWN radii within 1e-3 relative
cmp <(cut -d, -f1-4 "$out/smooth_cpu.csv") <(cut -d, -f1-4 "$out/smooth_$gpu.csv") && echo "smoothing certificates: identical on both devices"
paste -d, "$out/crown_cpu.csv" "$out/crown_$gpu.csv" | awk -F, 'NR > 1 { d = $3 - $10; if (d < 0) d = -d; if (d > 1e-3 * ($3 > 1e-9 ? $3 : 1e-9)) bad++ } END { print (bad ? bad " CROWN radii differ by more than 1e-3 relative" : "CROWN radii: equal within 1e-3 relative") }'
# input-splitting branch and bound with CROWN's box batches on each device (ACAS Xu from ../shared, or
# RP_ACAS=folder with onnx/ and vnnlib/ copied into a carried, git-ignored folder): same verdicts
acas=${RP_ACAS:-../shared/benchmarks/acasxu}
if [ -d "$acas/onnx" ]; then
  declare -A v
  for dev in cpu $gpu; do
    t0=$(date +%s.%N)
    for inst in 1_1:prop_1 1_1:prop_3 4_5:prop_10 2_7:prop_1; do
      "$RP_BIN" --threads 2 verify --model "$acas/onnx/ACASXU_run2a_${inst%%:*}_batch_2000.onnx" --property "$acas/vnnlib/${inst##*:}.vnnlib" \
        --split input --device $dev --timeout 120 --output "$out/verify_${dev}_${inst/:/_}.txt"
    done
    v[$dev]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
  done
  echo "| input-split BaB, 4 ACAS Xu instances | ${v[cpu]} | ${v[$gpu]} | $(calc %.1f "${v[cpu]} / ${v[$gpu]}") |"
  for f in "$out"/verify_cpu_*.txt; do cmp "$f" "${f/verify_cpu_/verify_${gpu}_}" >/dev/null || echo "verdict differs: $f"; done
else
  echo "(no ACAS Xu networks at $acas: set RP_ACAS to time the branch and bound)"
fi
