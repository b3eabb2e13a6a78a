"""Which tier of the network each resource belongs to, so that bytes can be counted per tier.

``air``: a cell's air time, or a wired client's own access link; ``backhaul``: a base station's link to its site,
and wired links below the sites; ``core``: the links between the sites (or, without sites, any router) and the
server. A flow's bytes count once on every tier its route crosses (an upload through cell, backhaul and core counts
on all three), so the core's load shows what hierarchical aggregation saves.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from twin.net import topology as topo
from twin.net.flow import LinkDirection, Resource

TIERS = ("air", "backhaul", "core")


def tier_map(graph: nx.DiGraph, server: str, resources: Iterable[Resource]) -> dict[int, str]:
    """``id(resource) -> tier`` for every cell direction and wired link direction (named ``u->v``) in
    ``resources``; other resources (the no-coverage placeholder) have no tier."""
    roles = dict(graph.nodes(data="role"))
    sites = [n for n, r in roles.items() if r == "site"]
    core: set[tuple[str, str]] = set()
    if sites:
        up, down = topo.routes_to(graph, server), topo.routes_from(graph, server)
        for s in sites:
            core.update(up.get(s, ()))
            core.update(down.get(s, ()))
    out: dict[int, str] = {}
    for res in resources:
        if hasattr(res, "rates_bps"):
            out[id(res)] = "air"
            continue
        if not isinstance(res, LinkDirection):
            continue
        u, _, v = res.name.partition("->")
        if roles.get(u) == "client" or roles.get(v) == "client":
            out[id(res)] = "air"
        elif u.startswith("bs.") or v.startswith("bs."):
            out[id(res)] = "backhaul"
        elif not sites or (u, v) in core:
            out[id(res)] = "core"
        else:
            out[id(res)] = "backhaul"
    return out
