"""Compare `rp bounds` with auto_LiRPA 0.3 (float64) on the same ONNX model and inputs.

usage: compare_lirpa.py LIRPA.json RP_DIR
RP_DIR holds rp's bounds as {method}_{norm}.json (method ibp|crown, norm linf|l2) and rp_times.json.
Prints, per method and norm, the max relative deviation |rp − lirpa| / max(|lirpa|, 1) over all rows and
logits (lower and upper), the number of logits where rp is looser by more than 1e-6 relative, and the
time ratios lirpa / rp (auto_LiRPA, 1 thread: median of its timed repeats for logit bounds; rp: its compute
time with 1 and with 2 threads, bounds from the last run).
Exits 1 if any CROWN deviation exceeds 1e-6.
"""
import json, sys
import numpy as np

lirpa = json.load(open(sys.argv[1]))
rp_dir = sys.argv[2]
times = json.load(open(f"{rp_dir}/rp_times.json"))
worst_crown = 0.0
print(f"{'method':8} {'norm':5} {'max rel dev':>12} {'rp looser':>9} {'rp tighter':>10} {'lirpa s':>9} "
      f"{'rp s 1thr':>9} {'ratio':>7} {'rp s 2thr':>9} {'ratio':>7}")
for run in lirpa["runs"]:
    method = {"IBP": "ibp", "CROWN": "crown"}.get(run["method"])
    if method is None:
        continue
    norm = {"Linf": "linf", "L2": "l2"}[run["norm"]]
    ours = json.load(open(f"{rp_dir}/{method}_{norm}.json"))
    lo = np.array([r["lower"] for r in ours["rows"]]); up = np.array([r["upper"] for r in ours["rows"]])
    llo = np.array(run["lb"]); lup = np.array(run["ub"])
    dev = np.maximum(np.abs(lo - llo) / np.maximum(np.abs(llo), 1), np.abs(up - lup) / np.maximum(np.abs(lup), 1))
    looser = int(((llo - lo) / np.maximum(np.abs(llo), 1) > 1e-6).sum() + ((up - lup) / np.maximum(np.abs(lup), 1) > 1e-6).sum())
    tighter = int(((lo - llo) / np.maximum(np.abs(llo), 1) > 1e-6).sum() + ((lup - up) / np.maximum(np.abs(lup), 1) > 1e-6).sum())
    t_l = run["time_logits_s_median_min"][0]
    t_r1, t_r2 = times[f"{method}_{norm}_t1"], times[f"{method}_{norm}_t2"]
    if method == "crown":
        worst_crown = max(worst_crown, float(dev.max()))
    print(f"{method:8} {norm:5} {dev.max():12.3e} {looser:9d} {tighter:10d} {t_l:9.4f} "
          f"{t_r1:9.4f} {t_l / t_r1:6.1f}x {t_r2:9.4f} {t_l / t_r2:6.1f}x")
print(f"CROWN max relative deviation: {worst_crown:.3e} ({'OK' if worst_crown <= 1e-6 else 'FAIL'}: tolerance 1e-6)")
sys.exit(0 if worst_crown <= 1e-6 else 1)
