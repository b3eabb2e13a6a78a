"""The simulation's environment and the parts it runs: :class:`TwinEnv`, :class:`Client` and :class:`TwinParts`.

Phases (as in desmod): validate (pydantic, before the twin is built) -> build (``twin.sim.build``, the composition
root, which creates the environment and builds every part once) -> freeze (:meth:`TwinEnv.freeze` stores the parts
as one frozen :class:`TwinParts` record) -> run (``twin.sim.runner``) -> close (every cleanup, once).

Routes belong to the access layer (:class:`AccessLayer`): the round process asks it for a client's route when a
transfer starts; clients themselves carry no route.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import networkx as nx
import numpy as np
import pandas as pd
import simpy

from twin.fl.selection import select_clients
from twin.fl.stopping import StopRule
from twin.net.engine import FlowNetwork
from twin.net.flow import Resource
from twin.recording.recorder import Recorder
from twin.scenario.schema import ScenarioConfig
from twin.sim.tags import Direction
from twin.sim.workload import RoundOutcome, Workload


@dataclass(frozen=True)
class Client:
    """An FL client: its index, name, where it sits (a graph node, or the vehicle that carries it) and how fast it
    computes."""

    index: int
    name: str
    node: str
    flops_per_s: float


class AccessLayer(Protocol):
    """Owns the clients' routes: the wired routes, or the radio access network (``twin.sim.access.Access``)."""

    def route_of(self, client: int, direction: Direction) -> Sequence[Resource]:
        """The route a transfer of client ``client`` (its index) takes if it starts now."""

    @property
    def reachable(self) -> np.ndarray:
        """[n_clients] bool: which clients can be selected now (radio: they have, or are handing over to, a cell)."""

    def stalls(self, client: int, since: float) -> list[tuple[float, float, str]]:
        """The client's stalls since ``since``: (from, to, reason) in time order (wired: none)."""

    def stalled_now(self, client: int) -> str | None:
        """The reason of the client's stall under way, or None."""

    def available(self, client: int) -> bool:
        """False once the client has left the simulation (its vehicle's trip ended)."""


@dataclass(frozen=True)
class TwinParts:
    """Everything a run needs, built once before time starts.

    ``graph``: the wired topology (radio: with a node ``bs.K`` per base station); ``server``: its server node;
    ``network``: the flow engine with every resource registered; ``clients``; ``access``: the routes;
    ``workload``: bytes, FLOPs and learning per participation; ``schedule``: clients per round (read-only);
    ``stop_rule`` (workload and stop rule are None and the schedule empty in a run without FL); ``extra_tables``: more run-folder tables (radio: cells, roads, coverage); ``cleanups``: released
    once by :meth:`TwinEnv.close` (a live SUMO, temporary files); ``availability`` and ``hierarchy``: the clients'
    on/off intervals and the edge aggregators, when the scenario has them.
    """

    graph: nx.DiGraph
    server: str
    network: FlowNetwork
    clients: tuple[Client, ...]
    access: AccessLayer
    workload: Workload | None
    schedule: np.ndarray
    stop_rule: StopRule | None
    extra_tables: Mapping[str, pd.DataFrame]
    cleanups: ExitStack
    traffic: Any = None  # twin.sim.traffic.Traffic: scripted and background sources (typed loosely: no import cycle)
    availability: Any = None  # twin.sim.availability.ClientAvailability (fl.availability), or None: always on
    hierarchy: Any = None  # twin.sim.hierarchy.Hierarchy (fl.hierarchy), or None: flat FL

    def __post_init__(self) -> None:
        self.schedule.flags.writeable = False


