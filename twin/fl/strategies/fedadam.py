"""FedAdam (Reddi et al., "Adaptive Federated Optimization", ICLR 2021, Algorithm 2).

With the averaged client delta ``d``:

    m <- beta1 m + (1 - beta1) d
    v <- beta2 v + (1 - beta2) d^2
    x <- x + server_lr * m / (sqrt(v) + tau)

No bias correction (as in the paper). Initial state ``m = 0``, ``v = tau^2`` (the paper's ``v_{-1} >= tau^2``).
Defaults: beta1 0.9, beta2 0.99, tau 1e-3, server_lr 0.1 (the paper tunes server_lr and tau per task).
"""

from __future__ import annotations

import torch

from twin.fl.strategies.base import Strategy


def fedadam_step(
    global_flat: torch.Tensor,
    avg_delta: torch.Tensor,
    m: torch.Tensor | None,
    v: torch.Tensor | None,
    *,
    server_lr: float,
    beta1: float,
    beta2: float,
    tau: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One FedAdam server step; returns (new global, m, v). ``m`` None means zeros, ``v`` None means ``tau**2``."""
    m_prev = torch.zeros_like(avg_delta) if m is None else m
    v_prev = torch.full_like(avg_delta, tau * tau) if v is None else v
    m_new = beta1 * m_prev + (1.0 - beta1) * avg_delta
    v_new = beta2 * v_prev + (1.0 - beta2) * avg_delta * avg_delta
    return global_flat + server_lr * m_new / (torch.sqrt(v_new) + tau), m_new, v_new


class FedAdam(Strategy):
    """FedAdam. Fields: weighting, server_lr, beta1, beta2 in [0, 1), tau > 0."""

    kind = "fedadam"

    def __init__(
        self,
        *,
        weighting: str = "num_examples",
        server_lr: float = 0.1,
        beta1: float = 0.9,
        beta2: float = 0.99,
        tau: float = 1e-3,
    ) -> None:
        super().__init__(weighting=weighting, server_lr=server_lr)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.tau = float(tau)
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        self.m = self.v = None

    def _server_step(self, global_flat, avg_delta):
        self._check_state(self.m, global_flat.numel())
        new, self.m, self.v = fedadam_step(
            global_flat,
            avg_delta,
            self.m,
            self.v,
            server_lr=self.server_lr,
            beta1=self.beta1,
            beta2=self.beta2,
            tau=self.tau,
        )
        return new

    def _params(self):
        return {**super()._params(), "beta1": self.beta1, "beta2": self.beta2, "tau": self.tau}
