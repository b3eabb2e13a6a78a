"""What a round asks of the network and the clients: bytes down, local work, bytes up, and what the server learns.

The round process (``twin.sim.rounds``) only schedules; a workload supplies the numbers. :class:`FixedWorkload` is the
stand-in of a given model size and local work (communication studies, ``fl.train: false``); the real PyTorch
federation plugs in through the same protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Participation:
    """One selected client in one round. With sampling with replacement a client can hold several slots."""

    client: int
    slot: int


@dataclass
class RoundOutcome:
    """What the server knows at the end of a round (NaN where nothing was evaluated)."""

    accuracy: float = math.nan
    loss: float = math.nan
    extra: dict[str, float] = field(default_factory=dict)


class Workload(Protocol):
    def download_bytes(self, round_: int) -> float: ...

    def train_flops(self, round_: int, p: Participation) -> float: ...

    def upload_bytes(self, round_: int, p: Participation) -> float: ...

    def server_flops(self, round_: int, completed: list[Participation]) -> float: ...

    def begin_round(self, round_: int, selected: list[Participation]) -> None: ...

    def end_round(self, round_: int, completed: list[Participation], dropped: list[Participation]) -> RoundOutcome:
        ...

    def expected_flops(self, clients: np.ndarray) -> np.ndarray:
        """Local work (FLOPs) of one participation of each of ``clients``, known before anyone trains."""

    def expected_upload_bytes(self) -> float:
        """The size of an update before it is encoded (the codec's nominal size)."""

    def describe(self) -> dict[str, Any]:
        """What the run's summary says about the model and the data (``summary.json``, key ``fl``)."""

    def clients_table(self) -> pd.DataFrame | None:
        """Per-client data (column ``client`` = index; e.g. samples, labels) joined to ``clients.parquet``, or None."""


class FixedWorkload:
    """A model of fixed size: every client downloads ``size_bytes``, computes ``train_flops``, uploads ``update_bytes``."""

    def __init__(self, *, size_bytes: float, train_flops: float, update_bytes: float | None = None) -> None:
        self.size_bytes = float(size_bytes)
        self.update_size = float(size_bytes if update_bytes is None else update_bytes)
        self.flops = float(train_flops)

    def download_bytes(self, round_: int) -> float:
        return self.size_bytes

    def train_flops(self, round_: int, p: Participation) -> float:
        return self.flops

    def upload_bytes(self, round_: int, p: Participation) -> float:
        return self.update_size

    def server_flops(self, round_: int, completed: list[Participation]) -> float:
        return 0.0

    def begin_round(self, round_: int, selected: list[Participation]) -> None:
        return None

    def end_round(self, round_: int, completed: list[Participation], dropped: list[Participation]) -> RoundOutcome:
        return RoundOutcome()

    def expected_flops(self, clients: np.ndarray) -> np.ndarray:
        return np.full(len(clients), self.flops)

    def expected_upload_bytes(self) -> float:
        return self.update_size

    def describe(self) -> dict[str, Any]:
        return {"model": "fixed"}

    def clients_table(self) -> pd.DataFrame | None:
        return None
