"""Schema classes of the asynchronous strategies (implementations in ``twin/fl/strategies/asynchronous.py``, the
server process in ``twin/sim/async_rounds.py``; equations in ``docs/fl-algorithms.md``, timing in ``docs/fl.md``).

An asynchronous strategy has no rounds: up to ``concurrency`` clients train at once, each from the model version that
was current when it started, and the server applies updates as they arrive (``fedasync``: every arrival;
``fedbuff``: every ``buffer_size`` arrivals), down-weighting stale ones by ``staleness``. ``fl.rounds`` caps the
server steps. Both default to ``weighting: uniform``, as in the papers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, PositiveInt, model_validator

from twin.scenario.strategies import StrategySpec
from twin.scenario.types import Section
from twin.scenario.validators import Positive, Weighting, not_above


class ConstantStaleness(Section):
    """``s(tau) = 1``: every update counts fully, however stale."""

    kind: Literal["constant"] = "constant"


class PolynomialStaleness(Section):
    """``s(tau) = (1 + tau)^-a`` (Xie et al. 2019; FedBuff's ``1 / sqrt(1 + tau)`` is ``a: 0.5``)."""

    kind: Literal["polynomial"]
    a: Positive = 0.5


class HingeStaleness(Section):
    """``s(tau) = 1`` for ``tau <= b``, else ``1 / (a (tau - b) + 1)`` (Xie et al. 2019: ``a: 10, b: 4``)."""

    kind: Literal["hinge"]
    a: Positive = 10.0
    b: Annotated[int, Field(ge=0)] = 4


Staleness = Annotated[ConstantStaleness | PolynomialStaleness | HingeStaleness, Field(discriminator="kind")]


class AsyncStrategySpec(StrategySpec):
    """What both asynchronous strategies share: how many clients train at once, and the staleness function."""

    asynchronous: ClassVar[bool] = True
    weighting: Weighting = "uniform"
    concurrency: PositiveInt = 100
    staleness: Staleness = PolynomialStaleness(kind="polynomial")
    refill: Literal["immediate", "at_step"] = "immediate"


class FedAsync(AsyncStrategySpec):
    """FedAsync (Xie, Koyejo and Gupta 2019): every arrival mixes the client's model into the global one,
    ``x <- (1 - alpha) x + alpha x_client`` with ``alpha = mixing * s(staleness)``."""

    kind: Literal["fedasync"]
    mixing: Annotated[float, Field(gt=0, le=1)] = 0.6


class FedBuff(AsyncStrategySpec):
    """FedBuff (Nguyen et al., AISTATS 2022): the server steps ``x <- x + server_lr * sum_i w_i s(tau_i) delta_i``
    when ``buffer_size`` updates are buffered."""

    kind: Literal["fedbuff"]
    buffer_size: PositiveInt = 10

    @model_validator(mode="after")
    def _buffer_fits(self) -> FedBuff:
        not_above(self, "buffer_size", "concurrency",
                  hint="the buffer fills from the clients training at once; lower buffer_size or raise concurrency")
        return self
