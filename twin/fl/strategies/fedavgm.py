"""FedAvgM: FedAvg with server momentum (Hsu, Qi and Brown, 2019).

``buf <- momentum * buf + delta`` (``buf`` starts at 0, so the first round's ``buf`` is ``delta``), then
``x <- x + server_lr * buf``. Written for the delta (the negative of Hsu et al.'s pseudo-gradient), so it matches Flower's
FedAvgM step for step.
"""

from __future__ import annotations

import torch

from twin.fl.strategies.base import Strategy


def fedavgm_step(
    global_flat: torch.Tensor, avg_delta: torch.Tensor, buf: torch.Tensor | None, server_lr: float, momentum: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One FedAvgM server step; returns (new global, new momentum buffer). ``buf`` None means zeros."""
    new_buf = avg_delta.clone() if buf is None else momentum * buf + avg_delta
    return global_flat + server_lr * new_buf, new_buf


class FedAvgM(Strategy):
    """FedAvg with server momentum. Fields: weighting, server_lr, momentum in [0, 1) (0 = FedAvg)."""

    kind = "fedavgm"

    def __init__(self, *, weighting: str = "num_examples", server_lr: float = 1.0, momentum: float = 0.9) -> None:
        super().__init__(weighting=weighting, server_lr=server_lr)
        self.momentum = float(momentum)
        self.buf: torch.Tensor | None = None

    def reset(self) -> None:
        self.buf = None

    def _server_step(self, global_flat, avg_delta):
        self._check_state(self.buf, global_flat.numel())
        new, self.buf = fedavgm_step(global_flat, avg_delta, self.buf, self.server_lr, self.momentum)
        return new

    def _params(self):
        return {**super()._params(), "momentum": self.momentum}
