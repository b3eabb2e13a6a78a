"""OpenStreetMap loading from a tiny hand-written .osm file (skipped when the ``osm`` extra is missing)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from twin.mobility import RandomTripMobility, build_road_network, load_graphml, load_osm

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("osmnx") is None, reason="osm extra missing: osmnx not installed (pip install 'twin[osm]')"
)

# A block 0.002 deg (~149 m) wide and 0.001 deg (~111 m) high near Munich. Way 12 is one-way and bends through node 5;
# way 14 is a footway (dropped); node 1 joins two ways and is simplified away (it becomes a bend of edge 2 <-> 4).
TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="48.1000" lon="11.5000"/>
  <node id="2" lat="48.1000" lon="11.5020"/>
  <node id="3" lat="48.1010" lon="11.5020"/>
  <node id="4" lat="48.1010" lon="11.5000"/>
  <node id="5" lat="48.1015" lon="11.5010"/>
  <node id="6" lat="48.1005" lon="11.5030"/>
  <way id="10"><nd ref="1"/><nd ref="2"/>
    <tag k="highway" v="residential"/><tag k="maxspeed" v="30"/><tag k="name" v="South St"/></way>
  <way id="11"><nd ref="2"/><nd ref="3"/>
    <tag k="highway" v="primary"/><tag k="maxspeed" v="50"/><tag k="lanes" v="2"/></way>
  <way id="12"><nd ref="3"/><nd ref="5"/><nd ref="4"/>
    <tag k="highway" v="residential"/><tag k="oneway" v="yes"/></way>
  <way id="13"><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/></way>
  <way id="14"><nd ref="2"/><nd ref="6"/><tag k="highway" v="footway"/></way>
</osm>
"""


@pytest.fixture(scope="module")
def osm_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("osm") / "tiny.osm"
    p.write_text(TINY_OSM)
    return p


def _edge(net, u, v):
    (e,) = [i for i, (a, b, _) in enumerate(net.edge_keys) if (a, b) == (u, v)]
    return e


def test_load_osm_projects_to_metres_and_keeps_attributes(osm_file):
    net = load_osm(osm_file)
    assert sorted(net.node_ids) == [2, 3, 4]
    assert "326" in net.graph.graph["crs"]  # UTM zone 32N: projected, metres
    # 0.001 deg of latitude is ~111.2 m, in the attribute and in projected coordinates
    e23 = _edge(net, 2, 3)
    assert net.edge_length_m[e23] == pytest.approx(111.2, abs=0.5)
    assert np.hypot(*(net.node_xy_m[net.node_index[2]] - net.node_xy_m[net.node_index[3]])) == pytest.approx(
        111.2, abs=0.5
    )
    assert net.edge_speed_mps[e23] == pytest.approx(50 / 3.6)
    assert net.edge_lanes[e23] == 2
    # the one-way bend 3 -> 5 -> 4 keeps its geometry and has no reverse edge
    e34 = _edge(net, 3, 4)
    assert net.edge_seg_stop[e34] - net.edge_seg_start[e34] == 2
    assert net.edge_geom_length_m[e34] == pytest.approx(net.edge_length_m[e34], rel=0.01)
    assert not any((a, b) == (4, 3) for a, b, _ in net.edge_keys)
    # 2 <-> 4 runs through the simplified-away node 1; the footway to node 6 is gone
    assert net.edge_speed_mps[_edge(net, 2, 4)] == pytest.approx(30 / 3.6)
    assert 6 not in net.node_index
    assert net.shortest_path(4, 3) == [4, 2, 3]
    assert build_road_network("osm", path=osm_file).n_edges == net.n_edges


def test_graphml_round_trip_and_vehicles_on_osm(osm_file, tmp_path):
    import osmnx as ox

    gml = tmp_path / "tiny.graphml"
    ox.save_graphml(ox.graph_from_xml(osm_file), gml)
    a, b = load_osm(osm_file), load_graphml(gml)
    assert b.n_nodes == a.n_nodes and b.n_edges == a.n_edges
    assert np.allclose(np.sort(a.edge_length_m), np.sort(b.edge_length_m))
    assert np.allclose(np.sort(a.node_xy_m, axis=0), np.sort(b.node_xy_m, axis=0))
    mob = RandomTripMobility(a, n_vehicles=6, rng=np.random.default_rng(2))
    for _ in range(50):
        mob.step(2.0)
        assert a.distance_to_road_m(mob.positions_m).max() <= 1e-6


def test_bad_osm_file(tmp_path):
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='x'")
    with pytest.raises(ValueError, match="could not read OSM XML"):
        load_osm(bad)
    bad_gml = tmp_path / "bad.graphml"
    bad_gml.write_text("not xml")
    with pytest.raises(ValueError, match="could not read GraphML"):
        load_graphml(bad_gml)
