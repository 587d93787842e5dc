"""PyTorch exports that rp must load (issue 12), with onnxruntime's outputs as goldens.

Run with the peers venv (torch 1.12/1.13, onnx, onnxruntime; `bash ../shared/peers/setup.sh`):
    $HOME/.cache/rp-peers/venv/bin/python tests/data/make_torch_exports.py
Writes tests/data/torch/*.onnx and tests/data/torch/golden.json. Seeded; the models are tiny.
"""
import json
import os

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
import torch

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch")
torch.manual_seed(0)


class BnSoftmax(torch.nn.Module):
    """Linear → BatchNorm1d (eval, non-trivial running statistics) → ReLU → Linear → Softmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(5, 16)
        self.bn = torch.nn.BatchNorm1d(16)
        self.fc2 = torch.nn.Linear(16, 3)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.3, 3.0)
            self.bn.weight.uniform_(0.5, 1.5)
            self.bn.bias.uniform_(-0.2, 0.2)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.bn(self.fc1(x)))), dim=1)


class ViewClampLogSoftmax(torch.nn.Module):
    """x.view(x.size(0), -1) on a [N, 1, 2, 3] input (dynamic batch) → Linear → clamp(min=0) → Linear → LogSoftmax."""

    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(6, 8)
        self.fc2 = torch.nn.Linear(8, 4)

    def forward(self, x):
        h = x.view(x.size(0), -1)
        return torch.log_softmax(self.fc2(torch.clamp(self.fc1(h), min=0)), dim=1)


class Bce(torch.nn.Module):
    """A binary model with one logit (BCE-style)."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x)


def export(model, example, name, opset):
    model.eval()
    path = os.path.join(HERE, f"{name}_opset{opset}.onnx")
    torch.onnx.export(model, example, path, opset_version=opset, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return path


def gemm_bias_1n(path_in, path_out):
    """The same model with every Gemm's C reshaped to [1, N] (onnxruntime runs it)."""
    m = onnx.load(path_in)
    inits = {t.name: t for t in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2] in inits:
            t = inits[node.input[2]]
            if len(t.dims) == 1:
                n = t.dims[0]
                del t.dims[:]
                t.dims.extend([1, n])
    onnx.save(m, path_out)
    return path_out


def main():
    os.makedirs(HERE, exist_ok=True)
    rng = np.random.default_rng(0)
    cases = []
    specs = [(BnSoftmax(), (5,), "bn_softmax"), (ViewClampLogSoftmax(), (1, 2, 3), "view_clamp_logsoftmax"), (Bce(), (4,), "bce")]
    for model, shape, name in specs:
        for opset in (11, 13, 16):
            example = torch.randn(2, *shape)
            path = export(model, example, name, opset)
            paths = [path]
            if opset == 16:
                # torch 1.12/1.13 export up to opset 16; opset 17 by onnx's version converter
                p17 = os.path.join(HERE, f"{name}_opset17.onnx")
                onnx.save(onnx.version_converter.convert_version(onnx.load(path), 17), p17)
                paths.append(p17)
            if name == "bn_softmax" and opset == 13:
                paths.append(gemm_bias_1n(path, os.path.join(HERE, "bn_softmax_gemm_bias_1n.onnx")))
            for p in paths:
                sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
                x = rng.uniform(-1.5, 1.5, size=(6, *shape)).astype(np.float32)
                y = sess.run(None, {"x": x})[0]
                ops = sorted({n.op_type for n in onnx.load(p).graph.node})
                cases.append({"model": os.path.basename(p), "ops": ops, "inputs": x.reshape(6, -1).astype(float).tolist(), "outputs": y.astype(float).tolist()})
    meta = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__, "cases": cases}
    with open(os.path.join(HERE, "golden.json"), "w") as f:
        json.dump(meta, f, indent=1)
    for c in cases:
        print(c["model"], c["ops"])


if __name__ == "__main__":
    main()
