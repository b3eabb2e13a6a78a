"""Batch plans and functional optimiser updates shared by the training engines.

A *batch plan* fixes, before any training, which rows every client uses at every optimiser step: per epoch a seeded
permutation of the client's rows (or their order when shuffling is off) cut into batches of ``batch_size``, the last one
partial. All engines (one-by-one reference, vmap, bmm) follow the same plan, so they compute the same thing.

The functional updates reproduce ``torch.optim.SGD`` (momentum, no dampening, no Nesterov) and ``torch.optim.Adam``
(bias-corrected, no weight decay, no amsgrad) on stacked per-client tensors, in place.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """Rows per optimiser step for a group of K clients.

    Attributes:
        members: int64 (K, n_max): each client's train rows in the order given, padded with its first row (0 if none).
        sizes: int64 (K,): rows per client.
        positions: int64 (K, max_steps, batch_size): positions into ``members[k]`` used at each step; padding slots
            hold 0 (and get weight 0).
        counts: int64 (K, max_steps): real samples in each step's batch; 0 after a client's last step.
        steps: int64 (K,): optimiser steps per client = local_epochs * ceil(n_k / batch_size).
    """

    members: np.ndarray
    sizes: np.ndarray
    positions: np.ndarray
    counts: np.ndarray
    steps: np.ndarray

    @property
    def max_steps(self) -> int:
        return int(self.positions.shape[1])

    @property
    def rows(self) -> np.ndarray:
        """int64 (K, max_steps, batch_size): train-row indices of every batch slot."""
        k = self.positions.shape[0]
        flat = np.take_along_axis(self.members, self.positions.reshape(k, -1), axis=1)
        return flat.reshape(self.positions.shape)


def steps_per_client(n_samples: np.ndarray, *, local_epochs: int, batch_size: int) -> np.ndarray:
    """Optimiser steps of each client: local_epochs * ceil(n / batch_size)."""
    n = np.asarray(n_samples, dtype=np.int64)
    return local_epochs * ((n + batch_size - 1) // batch_size)


def client_seeds(rng: np.random.Generator, n_clients: int) -> np.ndarray:
    """One shuffling seed per client position, drawn from the round's generator."""
    return rng.integers(0, 2**63 - 1, size=n_clients, dtype=np.int64)


def make_plan(client_indices: Sequence[np.ndarray], seeds: Sequence[int], *, local_epochs: int, batch_size: int,
              shuffle: bool) -> BatchPlan:
    """Build the batch plan of a group of clients (see the module docstring)."""
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    steps = steps_per_client(sizes, local_epochs=local_epochs, batch_size=batch_size)
    k, max_steps = len(sizes), int(steps.max(initial=0))
    members = np.zeros((k, max(int(sizes.max(initial=0)), 1)), dtype=np.int64)
    positions = np.zeros((k, max_steps, batch_size), dtype=np.int64)
    counts = np.zeros((k, max_steps), dtype=np.int64)
    for c, (ix, seed) in enumerate(zip(client_indices, seeds, strict=True)):
        n = len(ix)
        if n == 0:
            continue
        members[c, :n] = ix
        members[c, n:] = ix[0]
        per_epoch = -(-n // batch_size)
        gen = np.random.default_rng(int(seed))
        padded = np.zeros(per_epoch * batch_size, dtype=np.int64)
        epoch_counts = np.full(per_epoch, batch_size, dtype=np.int64)
        epoch_counts[-1] = n - (per_epoch - 1) * batch_size
        for e in range(local_epochs):
            padded[:n] = gen.permutation(n) if shuffle else np.arange(n)
            positions[c, e * per_epoch:(e + 1) * per_epoch] = padded.reshape(per_epoch, batch_size)
            counts[c, e * per_epoch:(e + 1) * per_epoch] = epoch_counts
    return BatchPlan(members=members, sizes=sizes, positions=positions, counts=counts, steps=steps)


def sample_weights(counts: np.ndarray, batch_size: int) -> np.ndarray:
    """float32 (..., batch_size): 1/count for the real samples of a batch, 0 for padding (so the weighted sum of
    per-sample losses is the batch mean)."""
    slot = np.arange(batch_size)
    real = slot < counts[..., None]
    with np.errstate(divide="ignore"):
        inv = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    return (real * inv[..., None]).astype(np.float32)


# ------------------------------------------------------------------------------------------------ functional optimisers


def sgd_update_(param: torch.Tensor, grad: torch.Tensor, buf: torch.Tensor | None, *, lr: float,
                momentum: float) -> None:
    """torch.optim.SGD step in place: buf = momentum * buf + grad (buf starts at 0); param -= lr * buf."""
    if buf is None:
        param.add_(grad, alpha=-lr)
        return
    buf.mul_(momentum).add_(grad)
    param.add_(buf, alpha=-lr)


def adam_update_(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor, *,
                 step: int, lr: float, beta1: float, beta2: float, eps: float, scratch: torch.Tensor | None = None
                 ) -> None:
    """torch.optim.Adam step in place (``step`` counts from 1)."""
    exp_avg.lerp_(grad, 1.0 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
    bias1 = 1.0 - beta1**step
    bias2_sqrt = math.sqrt(1.0 - beta2**step)
    denom = torch.sqrt(exp_avg_sq, out=scratch) if scratch is not None else exp_avg_sq.sqrt()
    denom.div_(bias2_sqrt).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / bias1)
