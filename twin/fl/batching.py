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

from twin.fl import round_kernels
from twin.fl.seeding import SeededStreams, seed_words, seeds_match_numpy


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
    """Build the batch plan of a group of clients (see the module docstring).

    Client ``c`` shuffles with ``np.random.default_rng(seeds[c])``, one ``permutation`` of its n rows per epoch: every
    client in one compiled call (:func:`twin.fl.round_kernels.shuffle_plan`, the same draws), or, where that does not
    apply (no numba, a numpy that draws differently), with :class:`SeededStreams` (the same draws without building a
    generator each); everything else is filled for the whole group at once."""
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    steps = steps_per_client(sizes, local_epochs=local_epochs, batch_size=batch_size)
    k, max_steps = len(sizes), int(steps.max(initial=0))
    if len(seeds) != k:
        raise ValueError(f"make_plan: {k} clients but {len(seeds)} seeds")
    members = np.zeros((k, max(int(sizes.max(initial=0)), 1)), dtype=np.int64)
    if k == 0 or max_steps == 0:
        return BatchPlan(members=members, sizes=sizes, positions=np.zeros((k, max_steps, batch_size), dtype=np.int64),
                         counts=np.zeros((k, max_steps), dtype=np.int64), steps=steps)
    # members: each client's rows, padded with its first one
    filled = sizes > 0
    rows = np.concatenate([np.asarray(ix, dtype=np.int64) for ix in client_indices])
    starts = np.cumsum(sizes) - sizes
    members[filled] = rows[starts[filled]][:, None]
    owner = np.repeat(np.arange(k), sizes)
    members[owner, np.arange(rows.size) - starts[owner]] = rows
    # per step: its batch's real samples (full batches, the epoch's last one partial, 0 after the last step)
    per_epoch = -(-sizes // batch_size)
    step = np.arange(max_steps)
    last = sizes - (per_epoch - 1) * batch_size
    in_epoch = step % np.maximum(per_epoch, 1)[:, None]
    counts = np.where(step < steps[:, None], np.where(in_epoch == (per_epoch - 1)[:, None], last[:, None], batch_size),
                      0)
    # positions: per epoch the positions 0..n-1 (then shuffled in place, as permutation(n) would), padding 0
    epoch_len = np.maximum(per_epoch * batch_size, 1)[:, None]
    slot = np.arange(max_steps * batch_size)
    within = slot % epoch_len
    flat = np.where((slot < local_epochs * epoch_len) & (within < sizes[:, None]), within, 0)
    seeds = np.asarray(seeds, dtype=np.int64)
    if shuffle and seeds.min() >= 0 and seeds_match_numpy() and round_kernels.shuffles_match_numpy():
        # every client's epochs in one compiled call (twin.fl.round_kernels), the same draws
        round_kernels.shuffle_plan(seed_words(seeds), sizes, flat, epoch_len[:, 0], local_epochs)
    elif shuffle:
        streams = SeededStreams(seeds)
        for c in np.flatnonzero(sizes > 1).tolist():
            gen, n, length, row = streams.stream(c), int(sizes[c]), int(epoch_len[c, 0]), flat[c]
            for e in range(local_epochs):
                gen.shuffle(row[e * length:e * length + n])
    return BatchPlan(members=members, sizes=sizes, positions=flat.reshape(k, max_steps, batch_size), counts=counts,
                     steps=steps)


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
