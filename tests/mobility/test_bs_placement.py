"""Base-station placement: hex grid, explicit sites, candidates on roads, greedy small cells."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from twin.mobility import (
    Sites,
    canyon_los_covers,
    distance_covers,
    explicit_sites,
    greedy_small_cells,
    grid_network,
    hex_grid,
    small_cell_candidates,
)


def _pairwise(xy):
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def test_hex_grid_spacing_and_extent():
    sites = hex_grid((0.0, 0.0, 2000.0, 1500.0), 500.0)
    xy = sites.xy_m
    assert set(sites.kind) == {"macro"}
    assert np.all((xy >= [0, 0]) & (xy <= [2000, 1500]))
    assert [1000.0, 750.0] in xy.tolist()  # the centre site
    d = _pairwise(xy)
    np.fill_diagonal(d, np.inf)
    nearest = d.min(axis=1)
    assert np.allclose(nearest, 500.0)
    # interior sites have six neighbours at exactly the ISD, none closer
    assert np.isclose(d, 500.0).sum(axis=1).max() == 6
    assert d.min() >= 500.0 - 1e-9
    # rows are ISD * sqrt(3) / 2 apart
    rows = np.unique(np.round(xy[:, 1], 6))
    assert np.allclose(np.diff(rows), 500.0 * math.sqrt(3) / 2)
    bigger = hex_grid((0.0, 0.0, 2000.0, 1500.0), 500.0, margin_m=500.0)
    assert len(bigger) > len(sites)


def test_hex_grid_small_box_keeps_centre_and_errors():
    assert hex_grid((0, 0, 10, 10), 500.0).xy_m.tolist() == [[5.0, 5.0]]
    with pytest.raises(ValueError, match="isd_m"):
        hex_grid((0, 0, 10, 10), -1.0)
    with pytest.raises(ValueError, match="bbox_m"):
        hex_grid((10, 0, 0, 10), 100.0)


def test_explicit_sites_and_concat():
    a = explicit_sites([[0, 0], [10, 5]])
    b = explicit_sites(np.array([[3.0, 4.0]]), kind=["small"])
    both = a + b
    assert both.xy_m.shape == (3, 2) and both.kind.tolist() == ["macro", "macro", "small"]
    assert len(both.of_kind("small")) == 1
    with pytest.raises(ValueError, match=r"shape \[n, 2\]"):
        explicit_sites([1, 2, 3])
    with pytest.raises(ValueError, match="kind labels"):
        Sites(np.zeros((2, 2)), np.array(["x"]))


def test_small_cell_candidates_on_grid():
    net = grid_network(rows=3, cols=3, block_length_m=200)
    cand = small_cell_candidates(net, every_m=100.0)
    # 9 junctions + 12 roads x 1 mid-block point
    assert len(cand) == 9 + 12 and set(cand.kind) == {"small"}
    assert net.distance_to_road_m(cand.xy_m).max() < 1e-9
    crossings = small_cell_candidates(net, every_m=None, min_degree=4)
    assert crossings.xy_m.tolist() == [[200.0, 200.0]]
    with pytest.raises(ValueError, match="no candidates"):
        small_cell_candidates(net, at_junctions=False, every_m=None)


def test_greedy_reaches_target_and_is_near_minimal():
    net = grid_network(rows=4, cols=4, block_length_m=100)
    points = net.sample_points(10.0)
    cand = small_cell_candidates(net, every_m=50.0)
    res = greedy_small_cells(cand, points, target_fraction=0.9, max_range_m=120.0)
    assert res.reached and res.coverage_fraction >= 0.9
    cover = distance_covers(120.0)
    union = np.zeros(len(points), dtype=bool)
    for xy in res.sites.xy_m:
        union |= cover(xy, points)
    assert union.mean() == pytest.approx(res.coverage_fraction)
    assert np.array_equal(union, res.covered)
    # every pick added something, gains never increase, and it is far fewer than the candidates
    assert np.all(res.gains > 0) and np.all(np.diff(res.gains) <= 0)
    assert len(res.chosen) < len(cand) / 4
    # removing the last pick drops below the target (no wasted cell at the end)
    assert (res.covered.sum() - res.gains[-1]) / len(points) < 0.9
    # lower bound: no set of fewer cells can cover 90 % when the best single cell covers at most g points
    assert len(res.chosen) >= math.ceil(0.9 * len(points) / res.gains[0])


def test_greedy_matches_brute_force_optimum_on_small_instance():
    rng = np.random.default_rng(4)
    points = rng.uniform(0, 300, size=(40, 2))
    cand = rng.uniform(0, 300, size=(10, 2))
    res = greedy_small_cells(cand, points, target_fraction=0.8, max_range_m=110.0, strict=False)
    cover = distance_covers(110.0)
    masks = np.array([cover(c, points) for c in cand])
    need = math.ceil(0.8 * len(points))
    best = None
    for k in range(1, len(cand) + 1):
        if any(masks[list(s)].any(axis=0).sum() >= need for s in itertools.combinations(range(len(cand)), k)):
            best = k
            break
    assert best is not None and res.reached
    assert best <= len(res.chosen) <= best + 1  # greedy is near-optimal here


def test_greedy_uses_pluggable_covers_and_canyon_los():
    net = grid_network(rows=3, cols=3, block_length_m=100)
    points = net.sample_points(10.0)
    cand = small_cell_candidates(net, every_m=None)  # the 9 junctions
    calls = []

    def only_left_half(c, pts):
        calls.append(len(pts))
        return (pts[:, 0] <= 100.0) & (np.hypot(*(pts - c).T) <= 1e9)

    res = greedy_small_cells(cand, points, target_fraction=0.5, max_range_m=1000.0, covers=only_left_half)
    assert res.reached and np.all(points[res.covered, 0] <= 100.0)
    assert len(calls) == len(cand)
    # line of sight along streets only: a corner site sees its two streets, not the block interiors' far side
    los = canyon_los_covers(net, max_range_m=250.0, street_width_m=10.0)
    seen = los(np.array([0.0, 0.0]), points)
    assert np.all((points[seen, 0] < 1e-9) | (points[seen, 1] < 1e-9))
    assert not los(np.array([0.0, 0.0]), np.array([[100.0, 100.0]]))[0]  # diagonal: behind a building
    res = greedy_small_cells(cand, points, target_fraction=1.0, max_range_m=250.0, covers=los)
    assert res.reached and 3 <= len(res.chosen) <= 6  # e.g. the three junctions on a diagonal see every street


def test_greedy_unreachable_target_and_bad_input():
    pts = np.array([[0.0, 0.0], [1000.0, 0.0]])
    with pytest.raises(ValueError, match="below target_fraction"):
        greedy_small_cells(np.array([[0.0, 0.0]]), pts, target_fraction=0.9, max_range_m=100.0)
    with pytest.warns(UserWarning, match="below target_fraction"):
        res = greedy_small_cells(np.array([[0.0, 0.0]]), pts, target_fraction=0.9, max_range_m=100.0, strict=False)
    assert not res.reached and res.coverage_fraction == 0.5
    with pytest.raises(ValueError, match="target_fraction"):
        greedy_small_cells(np.array([[0.0, 0.0]]), pts, target_fraction=1.5)
    with pytest.raises(ValueError, match="points_xy"):
        greedy_small_cells(np.array([[0.0, 0.0]]), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="covers returned shape"):
        greedy_small_cells(np.array([[0.0, 0.0]]), pts, max_range_m=5000.0, covers=lambda c, p: np.ones(7, bool))


def test_greedy_count_places_exactly_that_many_past_the_target():
    net = grid_network(rows=4, cols=4, block_length_m=100)
    points = net.sample_points(10.0)
    cand = small_cell_candidates(net, every_m=50.0)
    short = greedy_small_cells(cand, points, target_fraction=0.5, max_range_m=60.0)
    exact = greedy_small_cells(cand, points, target_fraction=0.5, max_range_m=60.0, count=len(short.chosen) + 3)
    assert len(exact.chosen) == len(short.chosen) + 3  # target_fraction is ignored: it goes on past 50 %
    assert np.array_equal(exact.chosen[: len(short.chosen)], short.chosen)  # the same picks, in the same order
    assert np.all(exact.gains > 0) and exact.coverage_fraction > short.coverage_fraction
    # more cells than candidates that add coverage: an error naming count, not fewer cells
    with pytest.raises(ValueError, match="fewer than count=500"):
        greedy_small_cells(cand, points, max_range_m=60.0, count=500)
    with pytest.raises(ValueError, match="without max_cells"):
        greedy_small_cells(cand, points, max_range_m=60.0, count=3, max_cells=3)


def test_greedy_count_in_a_scenario_and_its_errors():
    from twin.mobility import PLACEMENTS
    from twin.scenario.placements import GreedyPlacement

    net = grid_network(rows=4, cols=4, block_length_m=100)
    sites = PLACEMENTS["greedy"](net, **GreedyPlacement(kind="greedy", count=5, max_range_m=60.0)
                                 .model_dump(exclude={"kind"}))
    assert len(sites) == 5
    with pytest.raises(ValueError, match="not both"):
        GreedyPlacement(kind="greedy", count=5, max_cells=5)
