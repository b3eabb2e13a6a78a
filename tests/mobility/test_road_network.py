"""Road graphs: grid generator, RoadNetwork helpers, routing, validation."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from twin.mobility import RoadNetwork, build_road_network, grid_network


def test_grid_counts_lengths_and_coordinates():
    net = grid_network(rows=3, cols=4, block_length_m=150.0, speed_mps=12.0, lanes=2)
    assert net.n_nodes == 12
    assert net.n_edges == 2 * (3 * 3 + 4 * 2)
    assert np.allclose(net.edge_length_m, 150.0)
    assert np.allclose(net.edge_geom_length_m, 150.0)
    assert np.allclose(net.edge_speed_mps, 12.0)
    assert np.all(net.edge_lanes == 2)
    # every edge joins grid neighbours exactly one block apart
    d = np.hypot(*(net.node_xy_m[net.edge_u] - net.node_xy_m[net.edge_v]).T)
    assert np.allclose(d, 150.0)
    assert net.bbox_m == (0.0, 0.0, 450.0, 300.0)
    g = net.graph.nodes[1 * 4 + 2]
    assert (g["x"], g["y"], g["row"], g["col"]) == (300.0, 150.0, 1, 2)


def test_grid_junctions_degrees():
    net = grid_network(rows=3, cols=3, block_length_m=100)
    deg = dict(zip(net.node_ids, net.node_degree().tolist(), strict=True))
    assert deg[0] == 2 and deg[1] == 3 and deg[4] == 4
    assert net.junction_nodes() == [1, 3, 4, 5, 7]
    assert net.junction_nodes(min_degree=4) == [4]
    assert net.junction_xy_m(4).tolist() == [[100.0, 100.0]]


def test_shortest_path_matches_manhattan_distance_and_networkx():
    net = grid_network(rows=4, cols=5, block_length_m=100, speed_mps=10)
    for a, b in itertools.product([0, 7, 19], [3, 12, 19]):
        path = net.shortest_path(a, b)
        assert path[0] == a and path[-1] == b
        ra, ca = divmod(a, 5)
        rb, cb = divmod(b, 5)
        hops = abs(ra - rb) + abs(ca - cb)
        assert len(path) - 1 == hops
        assert net.path_travel_time_s(path) == pytest.approx(hops * 10.0)
        ref = nx.shortest_path_length(net.graph, a, b, weight="length_m")
        assert ref == pytest.approx(hops * 100.0)


def test_routing_prefers_fast_roads():
    # a direct slow road versus a two-hop fast detour
    g = nx.MultiDiGraph()
    for n, (x, y) in {"a": (0, 0), "b": (100, 0), "c": (50, 50), "d": (200, 0)}.items():
        g.add_node(n, x=x, y=y)
    g.add_edge("a", "b", length_m=100.0, speed_mps=2.0)  # 50 s
    g.add_edge("a", "c", length_m=70.7, speed_mps=20.0)  # 3.5 s
    g.add_edge("c", "b", length_m=70.7, speed_mps=20.0)
    g.add_edge("b", "a", length_m=100.0, speed_mps=2.0)
    g.add_edge("b", "d", length_m=100.0, speed_mps=2.0)  # a dead end: nothing leaves d
    net = RoadNetwork(g)
    assert net.shortest_path("a", "b") == ["a", "c", "b"]
    # a vehicle capped at 1 m/s sees every road at 1 m/s: the direct road is shorter
    assert net.shortest_path("a", "b", max_speed_mps=1.0) == ["a", "b"]
    with pytest.raises(ValueError, match="no route"):
        net.shortest_path("d", "a")
    with pytest.raises(ValueError, match="origin"):
        net.shortest_path("zz", "a")


def test_polyline_geometry_positions_and_distance():
    g = nx.MultiDiGraph()
    g.add_node(0, x=0.0, y=0.0)
    g.add_node(1, x=100.0, y=100.0)
    # an L-shaped road: (0,0) -> (100,0) -> (100,100), given end to start (it gets re-oriented)
    g.add_edge(0, 1, length_m=200.0, speed_mps=10.0, geometry_xy=[(100, 100), (100, 0), (0, 0)])
    net = RoadNetwork(g)
    assert net.edge_geom_length_m[0] == pytest.approx(200.0)
    pts = net.position_on_edge(np.zeros(5, dtype=int), np.array([0.0, 50.0, 100.0, 150.0, 250.0]))
    assert np.allclose(pts, [[0, 0], [50, 0], [100, 0], [100, 50], [100, 100]])
    assert net.bbox_m == (0.0, 0.0, 100.0, 100.0)
    d = net.distance_to_road_m(np.array([[50.0, 10.0], [0.0, 100.0], [100.0, 40.0]]))
    assert np.allclose(d, [10.0, 100.0, 0.0])


def test_sample_points_spacing_and_dedup():
    net = grid_network(rows=2, cols=2, block_length_m=100)
    pts = net.sample_points(30.0)  # 4 nodes + 4 roads x 3 inner points (100 m in 4 pieces of 25 m)
    assert pts.shape == (4 + 4 * 3, 2)
    assert np.allclose(net.distance_to_road_m(pts), 0.0)
    inner = net.sample_points(30.0, include_nodes=False)
    assert len(inner) == 12
    assert sorted(inner[np.isclose(inner[:, 1], 0.0), 0].tolist()) == [25.0, 50.0, 75.0]
    with pytest.raises(ValueError, match="spacing_m"):
        net.sample_points(0)


def test_undirected_and_digraph_inputs_are_accepted():
    g = nx.Graph()
    g.add_node("a", x=0, y=0)
    g.add_node("b", x=0, y=50)
    g.add_edge("a", "b", length_m=50, speed_mps=5)
    net = RoadNetwork(g)
    assert net.n_edges == 2
    assert net.shortest_path("b", "a") == ["b", "a"]


@pytest.mark.parametrize(
    ("graph_factory", "match"),
    [
        (lambda: nx.MultiDiGraph(), "empty"),
        (lambda: _one_node(), "no edges"),
        (lambda: _road(x_missing=True), "'x' and 'y'"),
        (lambda: _road(speed_mps=-3.0), "speed_mps=-3.0"),
        (lambda: _road(length_m=0.0), "length_m=0.0"),
        (lambda: _road(speed_mps=None), "'speed_mps'"),
    ],
)
def test_bad_graphs_raise_clear_errors(graph_factory, match):
    with pytest.raises(ValueError, match=match):
        RoadNetwork(graph_factory())


def _one_node():
    g = nx.MultiDiGraph()
    g.add_node(0, x=0, y=0)
    return g


def _road(*, x_missing=False, speed_mps=10.0, length_m=10.0):
    g = nx.MultiDiGraph()
    g.add_node(0, y=0) if x_missing else g.add_node(0, x=0, y=0)
    g.add_node(1, x=10, y=0)
    attrs = {"length_m": length_m}
    if speed_mps is not None:
        attrs["speed_mps"] = speed_mps
    g.add_edge(0, 1, **attrs)
    return g


def test_grid_argument_errors():
    with pytest.raises(ValueError, match="rows"):
        grid_network(rows=0, cols=3)
    with pytest.raises(ValueError, match="speed_mps"):
        grid_network(rows=2, cols=2, speed_mps=-1)
    with pytest.raises(ValueError, match="block_length_m"):
        grid_network(rows=2, cols=2, block_length_m=math.nan)
    with pytest.raises(ValueError, match="at least 2 junctions"):
        grid_network(rows=1, cols=1)


def test_build_road_network_registry():
    net = build_road_network("manhattan", rows=2, cols=3, block_length_m=50)
    assert net.n_nodes == 6
    with pytest.raises(ValueError, match="kind: unknown road network kind 'hexagon'"):
        build_road_network("hexagon")
    with pytest.raises(ValueError, match="'grid'.*block_lenght_m"):
        build_road_network("grid", rows=2, cols=2, block_lenght_m=3)
    with pytest.raises(FileNotFoundError, match="path: SUMO network file not found"):
        build_road_network("sumo", path="/nonexistent/x.net.xml")
    with pytest.raises(FileNotFoundError, match="path: OSM XML file not found"):
        build_road_network("osm", path="/nonexistent/x.osm")
    with pytest.raises(FileNotFoundError, match="path: GraphML file not found"):
        build_road_network("graphml", path="/nonexistent/x.graphml")
