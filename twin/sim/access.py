"""The access layer in simulated time: vehicles move, the radio is updated, clients attach, hand over and stall.

Every ``mobility.step_s`` the :class:`Access` process steps the mobility, the radio state (LOS, shadowing, received
power), the association (best server with hysteresis and time-to-trigger), the SINR with interference weighted by
each cell's current air-time use, and the full-cell rates, as whole arrays; it hands the attached clients' rates to
their cells (the ``rates_bps`` of :class:`twin.net.cells.CellDirection`, one update per cell direction), visits in
Python only the clients whose state changes, and tells the flow engine (``resources_changed``).

A client's flows follow its cell. On a handover its live flows stall for ``radio.handover_interruption_s`` (they are
moved onto a :class:`~twin.net.cells.NoCoverage` placeholder), then continue on the new cell (``reroute``): bytes
already sent stay sent. A client with no cell above the sensitivity floor stalls the same way until it finds one; the
FL round deadline decides whether it is dropped. Clients that have no cell (and are not between two cells) are not
reachable (:attr:`Access.reachable`), so ``env.select`` skips them. The access layer owns the clients' routes:
:meth:`Access.route_of` is the route a new transfer takes; flows already under way are moved by the layer itself.

An attached client whose full-cell rate in one direction is 0 keeps its cell, but its transfers in that direction stand
still (the flow engine gives a zero-rate user no air time) until the rate comes back: a ``stall`` with reason
``no_downlink`` (DL rate 0, whatever the UL) or ``no_uplink`` (only the UL rate 0). A client has at most one open stall:
when its cause changes (e.g. a ``no_uplink`` client hands over) the old one resumes and the new one starts at the same
instant. Timeline events: ``handover`` (client, cell, from_cell, interruption_s), ``stall`` (client, cell, reason
``handover`` / ``coverage`` / ``no_downlink`` / ``no_uplink``), ``resume`` (client, cell, stalled_s, and the reason of
the stall it ends). A client out of coverage from the start is simply unreachable (no stall event until it had a cell).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy

import twin.radio as radio
from twin.mobility.base import Mobility
from twin.net.cells import Cell, NoCoverage
from twin.net.engine import FlowNetwork
from twin.net.flow import Flow, Resource
from twin.radio.model import RadioModel
from twin.recording.recorder import Recorder
from twin.sim.tags import Direction, direction_of

_RATE_STALL = {None: 0, "no_downlink": 1, "no_uplink": 2}  # rate-stall codes (3: any other stall)


class Access:
    """Mobility + radio + association of a scenario's vehicles, and the routes of the clients riding on them."""

    def __init__(self, env: simpy.Environment, *, network: FlowNetwork, recorder: Recorder,
                 client_names: Sequence[str], mobility: Mobility, model: RadioModel, cells: list[Cell],
                 wired_down: list[list[Resource]], wired_up: list[list[Resource]], void: NoCoverage,
                 client_vehicle: np.ndarray, vehicle_names: list[str], step_s: float, interruption_s: float,
                 hysteresis_db: float, time_to_trigger_s: float, resource_index: list[int],
                 links: list[Cell] | None = None) -> None:
        self.env, self.network, self.recorder = env, network, recorder
        self.client_names = list(client_names)
        self.mobility, self.model, self.cells, self.void = mobility, model, cells, void
        self.routes_down = [wired + [c.dl] for wired, c in zip(wired_down, cells, strict=True)]
        self.routes_up = [[c.ul] + wired for wired, c in zip(wired_up, cells, strict=True)]
        self.links = links  # sharing none: each client's own link (UserLink pair) on its routes, next to the cell
        self.client_vehicle = np.asarray(client_vehicle, dtype=np.int64)
        self.vehicle_names = vehicle_names  # sample entity of each vehicle (its client's name, or vehicle.<id>)
        self.step_s, self.interruption_s = float(step_s), float(interruption_s)
        n, v = len(self.client_vehicle), model.n_vehicles
        self.cell = np.full(n, -1)  # the cell a client's routes use (-1: none)
        self.target = np.full(n, -1)  # handover target while interrupted
        self.stalled_since = np.full(n, np.nan)
        self.stall_reason: list[str | None] = [None] * n  # the cause of each client's open stall
        self._stalls: list[list[tuple[float, float, str]]] = [[] for _ in range(n)]  # per client: (from, to, reason)
        self._vehicle_of = {name: int(v) for name, v in zip(self.client_names, self.client_vehicle, strict=True)}
        self._gen = np.zeros(n, dtype=np.int64)
        self._names = np.array(self.client_names, dtype=object)
        self._completing: list[tuple[int, int]] = []  # (client, generation) of the handovers started this step
        self.assoc = radio.Association(v, hysteresis_db=hysteresis_db, time_to_trigger_s=time_to_trigger_s)
        self.serving = np.full(v, -1)
        self.sinr_dl, self.sinr_ul = np.full(v, -np.inf), np.full(v, -np.inf)
        self.rate_dl, self.rate_ul = np.zeros(v), np.zeros(v)
        self.resources = [c.dl for c in cells] + [c.ul for c in cells]
        self._air_index = {id(r): k for k, r in enumerate(self.resources)}
        self._dl_idx = np.asarray(resource_index[: len(cells)])
        self._ul_idx = np.asarray(resource_index[len(cells):])
        self._flows: dict[str, list[Flow]] | None = None
        self.n_handovers = 0
        self.n_stalls = 0
        self.prev_xy: np.ndarray | None = None

    # -------------------------------------------------------------------------------------------- processes

    def run(self) -> Generator[simpy.Event, Any, None]:
        """Process: step mobility and radio every ``step_s`` until the mobility source ends."""
        while not self.mobility.finished:
            yield self.env.timeout(self.step_s)
            self.prev_xy = np.array(self.mobility.positions_m)  # where the vehicles were a step ago (look-ahead)
            self.mobility.step(self.step_s)
            self.update(self.step_s)

    def sample(self, period_s: float, all_vehicles: bool) -> Generator[simpy.Event, Any, None]:
        """Process: every ``period_s``, per vehicle (clients, or all) ``x``, ``y`` (m), ``sinr_dl`` / ``sinr_ul`` (dB,
        NaN without a cell), ``rate_dl`` / ``rate_ul`` (full-cell rate, bit/s), ``los`` (1: the link to the serving
        cell is in line of sight, 0: not, or no cell), each with the serving cell's id in the ``cell`` column (NA: none); per cell ``attached`` (vehicles served) and ``users_dl`` / ``users_ul`` (clients with
        traffic). The cells' air-time utilisation is the ``utilisation`` sample of ``cell.K.dl`` / ``cell.K.ul``
        (:mod:`twin.sim.probes`)."""
        rec = self.recorder
        rows = np.arange(self.model.n_vehicles) if all_vehicles else self.client_vehicle
        names = [self.vehicle_names[i] for i in rows]
        cell_names = [c.name for c in self.cells]
        named = np.array([*cell_names, None], dtype=object)  # index -1: no cell
        while True:
            t = self.env.now
            xy = self.mobility.positions_m[rows]
            serving = self.serving[rows]
            cells = named[serving].tolist()
            with np.errstate(invalid="ignore"):
                for name, values in (("x", xy[:, 0]), ("y", xy[:, 1]),
                                     ("sinr_dl", np.where(serving >= 0, self.sinr_dl[rows], np.nan)),
                                     ("sinr_ul", np.where(serving >= 0, self.sinr_ul[rows], np.nan)),
                                     ("rate_dl", self.rate_dl[rows]), ("rate_ul", self.rate_ul[rows]),
                                     ("los", self._los_serving(rows, serving))):
                    rec.samples_many(t, name, names, values, cells)
            attached = np.bincount(self.serving[self.serving >= 0], minlength=len(self.cells))
            rec.samples_many(t, "attached", cell_names, attached, cell_names)
            users_dl, users_ul = self._users()
            rec.samples_many(t, "users_dl", cell_names, users_dl, cell_names)
            rec.samples_many(t, "users_ul", cell_names, users_ul, cell_names)
            yield self.env.timeout(period_s)

    def _los_serving(self, rows: np.ndarray, serving: np.ndarray) -> np.ndarray:
        """1.0 where vehicle ``rows[i]``'s link to its serving cell is LOS at the last step, else 0.0."""
        los = self.model.los_state[rows, np.maximum(serving, 0)]
        return np.where(serving >= 0, los, False).astype(float)

    # ------------------------------------------------------------------------------------------------ update

    def update(self, dt_s: float, *, initial: bool = False) -> None:
        """One radio step at ``env.now`` (``initial``: the attachment at build time, no events).

        Whole arrays for the radio, the association and the rates; Python only for the clients whose state changes
        (a new cell, a lost one, a rate stall that opens or ends), visited in client order so that the timeline is
        the one a visit of every client would write."""
        mob = self.mobility
        active = np.asarray(mob.active, dtype=bool)
        self.model.apply_power_policy(self.env.now, self.serving)  # DRIVE's demand-driven power, when due
        rx_dl, rx_ul = self.model.step(mob.positions_m, active, mob.step_distance_m)
        load = self.network.resource_load()
        act_dl, act_ul = load[self._dl_idx], load[self._ul_idx]
        self.serving = self.assoc.step(self.model.association_metric(rx_dl, act_dl), dt_s)
        users = self._users() if self.model.sharing == "proportional-fair" else (None, None)
        self.sinr_dl, self.sinr_ul, self.rate_dl, self.rate_ul = self.model.link_quality(
            rx_dl, rx_ul, self.serving, act_dl, act_ul, *users, airtime_ul=self._airtime_ul())
        self._flows = None
        new = self.serving[self.client_vehicle]
        for i in self._changing(new, initial).tolist():
            self._client(i, int(new[i]), initial)
        if self._completing:  # the handovers of this step end together, after the interruption
            batch, self._completing = self._completing, []
            self.env.timeout(self.interruption_s).callbacks.append(lambda _event: self._complete(batch))
        self._push_rates(np.flatnonzero(self.cell >= 0))
        self.network.resources_changed(self.resources if self.links is None else
                                       self.resources + [r for link in self.links for r in (link.dl, link.ul)])

    def _changing(self, new: np.ndarray, initial: bool) -> np.ndarray:
        """Clients (ascending) whose state changes at this step given their vehicles' serving cells ``new``: a cell
        other than the one they use (or hand over to), or, attached and staying, a ``no_downlink`` / ``no_uplink``
        stall to open, change or end."""
        between = self.target >= 0
        moved = np.where(between, new != self.target, new != self.cell)
        if initial:
            return np.flatnonzero(moved)
        v = self.client_vehicle
        want = np.where(self.rate_dl[v] <= 0, 1, np.where(self.rate_ul[v] <= 0, 2, 0))  # as _check_rates decides
        have = np.fromiter((_RATE_STALL.get(r, 3) for r in self.stall_reason), dtype=np.int64, count=len(v))
        return np.flatnonzero(moved | (~between & (self.cell >= 0) & (want != have)))

    def _push_rates(self, clients: np.ndarray) -> None:
        """Hand the full-cell rates of ``clients`` (all attached) to their cells (and own links), one dict update per
        cell direction: what :meth:`~twin.net.cells.Cell.set_rates` does client by client."""
        v = self.client_vehicle[clients]
        dl, ul = self.rate_dl[v], self.rate_ul[v]
        if not (np.all(dl >= 0) and np.all(ul >= 0)):
            bad = int(clients[np.flatnonzero(~((dl >= 0) & (ul >= 0)))[0]])
            raise ValueError(f"cell {self.cells[int(self.cell[bad])].name}: rate of {self.client_names[bad]} must "
                             f"be >= 0, got {self.rate_dl[self.client_vehicle[bad]]} / "
                             f"{self.rate_ul[self.client_vehicle[bad]]}")
        names = self._names[clients].tolist()
        dl_l, ul_l = dl.tolist(), ul.tolist()
        cell = self.cell[clients]
        order = np.argsort(cell, kind="stable")
        bounds = np.flatnonzero(np.diff(cell[order])) + 1
        for group in np.split(order, bounds) if order.size else []:
            c = self.cells[int(cell[group[0]])]
            idx = group.tolist()
            c.dl.rates_bps.update(zip([names[k] for k in idx], [dl_l[k] for k in idx], strict=True))
            c.ul.rates_bps.update(zip([names[k] for k in idx], [ul_l[k] for k in idx], strict=True))
        if self.links is not None:
            for i, name, d, u in zip(clients.tolist(), names, dl_l, ul_l, strict=True):
                self.links[i].dl.rates_bps[name] = d
                self.links[i].ul.rates_bps[name] = u

    @property
    def reachable(self) -> np.ndarray:
        """[n_clients] bool: clients with a cell or handing over to one."""
        return (self.cell >= 0) | (self.target >= 0)

    def stalls(self, client: int, since: float) -> list[tuple[float, float, str]]:
        """Client ``client``'s stalls that overlapped ``[since, now]``: (from, to, reason) in time order, the one under
        way last (to = now)."""
        past = [s for s in self._stalls[client] if s[1] >= since]
        now = self.stall_reason[client]
        return past + ([(float(self.stalled_since[client]), float(self.env.now), now)] if now is not None else [])

    def stalled_now(self, client: int) -> str | None:
        """The reason of the stall under way (``handover``, ``coverage``, ``no_uplink`` ...), or None."""
        return self.stall_reason[client]

    def available(self, client: int) -> bool:
        """False when the vehicle carrying the client has left the simulation (ended its trip, left the map)."""
        return bool(np.asarray(self.mobility.active, dtype=bool)[self.client_vehicle[client]])

    def route_of(self, client: int, direction: Direction) -> list[Resource]:
        """The route of client ``client`` now: through its cell, or the no-coverage placeholder (the flow stalls)."""
        cell = int(self.cell[client])
        if cell < 0:
            return [self.void]
        if self.links is not None:  # the client's own link before the cell (the cell stays first up, last down)
            link = self.links[client]
            return ([self.routes_up[cell][0], link.ul, *self.routes_up[cell][1:]] if direction == "up"
                    else [*self.routes_down[cell][:-1], link.dl, self.routes_down[cell][-1]])
        return self.routes_up[cell] if direction == "up" else self.routes_down[cell]

    def _client(self, i: int, new: int, initial: bool) -> None:
        name = self.client_names[i]
        if self.target[i] >= 0:  # between two cells
            if new == self.target[i]:
                return
            self._gen[i] += 1  # the pending completion no longer applies
            if new < 0:
                self.target[i] = -1
                self._cause(i, "coverage")  # still stalled, now for want of any cell
            else:
                self._handover(i, name, int(self.target[i]), new)
            return
        cur = int(self.cell[i])
        if new != cur:
            if cur >= 0:
                self.cells[cur].remove(name)
            if cur < 0:
                self._switch(i, new)
                if not np.isnan(self.stalled_since[i]):
                    self._resume(i, name, new)
            elif new < 0:
                self._switch(i, -1)
                if not initial:
                    self._end_rate_stall(i, name, cur)
                    self._stall(i, name, cur, "coverage")
            else:
                self._handover(i, name, cur, new)
        if self.cell[i] >= 0 and not initial:  # (its rates go to its cell with everyone's: _push_rates)
            self._check_rates(i, name)

    def _set_rates(self, i: int, cell: int, name: str) -> None:
        v = self.client_vehicle[i]
        self.cells[cell].set_rates(name, self.rate_dl[v], self.rate_ul[v])
        if self.links is not None:
            self.links[i].set_rates(name, self.rate_dl[v], self.rate_ul[v])

    def _check_rates(self, i: int, name: str) -> None:
        """Open, change or end client i's ``no_downlink`` / ``no_uplink`` stall from its rates on its cell."""
        v, cell = self.client_vehicle[i], int(self.cell[i])
        reason = "no_downlink" if self.rate_dl[v] <= 0 else "no_uplink" if self.rate_ul[v] <= 0 else None
        if self.stall_reason[i] == reason:
            return
        self._end_rate_stall(i, name, cell)
        if reason is not None:
            self._stall(i, name, cell, reason)

    def _end_rate_stall(self, i: int, name: str, cell: int) -> None:
        if self.stall_reason[i] in ("no_downlink", "no_uplink"):
            self._resume(i, name, cell)

    def _handover(self, i: int, name: str, old: int, new: int) -> None:
        self.n_handovers += 1
        self.recorder.emit("handover", self.env.now, name, self._round(), client=name, cell=self.cells[new].name,
                               from_cell=self.cells[old].name, interruption_s=self.interruption_s)
        if self.interruption_s <= 0:
            self._switch(i, new)
            return
        self._switch(i, -1)
        self._end_rate_stall(i, name, old)
        if np.isnan(self.stalled_since[i]):
            self._stall(i, name, old, "handover")
        self.target[i] = new
        self._completing.append((i, int(self._gen[i])))  # ends after the interruption (update schedules it)

    def _complete(self, batch: list[tuple[int, int]]) -> None:
        """The handovers of one step end, in client order (one by one, each as if alone: events, rates; the flow
        engine re-reads the changed cells once)."""
        self._flows = None
        changed: dict[int, Resource] = {}
        for i, gen in batch:
            if gen != self._gen[i] or self.target[i] < 0:
                continue
            cell, name = int(self.target[i]), self.client_names[i]
            self.target[i] = -1
            self._switch(i, cell)
            self._set_rates(i, cell, name)
            for r in (self.cells[cell].dl, self.cells[cell].ul) if self.links is None else \
                    (self.cells[cell].dl, self.cells[cell].ul, self.links[i].dl, self.links[i].ul):
                changed[id(r)] = r
            self._resume(i, name, cell)
            self._check_rates(i, name)
        if changed:
            self.network.resources_changed(list(changed.values()))

    def _stall(self, i: int, name: str, cell: int, reason: str) -> None:
        self.n_stalls += 1
        self.stalled_since[i] = self.env.now
        self.stall_reason[i] = reason
        self.recorder.emit("stall", self.env.now, name, self._round(), client=name, cell=self.cells[cell].name,
                           reason=reason)

    def _cause(self, i: int, reason: str) -> None:
        """The stall under way goes on for another reason from now (kept apart in the client's stall history; the
        timeline keeps the one stall event)."""
        if self.stall_reason[i] not in (None, reason):
            self._stalls[i].append((float(self.stalled_since[i]), float(self.env.now), self.stall_reason[i]))
            self.stall_reason[i] = reason

    def _resume(self, i: int, name: str, cell: int) -> None:
        self.recorder.emit("resume", self.env.now, name, self._round(), client=name, cell=self.cells[cell].name,
                           stalled_s=self.env.now - self.stalled_since[i], reason=self.stall_reason[i])
        self._stalls[i].append((float(self.stalled_since[i]), float(self.env.now), self.stall_reason[i] or "coverage"))
        self.stalled_since[i] = np.nan
        self.stall_reason[i] = None

    def _round(self) -> int | None:
        """The FL round in progress (None between rounds or without an FL server)."""
        return getattr(self.env, "round_in_progress", None)

    def _switch(self, i: int, cell: int) -> None:
        """Point client i's routes at ``cell`` (-1: the no-coverage placeholder) and move its live flows there."""
        self.cell[i] = cell
        if self._flows is None:
            self._flows = defaultdict(list)
            for flow in self.network.live_flows:
                if flow.user is not None:
                    self._flows[flow.user].append(flow)
        for flow in self._flows.get(self.client_names[i], ()):
            self.network.reroute(flow, self.route_of(i, direction_of(flow)))

    def _airtime_ul(self) -> np.ndarray:
        """[V] share of its cell's uplink air time each vehicle's client uses now: its uplink flows' rates over its
        full-cell uplink rate (the weight of its RBs in the other cells' uplink interference)."""
        air = np.zeros(self.model.n_vehicles)
        n = len(self.cells)
        for flow in self.network.live_flows:
            if flow.user is None or direction_of(flow) != "up" or self._air_index.get(id(flow.route[0]), -1) < n:
                continue  # not on a cell's uplink (downlink, wired, or stalled on the placeholder)
            v = self._vehicle_of.get(flow.user)
            if v is not None and self.rate_ul[v] > 0:  # (background users stand still, not on vehicles)
                air[v] += self.network.rate_of(flow) / self.rate_ul[v]
        return np.minimum(air, 1.0)

    def _users(self) -> tuple[np.ndarray, np.ndarray]:
        """Users with live flows per cell, downlink and uplink: FL clients and background users (traffic.background)."""
        n = len(self.cells)
        counts = np.zeros(2 * n, dtype=np.int64)  # DL resources first, then UL (as self.resources)
        seen: set[tuple[str, int]] = set()
        for flow in self.network.live_flows:
            if flow.user is None:
                continue  # not a radio user's flow: it crosses no cell
            air = flow.route[0] if direction_of(flow) == "up" else flow.route[-1]
            k = self._air_index.get(id(air))
            if k is not None and (flow.user, k) not in seen:
                seen.add((flow.user, k))
                counts[k] += 1
        return counts[:n], counts[n:]

    def close(self) -> None:
        self.mobility.close()
