"""Fastest routes on a road network's routing graph: networkx's ``bidirectional_dijkstra``, step for step, on plain
adjacency lists.

networkx reads every edge through its graph views and a weight function (a lambda per edge); random trips ask for one
route per vehicle and trip (10,000 at the start of a 10,000-vehicle city). This is the same algorithm, the same heap
entries ``(distance, counter, node)``, the same neighbour order (the graph's insertion order) and the same tie-breaks,
so it returns the very path networkx returns (tests/mobility/test_dijkstra.py compares them), about twice as fast.
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count

import networkx as nx

Adjacency = list[list[tuple[int, float]]]


def adjacency(g: nx.DiGraph, weight: str = "w") -> tuple[Adjacency, Adjacency]:
    """(successors, predecessors) of nodes ``0 .. n - 1`` of ``g`` as ``(neighbour, weight)`` lists, in networkx's
    order (a missing weight counts 1, as networkx's)."""
    n = g.number_of_nodes()
    if set(g.nodes) != set(range(n)):
        raise ValueError("adjacency: the graph's nodes must be 0 .. n - 1")
    succ = [[(w, d.get(weight, 1)) for w, d in g.succ[v].items()] for v in range(n)]
    pred = [[(u, d.get(weight, 1)) for u, d in g.pred[v].items()] for v in range(n)]
    return succ, pred


def bidirectional_dijkstra(succ: Adjacency, pred: Adjacency, source: int, target: int) -> tuple[float, list[int]]:
    """(length, nodes) of the shortest path from ``source`` to ``target``, exactly as
    ``networkx.bidirectional_dijkstra(g, source, target, weight=...)``; ``networkx.NetworkXNoPath`` when none."""
    if source == target:
        return 0, [source]
    dists: list[dict[int, float]] = [{}, {}]
    preds: list[dict[int, int | None]] = [{source: None}, {target: None}]
    fringe: list[list[tuple[float, int, int]]] = [[], []]
    seen: list[dict[int, float]] = [{source: 0}, {target: 0}]
    c = count()
    heappush(fringe[0], (0, next(c), source))
    heappush(fringe[1], (0, next(c), target))
    neighbours = (succ, pred)
    finaldist: float | None = None
    meetnode = -1
    direction = 1
    while fringe[0] and fringe[1]:
        direction = 1 - direction
        dist, _, v = heappop(fringe[direction])
        known, other = dists[direction], dists[1 - direction]
        if v in known:
            continue
        known[v] = dist
        if v in other:
            return finaldist, _path(preds[0], meetnode)[::-1] + _path(preds[1], preds[1][meetnode])
        near, far, heap, back = seen[direction], seen[1 - direction], fringe[direction], preds[direction]
        for w, cost in neighbours[direction][v]:
            length = dist + cost
            if w in known:
                if length < known[w]:
                    raise ValueError("Contradictory paths found: negative weights?")
            elif w not in near or length < near[w]:
                near[w] = length
                heappush(heap, (length, next(c), w))
                back[w] = v
                if w in far:
                    through = length + far[w]
                    if finaldist is None or finaldist > through:
                        finaldist, meetnode = through, w
    raise nx.NetworkXNoPath(f"No path between {source} and {target}.")


def _path(preds: dict[int, int | None], node: int | None) -> list[int]:
    out = []
    while node is not None:
        out.append(node)
        node = preds[node]
    return out
