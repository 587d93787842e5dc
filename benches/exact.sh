#!/usr/bin/env bash
# Exact radii, one run, 1 thread each: `rp certify --method exact` (branch and bound) beside today's
# HiGHS MILP (`--method milp`) on
#   - the bundled demo MLP (11 -> 64 -> 2, its 20 rows): exact in l2 and linf, MILP in linf (and in l2
#     with --milp-l2: about 10 minutes);
#   - ACAS Xu 1_1 (5 -> 6x50 -> 5), the 4 rows of benches/compare_marabou.sh, in linf (when ../shared
#     and a python with numpy, e.g. the peers' venv, are here; skipped with a message otherwise).
# Prints per row both methods' ends, guarantees and times, whether the brackets overlap, the totals and
# their ratio; exits 1 if a pair of brackets does not overlap.
#   usage: bash benches/exact.sh [TIME_LIMIT] [--milp-l2]
set -euo pipefail
LIMIT=${1:-30}
MILP_L2=${2:-}
cd "$(dirname "$0")/.."
cargo build --release --bin rp
T=${CARGO_TARGET_DIR:-target}
RP=$T/release/rp
W=$(mktemp -d)
run() {  # method norm
  /usr/bin/time -f "%e" -o "$W/$1_$2.time" $RP --threads 1 certify --method "$1" --norm "$2" --time-limit "$LIMIT" --output "$W/$1_$2.csv" 2> /dev/null
}
run exact l2
run exact linf
run milp linf
[ "$MILP_L2" = "--milp-l2" ] && run milp l2
# ACAS Xu: the rows compare_marabou.sh draws (numpy's default_rng(1), uniform in [-0.3, 0.3], as float32)
SHARED=${SHARED:-../shared}
ACAS="$SHARED/benchmarks/acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx"
PY=${PEERS_VENV:-$HOME/.cache/rp-peers/venv}/bin/python
[ -x "$PY" ] || PY=python3
if [ -f "$ACAS" ] && "$PY" -c "import numpy" 2>/dev/null; then
  cargo build --release --example reexport
  $T/release/examples/reexport "$ACAS" "$W/acas.onnx" --flat
  "$PY" - "$W/acas.csv" <<'PYEOF'
import sys, numpy as np
x = np.random.default_rng(1).uniform(-0.3, 0.3, (4, 5)).astype(np.float32).astype(np.float64)
with open(sys.argv[1], "w") as f:
    f.write(",".join(f"x{k}" for k in range(5)) + "\n"); np.savetxt(f, x, delimiter=",", fmt="%.9g")
PYEOF
  for m in exact milp; do
    /usr/bin/time -f "%e" -o "$W/${m}_acas.time" $RP --threads 1 certify --model "$W/acas.onnx" --input "$W/acas.csv" --method $m --norm linf --time-limit "$LIMIT" --output "$W/${m}_acas.csv" 2> /dev/null
  done
else
  echo "skip ACAS Xu: $ACAS or a python with numpy not found"
fi
python3 - "$W" <<'PYEOF'
import csv, sys, os
w = sys.argv[1]
def load(name):
    p = f"{w}/{name}.csv"
    if not os.path.exists(p):
        return None
    return {r["row"]: r for r in csv.DictReader(open(p))}, float(open(f"{w}/{name}.time").read().split()[-1])
status = 0
for norm, title in [("l2", "demo l2"), ("linf", "demo linf"), ("acas", "ACAS Xu 1_1 linf")]:
    ex, mi = load(f"exact_{norm}"), load(f"milp_{norm}")
    if ex is None:
        continue
    print(f"== {title}: exact (branch and bound) vs MILP (HiGHS)" if mi else f"== {title}: exact (branch and bound)")
    print(f"{'row':>3} {'exact lower':>14} {'exact upper':>14} {'guarantee':>9} {'ms':>8}" + (f" | {'milp lower':>14} {'milp upper':>14} {'guarantee':>14} {'ms':>8} overlap" if mi else ""))
    n_exact = 0
    for row, e in ex[0].items():
        lo, hi = float(e["radius"]), float(e["radius_upper"] or e["radius"])
        n_exact += e["guarantee"] == "exact"
        line = f"{row:>3} {lo:14.10f} {hi:14.10f} {e['guarantee']:>9} {float(e['time_ms']):8.0f}"
        if mi:
            m = mi[0][row]
            mlo, mhi = float(m["radius"]), float(m["radius_upper"] or m["radius"])
            ok = lo <= mhi * (1 + 1e-9) and mlo <= hi * (1 + 1e-9)
            status |= not ok
            line += f" | {mlo:14.10f} {mhi:14.10f} {m['guarantee']:>14} {float(m['time_ms']):8.0f} {'yes' if ok else 'NO'}"
        print(line)
    print(f"exact: {n_exact}/{len(ex[0])} exact, {ex[1]:.1f} s" + (f"; milp: {sum(r['guarantee'] == 'exact' for r in mi[0].values())} exact, {mi[1]:.1f} s; ratio {mi[1] / ex[1]:.1f}x" if mi else ""))
sys.exit(status)
PYEOF
