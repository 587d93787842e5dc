#!/usr/bin/env bash
# The CROWN certified-radius search, side by side in one run: `rp certify --method crown` (1 and 2
# threads) vs auto_LiRPA 0.3 driven by a batched bracket-then-bisect (../shared/peers/lirpa_radius.py,
# float64, 2 threads), on the demo MLP and ACAS Xu 1_1, l-inf and l2. Prints wall times, bound calls
# (auto_LiRPA: batched compute_bounds calls; rp: batched rounds and checks per row, with and without
# the root finder, from examples/radius_calls), the speed ratio and how the radii agree.
# The demo MLP is so cheap that ROWS of its rows take milliseconds, too short to time: it gets DEMO_ROWS
# (default 20 × ROWS) instead. Each side is timed REPEAT times (default 3) and its best time is used:
# this machine's times swing by ±30% between runs.
#   usage: [REPEAT=3] bash benches/compare_radius.sh [ROWS] [DEMO_ROWS]   (needs ../shared; builds the peers venv if missing)
set -euo pipefail
ROWS=${1:-1000}
REPEAT=${REPEAT:-3}
DEMO_ROWS=${2:-$((20 * ROWS))}
source "$(dirname "$0")/peers_env.sh"
peers_env_build --bin rp --example reexport --example radius_calls
T=${CARGO_TARGET_DIR:-target}/release
RP=$T/rp

run_case() {  # name model.onnx input_dim input_kind decision rows
  local name=$1 model=$2 d=$3 kind=$4 decision=$5 rows=$6 dir="$W/$1"
  mkdir -p "$dir"
  "$PY" - "$dir" "$rows" "$d" "$kind" <<'PYEOF'
import sys, numpy as np
out, n, d, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = np.random.default_rng(0)
x = {"normal": lambda: rng.normal(size=(n, d)), "acas": lambda: rng.uniform(-0.3, 0.3, size=(n, d))}[kind]()
x = x.astype(np.float32).astype(np.float64)
np.savetxt(f"{out}/x_noheader.csv", x, delimiter=",", fmt="%.9g")
with open(f"{out}/x.csv", "w") as f:
    f.write(",".join(f"x{k}" for k in range(d)) + "\n")
    np.savetxt(f, x, delimiter=",", fmt="%.9g")
PYEOF
  "$T/examples/reexport" "$model" "$dir/model.onnx"
  for norm in linf l2; do
    echo "== $name, $norm: $rows rows"
    local argmin=""; [ "$decision" = argmin ] && argmin=--argmin
    for k in $(seq "$REPEAT"); do
      "$PY" "$SHARED/peers/lirpa_radius.py" "$dir/model.onnx" "$dir/x_noheader.csv" --norm $norm --threads 2 $argmin \
          --json "$dir/lirpa_${norm}_$k.json" | sed 's/^/  /'
    done
    for threads in 1 2; do
      : > "$dir/rp_${norm}_t$threads.times"
      for k in $(seq "$REPEAT"); do
        # rp's summary line ends with the search's own time (loading excluded, as in the peer's timing)
        $RP --threads $threads certify --model "$dir/model.onnx" --input "$dir/x.csv" --method crown --norm $norm \
            --decision "$decision" --output "$dir/rp_${norm}_t$threads.json" 2>&1 >/dev/null \
          | sed -n 's/.*; \([0-9.]*\) s$/\1/p' >> "$dir/rp_${norm}_t$threads.times"
      done
    done
    RAYON_NUM_THREADS=1 "$T/examples/radius_calls" "$dir/model.onnx" "$dir/x.csv" $norm "$decision" | sed 's/^/  rp, 1 thread: /'
    "$PY" - "$dir" "$norm" "$REPEAT" <<'PYEOF'
import json, sys
d, norm, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs = [json.load(open(f"{d}/lirpa_{norm}_{k}.json")) for k in range(1, repeat + 1)]
ref = min(runs, key=lambda r: r["time_s"])
alltimes = ", ".join("%.3f" % r["time_s"] for r in runs)
print(f"  auto_LiRPA best of {repeat}: {ref['time_s']:.3f} s (all: {alltimes})")
for t in (1, 2):
    times = [float(v) for v in open(f"{d}/rp_{norm}_t{t}.times").read().split()]
    secs = min(times)
    radii = [r["radius"] for r in json.load(open(f"{d}/rp_{norm}_t{t}.json"))["rows"]]
    mine = ", ".join("%.3f" % v for v in times)
    print(f"  rp --threads {t}: best of {repeat} {secs:.3f} s (all: {mine}) -> {ref['time_s'] / secs:.1f}x auto_LiRPA's best")
lo = ref["radius"]
same = sum(abs(a - b) <= 2e-4 * max(a, b) for a, b in zip(lo, radii))
mean = lambda v: sum(v) / len(v)
print(f"  radii: {same}/{len(lo)} rows within the tolerance of auto_LiRPA's bisection; mean {mean(radii):.6g} (rp) vs {mean(lo):.6g} (auto_LiRPA)")
PYEOF
  done
}

status=0
run_case demo-mlp models/demo-mlp/model.onnx 11 normal argmax "$DEMO_ROWS" || status=1
run_case acasxu-1-1 "$SHARED/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx" 5 acas argmin "$ROWS" || status=1
exit $status
