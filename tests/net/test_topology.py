import networkx as nx
import pytest

from twin.errors import InputError
from twin.net import topology as topo

L = topo.Link(100e6, 0.005)


def test_star_shape_and_routes():
    g = topo.star(4, L, topo.Link(1e9, 0.001))
    assert topo.server_of(g) == "server"
    assert topo.clients_of(g) == ["client.0", "client.1", "client.2", "client.3"]
    assert topo.shortest_route(g, "server", "client.2") == [("server", "switch"), ("switch", "client.2")]
    assert g.edges["switch", "client.2"]["bandwidth_bps"] == 100e6


def test_asymmetric_link_directions():
    g = topo.star(1, topo.Link(100e6, 0.005, reverse_bandwidth_bps=20e6, reverse_latency_s=0.01), L)
    assert g.edges["switch", "client.0"]["bandwidth_bps"] == 100e6
    assert g.edges["client.0", "switch"]["bandwidth_bps"] == 20e6
    assert g.edges["client.0", "switch"]["latency_s"] == 0.01


def test_tree_counts_clients():
    g = topo.tree([3, 4], [topo.Link(1e9, 0.002), L], topo.Link(10e9, 0.001))
    assert len(topo.clients_of(g)) == 12
    route = topo.shortest_route(g, "client.11", "server")
    assert len(route) == 3 and route[-1] == ("core", "server")


def test_ring_takes_the_shorter_way_round():
    g = topo.ring(6, 1, topo.Link(1e9, 0.001), L, topo.Link(1e9, 0.0))
    # client.5 hangs off site.5, one hop from site.0 the other way round the ring
    nodes = [u for u, _ in topo.shortest_route(g, "client.5", "server")]
    assert nodes == ["client.5", "site.5", "site.0"]


def test_no_route_names_the_client():
    g = topo.explicit([("server", "server"), ("r", "router"), ("c", "client")], [("server", "r", L)])
    with pytest.raises(topo.NoRouteError, match="c cannot reach server"):
        topo.shortest_route(g, "c", "server")


def test_negative_bandwidth_rejected():
    with pytest.raises(InputError, match="bandwidth_bps must be positive"):
        topo.star(1, topo.Link(-1.0), L)


def test_graphml_roundtrip_with_units(tmp_path):
    g = nx.Graph()
    g.add_node("s", role="server")
    g.add_node("c", role="client")
    g.add_edge("s", "c", bandwidth_bps="50 Mbit/s", latency_s="3 ms")
    path = tmp_path / "t.graphml"
    nx.write_graphml(g, path)
    from twin.scenario.units import parse_quantity

    d = topo.from_graphml(path, parse_rate=lambda v: parse_quantity(v, "rate"),
                          parse_time=lambda v: parse_quantity(v, "time"))
    assert d.edges["c", "s"]["bandwidth_bps"] == 50e6
    assert d.edges["s", "c"]["latency_s"] == pytest.approx(0.003)


def test_graphml_missing_file_and_bad_xml(tmp_path):
    with pytest.raises(InputError, match="GraphML file not found"):
        topo.from_graphml(tmp_path / "nope.graphml")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph>")
    with pytest.raises(InputError, match="cannot read GraphML"):
        topo.from_graphml(bad)


def test_single_source_routes_equal_pairwise_routes():
    g = topo.ring(7, 3, topo.Link(1e9, 0.001), L, topo.Link(1e9, 0.0005))
    down, up = topo.routes_from(g, "server"), topo.routes_to(g, "server")
    for client in topo.clients_of(g):
        assert down[client] == topo.shortest_route(g, "server", client)
        assert up[client] == topo.shortest_route(g, client, "server")
