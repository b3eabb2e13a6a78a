"""The shipped strategies (implementations in ``twin/fl/strategies/``; equations in ``docs/fl-algorithms.md``)."""

from __future__ import annotations

from typing import Literal

from twin.scenario.strategies import StrategySpec
from twin.scenario.validators import Decay, Positive


class FedAvg(StrategySpec):
    """FedAvg (McMahan et al. 2017) with a server learning rate (1.0: plain averaging)."""

    kind: Literal["fedavg"] = "fedavg"


class FedAvgM(StrategySpec):
    """FedAvg with server momentum (Hsu et al. 2019)."""

    kind: Literal["fedavgm"]
    momentum: Decay = 0.9


class FedAdam(StrategySpec):
    """FedAdam (Reddi et al., ICLR 2021): the paper's defaults."""

    kind: Literal["fedadam"]
    server_lr: Positive = 0.1
    beta1: Decay = 0.9
    beta2: Decay = 0.99
    tau: Positive = 1e-3
