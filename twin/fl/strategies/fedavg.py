"""FedAvg (McMahan et al., AISTATS 2017) with a server learning rate.

``x <- x + server_lr * delta``; with ``server_lr = 1`` this is plain weighted averaging of the client models.
"""

from __future__ import annotations

import torch

from twin.fl.strategies.base import Strategy


def fedavg_step(global_flat: torch.Tensor, avg_delta: torch.Tensor, server_lr: float) -> torch.Tensor:
    """One FedAvg server step: ``global + server_lr * avg_delta``."""
    return global_flat + server_lr * avg_delta


class FedAvg(Strategy):
    """FedAvg. Fields: weighting ("num_examples" | "uniform"), server_lr (1.0 = plain averaging)."""

    kind = "fedavg"

    def __init__(self, *, weighting: str = "num_examples", server_lr: float = 1.0) -> None:
        super().__init__(weighting=weighting, server_lr=server_lr)

    def _server_step(self, global_flat, avg_delta):
        return fedavg_step(global_flat, avg_delta, self.server_lr)
