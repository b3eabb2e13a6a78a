"""Buildings, antenna heights and geometric LOS in a built scenario: LOS per client in the samples from the buildings,
heights in cells.parquet, the buildings table, and every bad input as one InputError naming the field or file."""

import copy
import logging
from pathlib import Path

import numpy as np
import pytest
from test_access import Scripted, _scenario

from twin.errors import InputError
from twin.scenario.loading import validate
from twin.sim.runner import dry_build, simulate

DATA = Path(__file__).resolve().parents[1] / "data" / "geo"


def city(**radio):
    """A 3 x 3 grid (200 m blocks) with one 30 m building a block (10 m set-back), one cell at junction (0, 0)."""
    cfg = _scenario()
    cfg["mobility"] = {"kind": "grid", "rows": 3, "cols": 3, "block_length_m": "200 m", "n_vehicles": 3,
                       "step_s": 1.0, "buildings": {"kind": "blocks", "setback_m": "10 m", "height_m": "30 m"}}
    cfg["radio"]["tiers"] = [{"name": "macro", "preset": "nr-macro", "h_bs_m": "10 m",
                              "placement": {"kind": "explicit", "sites_m": [[0, 0]]},
                              "backhaul": {"bandwidth_bps": "100 Gbit/s", "latency_s": 0.0}}]
    cfg["radio"].update({"los": {"kind": "geometry", "tile_m": "10 m"}, **radio})
    cfg["clients"]["vehicles"] = {"count": 3}
    cfg["fl"]["schedule"] = {"kind": "constant", "start": 3}
    return cfg


# along the cell's street (LOS), behind the first block (NLOS), on the far street seen down the x = 0 street (LOS)
PLACES = np.array([[150.0, 0.0], [200.0, 150.0], [0.0, 380.0]])


def run(monkeypatch, cfg, places=PLACES):
    import twin.sim.access_build as access_build
    from twin.mobility import grid_network

    road = grid_network(rows=3, cols=3, block_length_m=200.0)
    monkeypatch.setattr(access_build, "build_mobility",
                        lambda c, base, rng: (road, Scripted(lambda t: places, len(places)), lambda: None))
    return simulate(validate(cfg))


def los_of(result):
    s = result.tables["samples"]
    los = s[(s["name"] == "los") & (s["t"] == 0)].sort_values("entity")
    return los["value"].tolist()


def test_geometry_los_per_client_in_the_samples(monkeypatch):
    result = run(monkeypatch, city())
    assert result.summary["status"] == "ok"
    assert los_of(result) == [1.0, 0.0, 1.0]
    b = result.tables["buildings"]
    assert b["building"].nunique() == 4 and set(b["height_m"]) == {30.0}
    assert result.tables["cells"]["height_m"].tolist() == [10.0]
    never = run(monkeypatch, city(los="nlos"))  # the old strings stay accepted
    assert los_of(never) == [0.0, 0.0, 0.0]
    # with geometry the NLOS vehicle's rate is lower than in LOS at the same place
    s = result.tables["samples"]
    rate = s[(s["name"] == "rate_dl") & (s["t"] == 0)].sort_values("entity")["value"].to_numpy()
    always = run(monkeypatch, city(los={"kind": "always"})).tables["samples"]
    rate_los = always[(always["name"] == "rate_dl") & (always["t"] == 0)].sort_values("entity")["value"].to_numpy()
    assert rate[1] < rate_los[1] and rate[0] == rate_los[0]


def test_antenna_heights_per_tier_and_vehicle_type(monkeypatch):
    cfg = city(los="stochastic")
    cfg["radio"]["tiers"][0]["placement"]["sites_m"] = [[0, 0], [100, 100], [300, 300]]
    cfg["radio"]["tiers"][0]["antenna_height"] = {"kind": "rooftop", "mast_m": "3 m"}
    result = run(monkeypatch, cfg)
    assert result.tables["cells"]["height_m"].tolist() == [10.0, 33.0, 33.0]  # street: h_bs_m; roofs: 30 + 3
    cfg["radio"]["tiers"][0]["antenna_height"] = {"kind": "uniform_int", "low": 5, "high": 15}
    h = run(monkeypatch, cfg).tables["cells"]["height_m"].to_numpy()
    assert np.all((h >= 5) & (h <= 15) & (h == np.round(h)))
    cfg["radio"]["tiers"][0]["antenna_height"] = {"kind": "per_site", "heights_m": [12, 40, 45]}
    assert run(monkeypatch, cfg).tables["cells"]["height_m"].tolist() == [12.0, 40.0, 45.0]
    cfg["radio"]["tiers"][0]["antenna_height"] = {"kind": "per_site", "heights_m": [12, 40]}
    with pytest.raises(InputError, match=r"radio.tiers\[0\].antenna_height.heights_m: 2 heights for 3 sites"):
        run(monkeypatch, cfg)


def test_vehicle_antenna_height_changes_the_path_loss(monkeypatch):
    low = run(monkeypatch, city(los="always")).tables["samples"]
    cfg = city(los="always")
    cfg["mobility"]["vehicle_types"] = [{"name": "passenger", "max_speed_mps": 10, "antenna_height_m": "3 m"}]
    high = run(monkeypatch, cfg).tables["samples"]

    def sinr(s):
        return s[(s["name"] == "sinr_dl") & (s["t"] == 0)].sort_values("entity")["value"].to_numpy()

    assert not np.allclose(sinr(low), sinr(high))


