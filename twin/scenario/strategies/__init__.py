"""Schema classes of the aggregation strategies; ``builtin`` holds the shipped ones.

A new strategy is a module here with a subclass of :class:`StrategySpec` (fields = the implementation's keyword
arguments, same defaults) next to its implementation module in ``twin/fl/strategies/``; ``fl.strategy`` accepts it at
once (:mod:`twin.scenario.plugins`).
"""

from __future__ import annotations

from twin.scenario.types import Section
from twin.scenario.validators import Positive, Weighting


class StrategySpec(Section):
    """Base of a strategy's schema class: how client deltas are weighted, and the server learning rate."""

    kind: str  # each subclass narrows it to its literal(s), which the union discriminates on
    weighting: Weighting = "num_examples"
    server_lr: Positive = 1.0
