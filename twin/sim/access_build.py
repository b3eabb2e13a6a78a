"""Building the radio access network of a scenario: cells, their backhaul, the vehicles and the clients riding on them.

Called by :func:`twin.sim.build.build` when ``radio.kind`` is ``cellular``; returns :class:`RadioParts`. Steps: road
network and mobility (:mod:`twin.sim.mobility_build`) -> base stations per tier (placement from the road network) -> one node ``bs.K`` per
base station, linked to a wired site node by the tier's backhaul -> cell resources (DL / UL air time) in the flow
engine -> clients on the chosen vehicles -> the radio model and the :class:`~twin.sim.access.Access` layer, attached
once at t = 0 -> the map tables (``cells``, ``roads``, ``coverage``) for the run folder.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from twin import geo
from twin import mobility as mob
from twin.errors import InputError
from twin.net import topology as topo
from twin.net.cells import Cell, NoCoverage, UserLink
from twin.net.engine import FlowNetwork
from twin.radio.model import DemandPolicy, RadioModel, Tier
from twin.scenario import access as A
from twin.scenario import schema as S
from twin.sim.access import Access
from twin.sim.derived import tier_preset
from twin.sim.devices import device_flops
from twin.sim.env import Client, TwinEnv
from twin.sim.geometry_build import build_buildings, buildings_table, cell_heights, geometry_los, vehicle_heights
from twin.sim.mobility_build import build_mobility
from twin.sim.wired import Links, wire_links


@dataclass(frozen=True)
class RadioParts:
    """What the radio access network adds to a twin: the clients (on vehicles), the access layer that routes them,
    and the map tables (``cells``, ``roads``, ``coverage``)."""

    clients: tuple[Client, ...]
    access: Access
    tables: dict[str, pd.DataFrame]


def build_access(env: TwinEnv, network: FlowNetwork, graph: nx.DiGraph, server: str, links: Links, overhead: float,
                 cleanups: ExitStack) -> RadioParts:
    """Cells, vehicles and clients for a twin whose wired graph and links are built; the base stations' nodes and
    backhaul join ``graph`` and ``network``. Releasing the mobility source is registered in ``cleanups``."""
    cfg = env.config
    wired = topo.clients_of(graph)
    if wired:
        raise InputError(f"topology: with radio the FL clients ride on vehicles, but the topology has client nodes "
                         f"({', '.join(wired[:3])}{', ...' if len(wired) > 3 else ''}); use a "
                         f"topology without clients (kind: explicit, with nodes of role 'site')")
    road, mobility, cleanup = build_mobility(cfg.mobility, env.base_dir, env.rng("mobility"))
    cleanups.callback(cleanup)
    cleanups.callback(mobility.close)
    rcfg = cfg.radio
    buildings = build_buildings(cfg.mobility, road, env.base_dir, env.rng("buildings"))
    tiers, cell_xy, site_h = _tiers(rcfg, road, env, buildings)
    cell_h = cell_heights(rcfg, tiers, cell_xy, buildings, env.rng("antennas"))
    cell_h = np.where(np.isnan(site_h), cell_h, site_h)  # DRIVE's placements draw their own antenna heights
    los_lookup = geometry_los(rcfg, buildings, road, tiers, np.column_stack([cell_xy, cell_h]))
    sites = _attach_nodes(rcfg, graph, cell_xy)
    links = dict(links)
    cells: list[Cell] = []
    tier_of = np.empty(len(cell_xy), dtype=np.int64)
    for t, tier in enumerate(tiers):
        tier_of[tier.cells] = t
    for k in range(len(cell_xy)):
        spec = rcfg.tiers[tier_of[k]].backhaul
        node = f"bs.{k}"
        graph.add_node(node, role="router")
        topo.add_link(graph, sites[k], node, topo.Link(spec.bandwidth_bps, spec.latency_s))
        links.update(wire_links(network, graph, ((sites[k], node), (node, sites[k])), overhead=overhead))
        cells.append(Cell.make(k, f"cell.{k}", node, latency_s=rcfg.air_latency_s, shared=rcfg.sharing != "none"))
    index = []
    for res in [c.dl for c in cells] + [c.ul for c in cells]:
        index.append(len(network.resources))
        network.add_resource(res)
    void = network.add_resource(NoCoverage())
    down = [[links[e] for e in topo.shortest_route(graph, server, c.node)] for c in cells]
    up = [[links[e] for e in topo.shortest_route(graph, c.node, server)] for c in cells]

    ids = np.asarray(mobility.vehicle_ids, dtype=object)
    types = np.asarray(mobility.vehicle_types, dtype=object)
    chosen = (pick_vehicles(cfg.clients.vehicles, ids, types, np.asarray(mobility.active, dtype=bool),
                            env.rng("clients")) if cfg.fl is not None else np.zeros(0, dtype=np.int64))  # no FL: none
    flops = np.empty(chosen.size)
    for name, profile in [(None, cfg.clients.device), *cfg.clients.vehicles.device_by_type.items()]:
        mask = np.ones(chosen.size, dtype=bool) if name is None else types[chosen] == name
        if name is not None and name not in set(types):
            raise InputError(f"clients.vehicles.device_by_type: no vehicle of type {name!r} "
                             f"(types: {', '.join(sorted(set(types)))})")
        flops[mask] = device_flops(profile, int(mask.sum()), env.rng("devices" if name is None else f"devices.{name}"))
    clients = tuple(Client(i, f"client.{i}", str(ids[v]) or f"slot.{v}", float(flops[i]))
                    for i, v in enumerate(chosen))
    names = [f"vehicle.{ids[v] or v}" for v in range(len(ids))]
    for i, v in enumerate(chosen):
        names[v] = clients[i].name

    try:
        model = RadioModel(tiers, cell_xy, len(ids), rng=env.rng("radio"), los=rcfg.los.kind,
                           shadowing=rcfg.shadowing, penetration_loss=rcfg.penetration_loss,
                           interference=rcfg.interference, sharing=rcfg.sharing, metric=rcfg.association.metric,
                           cell_h_m=cell_h, ue_h_m=vehicle_heights(cfg.mobility, types), los_lookup=los_lookup,
                           profile=rcfg.profile, nlos_quirk=rcfg.drive_nlos_quirk)
    except ValueError as exc:  # profile drive with a preset DRIVE does not have
        raise InputError(f"radio.profile: {exc}") from None
    user_links = None
    if rcfg.sharing == "none":  # each client's own link: it gets its full link rate whatever the cell's other users do
        user_links = [Cell(i, f"{c.name}.link", c.name, UserLink(f"{c.name}.link.dl"), UserLink(f"{c.name}.link.ul"))
                      for i, c in enumerate(clients)]
        for link in user_links:
            network.add_resource(link.dl)
            network.add_resource(link.ul)
    assoc = rcfg.association
    access = Access(env, network=network, recorder=env.recorder, client_names=[c.name for c in clients],
                    mobility=mobility, model=model, cells=cells, wired_down=down, wired_up=up, void=void,
                    client_vehicle=chosen, vehicle_names=names, step_s=cfg.mobility.step_s,
                    interruption_s=rcfg.handover_interruption_s, hysteresis_db=assoc.hysteresis_db,
                    time_to_trigger_s=assoc.time_to_trigger_s, resource_index=index, links=user_links)
    access.update(0.0, initial=True)
    tables = map_tables(rcfg, road, model, tiers, cells, sites)
    footprints = buildings_table(buildings)
    if footprints is not None:
        tables["buildings"] = footprints
    return RadioParts(clients, access, tables)


# ------------------------------------------------------------------------------------------------------- cells


def _tiers(rcfg: A.CellularRadio, road: mob.RoadNetwork, env: TwinEnv,
           buildings) -> tuple[list[Tier], np.ndarray, np.ndarray]:
    tiers, xy, h, start = [], [], [], 0
    for i, spec in enumerate(rcfg.tiers):
        where = f"radio.tiers[{i}]"
        preset, floor, reach = tier_preset(spec, where)
        extra = {}
        if spec.placement.kind in ("drive_greedy", "drive_random"):  # DRIVE's: antenna heights drawn, LOS tiles
            extra["rng"] = env.rng(f"placement.{i}")
        if spec.placement.kind == "drive_greedy":
            if buildings is None:
                raise InputError(f"{where}.placement: drive_greedy needs buildings for line of sight; set "
                                 f"mobility.buildings (e.g. {{kind: blocks}})")
            extra["buildings"] = buildings
            extra["los_of"] = lambda tx, rx, city=buildings: geo.los_exact(tx, rx, city)
        sites = _placement(spec.placement, road, f"{where}.placement", **extra)
        if len(sites) == 0:
            raise InputError(f"{where}.placement: no site falls in the area of the road network")
        policy = None if spec.power_policy is None else DemandPolicy(
            **spec.power_policy.model_dump(exclude={"kind"}))
        tiers.append(Tier(spec.name, preset, np.arange(start, start + len(sites)), floor, spec.bias_db, reach, policy))
        xy.append(sites.xy_m)
        h.append(sites.h_m)
        start += len(sites)
    return tiers, np.vstack(xy), np.concatenate(h)


def _placement(p, road: mob.RoadNetwork, where: str, **context) -> mob.Sites:
    try:
        return mob.PLACEMENTS[p.kind](road, **p.model_dump(exclude={"kind"}), **context)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def _attach_nodes(rcfg: A.CellularRadio, graph: nx.DiGraph, cell_xy: np.ndarray) -> list[str]:
    """The wired node each base station hangs off: ``attach_to``, or the ``site`` nodes by sector."""
    if rcfg.attach_to is not None:
        if rcfg.attach_to not in graph:
            raise InputError(f"radio.attach_to: the topology has no node {rcfg.attach_to!r}")
        return [rcfg.attach_to] * len(cell_xy)
    sites = sorted((n for n, r in graph.nodes(data="role") if r == "site"), key=_natural)
    if not sites:
        raise InputError("radio.attach_to: the topology has no node of role 'site' for the base stations; add site "
                         "nodes or name the node they hang off")
    centre = cell_xy.mean(axis=0)
    angle = np.mod(np.arctan2(cell_xy[:, 1] - centre[1], cell_xy[:, 0] - centre[0]), 2 * math.pi)
    sector = np.minimum((angle / (2 * math.pi) * len(sites)).astype(int), len(sites) - 1)
    return [sites[s] for s in sector]


def _natural(name: str) -> tuple:
    head, _, tail = name.rpartition(".")
    return (head, int(tail)) if tail.isdigit() else (name, -1)


# ----------------------------------------------------------------------------------------------------- clients


def pick_vehicles(cfg: S.VehicleClients, ids: np.ndarray, types: np.ndarray, active: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) of the vehicles that carry a client (``active``: on the road at the start)."""
    pool = np.flatnonzero(active) if cfg.active_at_start else np.arange(len(ids))
    if cfg.vehicle_types is not None:
        unknown = sorted(set(cfg.vehicle_types) - set(types))
        if unknown:
            raise InputError(f"clients.vehicles.vehicle_types: no vehicle of type {unknown[0]!r} "
                             f"(types: {', '.join(sorted(set(types)))})")
        pool = pool[np.isin(types, cfg.vehicle_types)]
    if cfg.ids is not None:
        where = {str(v): i for i, v in enumerate(ids)}
        missing = [v for v in cfg.ids if v not in where or where[v] not in set(pool)]
        if missing:
            raise InputError(f"clients.vehicles.ids: no vehicle {missing[0]!r} among the {len(pool)} that can carry "
                             f"a client")
        return np.array(sorted({where[v] for v in cfg.ids}), dtype=np.int64)
    if cfg.count is not None or cfg.fraction is not None:
        n = cfg.count if cfg.count is not None else max(1, round(cfg.fraction * pool.size))
        if n > pool.size:
            raise InputError(f"clients.vehicles.count: {n} clients, but only {pool.size} vehicles to carry them")
        return np.sort(rng.choice(pool, size=n, replace=False)).astype(np.int64)
    if pool.size == 0:
        raise InputError("clients.vehicles: no vehicle carries a client")
    return pool.astype(np.int64)


