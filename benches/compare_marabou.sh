#!/usr/bin/env bash
# Exact L-inf radii: `rp certify --method milp` vs Marabou 2.0 bisection (../shared/peers/marabou_radius.py,
# which re-checks every SAT witness with onnxruntime), on the same ONNX networks and rows, in one run.
# Prints both radii per row, whether rp's exact value lies in Marabou's bisection bracket (± tol), and the
# total time of each (1 thread each).
#   usage: bash benches/compare_marabou.sh [ROWS]
set -euo pipefail
ROWS=${1:-4}
TOL=1e-4
source "$(dirname "$0")/peers_env.sh"
peers_env_build --bin rp --example reexport
RP=target/release/rp
status=0

run_case() {  # name model.onnx input_dim kind marabou_hi
  local name=$1 model=$2 d=$3 kind=$4 hi=$5 dir="$W/$1"
  mkdir -p "$dir"
  target/release/examples/reexport "$model" "$dir/model.onnx" --flat
  "$PY" - "$dir" "$ROWS" "$d" "$kind" <<'PYEOF'
import sys, numpy as np
out, n, d, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(1)
x = (rng.uniform(-0.3, 0.3, (n, d)) if kind == "acas" else rng.normal(size=(n, d))).astype(np.float32).astype(np.float64)
np.savetxt(f"{out}/x_noheader.csv", x, delimiter=",", fmt="%.9g")
with open(f"{out}/x.csv", "w") as f:
    f.write(",".join(f"x{k}" for k in range(d)) + "\n"); np.savetxt(f, x, delimiter=",", fmt="%.9g")
PYEOF
  "$PY" "$SHARED/peers/marabou_radius.py" "$dir/model.onnx" "$dir/x_noheader.csv" --index $(seq -s ' ' 0 $((ROWS - 1))) \
      --eps 0 --search --hi "$hi" --tol $TOL --json "$dir/marabou.json" > "$dir/marabou.log" 2>&1 || true
  $RP --threads 1 certify --model "$dir/model.onnx" --input "$dir/x.csv" --method milp --norm linf --time-limit 300 \
      --output "$dir/rp.json" 2> "$dir/rp.log"
  "$PY" - "$dir" "$name" "$TOL" <<'PYEOF' || status=1
import json, sys
d, name, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    mar = json.load(open(f"{d}/marabou.json"))
except FileNotFoundError:
    sys.exit(f"== {name}: Marabou produced no result; its log:\n" + open(f"{d}/marabou.log").read()[-2000:])
ours = json.load(open(f"{d}/rp.json"))["rows"]
print(f"== {name}")
t_m = sum(r.get("search_time_s", 0.0) for r in mar); t_r = sum(r["time_ms"] for r in ours) / 1e3
ok = True
for m, r in zip(mar, ours):
    lo, hi = m.get("radius_lo"), m.get("radius_hi")
    # exact: both ends proven; solver-bracket: the upper end proven, the lower one HiGHS's (EXACT-0)
    up = r["radius_upper"] if r["radius_upper"] is not None else r["radius"]
    inside = m.get("search_ok") and r["guarantee"] in ("exact", "solver-bracket") and up - r["radius"] <= 1e-6 * up \
        and lo - tol <= r["radius"] <= hi + tol
    ok &= bool(inside)
    print(f"  row {m['index']}: Marabou [{lo:.6f}, {hi:.6f}] ({m.get('search_calls')} calls, {m.get('search_time_s', 0):.2f} s)"
          f"   rp {r['guarantee']} {r['radius']:.6f} ({r['time_ms'] / 1e3:.2f} s)   {'agree' if inside else 'DISAGREE'}")
print(f"  total: Marabou {t_m:.2f} s, rp {t_r:.2f} s, ratio {t_m / t_r:.1f}x; {'all agree' if ok else 'DISAGREEMENT'}")
sys.exit(0 if ok else 1)
PYEOF
}

[ "${ONLY_ACAS:-0}" = 1 ] || run_case mlp-11x64x2 models/demo-mlp/model.onnx 11 normal 0.5
run_case acasxu-1-1 "$SHARED/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx" 5 acas 0.1
exit $status
