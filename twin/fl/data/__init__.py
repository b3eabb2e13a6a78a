"""Offline federated data sets: digits (embedded default), idx files, LEAF JSON, FedProx Synthetic.

``load_dataset(kind, **fields)`` is the registry entry point: the fields are the keyword arguments of the loader.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from twin.fl.data.base import FederatedDataset
from twin.fl.data.digits import load_digits_dataset
from twin.fl.data.idx import FASHION_MNIST_DIR, load_idx_dataset, read_idx, write_idx
from twin.fl.data.leaf import load_leaf_dataset, read_leaf_file
from twin.fl.data.synthetic import make_synthetic_dataset
from twin.fl.errors import FLConfigError


def _fashion_mnist(**fields: Any) -> FederatedDataset:
    return load_idx_dataset(name="fashion_mnist", **fields)


def _idx(*, path: str, name: str = "idx", prefix: str = "", transpose: bool | None = None) -> FederatedDataset:
    return load_idx_dataset(name=name, path=path, prefix=prefix, transpose=transpose)


def _femnist(**fields: Any) -> FederatedDataset:
    return load_leaf_dataset(**{"name": "femnist", **fields})


DATASETS: dict[str, Callable[..., FederatedDataset]] = {
    "digits": load_digits_dataset,
    "fashion_mnist": _fashion_mnist,
    "idx": _idx,
    "leaf": load_leaf_dataset,
    "femnist": _femnist,
    "synthetic": make_synthetic_dataset,
}

_SIGNATURES = {"fashion_mnist": inspect.signature(load_idx_dataset), "femnist": inspect.signature(load_leaf_dataset)}


def load_dataset(kind: str, **fields: Any) -> FederatedDataset:
    """Load data set ``kind`` (one of :data:`DATASETS`) with the loader's keyword arguments ``fields``."""
    if kind not in DATASETS:
        raise FLConfigError(f"data.kind: unknown data set {kind!r}; choose one of {', '.join(sorted(DATASETS))}")
    loader = DATASETS[kind]
    params = _SIGNATURES.get(kind, inspect.signature(loader)).parameters
    fixed = {"name"} if kind == "fashion_mnist" else set()
    for field in fields:
        if field not in params or field in fixed:
            allowed = sorted(p for p in params if p not in fixed)
            raise FLConfigError(f"data.{field}: not a field of data set {kind!r}; its fields are {', '.join(allowed)}")
    for pname, param in params.items():
        if param.default is inspect.Parameter.empty and param.kind is inspect.Parameter.KEYWORD_ONLY \
                and pname not in fields:
            raise FLConfigError(f"data.{pname}: required for data set {kind!r}")
    return loader(**fields)


__all__ = ["DATASETS", "FASHION_MNIST_DIR", "FederatedDataset", "load_dataset", "load_digits_dataset",
           "load_idx_dataset", "load_leaf_dataset", "make_synthetic_dataset", "read_idx", "read_leaf_file",
           "write_idx"]
