"""The numbers and the learning of asynchronous FL: per participation the bytes and FLOPs, per server step the
aggregation of the arrived updates, over the model versions the clients started from.

Timing never waits on training: what a participation downloads, computes and uploads is known when it starts (the
codecs' closed-form sizes, the trainer's sample counts), so the event loop runs on those numbers alone. The training
itself happens between events, at the server step that ends a model version: every client that started from version
``v`` (and is still training or has arrived) is trained then, as one vectorised cohort in the order the clients
started, from ``v``. An update is therefore computed before it is applied (its version ended no later than the step
that consumes it), and the result depends on the seed and the event order only, never on how fast torch runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from twin.fl.strategies.asynchronous import AsyncStrategy, AsyncUpdate
from twin.sim.workload import FixedWorkload, RoundOutcome, Workload


@dataclass(frozen=True)
class Cost:
    """What one participation moves and computes: bytes down, FLOPs, bytes up."""

    down: float
    flops: float
    up: float


class AsyncWork:
    """Model versions, participations and server steps over a :class:`~twin.sim.workload.Workload`: the real
    federation (:class:`twin.sim.federation.FederatedWorkload`) or the fixed stand-in (timing only)."""

    def __init__(self, workload: Workload, strategy: AsyncStrategy | None) -> None:
        self.workload = workload
        self.strategy = strategy
        self.learns = strategy is not None and not isinstance(workload, FixedWorkload) and workload.train_enabled
        self.version = -1
        self._bases: dict[int, torch.Tensor] = {}  # version -> the model its clients start from
        self._down: dict[int, float] = {}  # version -> broadcast bytes
        self._users: dict[int, int] = {}  # version -> participations not yet applied or dropped
        self._open: list[tuple[int, int]] = []  # (seq, client) that started from the current version, untrained
        self._trained: dict[int, tuple[torch.Tensor, float]] = {}  # seq -> (update, training loss)
        self._client: dict[int, int] = {}  # seq -> client
        self._seq_version: dict[int, int] = {}
        if self.learns:
            sizes = workload.sizes
            self.mean_examples = float(np.mean(sizes)) if len(sizes) else 1.0

    # ---------------------------------------------------------------------------------------------- versions

    def open_version(self) -> None:
        """A new global model exists (at the start, and after every server step): the next clients start from it."""
        self.version += 1
        v = self.version
        self._users[v] = 0
        if self.learns:
            self._bases[v], self._down[v] = self.workload.broadcast(self.workload.global_flat)
        else:
            self._down[v] = float(self.workload.download_bytes(v))

    def start(self, seq: int, client: int) -> Cost:
        """Participation ``seq`` of ``client`` starts from the current version: its bytes and FLOPs."""
        v = self.version
        self._users[v] += 1
        self._client[seq] = client
        self._seq_version[seq] = v
        wl = self.workload
        if isinstance(wl, FixedWorkload):
            return Cost(wl.size_bytes, wl.flops, wl.update_size)
        self._open.append((seq, client))
        flops = float(wl.participation_flops(np.array([client]))[0])
        return Cost(float(self._down[v]), flops, float(wl.up_codec.nbytes(wl.numel)))

    def forget(self, seq: int) -> None:
        """Participation ``seq`` was dropped: its update (trained or not) is never applied."""
        self._open = [(s, c) for s, c in self._open if s != seq]
        self._trained.pop(seq, None)
        self._release(seq)

    def _release(self, seq: int) -> None:
        v = self._seq_version.pop(seq)
        self._client.pop(seq)
        self._users[v] -= 1
        if self._users[v] == 0 and v != self.version:
            self._users.pop(v)
            self._bases.pop(v, None)
            self._down.pop(v, None)

    def _train_open(self) -> None:
        if not self._open or not self.learns:
            self._open.clear()
            return
        seqs = [s for s, _ in self._open]
        clients = np.array([c for _, c in self._open], dtype=np.int64)
        self._open.clear()
        trained = self.workload.train_updates(self._bases[self.version], clients)
        for seq, (update, _nbytes, loss) in zip(seqs, trained, strict=True):
            self._trained[seq] = (update, loss)

    # -------------------------------------------------------------------------------------------- server step

    def server_flops(self, step: int, n_updates: int) -> float:
        return float(self.workload.server_flops(step, [None] * n_updates))

    def apply(self, step: int, seqs: list[int]) -> tuple[RoundOutcome, list[int]]:
        """Server step ``step`` on the arrived participations ``seqs`` (in this order): ends the current version
        (trains its clients), aggregates, evaluates. Returns the outcome and each update's staleness."""
        staleness = [self.version - self._seq_version[s] for s in seqs]
        self._train_open()
        extra: dict[str, float] = {}
        if self.learns:
            wl = self.workload
            updates = [AsyncUpdate(delta=self._trained[s][0], num_examples=int(wl.sizes[self._client[s]]),
                                   staleness=tau, base=self._bases[self._seq_version[s]])
                       for s, tau in zip(seqs, staleness, strict=True)]
            wl.global_flat = self.strategy.apply(wl.global_flat, updates, mean_examples=self.mean_examples)
            losses = [self._trained[s][1] for s in seqs if math.isfinite(self._trained[s][1])]
            extra["train_loss"] = float(np.mean(losses)) if losses else math.nan
        for s in seqs:
            self._trained.pop(s, None)
            self._release(s)
        old = self.version
        if self.learns:
            outcome = self.workload.evaluation(step, extra)
        else:
            outcome = RoundOutcome(extra=extra)
        if self._users.get(old) == 0:
            self._users.pop(old)
            self._bases.pop(old, None)
            self._down.pop(old, None)
        return outcome, staleness
