"""The Python package's costs, in one run (issue 17):
 1. calling rp from Python vs the CLI's own compute time (its summary line), 1000 rows of the demo
    model, CROWN l2 and smoothing (n = 10 000); best of 3 each;
 2. a smoothing job of >= 1 minute on 1 Ray shard vs 2 shards on a local 2-CPU Ray (each task holds one
    CPU and runs rp with one thread); the two results are checked equal.

    python benches/python_bench.py            (a venv with `pip install './python[ray]'`; the CLI built)
"""
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

import rp
import rp.distributed

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "demo-mlp" / "model.onnx"
RP = pathlib.Path(os.environ.get("RP_BIN", pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "rp"))


def cli_seconds(csv, args):
    err = subprocess.run([str(RP), "certify", "--model", str(DEMO), "--input", str(csv), *args, "--output", os.devnull + ".csv"],
                         capture_output=True, text=True)
    m = re.search(r"; ([0-9.]+) s$", err.stderr.strip().splitlines()[-1])
    if not m:
        sys.exit(f"no summary line from the CLI: {err.stderr}")
    return float(m.group(1))


def overhead():
    X = np.random.default_rng(0).normal(size=(1000, 11)).astype(np.float32).astype(np.float64)
    with tempfile.TemporaryDirectory() as d:
        csv = pathlib.Path(d) / "x.csv"
        with open(csv, "w") as f:
            f.write(",".join(f"x{k}" for k in range(11)) + "\n")
            np.savetxt(f, X, delimiter=",", fmt="%.9g")
        X = np.loadtxt(csv, delimiter=",", skiprows=1)
        model = rp.Model.load(DEMO)
        print("1. Python vs CLI compute time, 1000 rows of the demo MLP, all cores, best of 3")
        for name, kwargs, args in [("crown l2", dict(method="crown", norm="l2"), ["--method", "crown", "--norm", "l2"]),
                                   ("smooth n=10000", dict(method="smooth", sigma=0.25, n=10_000), ["--method", "smooth", "--sigma", "0.25", "--n", "10000"])]:
            cli = min(cli_seconds(csv, args) for _ in range(3))
            py = []
            for _ in range(3):
                t = time.perf_counter()
                model.certify(X, **kwargs)
                py.append(time.perf_counter() - t)
            print(f"   {name:15s} CLI {cli:.4f} s   Python {min(py):.4f} s   overhead {100 * (min(py) / cli - 1):+.1f}%")


def ray_speedup():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rng = np.random.default_rng(1)
    opts = dict(method="smooth", sigma=0.25, n=100_000)
    probe = rng.normal(size=(16, 11))
    rp.distributed.certify(DEMO, probe[:2], shards=2, **opts)  # start both workers (and their pools)
    t = time.perf_counter()
    rp.distributed.certify(DEMO, probe, shards=1, **opts)
    per_row = (time.perf_counter() - t) / len(probe)
    rows = int(np.ceil(75.0 / per_row))
    X = rng.normal(size=(rows, 11))
    print(f"2. Ray, smoothing n=100000 on {rows} rows (1 shard ~ {rows * per_row:.0f} s by calibration)")
    times, results = {}, {}
    for shards in (1, 2):
        t = time.perf_counter()
        results[shards] = rp.distributed.certify(DEMO, X, shards=shards, **opts)
        times[shards] = time.perf_counter() - t
        print(f"   {shards} shard(s): {times[shards]:.1f} s")
    for k in ("row", "label", "radius"):
        np.testing.assert_array_equal(getattr(results[1], k), getattr(results[2], k))
    print(f"   speed-up {times[1] / times[2]:.2f}x; results equal bit for bit")
    ray.shutdown()


if __name__ == "__main__":
    overhead()
    ray_speedup()
