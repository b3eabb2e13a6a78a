"""Registry of aggregation strategies: ``make_strategy(kind, **params)``.

Every module of :mod:`twin.fl.strategies` that defines a :class:`~twin.fl.strategies.base.Strategy` subclass with a
``kind`` adds that strategy (:func:`twin.fl.registry.discover`); no list here to edit.
"""

from __future__ import annotations

from twin.fl.registry import build, discover
from twin.fl.strategies.base import Strategy

STRATEGIES: dict[str, type[Strategy]] = discover("twin.fl.strategies", Strategy)


def make_strategy(kind: str, **params) -> Strategy:
    """Build a strategy by kind (one of :data:`STRATEGIES`) with its schema fields as keyword arguments."""
    return build(STRATEGIES, kind, "strategy", params)
