"""SCIP (through PySCIPOpt, 1 thread) on the demo MLP's minimal-distortion problems, as an independent open
MIQCP/MILP solver beside `rp certify --method exact` (benches/exact.sh prints ours).

The model: x in the box x0 +- U, z = W0 x + b0, y = relu(z) by big-M with bounds over the U-ball
(z0 +- U*||w_j||_dual, exact for one affine layer), the flip margin (W2 y + b2)_other >= (W2 y + b2)_class, and
minimize t with ||x - x0|| <= t (l2: a convex quadratic constraint; linf: 2d linear rows). U per row is
5% above a known radius from rp's output CSV (a head start for SCIP), or a fixed number.
SCIP's answers rest on its tolerances (1e-6 feasibility): they are not proofs.

    PYTHON -m pip install pyscipopt     # into the peers venv (../shared/peers/setup.sh builds it)
    PYTHON benches/exact_scip.py l2 300 rp_exact_l2.csv 0 1 2 ...   # norm, time limit, U (CSV or number), rows
"""
import csv
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
from pyscipopt import Model, quicksum

root = __file__.rsplit("/benches/", 1)[0]
m = onnx.load(f"{root}/models/demo-mlp/model.onnx")
P = {i.name: numpy_helper.to_array(i).astype(float) for i in m.graph.initializer}
X = np.loadtxt(f"{root}/models/demo-mlp/inputs.csv", delimiter=",", skiprows=1)
W, b, V, c = P["W0"], P["b0"], P["W2"], P["b2"]
norm, limit, u_arg = sys.argv[1], float(sys.argv[2]), sys.argv[3]
known = {int(r["row"]): float(r["radius_upper"] or r["radius"]) for r in csv.DictReader(open(u_arg))} if u_arg.endswith(".csv") else None
total = 0.0
for r in map(int, sys.argv[4:]):
    U = 1.05 * known[r] if known else float(u_arg)
    x0 = X[r]
    z0 = W @ x0 + b
    cl = int((V @ np.maximum(z0, 0) + c).argmax())
    v, cc = V[1 - cl] - V[cl], c[1 - cl] - c[cl]
    dual = np.linalg.norm(W, axis=1) if norm == "l2" else np.abs(W).sum(1)
    lo, hi = z0 - U * dual, z0 + U * dual
    M = Model()
    M.hideOutput()
    M.setParam("limits/time", limit)
    M.setParam("parallel/maxnthreads", 1)
    d = len(x0)
    x = [M.addVar(lb=x0[i] - U, ub=x0[i] + U) for i in range(d)]
    ys = []
    for j in range(len(b)):
        zj = quicksum(W[j, i] * x[i] for i in range(d)) + b[j]
        if hi[j] <= 0:
            continue
        yj = M.addVar(lb=0, ub=hi[j])
        if lo[j] >= 0:
            M.addCons(yj == zj)
        else:
            a = M.addVar(vtype="B")
            M.addCons(yj >= zj)
            M.addCons(yj <= zj - lo[j] * (1 - a))
            M.addCons(yj <= hi[j] * a)
        ys.append((v[j], yj))
    M.addCons(quicksum(w * y for w, y in ys) + cc >= 0)
    t = M.addVar(lb=0)
    if norm == "l2":
        M.addCons(quicksum((x[i] - x0[i]) * (x[i] - x0[i]) for i in range(d)) <= t * t)
    else:
        for i in range(d):
            M.addCons(x[i] - x0[i] <= t)
            M.addCons(x0[i] - x[i] <= t)
    M.setObjective(t, "minimize")
    t0 = time.time()
    M.optimize()
    el = time.time() - t0
    total += el
    print(f"row {r}: {M.getStatus()} primal {M.getPrimalbound():.10f} dual {M.getDualbound():.10f} nodes {M.getNNodes()} {el:.2f} s", flush=True)
print(f"SCIP total {total:.1f} s")
