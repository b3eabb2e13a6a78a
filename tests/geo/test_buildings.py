"""Buildings: validation, generated grid blocks, parsers on committed fixtures (tests/data/geo)."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from twin.geo import NoBuildingsWarning, buildings_from_osm, buildings_from_sumo_poly, grid_blocks, make_buildings

DATA = Path(__file__).resolve().parents[1] / "data" / "geo"


def test_grid_blocks_sit_between_the_streets():
    b = grid_blocks(rows=3, cols=4, block_length_m=100.0, setback_m=10.0, split=2, seed=5)
    assert len(b) == 2 * 3 * 4
    assert b.bounds == (10.0, 10.0, 290.0, 190.0)
    assert np.all((b.heights_m >= 15) & (b.heights_m <= 50))  # DRIVE's U(15, 50) m
    assert np.array_equal(b.heights_m, grid_blocks(rows=3, cols=4, block_length_m=100.0, split=2, seed=5).heights_m)
    assert b.index_at([[50, 0], [25, 25], [50, 50]]).tolist() == [-1, 0, -1]  # a street, a building, an alley
    assert grid_blocks(rows=2, cols=2, block_length_m=50.0, height_m=(20, 20)).heights_m.tolist() == [20.0]
    with pytest.raises(ValueError, match="setback_m"):
        grid_blocks(rows=2, cols=2, block_length_m=20.0, setback_m=10.0)


def test_make_buildings_rejects_bad_input():
    with pytest.raises(ValueError, match="building 0 has fewer than 3 points"):
        make_buildings([[(0, 0), (1, 1), (0, 0)]], [10.0])
    with pytest.raises(ValueError, match="building 1 has height -5 m"):
        make_buildings([[(0, 0), (1, 0), (1, 1)], [(0, 0), (2, 0), (2, 2)]], [10.0, -5.0])
    with pytest.raises(ValueError, match="zero area"):
        make_buildings([[(0, 0), (1, 1), (2, 2)]], [10.0])
    bowtie = make_buildings([[(0, 0), (2, 2), (2, 0), (0, 2)]], [10.0])  # self-intersecting: repaired
    assert bowtie.footprints[0].is_valid


def test_osm_fixture_heights_and_projection():
    b = buildings_from_osm(DATA / "small.osm", rng=np.random.default_rng(0))
    # height tag, 5 levels x 3 m, a DRIVE draw, a multipolygon relation with height=40ft; building=no skipped
    assert len(b) == 4
    assert b.heights_m[[0, 1, 3]] == pytest.approx([12.0, 15.0, 12.192])
    assert 15 <= b.heights_m[2] <= 50
    assert [round(p.area) for p in b.footprints] == [600] * 4  # 30 m x 20 m in UTM metres
    fixed = buildings_from_osm(DATA / "small.osm", default_height_m=9.0)
    assert fixed.heights_m[2] == 9.0


def test_sumo_poly_fixture_matches_the_osm_source():
    """small.poly.xml is polyconvert's output for small.osm (--all-attributes --proj.utm): same footprints."""
    osm = buildings_from_osm(DATA / "small.osm", default_height_m=9.0)
    poly = buildings_from_sumo_poly(DATA / "small.poly.xml", default_height_m=9.0)
    assert len(poly) == len(osm)
    assert poly.heights_m == pytest.approx(osm.heights_m, abs=0.01)
    for a, c in zip(osm.footprints, poly.footprints, strict=True):
        assert a.symmetric_difference(c).area < 0.01


def test_bad_files(tmp_path):
    road_only = tmp_path / "roads.osm"
    road_only.write_text('<osm version="0.6"><node id="1" lat="0" lon="0"/><node id="2" lat="0" lon="0.001"/>'
                         '<way id="3"><nd ref="1"/><nd ref="2"/><tag k="highway" v="primary"/></way></osm>')
    with pytest.warns(NoBuildingsWarning, match="roads.osm: the OSM file holds no buildings"):
        assert len(buildings_from_osm(road_only)) == 0
    broken = tmp_path / "broken.poly.xml"
    broken.write_text("<additional><poly id='a' type='building' shape='0,0 1,0 1,1'></additional>")
    with pytest.raises(ValueError, match="could not parse SUMO polygon file .*broken.poly.xml"):
        buildings_from_sumo_poly(broken)
    two = tmp_path / "two.poly.xml"
    two.write_text("<additional><poly id='a' type='building' shape='0,0 1,0 0,0'/></additional>")
    with pytest.raises(ValueError, match="two.poly.xml: poly 'a': a building needs at least 3 points"):
        buildings_from_sumo_poly(two)
    neg = tmp_path / "neg.poly.xml"
    neg.write_text("<additional><poly id='b' type='building' height='-3' shape='0,0 9,0 9,9'/></additional>")
    with pytest.raises(ValueError, match="neg.poly.xml: poly 'b': negative height"):
        buildings_from_sumo_poly(neg)
    junk = tmp_path / "junk.poly.xml"
    junk.write_text("<additional><poly id='c' type='building' shape='0,0 a,b 9,9'/></additional>")
    with pytest.raises(ValueError, match="junk.poly.xml: poly 'c' has a malformed shape"):
        buildings_from_sumo_poly(junk)
    with pytest.raises(FileNotFoundError, match="SUMO polygon file not found"):
        buildings_from_sumo_poly(tmp_path / "nope.poly.xml")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(buildings_from_sumo_poly(DATA / "small.poly.xml", types="building")) == 4


def test_building_centres_as_drive_computes_them():
    b = make_buildings([[(0, 0), (40, 0), (40, 20), (0, 20)], [(0, 0), (3, 0), (0, 4)]], [20.0, 10.0])
    centres = b.centres_xy()
    assert centres[0] == pytest.approx([20.0, 10.0])  # a rectangle: its centre (two mirrored incentres)
    assert centres[1] == pytest.approx([1.0, 1.0])  # a 3-4-5 triangle: its incentre (r = 1)
    assert b.centres_xy("centroid")[1] == pytest.approx([1.0, 4 / 3])
    with pytest.raises(ValueError, match="method"):
        b.centres_xy("middle")
