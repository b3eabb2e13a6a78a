"""Exact 3D LOS on hand-made footprints, against a brute-force reference on random cities."""

import numpy as np
import pytest
import shapely

from twin.geo import Buildings, blocking_building, los_exact, make_buildings

SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10)]


def one(height=20.0, ring=SQUARE) -> Buildings:
    return make_buildings([ring], [height])


def test_segment_through_a_building_is_blocked():
    assert not los_exact([-10, 5, 25], [[20, 5, 1.5]], one())[0]  # at x = 0 the segment is at 17.2 m < 20 m


def test_segment_over_a_low_building_is_los():
    # the segment descends: its lowest point over the roof is at the far wall x = 10, 9.333 m high
    assert los_exact([-10, 5, 25], [[20, 5, 1.5]], one(height=5.0))[0]
    z_at_wall = 25 - 23.5 * 20 / 30  # a roof just below it is LOS, just above blocks
    assert los_exact([-10, 5, 25], [[20, 5, 1.5]], one(height=z_at_wall - 1e-9))[0]
    assert not los_exact([-10, 5, 25], [[20, 5, 1.5]], one(height=z_at_wall + 1e-6))[0]


def test_street_canyon_is_los_and_the_cross_street_is_not():
    # two rows of buildings along a 20 m wide street (y in [0, 20]); antenna and car in the street
    rows = [[(x, -30), (x + 40, -30), (x + 40, 0), (x, 0)] for x in range(0, 200, 50)]
    rows += [[(x, 20), (x + 40, 20), (x + 40, 50), (x, 50)] for x in range(0, 200, 50)]
    b = make_buildings(rows, np.full(len(rows), 30.0))
    cars = np.array([[190, 10, 1.5], [100, 1, 1.5], [100, 19, 1.5], [45, 35, 1.5], [95, 40, 1.5]])
    # along the canyon (also close to either wall): LOS; into the alley at x = 45 from (5, 10): through the building
    # [0, 40] x [20, 50]; (95, 40) is inside a building
    got = los_exact([5, 10, 10], cars, b)
    assert got.tolist() == [True, True, True, False, False]
    assert los_exact([95, 10, 10], [[95, 45, 1.5]], b)[0]  # straight up the alley between two buildings


def test_touching_a_corner_or_running_along_a_wall_is_los():
    b = one()
    assert los_exact([-10, -10, 1.5], [[20, 20, 1.5]], one(ring=[(0, 0), (10, 0), (10, -10), (0, -10)]))[0]  # corner
    assert los_exact([-10, 0, 1.5], [[20, 0, 1.5]], b)[0]  # along the wall y = 0
    assert los_exact([-10, 0, 1.5], [[10, 20, 1.5]], b)[0]  # y = x + 10 touches the corner (0, 10) only
    assert not los_exact([-10, 0, 1.5], [[10, 19, 1.5]], b)[0]  # a little further in: through the building


def test_rooftop_antenna_ignores_its_own_roof_but_not_a_taller_building():
    b = make_buildings([SQUARE, [(30, 0), (40, 0), (40, 10), (30, 10)]], [20.0, 40.0])
    assert los_exact([5, 5, 20], [[-50, 5, 1.5]], b)[0]  # on the roof of building 0 (DRIVE's rooftop LTE)
    assert not los_exact([5, 5, 19.9], [[-50, 5, 1.5]], b)[0]  # inside building 0
    assert not los_exact([5, 5, 25], [[60, 5, 1.5]], b)[0]  # building 1 is taller
    assert blocking_building([5, 5, 25], [[60, 5, 1.5], [-50, 5, 1.5]], b).tolist() == [1, -1]


def test_vertical_segments_and_shapes():
    b = one()
    assert not los_exact([5, 5, 30], [[5, 5, 1.5]], b)[0]  # straight down through the roof
    assert los_exact([-5, 5, 30], [[-5, 5, 1.5]], b)[0]
    with pytest.raises(ValueError, match="tx_xyz"):
        los_exact([[0, 0]], [[1, 1, 1]], b)
    assert los_exact(np.zeros((0, 3)), np.zeros((0, 3)), b).shape == (0,)
    assert los_exact([0, 0, 1], [[50, 50, 1]], make_buildings([], [])).all()


def random_city(rng, n=60, size=500.0) -> Buildings:
    """Random rotated rectangles and L-shapes (non-convex) with heights 5-50 m."""
    rings = []
    for _ in range(n):
        cx, cy = rng.uniform(0, size, 2)
        w, d = rng.uniform(8, 40, 2)
        poly = shapely.box(-w / 2, -d / 2, w / 2, d / 2)
        if rng.random() < 0.3:
            poly = poly.difference(shapely.box(0, 0, w, d))  # an L
        poly = shapely.affinity.rotate(poly, rng.uniform(0, 180), origin=(0, 0))
        poly = shapely.affinity.translate(poly, cx, cy)
        rings.append(np.asarray(poly.exterior.coords))
    return make_buildings(rings, rng.uniform(5, 50, n))


def brute_force_los(tx, rx, b: Buildings, samples=4000) -> np.ndarray:
    """Reference: sample the segment densely; blocked where a sample is strictly inside a footprint below its roof
    (ignoring a building whose footprint holds an endpoint at or above its roof)."""
    out = np.ones(len(rx), dtype=bool)
    t = (np.arange(samples) + 0.5) / samples
    for i in range(len(rx)):
        pts = tx[i] + (rx[i] - tx[i]) * t[:, None]
        for k, poly in enumerate(b.footprints):
            h = b.heights_m[k]
            if any(shapely.intersects_xy(poly, e[0], e[1]) and e[2] >= h for e in (tx[i], rx[i])):
                continue
            low = pts[:, 2] < h
            if low.any() and shapely.contains_xy(poly, pts[low, 0], pts[low, 1]).any():
                out[i] = False
                break
    return out


def test_exact_matches_brute_force_on_random_cities():
    rng = np.random.default_rng(3)
    agree, total = 0, 0
    for _ in range(3):
        b = random_city(rng)
        n = 150
        tx = np.column_stack([rng.uniform(0, 500, (n, 2)), rng.uniform(1, 60, n)])
        rx = np.column_stack([rng.uniform(0, 500, (n, 2)), rng.uniform(1, 3, n)])
        exact, brute = los_exact(tx, rx, b), brute_force_los(tx, rx, b)
        agree += int((exact == brute).sum())
        total += n
        assert 0.1 < exact.mean() < 0.95  # both states occur: the test can fail
    # sampling at 4000 points per segment can only miss a sliver thinner than ~0.2 m
    assert agree / total >= 0.995, agree / total
