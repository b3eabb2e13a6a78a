"""Strategy interface (Flower-like) and the pure aggregation arithmetic shared by all strategies.

A round's result is a list of :class:`ClientResult` (new parameters or a delta, and the client's example count). Clients
that dropped out (missed the deadline, lost coverage) are a normal input: ``aggregate(..., dropped=[ids])`` excludes every
result whose ``client_id`` is listed (a client drawn twice, with replacement, shares its fate in both slots); if nobody is
left the global model comes back unchanged. All strategies work on the averaged client delta

    delta = sum_i w_i (x_i - x),   w_i = n_i / sum_j n_j  (num_examples)  or  1 / K  (uniform)

and differ only in the server step (:meth:`Strategy._server_step`). Arithmetic runs in float64 and the result takes the
dtype of the global model. Parameters are a flat tensor or a dict name -> tensor; non-floating entries of a dict (integer
buffers) are carried over from the global model unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

Params = torch.Tensor | Mapping[str, torch.Tensor]

WEIGHTINGS = ("num_examples", "uniform")


@dataclass(frozen=True)
class ClientResult:
    """One client's result: exactly one of ``params`` (its new model) or ``delta`` (new minus global)."""

    num_examples: int
    params: Params | None = None
    delta: Params | None = None
    client_id: int | None = None

    def __post_init__(self) -> None:
        if (self.params is None) == (self.delta is None):
            raise ValueError("ClientResult needs exactly one of params= or delta=")
        n = self.num_examples
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"num_examples must be an integer >= 0; got {n!r}")


@dataclass(frozen=True)
class AggregateInfo:
    """What the last ``aggregate`` call did (for the recorder)."""

    num_results: int
    num_aggregated: int
    num_dropped: int
    total_examples: int
    changed: bool


# --- pure arithmetic --------------------------------------------------------------------------------------------------


def client_weights(num_examples: Sequence[int], weighting: str) -> np.ndarray:
    """Normalised aggregation weights (float64, sum 1), or all zeros when every client has 0 examples."""
    n = np.asarray(num_examples, dtype=np.float64)
    if n.ndim != 1 or (n < 0).any():
        raise ValueError("num_examples must be a 1-D sequence of counts >= 0")
    if n.size == 0:
        return n
    if weighting == "uniform":
        return np.full(n.size, 1.0 / n.size)
    if weighting == "num_examples":
        total = n.sum()
        return n / total if total > 0 else np.zeros_like(n)
    raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}")


