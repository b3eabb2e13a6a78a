"""LOS tiles (shadow regions rasterised per cell) against the exact segment test on random cities."""

import numpy as np
import pytest
import shapely

from twin.geo import LosTiles, grid_blocks, host_buildings, los_exact, make_buildings, shadow_region

from .test_los import random_city


def cells_for(b, rng, n, size):
    cells = np.column_stack([rng.uniform(0, size, (n, 2)), rng.uniform(3, 60, n)])
    cells[:, 2] = np.maximum(cells[:, 2], b.height_at(cells[:, :2]))  # rooftop where it stands on a building
    return cells


@pytest.mark.parametrize("seed", [0, 1])
def test_tiles_equal_exact_at_tile_centres(seed):
    rng = np.random.default_rng(seed)
    b = random_city(rng, n=50, size=400.0)
    cells = cells_for(b, rng, 4, 400.0)
    tiles = LosTiles.build(b, cells, ue_height_m=1.5, tile_m=12.0, bounds=(0, 0, 400, 400))
    _, ny, nx = tiles.shape
    gx, gy = np.meshgrid(12.0 * (np.arange(nx) + 0.5), 12.0 * (np.arange(ny) + 0.5))
    rx = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, 1.5)])
    for k in range(len(cells)):
        exact = los_exact(cells[k], rx, b)
        assert 0.05 < exact.mean() < 0.98
        assert (tiles.los[k].ravel() == exact).mean() >= 0.999  # equal up to points on a shadow's edge


@pytest.mark.parametrize("tile_m", [8.0, 16.0])
def test_tile_lookup_agrees_with_exact_on_99_percent_of_links(tile_m):
    """Tolerance: >= 99 % of (vehicle, cell) links agree; a disagreement lies in a sub-tile (tile / 8) crossed by a
    shadow's edge (tested: the exact state at the sub-tile's centre is the looked-up one)."""
    rng = np.random.default_rng(11)
    size = 600.0
    b = random_city(rng, n=90, size=size)
    cells = cells_for(b, rng, 8, size)
    tiles = LosTiles.build(b, cells, ue_height_m=1.5, tile_m=tile_m, bounds=(0, 0, size, size))
    xy = rng.uniform(0, size, (4000, 2))
    xy = xy[b.index_at(xy) < 0]  # vehicles are outside buildings
    got = tiles.lookup(xy)
    assert got.shape == (len(xy), len(cells))
    rx = np.column_stack([xy, np.full(len(xy), 1.5)])
    exact = np.column_stack([los_exact(c, rx, b) for c in cells])
    agree = (got == exact).mean()
    assert agree >= 0.99, agree
    assert tiles.mixed_fraction < 0.5
    bad_v, bad_c = np.nonzero(got != exact)
    sub = tile_m / 8
    centre = (np.floor(xy[bad_v] / sub) + 0.5) * sub
    at_centre = np.array([los_exact(cells[c], [[*p, 1.5]], b)[0] for c, p in zip(bad_c, centre, strict=True)])
    assert (at_centre == got[bad_v, bad_c]).mean() >= 0.99


def test_grid_city_street_canyons():
    b = grid_blocks(rows=4, cols=4, block_length_m=200.0, setback_m=10.0, height_m=30.0)
    cell = [0.0, 0.0, 10.0]  # at a corner junction, 10 m high: sees along its two streets, not the parallel ones
    tiles = LosTiles.build(b, cell, tile_m=10.0)
    xy = np.array([[0.0, 550.0], [550.0, 0.0], [200.0, 550.0], [550.0, 200.0], [300.0, 300.0]])
    assert tiles.lookup(xy)[:, 0].tolist() == [True, True, False, False, False]
    high = LosTiles.build(b, [0.0, 0.0, 300.0], tile_m=10.0)  # far above every roof: sees much more
    assert high.los.mean() > tiles.los.mean()


def test_rooftop_antenna_and_antenna_inside_a_building():
    b = make_buildings([[(0, 0), (20, 0), (20, 20), (0, 20)], [(40, 0), (60, 0), (60, 20), (40, 20)]], [15.0, 30.0])
    assert [h.tolist() for h in host_buildings(b, [[10, 10, 15.0], [100, 100, 5.0]])] == [[0], []]
    with pytest.raises(ValueError, match=r"cell 0: antenna at 10 m is below the roof \(15 m\) of building 0"):
        LosTiles.build(b, [10, 10, 10.0])
    tiles = LosTiles.build(b, [10, 10, 15.0], tile_m=2.0, bounds=(-40, -40, 100, 60))
    got = tiles.lookup([[-30, 10], [80, 10], [10, 10]])[:, 0]
    assert got.tolist() == [True, False, False]  # behind the taller building; inside its own building


def test_outside_the_grid_is_exact_and_bad_arguments():
    b = make_buildings([[(0, 0), (20, 0), (20, 20), (0, 20)]], [25.0])
    tiles = LosTiles.build(b, [-50, 10, 10.0], tile_m=10.0, bounds=(-60, -10, 30, 30))
    assert tiles.lookup([[200, 10], [200, 300]])[:, 0].tolist() == [False, True]
    for kwargs, match in (({"tile_m": 0}, "tile_m"), ({"ue_height_m": -1}, "ue_height_m"),
                          ({"bounds": (0, 0, 0, 10)}, "bounds")):
        with pytest.raises(ValueError, match=match):
            LosTiles.build(b, [-50, 10, 10.0], **kwargs)


def test_shadow_region_of_a_low_building_is_finite():
    b = make_buildings([[(10, -5), (20, -5), (20, 5), (10, 5)]], [10.0])
    region = shadow_region(b, [0, 0, 20.0], 0.0, far_m=1000.0)
    # s_hi = (20 - 0) / (20 - 10) = 2: the shadow ends 40 m from the antenna
    assert region.bounds[2] == pytest.approx(40.0)
    assert shapely.contains_xy(region, 39.0, 0.0) and not shapely.contains_xy(region, 41.0, 0.0)
    assert los_exact([0, 0, 20.0], [[39.0, 0, 0.0], [41.0, 0, 0.0]], b).tolist() == [False, True]