# --------------------------------------------------------------------------------------------------- map tables


def map_tables(rcfg: A.CellularRadio, road: mob.RoadNetwork, model: RadioModel, tiers: list[Tier],
               cells: list[Cell], sites: list[str]) -> dict[str, pd.DataFrame]:
    """``cells`` (cell, cell_index, x, y, tier, preset, site, node), ``roads`` (segments) and ``coverage``
    (best-server DL rate and that server's id, NA where none is usable): docs/tables.md."""
    xy = model.cell_xy_m
    tier_names = np.empty(len(cells), dtype=object)
    presets = np.empty(len(cells), dtype=object)
    for t in tiers:
        tier_names[t.cells] = t.name
        presets[t.cells] = t.preset.name
    names = [c.name for c in cells]
    h = np.empty(len(cells))
    for i, t in enumerate(tiers):
        h[t.cells] = model.h_bs_m[i]
    out = {"cells": pd.DataFrame({"cell": pd.array(names, dtype="string"), "cell_index": np.arange(len(cells)),
                                  "x": xy[:, 0], "y": xy[:, 1], "height_m": h,
                                  "tier": pd.array(tier_names.astype(str), dtype="string"),
                                  "preset": pd.array(presets.astype(str), dtype="string"),
                                  "site": pd.array(sites, dtype="string"),
                                  "node": pd.array([c.node for c in cells], dtype="string")})}
    keep = np.isin(road.seg_edge, road.road_edges())
    a, b = road.seg_a_m[keep], road.seg_b_m[keep]
    out["roads"] = pd.DataFrame({"x0": a[:, 0], "y0": a[:, 1], "x1": b[:, 0], "y1": b[:, 1]})
    cov = rcfg.coverage
    if cov.enabled:
        xmin, ymin, xmax, ymax = road.bbox_m
        gx = np.arange(xmin - cov.margin_m, xmax + cov.margin_m + 1e-9, cov.spacing_m)
        gy = np.arange(ymin - cov.margin_m, ymax + cov.margin_m + 1e-9, cov.spacing_m)
        px, py = (m.ravel() for m in np.meshgrid(gx, gy))
        rate, best = model.coverage(np.column_stack([px, py]))  # the mean in-car loss where a tier has it
        named = np.array([*names, None], dtype=object)  # index -1: no usable cell
        out["coverage"] = pd.DataFrame({"x": px, "y": py, "rate_dl_bps": rate,
                                        "cell": pd.array(named[np.asarray(best)], dtype="string")})
    return out
