"""Asynchronous aggregation: FedAsync (Xie, Koyejo and Gupta 2019) and FedBuff (Nguyen et al., AISTATS 2022).

An update arrives with its *staleness* ``tau``: how many server steps the global model took between the version the
client trained from and the one the update is applied to. A staleness function ``s(tau)`` down-weights stale updates:

    constant      s(tau) = 1
    polynomial    s(tau) = (1 + tau)^-a                          (FedBuff's 1 / sqrt(1 + tau) is a = 0.5)
    hinge         s(tau) = 1 if tau <= b else 1 / (a (tau - b) + 1)

FedBuff, on a buffer of K updates (deltas ``d_i`` from the model each client started from):
``x <- x + server_lr * sum_i w_i s(tau_i) d_i`` with ``w_i = 1 / K`` (uniform) or ``n_i / sum_j n_j``
(num_examples). With constant staleness this is FedAvg's arithmetic exactly (same order, same float64 sums).

FedAsync, on one update from a client that trained from ``x_v`` to ``x_client = x_v + d``:
``x <- x + server_lr * alpha (x_client - x)``, ``alpha = min(1, mixing * s(tau) * c)`` with ``c = 1`` (uniform) or
``n_i / mean_j n_j`` (num_examples: a client with more data than the average client mixes in more); with server_lr 1
this is the paper's ``x <- (1 - alpha) x + alpha x_client``.

Arithmetic runs in float64; the result has the dtype of the global model. The server process that decides when
updates arrive is ``twin.sim.async_rounds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from twin.fl.strategies.base import Strategy, client_weights, weighted_average
from twin.fl.strategies.fedavg import fedavg_step


def staleness_weight(tau, kind: str = "constant", *, a: float = 0.5, b: float = 4) -> np.ndarray:
    """``s(tau)`` for an array of staleness values (integers >= 0), float64."""
    t = np.asarray(tau, dtype=np.float64)
    if (t < 0).any():
        raise ValueError("staleness must be >= 0")
    if kind == "constant":
        return np.ones_like(t)
    if kind == "polynomial":
        return (1.0 + t) ** -float(a)
    if kind == "hinge":
        return np.where(t <= b, 1.0, 1.0 / (float(a) * (t - b) + 1.0))
    raise ValueError(f"staleness.kind must be constant, polynomial or hinge; got {kind!r}")


# The papers' staleness function, 1 / sqrt(1 + tau) (read-only: it is every constructor's default).
DEFAULT_STALENESS: Mapping = MappingProxyType({"kind": "polynomial", "a": 0.5})


@dataclass(frozen=True)
class AsyncUpdate:
    """One arrived update: the client's delta from the model it started from, its example count, its staleness, and
    (FedAsync) that starting model."""

    delta: torch.Tensor
    num_examples: int
    staleness: int
    base: torch.Tensor | None = None


class AsyncStrategy(Strategy):
    """Base of the asynchronous strategies: a staleness function and :meth:`apply` (one server step)."""

    asynchronous = True

    def __init__(self, *, weighting: str = "uniform", server_lr: float = 1.0, concurrency: int = 100,
                 staleness: Mapping = DEFAULT_STALENESS, refill: str = "immediate") -> None:
        super().__init__(weighting=weighting, server_lr=server_lr)
        self.concurrency = int(concurrency)
        self.refill = refill
        spec = dict(staleness)
        self.staleness_kind = spec.pop("kind", "constant")
        self.staleness_params = spec

    def staleness_weights(self, tau: Sequence[int]) -> np.ndarray:
        return staleness_weight(tau, self.staleness_kind, **self.staleness_params)

    def apply(self, global_flat: torch.Tensor, updates: Sequence[AsyncUpdate], *, mean_examples: float = 1.0
              ) -> torch.Tensor:
        """The new global model (flat) after one server step on ``updates`` (in their order)."""
        raise NotImplementedError

    def _server_step(self, global_flat, avg_delta):  # the synchronous interface: plain FedAvg arithmetic
        return fedavg_step(global_flat, avg_delta, self.server_lr)

    def _params(self):
        return {**super()._params(), "concurrency": self.concurrency, "refill": self.refill,
                "staleness": {"kind": self.staleness_kind, **self.staleness_params}}


class FedBuff(AsyncStrategy):
    """FedBuff: a server step per ``buffer_size`` buffered updates."""

    kind = "fedbuff"

    def __init__(self, *, weighting: str = "uniform", server_lr: float = 1.0, concurrency: int = 100,
                 staleness: Mapping = DEFAULT_STALENESS, refill: str = "immediate", buffer_size: int = 10) -> None:
        super().__init__(weighting=weighting, server_lr=server_lr, concurrency=concurrency, staleness=staleness,
                         refill=refill)
        self.buffer_size = int(buffer_size)

    def apply(self, global_flat, updates, *, mean_examples=1.0):
        if not updates:
            return global_flat.clone()
        weights = client_weights([u.num_examples for u in updates], self.weighting)
        s = self.staleness_weights([u.staleness for u in updates])
        if not weights.any():
            return global_flat.clone()
        g = global_flat.detach().reshape(-1).to(torch.float64)
        avg = weighted_average((u.delta.reshape(-1).to(torch.float64) for u in updates), weights * s)
        return fedavg_step(g, avg, self.server_lr).to(global_flat.dtype)

    def _params(self):
        return {**super()._params(), "buffer_size": self.buffer_size}


class FedAsync(AsyncStrategy):
    """FedAsync: every arrival mixes the client's model into the global one."""

    kind = "fedasync"

    def __init__(self, *, weighting: str = "uniform", server_lr: float = 1.0, concurrency: int = 100,
                 staleness: Mapping = DEFAULT_STALENESS, refill: str = "immediate", mixing: float = 0.6) -> None:
        super().__init__(weighting=weighting, server_lr=server_lr, concurrency=concurrency, staleness=staleness,
                         refill=refill)
        self.mixing = float(mixing)

    def mixing_weight(self, update: AsyncUpdate, mean_examples: float = 1.0) -> float:
        """``alpha = min(1, mixing * s(tau) * c)`` (see the module docstring)."""
        c = 1.0 if self.weighting == "uniform" else update.num_examples / mean_examples if mean_examples > 0 else 1.0
        return float(min(1.0, self.mixing * float(self.staleness_weights([update.staleness])[0]) * c))

    def apply(self, global_flat, updates, *, mean_examples=1.0):
        g = global_flat.detach().reshape(-1).to(torch.float64)
        for u in updates:
            if u.base is None:
                raise ValueError("FedAsync needs each update's starting model (AsyncUpdate.base)")
            alpha = self.mixing_weight(u, mean_examples)
            client = u.base.reshape(-1).to(torch.float64) + u.delta.reshape(-1).to(torch.float64)
            g = g + self.server_lr * alpha * (client - g)
        return g.to(global_flat.dtype)

    def _params(self):
        return {**super()._params(), "mixing": self.mixing}
