"""Aggregation strategies (one per module) behind a Flower-like :class:`Strategy` interface."""

from twin.fl.strategies.base import (
    AggregateInfo,
    ClientResult,
    Strategy,
    client_weights,
    flatten,
    unflatten,
    weighted_average,
)
from twin.fl.strategies.fedadam import FedAdam, fedadam_step
from twin.fl.strategies.fedavg import FedAvg, fedavg_step
from twin.fl.strategies.fedavgm import FedAvgM, fedavgm_step
from twin.fl.strategies.registry import STRATEGIES, make_strategy

__all__ = [
    "AggregateInfo",
    "ClientResult",
    "FedAdam",
    "FedAvg",
    "FedAvgM",
    "STRATEGIES",
    "Strategy",
    "client_weights",
    "fedadam_step",
    "fedavg_step",
    "fedavgm_step",
    "flatten",
    "make_strategy",
    "unflatten",
    "weighted_average",
]
