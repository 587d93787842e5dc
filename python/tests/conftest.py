import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEMO = ROOT / "models" / "demo-mlp" / "model.onnx"
DEMO_INPUTS = ROOT / "models" / "demo-mlp" / "inputs.csv"


def rp_binary() -> pathlib.Path:
    """The CLI to compare against: $RP_BIN, else the release build in $CARGO_TARGET_DIR or target/."""
    if os.environ.get("RP_BIN"):
        return pathlib.Path(os.environ["RP_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "release" / "rp"


@pytest.fixture(scope="session")
def rp_cli():
    exe = rp_binary()
    if not exe.exists():
        pytest.fail(f"the rp binary is not at {exe}: build it (cargo build --release) or set RP_BIN")

    def run(*args, output=None):
        cmd = [str(exe), *map(str, args)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(done.stderr.strip())
        return json.loads(pathlib.Path(output).read_text()) if output else done

    return run


@pytest.fixture(scope="session")
def demo_inputs():
    return np.loadtxt(DEMO_INPUTS, delimiter=",", skiprows=1, ndmin=2)
