"""torch -> ONNX in memory, for ``rp.from_torch`` (torch and onnx are optional extras)."""
from __future__ import annotations

import io


def export_onnx(module, example_input) -> bytes:
    """ONNX bytes of ``module`` (an ``nn.Sequential`` of Linear / ReLU / Flatten layers) traced at
    ``example_input`` (one batch), with a dynamic batch axis, in float32 as torch holds the weights."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("rp.from_torch needs torch: pip install 'robust-privacy[torch]'") from e
    allowed = (torch.nn.Linear, torch.nn.ReLU, torch.nn.Flatten, torch.nn.Identity)
    layers = list(module) if isinstance(module, torch.nn.Sequential) else [module]
    for layer in layers:
        if not isinstance(layer, allowed):
            raise ValueError(
                f"rp.from_torch exports nn.Sequential MLPs (Linear, ReLU, Flatten); {type(layer).__name__} is not one of them")
    import inspect

    extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    buf = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(module, (example_input,), buf, input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13,
                              **extra)
    finally:
        module.train(was_training)
    return buf.getvalue()
