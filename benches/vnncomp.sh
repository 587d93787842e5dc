#!/usr/bin/env bash
# VNN-COMP benchmarks with `rp verify`: all ACAS Xu instances (186) and all MNIST-FC instances (90) with
# their own timeouts, then Marabou 2.0 (from the peers' venv) on a sample of the same ACAS Xu instances,
# one after the other on this machine. Every verdict is compared with the published VNN-COMP results
# (ACAS Xu: nnenum's 2021 verdicts; MNIST-FC: the organisers' 2022 answer key), bundled in
# benches/data/; a sat/unsat disagreement is a bug to explain and makes the script fail.
#   usage: bash benches/vnncomp.sh [acasxu|mnistfc|marabou|all] [--timeout S] [--sample N]
#   env:   RP_THREADS (default: all cores), OUT (default: a temporary folder; results CSVs are kept there),
#          RP_BIN (an rp binary to use instead of building one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHAT=${1:-all}; shift || true
TIMEOUT=""; SAMPLE=12
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) TIMEOUT="--timeout $2"; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    *) echo "unknown option $1 (use --timeout S, --sample N)"; exit 2 ;;
  esac
done
SHARED=${SHARED:-../shared}
[ -d "$SHARED/benchmarks/acasxu" ] || { echo "skip: $SHARED/benchmarks not found"; exit 0; }
OUT=${OUT:-$(mktemp -d)}; mkdir -p "$OUT"
if [ -n "${RP_BIN:-}" ]; then RP_EXE=$RP_BIN; else cargo build --release --quiet --bin rp; RP_EXE=target/release/rp; fi
RP="$RP_EXE ${RP_THREADS:+--threads $RP_THREADS}"
status=0

# compare RESULTS.csv (network,property,verdict,seconds,domains) with EXPECTED.csv (net,prop,verdict)
compare() {
  python3 - "$1" "$2" "$3" <<'PYEOF' || status=1
import csv, sys, statistics
res, exp, name = sys.argv[1], sys.argv[2], sys.argv[3]
key = lambda n, p: (n.replace(".onnx", "").replace("ACASXU_run2a_", "").replace("_batch_2000", ""), p.replace(".vnnlib", ""))
want = {key(r[0], r[1]): r[2] for r in csv.reader(open(exp)) if r and r[0] != "net"}
rows = list(csv.DictReader(open(res)))
wrong, agree, unknown_truth = [], 0, 0
for r in rows:
    k = key(r["network"], r["property"]); w = want.get(k)
    if r["verdict"] in ("sat", "unsat"):
        if w in ("sat", "unsat"):
            if w == r["verdict"]: agree += 1
            else: wrong.append((k, r["verdict"], w))
        else: unknown_truth += 1
t = [float(r["seconds"]) for r in rows]
cnt = lambda v: sum(r["verdict"] == v for r in rows)
print(f"== {name}: {len(rows)} instances: {cnt('unsat')} unsat, {cnt('sat')} sat, {cnt('timeout')} timeout, {cnt('unknown')} unknown; "
      f"total {sum(t):.1f} s, median {statistics.median(t):.3f} s")
print(f"   against the published verdicts: {agree} agree, {len(wrong)} wrong, {unknown_truth} answered where no tool did")
for k, got, w in wrong:
    print(f"   WRONG: {k[0]} {k[1]}: rp {got}, published {w}")
sys.exit(1 if wrong else 0)
PYEOF
}

if [ "$WHAT" = acasxu ] || [ "$WHAT" = all ]; then
  $RP verify --instances "$SHARED/benchmarks/acasxu/instances.csv" $TIMEOUT --results "$OUT/acasxu.csv"
  compare "$OUT/acasxu.csv" benches/data/acasxu_expected.csv "rp on ACAS Xu"
fi
if [ "$WHAT" = mnistfc ] || [ "$WHAT" = all ]; then
  $RP verify --instances "$SHARED/benchmarks/mnistfc/instances.csv" $TIMEOUT --results "$OUT/mnistfc.csv"
  compare "$OUT/mnistfc.csv" benches/data/mnistfc_expected.csv "rp on MNIST-FC"
fi
if [ "$WHAT" = marabou ] || [ "$WHAT" = all ]; then
  source benches/peers_env.sh  # builds the peers' venv when missing; sets PY
  # the sample: every (186 / SAMPLE)-th ACAS Xu instance, run by both with Marabou's timeout
  ACAS=$(cd "$SHARED/benchmarks/acasxu" && pwd)
  awk -F, -v n="$SAMPLE" -v root="$ACAS" '{a[NR]=$0} END{step=NR/n; for(i=0;i<n;i++) print root "/" a[int(i*step)+1]}' \
    "$ACAS/instances.csv" | sed "s|,|,$ACAS/|" > "$OUT/sample.csv"
  $RP verify --instances "$OUT/sample.csv" $TIMEOUT --results "$OUT/sample_rp.csv"
  "$PY" - "$SHARED/benchmarks/acasxu" "$OUT/sample.csv" "$OUT/sample_marabou.csv" "${TIMEOUT#--timeout }" <<'PYEOF'
import csv, sys, time, warnings, os
warnings.filterwarnings("ignore")
from maraboupy import Marabou
root, sample, out, tmo = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
with open(out, "w", newline="") as f:
    w = csv.writer(f); w.writerow(["network", "property", "verdict", "seconds", "domains"])
    for onnx, vnnlib, t in csv.reader(open(sample)):
        limit = int(float(tmo)) if tmo.strip() else int(float(t))
        start = time.time()
        net = Marabou.read_onnx(os.path.join(root, onnx))
        code, vals, _ = Marabou.solve_query(net.getInputQuery(), verbose=False, propertyFilename=os.path.join(root, vnnlib),
                                            options=Marabou.createOptions(verbosity=0, timeoutInSeconds=limit))
        verdict = {"sat": "sat", "unsat": "unsat", "TIMEOUT": "timeout"}.get(code, "unknown")
        w.writerow([os.path.basename(onnx), os.path.basename(vnnlib), verdict, f"{time.time() - start:.3f}", 0]); f.flush()
PYEOF
  compare "$OUT/sample_rp.csv" benches/data/acasxu_expected.csv "rp on the sample"
  compare "$OUT/sample_marabou.csv" benches/data/acasxu_expected.csv "Marabou 2.0 (1 thread) on the sample"
  python3 - "$OUT/sample_rp.csv" "$OUT/sample_marabou.csv" <<'PYEOF'
import csv, sys
a, b = (list(csv.DictReader(open(p))) for p in sys.argv[1:3])
ta, tb = sum(float(r["seconds"]) for r in a), sum(float(r["seconds"]) for r in b)
both = [(x, y) for x, y in zip(a, b) if {x["verdict"], y["verdict"]} <= {"sat", "unsat"}]
dis = [(x["network"], x["property"], x["verdict"], y["verdict"]) for x, y in both if x["verdict"] != y["verdict"]]
print(f"== sample: rp {ta:.1f} s, Marabou {tb:.1f} s (ratio {tb / max(ta, 1e-9):.1f}x); {len(dis)} verdict disagreements")
for d in dis: print("   DISAGREE:", *d)
PYEOF
fi
echo "results in $OUT"
exit $status