def test_in_car_loss_defaults_per_preset():
    from twin.radio import get_preset

    assert get_preset("nr-macro").car_penetration_loss and not get_preset("drive-lte").car_penetration_loss


def bad(cfg, match, monkeypatch=None):
    with pytest.raises(InputError, match=match) as err:
        if monkeypatch is None:
            dry_build(validate(cfg), base_dir=DATA)
        else:
            run(monkeypatch, cfg)
    assert "\n" not in str(err.value)


def test_antenna_below_a_roof_is_refused_and_a_rooftop_antenna_is_fine(monkeypatch):
    cfg = city()
    cfg["radio"]["tiers"][0]["placement"]["sites_m"] = [[100, 100]]  # inside the first block's building (30 m)
    bad(cfg, r"radio.tiers\[0\].antenna_height: site 0 at \(100.0, 100.0\) m has its antenna at 10 m, below the roof "
             r"\(30 m\)", monkeypatch)
    cfg["radio"]["tiers"][0]["antenna_height"] = {"kind": "rooftop"}
    assert run(monkeypatch, cfg).summary["status"] == "ok"
    stochastic = copy.deepcopy(cfg)
    stochastic["radio"]["tiers"][0].pop("antenna_height")
    stochastic["radio"]["los"] = "random"  # only geometric LOS needs the antenna above the roof
    assert run(monkeypatch, stochastic).summary["status"] == "ok"


def test_geometry_needs_buildings(monkeypatch):
    cfg = city()
    cfg["mobility"].pop("buildings")
    bad(cfg, "radio.los: kind geometry needs buildings", monkeypatch)


def test_building_files_errors_name_the_file(monkeypatch, tmp_path, caplog):
    def with_file(kind, text=None, path=None):
        cfg = city(los="stochastic")
        if text is not None:
            path = tmp_path / ("b.poly.xml" if kind == "sumo_poly" else "b.osm")
            path.write_text(text)
        cfg["mobility"]["buildings"] = {"kind": kind, "path": str(path)}
        return cfg

    bad(with_file("sumo_poly", "<additional><poly id='a' type='building'"), r"mobility.buildings.path: could not parse "
        r"SUMO polygon file .*b.poly.xml", monkeypatch)
    bad(with_file("sumo_poly", "<additional><poly id='a' type='building' shape='0,0 5,5'/></additional>"),
        r"mobility.buildings.path: b.poly.xml: poly 'a': a building needs at least 3 points", monkeypatch)
    bad(with_file("sumo_poly", "<additional><poly id='a' type='building' height='-2' shape='0,0 5,0 5,5'/>"
                  "</additional>"), "b.poly.xml: poly 'a': negative height", monkeypatch)
    bad(with_file("osm", path=tmp_path / "missing.osm"), "mobility.buildings.path: file not found", monkeypatch)
    bad(with_file("osm", path=DATA / "small.osm"), "mobility.buildings.kind: osm buildings are projected to the road "
        "network's CRS, but this network has none", monkeypatch)  # a generated grid in local metres
    no_buildings = ('<osm version="0.6"><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.001"/>'
                    '<way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/></way></osm>')
    with caplog.at_level(logging.WARNING, logger="twin"):
        assert run(monkeypatch, with_file("osm", no_buildings)).summary["status"] == "ok"  # stochastic LOS: fine
    assert "mobility.buildings: b.osm: the OSM file holds no buildings" in caplog.text
    geometric = with_file("osm", no_buildings)
    geometric["radio"]["los"] = {"kind": "geometry"}
    bad(geometric, "radio.los: kind geometry, but b.osm holds no buildings; use los: stochastic", monkeypatch)


def test_the_committed_polyconvert_file_builds():
    cfg = city(los="stochastic")
    cfg["mobility"]["buildings"] = {"kind": "sumo_poly", "path": "small.poly.xml"}
    assert dry_build(validate(cfg), base_dir=DATA) is not None


@pytest.mark.skipif(__import__("importlib").util.find_spec("osmnx") is None, reason="osm extra missing")
def test_osm_roads_and_buildings_share_one_frame():
    """small.osm: a cross of streets and four buildings 5 m from them; roads (osmnx) and buildings (our parser)
    land in the same UTM frame, and a run with geometric LOS from them works end to end."""
    import shapely

    from twin import geo
    from twin.mobility import load_osm

    road = load_osm(DATA / "small.osm")
    b = geo.buildings_from_osm(DATA / "small.osm", crs=road.graph.graph["crs"])
    streets = shapely.union_all(shapely.linestrings(np.stack([road.seg_a_m, road.seg_b_m], axis=1)))
    assert shapely.distance(streets, b.footprints) == pytest.approx([5.0] * 4, abs=0.05)
    cfg = city()
    cfg["mobility"] = {"kind": "osm", "path": str(DATA / "small.osm"), "n_vehicles": 4,
                       "buildings": {"kind": "osm", "default_height_m": "20 m"}}
    cfg["radio"]["tiers"][0]["placement"] = {"kind": "roadside", "at_junctions": True, "min_degree": 3}
    cfg["radio"]["tiers"][0]["max_range_m"] = "1 km"
    result = simulate(validate(cfg))
    assert result.summary["status"] == "ok"
    assert result.tables["buildings"]["building"].nunique() == 4
    s = result.tables["samples"]
    assert set(s.loc[s["name"] == "los", "value"]) <= {0.0, 1.0} and (s["name"] == "los").sum() > 0
