"""Writes tests/data/onnx_golden.json: onnxruntime (float32) outputs of VNN-COMP networks on fixed inputs,
the golden values for tests/onnx.rs. Run with the peers venv:
    ~/.cache/rp-peers/venv/bin/python tests/data/make_onnx_golden.py ../shared/benchmarks tests/data/onnx_golden.json
Inputs: x[i][k] = a·sin(1.7·i + 0.3·k) + c, in float32 (a, c per benchmark: ACAS 0.3, 0; MNIST 0.5, 0.5).
"""
import json, sys
import numpy as np
import onnxruntime as ort

bench, out = sys.argv[1], sys.argv[2]
cases = [("acasxu/onnx/ACASXU_run2a_1_1_batch_2000.onnx", [1, 1, 1, 5], 0.3, 0.0),
         ("acasxu/onnx/ACASXU_run2a_3_3_batch_2000.onnx", [1, 1, 1, 5], 0.3, 0.0),
         ("acasxu/onnx/ACASXU_run2a_5_9_batch_2000.onnx", [1, 1, 1, 5], 0.3, 0.0),
         ("mnistfc/onnx/mnist-net_256x2.onnx", [1, 784, 1], 0.5, 0.5),
         ("mnistfc/onnx/mnist-net_256x6.onnx", [1, 784, 1], 0.5, 0.5)]
res = []
for path, shape, a, c in cases:
    sess = ort.InferenceSession(f"{bench}/{path}", providers=["CPUExecutionProvider"])
    d = int(np.prod(shape))
    rows = []
    for i in range(4):
        x = (a * np.sin(1.7 * i + 0.3 * np.arange(d)) + c).astype(np.float32)
        y = sess.run(None, {sess.get_inputs()[0].name: x.reshape(shape)})[0].reshape(-1)
        rows.append({"input": x.astype(float).tolist(), "output": y.astype(float).tolist()})
    res.append({"model": path, "rows": rows})
json.dump(res, open(out, "w"))
print(f"wrote {out}")