def weighted_average(vectors: Iterable[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``sum_i weights[i] * vectors[i]`` accumulated in float64 (one vector at a time: no K x P stack)."""
    acc = buf = None
    for vec, w in zip(vectors, weights, strict=True):
        if acc is None:
            acc = vec.to(torch.float64) * float(w)
            continue
        if buf is None:
            buf = torch.empty_like(acc)
        buf.copy_(vec)  # the term vec.to(float64) * w of the first one, in a reused buffer (same products, same sum)
        acc.add_(buf.mul_(float(w)))
    if acc is None:
        raise ValueError("weighted_average needs at least one vector")
    return acc


def stacked_rows(vectors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, np.ndarray] | None:
    """``(matrix, rows)`` when the vectors are whole rows of one C-contiguous float32 (R, P) matrix on the CPU (how
    training hands out a cohort's flat updates: views into one tensor), ``vectors[i]`` being ``matrix[rows[i]]``;
    else None."""
    if not vectors or vectors[0].dim() != 1:
        return None
    base, width = vectors[0]._base, vectors[0].shape[0]
    if (base is None or base.dtype != torch.float32 or base.device.type != "cpu" or base.requires_grad
            or not base.is_contiguous() or width == 0 or base.numel() % width):
        return None
    origin = base.storage_offset()
    rows = np.empty(len(vectors), dtype=np.int64)
    for i, v in enumerate(vectors):
        if v._base is not base or v.shape != (width,) or v.stride() != (1,):
            return None
        row, rest = divmod(v.storage_offset() - origin, width)
        if rest or row < 0:
            return None
        rows[i] = row
    return base.view(-1, width), rows


def _weighted_deltas(deltas: Sequence[torch.Tensor], weights: np.ndarray) -> torch.Tensor:
    """:func:`weighted_average` of flat float deltas; rows of one matrix in one compiled pass
    (:func:`twin.fl.round_kernels.weighted_rows`: the same products and sums in the same order)."""
    from twin.fl import round_kernels

    stacked = stacked_rows(deltas) if round_kernels.AVAILABLE else None
    if stacked is not None:
        return torch.from_numpy(round_kernels.weighted_rows(stacked[0].numpy(), stacked[1], weights))
    return weighted_average((d.detach().reshape(-1) for d in deltas), weights)


# --- flat <-> dict ----------------------------------------------------------------------------------------------------


def _float_keys(p: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k, v in p.items() if torch.is_tensor(v) and v.is_floating_point()]


def flatten(p: Params, like: Params) -> torch.Tensor:
    """Flatten ``p`` (shaped like the global ``like``) to a float64 vector of the floating parameters."""
    if isinstance(like, torch.Tensor):
        if not isinstance(p, torch.Tensor) or p.shape != like.shape:
            got = tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
            raise ValueError(f"update must be a tensor of shape {tuple(like.shape)} like the global model; got {got}")
        return p.detach().reshape(-1).to(torch.float64)
    if not isinstance(p, Mapping):
        raise ValueError(f"update must be a dict of tensors like the global model; got {type(p).__name__}")
    parts = []
    for k in _float_keys(like):
        if k not in p or tuple(p[k].shape) != tuple(like[k].shape):
            raise ValueError(f"update: parameter {k!r} is missing or has the wrong shape")
        parts.append(p[k].detach().reshape(-1).to(torch.float64))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def unflatten(flat: torch.Tensor, like: Params) -> Params:
    """Inverse of :func:`flatten`: the shapes and dtypes of ``like``; non-floating dict entries copied from ``like``."""
    if isinstance(like, torch.Tensor):
        return flat.reshape(like.shape).to(like.dtype)
    out, pos = {}, 0
    float_keys = set(_float_keys(like))
    for k, v in like.items():
        if k in float_keys:
            out[k] = flat[pos : pos + v.numel()].reshape(v.shape).to(v.dtype)
            pos += v.numel()
        else:
            out[k] = v.clone() if torch.is_tensor(v) else v
    return out


def _copy(p: Params) -> Params:
    if isinstance(p, torch.Tensor):
        return p.detach().clone()
    return {k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in p.items()}


# --- the interface ----------------------------------------------------------------------------------------------------


class Strategy:
    """Base strategy: weighted client-delta averaging followed by a server step (subclasses).

    Constructor parameters are the fields of the strategy's schema class (``twin.scenario.strategies``), with the same
    names and defaults (``tests/test_registries.py``); the schema checks their values, so constructors do not.
    """

    kind: ClassVar[str] = ""

    def __init__(self, *, weighting: str = "num_examples", server_lr: float = 1.0) -> None:
        self.weighting = weighting
        self.server_lr = float(server_lr)
        self.last: AggregateInfo | None = None

    def aggregate(self, global_params: Params, updates: Sequence[ClientResult], *, dropped: Iterable = ()) -> Params:
        """New global model from the clients that completed. ``dropped``: client ids to exclude."""
        for u in updates:
            if not isinstance(u, ClientResult):
                raise ValueError(f"updates must be ClientResult objects; got {type(u).__name__}")
        dropped_ids = set(dropped)
        kept = [u for u in updates if u.client_id is None or u.client_id not in dropped_ids]
        total = sum(int(u.num_examples) for u in kept)
        weights = client_weights([u.num_examples for u in kept], self.weighting)
        if not kept or not weights.any():
            self.last = AggregateInfo(len(updates), 0, len(updates) - len(kept), total, changed=False)
            return _copy(global_params)
        g = flatten(global_params, global_params)
        if isinstance(global_params, torch.Tensor) and all(
                isinstance(u.delta, torch.Tensor) and u.delta.shape == global_params.shape for u in kept):
            avg_delta = _weighted_deltas([u.delta for u in kept], weights)  # flat already
        else:
            deltas = (
                flatten(u.delta, global_params) if u.delta is not None else flatten(u.params, global_params) - g
                for u in kept
            )
            avg_delta = weighted_average(deltas, weights)
        new = self._server_step(g, avg_delta)
        self.last = AggregateInfo(len(updates), len(kept), len(updates) - len(kept), total, changed=True)
        return unflatten(new, global_params)

    def aggregate_flat(self, global_flat: torch.Tensor, deltas: Sequence[torch.Tensor],
                       num_examples: Sequence[int] | np.ndarray, client_ids: Sequence[int] | None = None
                       ) -> torch.Tensor:
        """:meth:`aggregate` of a flat global model with flat deltas of its shape, nobody dropped, without building a
        :class:`ClientResult` per client (a round's hundreds): the same weights, sums and server step. A subclass that
        overrides :meth:`aggregate` gets its own method, with ``client_ids`` in the ClientResults."""
        n = np.asarray(num_examples, dtype=np.int64)
        if (type(self).aggregate is not Strategy.aggregate or n.shape != (len(deltas),) or (n < 0).any()
                or any(not isinstance(d, torch.Tensor) or d.shape != global_flat.shape for d in deltas)):
            ids = [None] * len(deltas) if client_ids is None else list(client_ids)
            return self.aggregate(global_flat, [ClientResult(num_examples=int(k), delta=d, client_id=c)
                                                for k, d, c in zip(n.tolist(), deltas, ids, strict=True)], dropped=[])
        total = int(n.sum())
        weights = client_weights(n, self.weighting)
        if not len(deltas) or not weights.any():
            self.last = AggregateInfo(len(deltas), 0, 0, total, changed=False)
            return _copy(global_flat)
        new = self._server_step(flatten(global_flat, global_flat), _weighted_deltas(list(deltas), weights))
        self.last = AggregateInfo(len(deltas), len(deltas), 0, total, changed=True)
        return unflatten(new, global_flat)

    def reset(self) -> None:
        """Forget server state (momentum, Adam moments)."""

    def _server_step(self, global_flat: torch.Tensor, avg_delta: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _check_state(self, buf: torch.Tensor | None, numel: int) -> None:
        if buf is not None and buf.numel() != numel:
            raise ValueError(
                f"global model has {numel} parameters but the {self.kind} server state has {buf.numel()}; "
                "call reset() when the model changes"
            )

    def _params(self) -> dict:
        return {"weighting": self.weighting, "server_lr": self.server_lr}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self._params().items())})"
