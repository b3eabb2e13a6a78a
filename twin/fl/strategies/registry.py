"""Registry of aggregation strategies: ``make_strategy(kind, **params)``."""

from __future__ import annotations

from twin.fl.registry import build
from twin.fl.strategies.base import Strategy
from twin.fl.strategies.fedadam import FedAdam
from twin.fl.strategies.fedavg import FedAvg
from twin.fl.strategies.fedavgm import FedAvgM

STRATEGIES: dict[str, type[Strategy]] = {cls.kind: cls for cls in (FedAvg, FedAvgM, FedAdam)}


def make_strategy(kind: str, **params) -> Strategy:
    """Build a strategy by name: fedavg | fedavgm | fedadam. Unknown names or parameters -> ValueError."""
    return build(STRATEGIES, kind, "strategy", params)
