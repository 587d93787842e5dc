#!/usr/bin/env bash
# Side-by-side run of `rp bounds` and auto_LiRPA 0.3 (float64, 1 thread) on the same ONNX networks and
# rows: max deviation of IBP and CROWN logit bounds (Linf and L2) and the speed ratio, in one run.
#   usage: bash benches/compare_lirpa.sh [ROWS]     (needs ../shared; builds the peers venv if missing)
# Networks: the bundled demo MLP 11→64→2, ACAS Xu 1_1 (5→6×50→5), MNIST-FC 256x2 (ROWS/10 rows).
set -euo pipefail
ROWS=${1:-1000}
source "$(dirname "$0")/peers_env.sh"
peers_env_build --bin rp --example reexport
RP=target/release/rp

run_case() {  # name model.onnx n_rows input_dim input_kind linf_eps l2_eps
  local name=$1 model=$2 n=$3 d=$4 kind=$5 linf=$6 l2=$7 dir="$W/$1"
  mkdir -p "$dir"
  "$PY" - "$dir" "$n" "$d" "$kind" <<'PYEOF'
import sys, numpy as np
out, n, d, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
x = {"normal": lambda: rng.normal(size=(n, d)), "acas": lambda: rng.uniform(-0.3, 0.3, size=(n, d)),
     "pixels": lambda: rng.uniform(0, 1, size=(n, d))}[kind]().astype(np.float32).astype(np.float64)
np.savetxt(f"{out}/inputs_noheader.csv", x, delimiter=",", fmt="%.9g")
with open(f"{out}/inputs.csv", "w") as f:
    f.write(",".join(f"x{k}" for k in range(d)) + "\n")
    np.savetxt(f, x, delimiter=",", fmt="%.9g")
PYEOF
  target/release/examples/reexport "$model" "$dir/model.onnx"
  echo "== $name: $n rows, linf eps $linf, l2 eps $l2"
  local times="{"
  for method in ibp crown; do
    for norm in linf l2; do
      local eps=$linf; [ $norm = l2 ] && eps=$l2
      for threads in 1 2; do
        local t
        t=$($RP --threads $threads bounds --model "$dir/model.onnx" --input "$dir/inputs.csv" --method $method --norm $norm \
            --eps "$eps" --output "$dir/${method}_${norm}.json" 2>&1 | sed -n 's/.*computed in \([0-9.]*\) s/\1/p')
        times="$times\"${method}_${norm}_t${threads}\": $t, "
      done
    done
  done
  echo "${times%, }}" > "$dir/rp_times.json"
  "$PY" "$SHARED/peers/lirpa_bounds.py" "$dir/model.onnx" "$dir/inputs_noheader.csv" --linf "$linf" --l2 "$l2" \
      --methods IBP CROWN --dtype float64 --threads 1 --show 0 --json "$dir/lirpa.json" >/dev/null
  "$PY" benches/compare_lirpa.py "$dir/lirpa.json" "$dir"
}

status=0
run_case demo-mlp models/demo-mlp/model.onnx "$ROWS" 11 normal 0.1 0.5 || status=1
run_case acasxu-1-1 "$SHARED/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx" "$ROWS" 5 acas 0.02 0.05 || status=1
run_case mnist-256x2 "$SHARED/benchmarks/mnistfc/onnx/mnist-net_256x2.onnx" $((ROWS / 10)) 784 pixels 0.01 0.3 || status=1
exit $status
