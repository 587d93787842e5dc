#!/usr/bin/env bash
# Side-by-side randomized smoothing throughput: `rp certify --method smooth` vs the reference of Cohen
# et al.'s CERTIFY in ../shared/peers/smoothing_ref.py (onnxruntime + numpy, 1 thread), on the same ONNX
# models, rows and sample counts, in one run. Prints samples/s per core of both (rp with 1 and 2 threads,
# --eval f64 and f32), their ratio, rp's achieved GFLOP/s beside the measured GEMM peak, and the radii
# (which agree statistically, not bit for bit: the two draw different noise).
#   usage: bash benches/compare_smoothing.sh [ROWS] [N]
#   CASES="mlp-7x48x3 mlp-11x64x2" runs only the named cases (default: all three).
#   RP_BASE=/path/to/an/older/rp also times that binary in the same run (before/after lines).
set -euo pipefail
ROWS=${1:-5}; N=${2:-100000}
source "$(dirname "$0")/peers_env.sh"
peers_env_build --bin rp --example make_mlp --example matmul_peak
T=${CARGO_TARGET_DIR:-target}
RP=$T/release/rp

run_case() {  # name model.onnx input_dim sigma kind flops_per_sample(noise-space input) extra_rp_args
  [[ -z "${CASES:-}" || " $CASES " == *" $1 "* ]] || return 0
  local name=$1 model=$2 d=$3 sigma=$4 kind=$5 flops=$6 extra=${7:-} dir="$W/$1"
  mkdir -p "$dir"
  "$PY" - "$dir" "$ROWS" "$d" "$kind" <<'PYEOF'
import sys, numpy as np
out, n, d, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
x = (rng.uniform(0, 1, (n, d)) if kind == "pixels" else rng.normal(size=(n, d))).astype(np.float32).astype(np.float64)
np.savetxt(f"{out}/x_noheader.csv", x, delimiter=",", fmt="%.9g")
with open(f"{out}/x.csv", "w") as f:
    f.write(",".join(f"x{k}" for k in range(d)) + "\n"); np.savetxt(f, x, delimiter=",", fmt="%.9g")
PYEOF
  local idx; idx=$(seq -s ' ' 0 $((ROWS - 1)))
  "$PY" "$SHARED/peers/smoothing_ref.py" "$model" "$dir/x_noheader.csv" --index $idx --sigma "$sigma" --n0 100 --n "$N" \
      --alpha 0.001 --json "$dir/ref.json" > /dev/null
  for ev in f64 f32; do
    for threads in 1 2; do
      for who in rp ${RP_BASE:+base}; do
        local bin=$RP; [ "$who" = base ] && bin=$RP_BASE
        $bin --threads $threads certify --model "$model" --input "$dir/x.csv" --method smooth --sigma "$sigma" --n0 100 --n "$N" \
            --alpha 0.001 --eval $ev $extra --output "$dir/${who}_${ev}_t$threads.json" 2> "$dir/${who}_${ev}_t$threads.log"
      done
    done
  done
  "$PY" - "$dir" "$N" "$name" "$flops" "$PEAKS" <<'PYEOF'
import json, os, re, sys
d, n, name, flops, peaks = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
peak = dict(re.findall(r"(f32|f64) GEMM [^:]*: ([0-9.]+) GFLOP/s on 1 thread", peaks))
ref = json.load(open(f"{d}/ref.json"))
samples = len(ref) * (n + 100)
t_ref = sum(r["certify_time_s"] for r in ref)
line = f"== {name}: {len(ref)} rows x (n0 100 + n {n}) samples\n"
line += f"  reference (onnxruntime, 1 thread):  {samples / t_ref:12.0f} samples/s per core\n"
for ev in ("f64", "f32"):
    for t in (1, 2):
        for who in ("base", "rp"):
            if not os.path.exists(f"{d}/{who}_{ev}_t{t}.log"):
                continue
            secs = float(re.search(r"[;,] ([0-9.]+) s\s*$", open(f"{d}/{who}_{ev}_t{t}.log").read(), re.M).group(1))
            per_core = samples / secs / t
            gflops = samples / secs * flops / 1e9 / t
            line += (f"  {who:>4} --eval {ev} ({t} thread{'s' if t > 1 else ' '}):   {per_core:12.0f} samples/s per core  ({per_core * t_ref / samples:.1f}x)"
                     f"  {gflops:6.1f} GFLOP/s per core of input-space forward work ({100 * gflops / float(peak[ev]):.0f}% of the {ev} GEMM peak {peak[ev]})\n")
ours = json.load(open(f"{d}/rp_f64_t1.json"))["rows"]
ours32 = json.load(open(f"{d}/rp_f32_t1.json"))["rows"]
line += "  radii ref:     " + " ".join(f"{r['radius']:.4f}" for r in ref) + "\n"
line += "  radii rp f64:  " + " ".join(f"{r['radius']:.4f}" for r in ours) + "\n"
line += "  radii rp f32:  " + " ".join(f"{r['radius']:.4f}" for r in ours32)
print(line)
PYEOF
}

PEAKS=$($T/release/examples/matmul_peak 784 256); echo "$PEAKS"
$T/release/examples/make_mlp 7,48,3 3 "$W/mlp7.onnx" > /dev/null
run_case mlp-7x48x3 "$W/mlp7.onnx" 7 0.25 normal $((2 * (7 * 48 + 48 * 3)))
run_case mlp-11x64x2 models/demo-mlp/model.onnx 11 0.5 normal $((2 * (11 * 64 + 64 * 2)))
$T/release/examples/make_mlp 784,256,256,10 7 "$W/mlp784.onnx" > /dev/null
run_case mlp-784x256x256x10-input-space "$W/mlp784.onnx" 784 0.25 pixels $((2 * (784 * 256 + 256 * 256 + 256 * 10))) "--noise-space input"
