#!/usr/bin/env bash
# GPU vs the 2-core CPU path, one run (issues 6 and 19): CROWN radius-search rows/s on ACAS Xu and on a
# 784→256→256→10 MLP, smoothing samples/s on the MLP, and input-split branch and bound on ACAS Xu
# instances, each on both devices in the same run. The CPU runs fewer rows than the GPU (it would take
# minutes at the GPU's row counts): throughputs are compared, and the rows both devices certified must
# give the same certificates. Needs a machine with a GPU and the CUDA driver; NVRTC comes from
# .gpu-carry (scripts/gpu_carry.sh, packed here and carried) or the pip wheel (scripts/nvrtc_env.sh).
#   bash benches/gpu.sh [SCALE]     SCALE (default 1; 0.01 for a dry run) multiplies every row count
#   RP_BIN=path/to/rp (built with --features cuda; examples/ beside it) skips the build;
#   RP_GPU_DEVICE=cpu dry-runs the script without a GPU; RP_SHARED=folder holding benchmarks/acasxu
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
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
  RP_BIN=${CARGO_TARGET_DIR:-target}/release/rp
fi
ex=$(dirname "$RP_BIN")/examples
gpu=${RP_GPU_DEVICE:-cuda}
"$ex/gpu_info" || [ "$gpu" = cpu ]   # versions, device and CUBIN architecture, every kernel loaded
"$ex/make_mlp" 784,256,256,10 7 "$out/mnist_like.onnx" > /dev/null
acas=${RP_SHARED:-../shared}/benchmarks/acasxu

# seeded inputs: `inputs N D LO HI FILE` writes N rows of D values uniform in [LO, HI) (an LCG in awk)
inputs() {
  awk -v n="$1" -v d="$2" -v lo="$3" -v hi="$4" 'BEGIN { s = 12345; for (j = 0; j < d; j++) printf "%sx%d", (j ? "," : ""), j; print "";
    for (i = 0; i < n; i++) { for (j = 0; j < d; j++) { s = (s * 1103515245 + 12345) % 2147483648; printf "%s%.6f", (j ? "," : ""), lo + (hi - lo) * s / 2147483648 } print "" } }' > "$5"
}
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }'; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
rows_of() { awk -v a="$1" -v s="$scale" 'BEGIN { n = int(a * s); print (n < 1 ? 1 : n) }'; }

# `compare NAME CPU_ROWS GPU_ROWS UNIT_PER_ROW MODEL D LO HI ARGS...`: times `rp certify ARGS` on each
# device (the CPU on the first CPU_ROWS of the GPU's inputs), prints a table row of rows/s (or
# UNIT_PER_ROW × rows/s) and checks the shared rows' certificates (label, radius, guarantee) are equal
compare() {
  local name=$1 nc=$2 ng=$3 per=$4 model=$5 d=$6 lo=$7 hi=$8; shift 8
  inputs "$ng" "$d" "$lo" "$hi" "$out/$name-gpu.csv"
  head -n $((nc + 1)) "$out/$name-gpu.csv" > "$out/$name-cpu.csv"
  local t0 tc tg
  t0=$(date +%s.%N); "$RP_BIN" --threads 2 certify --model "$model" --input "$out/$name-cpu.csv" "$@" --device cpu --output "$out/$name-cpu.out.csv" 2> "$out/$name-cpu.log"; tc=$(secs "$t0")
  t0=$(date +%s.%N); "$RP_BIN" --threads 2 certify --model "$model" --input "$out/$name-gpu.csv" "$@" --device "$gpu" --output "$out/$name-gpu.out.csv" 2> "$out/$name-gpu.log"; tg=$(secs "$t0")
  local rc rg same
  rc=$(calc %.4g "$per * $nc / $tc"); rg=$(calc %.4g "$per * $ng / $tg")
  same=$(cmp <(cut -d, -f1-4 "$out/$name-cpu.out.csv") <(head -n $((nc + 1)) "$out/$name-gpu.out.csv" | cut -d, -f1-4) >/dev/null && echo "all $nc equal" || echo "DIFFER")
  echo "| $name | $nc in $tc s: $rc/s | $ng in $tg s: $rg/s | $(calc %.1f "$rg / $rc") | $same |"
}

echo "| task | CPU, 2 threads | GPU ($gpu) | GPU/CPU throughput | shared rows' certificates |"
echo "|---|---|---|---|---|"
if [ -f "$acas/onnx/ACASXU_run2a_1_1_batch_2000.onnx" ]; then
  for norm in linf l2; do
    compare "crown-acasxu-1_1-$norm" "$(rows_of 4000)" "$(rows_of 100000)" 1 "$acas/onnx/ACASXU_run2a_1_1_batch_2000.onnx" 5 -0.3 0.3 \
      --method crown --norm $norm --decision argmin
  done
else
  echo "(no ACAS Xu networks at $acas: set RP_SHARED to a folder holding benchmarks/acasxu)"
fi
compare crown-mlp784-linf "$(rows_of 100)" "$(rows_of 2000)" 1 "$out/mnist_like.onnx" 784 0 1 --method crown --norm linf
n=100000
compare "smooth-mlp784-samples" "$(rows_of 6)" "$(rows_of 100)" $((n + 100)) "$out/mnist_like.onnx" 784 0 1 \
  --method smooth --sigma 0.25 --n0 100 --n $n --alpha 0.001 --noise-space input

# input-splitting branch and bound with CROWN's box batches on each device: same verdicts
if [ -d "$acas/onnx" ]; then
  declare -A v
  for dev in cpu $gpu; do
    t0=$(date +%s.%N)
    for inst in 1_1:prop_1 1_1:prop_3 4_5:prop_10 2_7:prop_1; do
      "$RP_BIN" --threads 2 verify --model "$acas/onnx/ACASXU_run2a_${inst%%:*}_batch_2000.onnx" --property "$acas/vnnlib/${inst##*:}.vnnlib" \
        --split input --device $dev --timeout 120 --output "$out/verify_${dev}_${inst/:/_}.txt" 2> "$out/verify_${dev}_${inst/:/_}.log"
    done
    v[$dev]=$(secs "$t0")
  done
  bad=0
  for f in "$out"/verify_cpu_*.txt; do cmp -s "$f" "${f/verify_cpu_/verify_${gpu}_}" || { bad=1; echo "verdict differs: $f"; }; done
  echo "| input-split BaB, 4 ACAS Xu instances | ${v[cpu]} s | ${v[$gpu]} s | $(calc %.1f "${v[cpu]} / ${v[$gpu]}") | $([ $bad = 0 ] && echo "same verdicts" || echo "VERDICTS DIFFER") |"
fi