class TwinEnv(simpy.Environment):
    """A SimPy environment that carries the scenario, the recorder, the seeded random streams and, once built, the
    frozen parts (:attr:`parts`; the usual ones also as attributes: ``env.network``, ``env.clients``, ...)."""

    def __init__(self, config: ScenarioConfig, *, base_dir: Path | None = None) -> None:
        super().__init__()
        # SimPy binds env.timeout, env.event, env.process ... to the instance only for the BoundClass attributes of
        # the instance's own class: a subclass would build a bound method at every call. Bind the inherited ones too.
        for name, obj in vars(simpy.Environment).items():
            if type(obj) is simpy.core.BoundClass and name not in vars(self):
                setattr(self, name, getattr(self, name))
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        self.recorder = Recorder()
        self.finished_reason = ""  # set by the server process when the run ends
        self.round_in_progress: int | None = None  # the FL round under way (set by the server process)
        self._selection_rng = self.rng("selection")
        self._parts: TwinParts | None = None

    def timeout_at(self, t: float) -> simpy.Event:
        """An event that fires at the absolute time ``t`` (>= now), as a timeout would. ``env.timeout(t - now)`` can
        miss ``t`` by a rounding step: SimPy adds the delay to the clock, and ``now + (t - now)`` need not be ``t``
        (nor need any delay reach it: the sum can fall exactly between two floats and round away from ``t``). Put in
        SimPy's queue as ``Environment.schedule`` puts a timeout (time, priority, order, event)."""
        if not t >= self._now:
            raise ValueError(f"timeout_at({t!r}) is before now ({self._now!r})")
        event = simpy.Event(self)
        event._ok, event._value = True, None
        heapq.heappush(self._queue, (t, simpy.core.NORMAL, next(self._eid), event))
        return event

    def rng(self, component: str) -> np.random.Generator:
        """An independent random stream per named component: adding a component never shifts another's stream."""
        seq = np.random.SeedSequence(self.config.seed, spawn_key=(zlib.crc32(component.encode()),))
        return np.random.default_rng(seq)

    # ----------------------------------------------------------------------------------------------------- parts

    def freeze(self, parts: TwinParts) -> None:
        """Store the built parts; once only, before the run."""
        if self._parts is not None:
            raise RuntimeError("TwinEnv.freeze: the parts are already set")
        self._parts = parts

    @property
    def parts(self) -> TwinParts:
        if self._parts is None:
            raise RuntimeError("TwinEnv: not built yet (use twin.sim.build.build)")
        return self._parts

    @property
    def network(self) -> FlowNetwork:
        return self.parts.network

    @property
    def clients(self) -> tuple[Client, ...]:
        return self.parts.clients

    @property
    def access(self) -> AccessLayer:
        return self.parts.access

    @property
    def workload(self) -> Workload | None:
        return self.parts.workload

    @property
    def cohort_sizes(self) -> np.ndarray:
        return self.parts.schedule

    @property
    def server(self) -> str:
        return self.parts.server

    @property
    def graph(self) -> nx.DiGraph:
        return self.parts.graph

    @property
    def extra_tables(self) -> Mapping[str, pd.DataFrame]:
        return self.parts.extra_tables

    @property
    def reachable(self) -> np.ndarray:
        return self.parts.access.reachable

    # ------------------------------------------------------------------------------------------------ decisions

    @property
    def selection_rng(self) -> np.random.Generator:
        """The selection stream (every policy of ``fl.selection`` draws from it)."""
        return self._selection_rng

    def select(self, k: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Client indices for one round: uniform among reachable clients (or those in ``mask``), with or without
        replacement."""
        candidates = self.reachable if mask is None else mask
        picked = select_clients(k, candidates, self._selection_rng, replace=self.config.fl.replacement)
        ids = picked.client_ids
        return ids if self.config.fl.replacement else np.sort(ids)

    def stop_reason(self, round_: int, outcome: RoundOutcome, now: float) -> str | None:
        return self.parts.stop_rule.should_stop(round_, outcome.accuracy, now)

    def close(self) -> None:
        """Run every cleanup (each once; also when the run failed)."""
        if self._parts is not None:
            self._parts.cleanups.close()
