"""robust-privacy (rp) from Python: certify the inference-time privacy (Robust Privacy) of ONNX models.

    import numpy as np, rp
    model = rp.Model.load("models/demo-mlp/model.onnx")
    res = model.certify(X, method="crown", norm="l2")          # sound radii
    res = model.certify(X, method="smooth", sigma=0.25, n=10_000)  # Cohen et al.'s CERTIFY
    res.radius, res.label, res.to_pandas()

Options are keyword arguments with the command line's names (``eps_start`` for ``--eps-start``) and
defaults; they are parsed by the CLI's own parser, so an unknown option or a bad value raises
``ValueError`` with the CLI's message, and results equal ``rp certify``'s bit for bit. The GIL is
released while rp computes. See README.md, section "Python".
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _rp
from ._rp import set_threads

__all__ = ["Model", "Certificates", "set_threads", "from_torch", "__version__"]
__version__ = _rp.__version__


def _words(options: Dict[str, Any]) -> List[str]:
    """Keyword options as command-line words: name_x=v -> --name-x v; lists -> a,b; True -> a flag."""
    words: List[str] = []
    for name, value in options.items():
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif value is False:
            raise ValueError(f"{flag}: leave a switch out instead of passing False")
        elif isinstance(value, (list, tuple, np.ndarray)):
            words += [flag, ",".join(_number(v) for v in value)]
        else:
            words += [flag, _number(value)]
    return words


def _number(v: Any) -> str:
    # repr of a float is the shortest string that reads back as the same double
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (bool, np.bool_)):
        raise ValueError(f"{v!r}: expected a number or a name")
    return str(v)


def _matrix(x: Any, width: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a.reshape(1, -1)
    if a.ndim != 2:
        raise ValueError(f"inputs must be one row or a 2-D array (rows x {width}), got shape {a.shape}")
    return np.ascontiguousarray(a)


@dataclass
class Certificates:
    """One certificate per row, as columns (numpy arrays): ``label`` (class index, -1 when abstaining),
    ``radius`` (model-input units; what the guarantee stands behind), ``guarantee`` (sound, exact,
    bracket, probabilistic, upper-bound, ... as in the CLI), ``radius_upper`` (NaN when none), ``alpha``
    (NaN unless probabilistic), ``time`` (seconds, the row's share), ``row`` (row ids), and with a card
    ``radius_raw`` (raw units of ``raw_attribute``)."""

    method: str
    extent: str
    row: np.ndarray
    label: np.ndarray
    radius: np.ndarray
    guarantee: List[str]
    radius_upper: np.ndarray
    alpha: np.ndarray
    time: np.ndarray
    raw_attribute: Optional[str] = None
    radius_raw: Optional[np.ndarray] = None

    @classmethod
    def _from(cls, d: Dict[str, Any]) -> "Certificates":
        return cls(**d)

    def __len__(self) -> int:
        return len(self.row)

    def columns(self) -> Dict[str, Any]:
        cols = {k: getattr(self, k) for k in ("row", "label", "radius", "guarantee", "radius_upper", "alpha", "time")}
        if self.radius_raw is not None:
            cols["radius_raw"] = self.radius_raw
        return cols

    def to_pandas(self):
        """The columns as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install pandas") from e
        return pd.DataFrame(self.columns())

    @staticmethod
    def concat(parts: Sequence["Certificates"]) -> "Certificates":
        """The certificates of several parts, in order (all of one method)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        cat = lambda k: np.concatenate([getattr(p, k) for p in parts])
        return Certificates(
            method=first.method, extent=first.extent, row=cat("row"), label=cat("label"), radius=cat("radius"),
            guarantee=[g for p in parts for g in p.guarantee], radius_upper=cat("radius_upper"), alpha=cat("alpha"),
            time=cat("time"), raw_attribute=first.raw_attribute,
            radius_raw=cat("radius_raw") if first.radius_raw is not None else None)


class Model:
    """A ReLU network read from ONNX (Gemm/MatMul/Add/Relu/... as `rp` reads them), with its model card."""

    def __init__(self, inner: "_rp.Network_"):
        self._inner = inner

    @staticmethod
    def load(source: Union[str, os.PathLike, bytes], card: Optional[Union[str, os.PathLike]] = None) -> "Model":
        """Reads an ONNX model from a path or from bytes; ``card``: a model card (JSON) file."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            inner = _rp.Network_.from_bytes(bytes(source))
        elif isinstance(source, (str, os.PathLike)):
            inner = _rp.Network_.from_path(os.fspath(source))
        else:
            raise ValueError(f"Model.load takes a path or the ONNX bytes, got {type(source).__name__}")
        if card is not None:
            inner = inner.with_card(os.fspath(card))
        return Model(inner)

    input_dim = property(lambda self: self._inner.input_dim)
    output_dim = property(lambda self: self._inner.output_dim)
    input_names = property(lambda self: self._inner.input_names)
    classes = property(lambda self: self._inner.classes)

    def __repr__(self) -> str:
        return f"rp.Model({self._inner.describe()})"

    def to_onnx(self) -> bytes:
        """The network as ONNX bytes (rp's writer: Gemm/Relu)."""
        return self._inner.to_onnx()

    def inputs_from_records(self, path: Union[str, os.PathLike]) -> np.ndarray:
        """Model inputs of the raw records (CSV with the card's feature names) mapped by the card."""
        return self._inner.inputs_from_records(os.fspath(path))

    def forward(self, X: Any) -> np.ndarray:
        """The outputs (rows x outputs) in float64."""
        return self._inner.forward(_matrix(X, self.input_dim))

    def bounds(self, X: Any, eps: Union[float, Sequence[float]], norm: str = "linf", method: str = "crown", **options):
        """Sound (lower, upper) bounds of every output over each row's eps-ball, as ``rp bounds``
        (options: intermediate, alpha_iters, alpha_lr, domain_lo, domain_hi)."""
        X = _matrix(X, self.input_dim)
        e = np.broadcast_to(np.asarray(eps, dtype=np.float64), (X.shape[0],)).copy()
        return self._inner.bounds(X, e, _words(dict(norm=norm, method=method, **options)))

    def certify(self, X: Any, method: str = "crown", *, row_ids: Optional[Sequence[int]] = None, **options) -> Certificates:
        """One certificate per row of X, as ``rp certify --method METHOD`` with the same options
        (norm, decision, rel_tol, eps_start, eps_max, sigma, n0, n, alpha, mode, seed, time_limit, ...).
        ``row_ids`` number the rows (default 0..): smoothing's noise depends on them, as on the CLI's
        row numbers, so a shard certified with its own ids equals that part of the whole."""
        X = _matrix(X, self.input_dim)
        ids = list(range(X.shape[0])) if row_ids is None else [int(i) for i in row_ids]
        return Certificates._from(self._inner.certify(X, ids, _words(dict(method=method, **options))))

    def verify(self, vnnlib: Union[str, os.PathLike], timeout: Optional[float] = None, **options) -> Dict[str, Any]:
        """Decides a VNN-LIB property (a path, or the property's text) as ``rp verify`` with the same
        options (timeout in seconds, default 60; split, max_domains, beta_iters, ...). Returns a dict:
        ``verdict`` as ``rp verify`` words it ("unsat": the unsafe set is empty, the property holds;
        "sat", with a checked ``counterexample`` (input, output); "timeout"; "unknown", with
        ``reason``), ``result`` (VNN-COMP's result text),
        ``seconds``, ``domains``."""
        text = str(vnnlib)
        if isinstance(vnnlib, os.PathLike) or ("(" not in text and os.path.exists(text)):
            with open(vnnlib) as f:
                text = f.read()
        return self._inner.verify(text, _words(dict(timeout=timeout, **options)))


def from_torch(module, example_input) -> Model:
    """Exports a torch ``nn.Sequential`` MLP (Linear/ReLU/Flatten) to ONNX in memory and loads it."""
    from ._torch import export_onnx

    return Model.load(export_onnx(module, example_input))
