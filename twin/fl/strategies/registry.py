"""Registry of aggregation strategies: ``make_strategy(kind, **params)``."""

from __future__ import annotations

import inspect

from twin.fl.strategies.base import Strategy
from twin.fl.strategies.fedadam import FedAdam
from twin.fl.strategies.fedavg import FedAvg
from twin.fl.strategies.fedavgm import FedAvgM

STRATEGIES: dict[str, type[Strategy]] = {cls.kind: cls for cls in (FedAvg, FedAvgM, FedAdam)}


def make_strategy(kind: str, **params) -> Strategy:
    """Build a strategy by name: fedavg | fedavgm | fedadam. Unknown names or parameters -> ValueError."""
    if not isinstance(kind, str) or kind not in STRATEGIES:
        raise ValueError(f"strategy kind must be one of {', '.join(STRATEGIES)}; got {kind!r}")
    cls = STRATEGIES[kind]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for name in params:
        if name not in accepted:
            raise ValueError(f"{name}: unknown parameter for strategy {kind!r} (it takes {', '.join(accepted)})")
    return cls(**params)
