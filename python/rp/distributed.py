"""Certification spread over a Ray cluster: each shard of rows is one Ray task that loads the model
and certifies its rows under their global row ids (so smoothing draws the same noise as in one run);
the shards are gathered, every row is checked to have come back exactly once, and the result equals the
unsharded ``Model.certify`` bit for bit (times aside).

    import rp.distributed
    res = rp.distributed.certify("model.onnx", X, shards=8, method="smooth", sigma=0.25)   # local Ray
    res = rp.distributed.certify(..., address="ray://head:10001")   # or "auto" on a cluster node

On a cluster: ``ray start --head`` on one machine, ``ray start --address=HEAD:6379`` on the others, each
with this package installed; the model path must be readable on every node (or pass the ONNX bytes).
"""
from __future__ import annotations

import os
from typing import Any, Optional, Union

import numpy as np

from . import Certificates, Model, _matrix, set_threads

__all__ = ["certify", "verify", "read_instances", "shard_bounds"]


def shard_bounds(rows: int, shards: int):
    """Rows K*R/N ... (K+1)*R/N - 1 for shard K of N: the CLI's ``--shard K/N``."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    return [(k * rows // shards, (k + 1) * rows // shards) for k in range(shards)]


def _certify_shard(model_source, card, X, first, method, options, threads):
    # a Ray task holds `threads` CPUs: rp's pool in this worker process gets that many (once per process)
    try:
        set_threads(threads)
    except ValueError:
        pass  # the worker process already has its pool from an earlier task
    model = Model.load(model_source, card=card)
    ids = list(range(first, first + X.shape[0]))
    return model.certify(X, method=method, row_ids=ids, **options)


def certify(model: Union[str, os.PathLike, bytes], X: Any, shards: int = 2, method: str = "crown", *,
            card: Optional[Union[str, os.PathLike]] = None, address: Optional[str] = None,
            num_cpus_per_task: float = 1, **options) -> Certificates:
    """``Model.certify`` of X, one Ray task per shard, each holding ``num_cpus_per_task`` CPUs (and
    running rp with that many threads). Starts a local Ray (``ray.init()``) unless Ray is already
    initialised; ``address`` names a cluster ("auto" on one of its nodes, or "ray://HEAD:10001")."""
    import ray

    source = os.fspath(model) if isinstance(model, (str, os.PathLike)) else bytes(model)
    card = os.fspath(card) if card is not None else None
    probe = Model.load(source, card=card)  # bad models and options fail here, before any task
    X = _matrix(X, probe.input_dim)
    probe.certify(X[:0], method=method, **options)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=num_cpus_per_task)(_certify_shard)
    bounds = [(a, b) for a, b in shard_bounds(X.shape[0], shards) if b > a]
    threads = max(1, int(num_cpus_per_task))
    refs = [task.remote(source, card, X[a:b], a, method, options, threads) for a, b in bounds]
    parts = ray.get(refs)
    result = Certificates.concat(parts) if parts else probe.certify(X, method=method, **options)
    rows = np.sort(result.row)
    if len(rows) != X.shape[0] or not np.array_equal(rows, np.arange(X.shape[0])):
        missing = sorted(set(range(X.shape[0])) - set(result.row.tolist()))
        raise RuntimeError(f"the shards returned {len(rows)} rows for {X.shape[0]}; missing rows: {missing[:10]}")
    return result


def read_instances(instances_csv: Union[str, os.PathLike]):
    """The lines ``onnx,vnnlib,timeout`` of a VNN-COMP instances.csv, paths made absolute (relative to
    its folder, as ``rp verify --instances`` reads them)."""
    path = os.fspath(instances_csv)
    folder = os.path.dirname(os.path.abspath(path))
    rows = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 3:
                raise ValueError(f"{path}, line {i}: expected onnx,vnnlib,timeout")
            try:
                timeout = float(parts[2])
            except ValueError:
                raise ValueError(f"{path}, line {i}: timeout '{parts[2]}' is not a number") from None
            rows.append((os.path.join(folder, parts[0]), os.path.join(folder, parts[1]), timeout))
    return rows


def _verify_one(index, model_path, property_path, timeout, options, threads):
    try:
        set_threads(threads)
    except ValueError:
        pass
    out = Model.load(model_path).verify(property_path, timeout=options.get("timeout", timeout),
                                        **{k: v for k, v in options.items() if k != "timeout"})
    out.update(index=index, network=os.path.basename(model_path), property=os.path.basename(property_path))
    return out


def verify(instances_csv: Union[str, os.PathLike], *, address: Optional[str] = None,
           num_cpus_per_task: float = 1, **options):
    """Every instance of a VNN-COMP instances.csv as one Ray task (``Model.verify`` with the instance's
    timeout unless ``timeout=`` is given); returns one dict per instance, in the file's order, after
    checking that each came back exactly once."""
    import ray

    rows = read_instances(instances_csv)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=num_cpus_per_task)(_verify_one)
    threads = max(1, int(num_cpus_per_task))
    results = ray.get([task.remote(i, m, p, t, options, threads) for i, (m, p, t) in enumerate(rows)])
    if sorted(r["index"] for r in results) != list(range(len(rows))):
        raise RuntimeError("some instances did not come back exactly once")
    return sorted(results, key=lambda r: r["index"])
