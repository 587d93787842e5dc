#!/usr/bin/env bash
# Opt-in check: rp's forward pass agrees with onnxruntime on every VNN-COMP network in ../shared
# (45 ACAS Xu, 3 MNIST-FC), 20 seeded inputs each. rp's output is read from `rp bounds --eps 0`
# (lower = upper up to rounding). Prints the worst relative deviation (onnxruntime runs in float32).
#   usage: bash benches/check_onnx_forward.sh
set -euo pipefail
source "$(dirname "$0")/peers_env.sh"
peers_env_build --bin rp
"$PY" - "$SHARED/benchmarks" "$W" target/release/rp <<'PYEOF'
import glob, json, os, subprocess, sys
import numpy as np, onnxruntime as ort
bench, work, rp = sys.argv[1:4]
worst, n = 0.0, 0
for path in sorted(glob.glob(f"{bench}/acasxu/onnx/*.onnx") + glob.glob(f"{bench}/mnistfc/onnx/*.onnx")):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [1 if not isinstance(d, int) else d for d in inp.shape]
    d = int(np.prod(shape))
    rng = np.random.default_rng(n)
    x = (rng.uniform(0, 1, (20, d)) if d == 784 else rng.uniform(-0.5, 0.5, (20, d))).astype(np.float32)
    ref = np.stack([sess.run(None, {inp.name: r.reshape(shape)})[0].reshape(-1) for r in x])
    csv = os.path.join(work, "x.csv")
    with open(csv, "w") as f:
        f.write(",".join(f"x{k}" for k in range(d)) + "\n")
        np.savetxt(f, x.astype(np.float64), delimiter=",", fmt="%.9g")
    out = os.path.join(work, "b.json")
    subprocess.run([rp, "bounds", "--model", path, "--input", csv, "--eps", "0", "--method", "ibp", "--output", out],
                   check=True, capture_output=True)
    rows = json.load(open(out))["rows"]
    ours = np.array([[(l + u) / 2 for l, u in zip(r["lower"], r["upper"])] for r in rows])
    dev = float((np.abs(ours - ref) / np.maximum(np.abs(ref).max(axis=1, keepdims=True), 1e-6)).max())
    worst = max(worst, dev); n += 1
print(f"{n} networks, 20 inputs each: worst deviation / max abs output of the row, rp (f64) vs onnxruntime (f32) = {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
PYEOF
