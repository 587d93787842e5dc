"""Shards on a local 2-CPU Ray cluster merge into the unsharded result, bit for bit."""
import numpy as np
import pytest

import rp
from conftest import DEMO

ray = pytest.importorskip("ray")
import rp.distributed  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def same(a, b):
    for k in ("row", "label", "radius", "radius_upper", "alpha"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    assert a.guarantee == b.guarantee


@pytest.mark.parametrize("method,options", [("smooth", dict(sigma=0.25, n=2000, seed=3)), ("crown", dict(norm="l2"))])
def test_shards_merge_into_the_unsharded_result(local_ray, demo_inputs, method, options):
    whole = rp.Model.load(DEMO).certify(demo_inputs, method=method, **options)
    for shards in (2, 3, 40):
        merged = rp.distributed.certify(DEMO, demo_inputs, shards=shards, method=method, **options)
        same(merged, whole)


def test_bad_options_fail_before_any_task(local_ray, demo_inputs):
    with pytest.raises(ValueError, match="rel-tol"):
        rp.distributed.certify(DEMO, demo_inputs, shards=2, rel_tol=5.0)


def test_shard_bounds_match_the_cli():
    assert rp.distributed.shard_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    with pytest.raises(ValueError):
        rp.distributed.shard_bounds(10, 0)


def test_instances_run_as_tasks_in_order(local_ray, tmp_path, demo_inputs):
    from test_rp import vnnlib_box

    model = rp.Model.load(DEMO)
    lines = []
    for k, eps in enumerate([0.01, 3.0, 0.02]):
        x = demo_inputs[k]
        c = int(model.forward(x).argmax())
        (tmp_path / f"p{k}.vnnlib").write_text(vnnlib_box(x, eps, c, 1 - c))
        lines.append(f"{DEMO},p{k}.vnnlib,30")
    (tmp_path / "instances.csv").write_text("\n".join(lines) + "\n")
    out = rp.distributed.verify(tmp_path / "instances.csv")
    assert [o["verdict"] for o in out] == ["unsat", "sat", "unsat"]
    assert [o["property"] for o in out] == ["p0.vnnlib", "p1.vnnlib", "p2.vnnlib"]
