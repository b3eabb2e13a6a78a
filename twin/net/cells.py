"""Radio cells as resources of the flow engine: a base station shares its air time among its active users.

A :class:`Cell` has two independent directions, :class:`CellDirection` ``dl`` and ``ul`` (FDD-like: the downlink and
the uplink each have all their air time). A direction's capacity is 1 (all its air time); a flow of user u uses
``1 / r_u`` of it per bit/s of goodput, ``r_u`` being u's *full-cell rate*: the rate u would get alone in the cell at
its current SINR (spectral efficiency x bandwidth x overheads, set by the access layer every mobility step with
:meth:`CellDirection.set_rate`). The resource is ``time_fair``: users bottlenecked in the cell get equal air time
(round robin), so n users of equal SINR each get ``r / n`` and a user at the cell edge is slower than one near the
site; see :mod:`twin.net.fairness` for how this meets wired max-min fairness on the backhaul.

A user without a rate in a cell (no coverage, or a handover in progress) has an infinite coefficient: its flows stall at
rate 0 until the access layer gives it a rate or re-routes them (:meth:`FlowNetwork.reroute`). A :class:`NoCoverage`
resource stands in the route while a user has no cell at all (or is between two cells during a handover).

Flows name their user in ``flow.user`` (the FL round process sets it to the client's name).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from twin.net.flow import Flow


class CellDirection:
    """One direction (``dl`` or ``ul``) of a cell: capacity 1 (all the air time), shared in equal air time.

    ``shared=False`` (DRIVE's model, ``radio.sharing: none``): the cell limits nobody (coefficient 0 for a user with a
    rate, so it carries no load); each user's rate is held by its own :class:`UserLink` on the route instead."""

    time_fair = True

    def __init__(self, name: str, *, latency_s: float = 0.0, shared: bool = True) -> None:
        if latency_s < 0:
            raise ValueError(f"cell {name}: latency_s must be non-negative, got {latency_s}")
        self.name = name
        self.capacity = 1.0
        self.latency_s = float(latency_s)
        self.shared = bool(shared)
        self.rates_bps: dict[str, float] = {}

    def set_rate(self, user: str, rate_bps: float) -> None:
        """The full-cell goodput of ``user`` now (bit/s; 0 = cannot be served: its flows stall)."""
        if not rate_bps >= 0:
            raise ValueError(f"cell {self.name}: rate of {user} must be >= 0, got {rate_bps}")
        self.rates_bps[user] = float(rate_bps)

    def remove(self, user: str) -> None:
        self.rates_bps.pop(user, None)

    def coefficient(self, flow: Flow) -> float:
        rate = self.rates_bps.get(flow.user, 0.0) if flow.user is not None else 0.0
        if rate > 0:
            return 1.0 / rate if self.shared else 0.0
        return math.inf

    def __repr__(self) -> str:
        return f"CellDirection({self.name!r}, {len(self.rates_bps)} users)"


class UserLink(CellDirection):
    """One user's own radio link in one direction (``radio.sharing: none``): its flows together get at most its full
    link rate, whatever the other users of the cell do (DRIVE gives every vehicle the full rate of its link)."""

    time_fair = False  # one user: plain max-min among its own flows


class NoCoverage:
    """A placeholder resource for a user with no cell: every flow on it stalls (infinite coefficient)."""

    time_fair = False

    def __init__(self, name: str = "no-coverage") -> None:
        self.name = name
        self.capacity = 1.0
        self.latency_s = 0.0

    def coefficient(self, flow: Flow) -> float:
        return math.inf

    def __repr__(self) -> str:
        return f"NoCoverage({self.name!r})"


@dataclass
class Cell:
    """A base station: its two air-time resources and where it sits (``node``: its node in the wired graph)."""

    index: int
    name: str
    node: str
    dl: CellDirection = field(repr=False)
    ul: CellDirection = field(repr=False)

    @classmethod
    def make(cls, index: int, name: str, node: str, *, latency_s: float = 0.0, shared: bool = True) -> Cell:
        return cls(index, name, node, CellDirection(f"{name}.dl", latency_s=latency_s, shared=shared),
                   CellDirection(f"{name}.ul", latency_s=latency_s, shared=shared))

    def set_rates(self, user: str, dl_bps: float, ul_bps: float) -> None:
        self.dl.set_rate(user, dl_bps)
        self.ul.set_rate(user, ul_bps)

    def remove(self, user: str) -> None:
        self.dl.remove(user)
        self.ul.remove(user)


def coefficients(directions: list[CellDirection], owner: np.ndarray, users: list[str | None]) -> np.ndarray:
    """``directions[owner[i]].coefficient`` of a flow of ``users[i]`` for every i, in one batch (the engine's
    ``resources_changed`` re-reads every changed cell's flows with it)."""
    gets = [d.rates_bps.get for d in directions]
    rate = np.fromiter((gets[o](u, 0.0) if u is not None else 0.0 for o, u in zip(owner.tolist(), users, strict=True)),
                       dtype=np.float64, count=len(users))
    shared = np.fromiter((d.shared for d in directions), dtype=bool, count=len(directions))[owner]
    with np.errstate(divide="ignore"):
        return np.where(rate > 0, np.where(shared, 1.0 / rate, 0.0), math.inf)
