"""Network-aware selection policies (twin.fl.selection_policies): pure numpy, checked by hand."""

import numpy as np
import pytest

from twin.fl import selection_policies as P


def test_oversample_count_rounds_up():
    assert P.oversample_count(10, 1.3) == 13
    assert P.oversample_count(3, 1.5) == 5
    assert P.oversample_count(0, 2.0) == 0
    with pytest.raises(ValueError, match="factor must be > 1"):
        P.oversample_count(10, 1.0)


def test_expected_round_time_by_hand():
    # 1 MB down at 8 Mbit/s = 1 s, 2 GFLOP at 1 GFLOP/s = 2 s, 0.5 MB up at 2 Mbit/s = 2 s
    t = P.expected_round_time(1e6, 0.5e6, np.array([2e9, 2e9]), np.array([1e9, 1e9]), np.array([8e6, 0.0]),
                              np.array([2e6, 2e6]))
    assert t[0] == pytest.approx(5.0) and np.isinf(t[1])


def test_predicted_dwell_along_a_straight_road():
    def rate_at(pts):  # good coverage for x < 100 m only
        return np.where(pts[:, 0] < 100.0, 1e7, 0.0)

    xy = np.array([[0.0, 0.0], [0.0, 0.0], [150.0, 0.0], [np.nan, np.nan]])
    vel = np.array([[10.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    dwell = P.predicted_dwell(xy, vel, rate_at, horizon_s=30.0, step_s=1.0, min_rate_bps=1e6)
    assert dwell.tolist() == [10.0, 30.0, 0.0, 0.0]  # leaves at 100 m after 10 s; parked; outside; off the map


def test_select_eligible_skips_the_ineligible_and_fills_by_score():
    rng = np.random.default_rng(0)
    reachable = np.array([True, True, True, True, False, True])
    eligible = np.array([True, False, True, False, True, False])
    out = P.select_eligible(2, reachable, eligible, rng, replace=False, reason="deadline")
    assert sorted(out.selection.client_ids.tolist()) == [0, 2]
    assert out.skipped.tolist() == [1, 3, 5] and out.reasons == ("deadline",) * 3
    # asked for more than are eligible: without a score the draw is short ...
    short = P.select_eligible(4, reachable, eligible, rng, replace=False, reason="deadline")
    assert short.selection.shortfall == 2 and short.skipped.tolist() == [1, 3, 5]
    # ... with one, it is filled with the best-scored of the others, which are then not skipped
    score = np.array([0, 5.0, 0, 9.0, 0, 1.0])
    filled = P.select_eligible(4, reachable, eligible, rng, replace=False, reason="coverage", fill_score=score)
    assert sorted(filled.selection.client_ids.tolist()) == [0, 1, 2, 3]
    assert filled.skipped.tolist() == [5]


def test_select_eligible_is_deterministic_for_a_generator_state():
    reach = np.ones(50, dtype=bool)
    elig = np.arange(50) % 3 != 0
    a = P.select_eligible(10, reach, elig, np.random.default_rng(7), replace=True, reason="x")
    b = P.select_eligible(10, reach, elig, np.random.default_rng(7), replace=True, reason="x")
    assert a.selection.client_ids.tolist() == b.selection.client_ids.tolist()
    assert not np.isin(a.selection.client_ids, np.flatnonzero(~elig)).any()
