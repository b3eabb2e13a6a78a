"""The routes' bidirectional Dijkstra is networkx's, step for step: the same paths (ties included) on grids full of
equal-time routes and on random directed graphs, and the same error when there is no path."""

import networkx as nx
import numpy as np
import pytest

from twin.mobility import grid_network
from twin.mobility.dijkstra import adjacency, bidirectional_dijkstra


def _random_graph(rng: np.random.Generator, n: int, m: int, integer: bool) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for _ in range(m):
        u, v = (int(x) for x in rng.integers(0, n, 2))
        if u != v:
            g.add_edge(u, v, w=float(rng.integers(1, 4)) if integer else float(rng.uniform(0.1, 5.0)))
    return g


@pytest.mark.parametrize("integer", [True, False])  # integer weights: many ties between equal paths
def test_same_paths_as_networkx_on_random_graphs(integer):
    rng = np.random.default_rng(11)
    for _ in range(20):
        g = _random_graph(rng, 40, 120, integer)
        succ, pred = adjacency(g)
        for s, t in rng.integers(0, 40, size=(40, 2)).tolist():
            try:
                want = nx.bidirectional_dijkstra(g, s, t, weight="w")
            except nx.NetworkXNoPath:
                with pytest.raises(nx.NetworkXNoPath):
                    bidirectional_dijkstra(succ, pred, s, t)
                continue
            assert bidirectional_dijkstra(succ, pred, s, t) == want


def test_same_routes_as_networkx_on_a_grid_city():
    net = grid_network(rows=8, cols=8, block_length_m=200)
    g, _ = net._routing_graph(10.0)
    succ, pred = adjacency(g)
    for s in range(0, net.n_nodes, 3):
        for t in range(net.n_nodes):
            assert bidirectional_dijkstra(succ, pred, s, t)[1] == nx.bidirectional_dijkstra(g, s, t, weight="w")[1]


def test_adjacency_needs_nodes_numbered_from_zero():
    g = nx.DiGraph()
    g.add_edge("a", "b", w=1.0)
    with pytest.raises(ValueError, match="0 .. n - 1"):
        adjacency(g)
