"""Network-aware selection in the round process: oversample, deadline_aware, coverage_aware, and their bad input."""

import numpy as np
import pytest

from twin.scenario.loading import load_scenario
from twin.sim.build import build
from twin.sim.runner import simulate
from twin.sim.selecting import Selector

STAR = "scenarios/wired_star.yaml"
SLOW = "clients.device.heterogeneity={kind: uniform, low: 0.1, high: 1.0}"


def test_oversample_keeps_the_first_k_and_cancels_the_rest():
    cfg = load_scenario(STAR, ["topology.n_clients=8", "fl.schedule.start=4", SLOW,
                               "fl.selection={kind: oversample, factor: 1.5}"])
    result = simulate(cfg)
    rounds, tl = result.tables["rounds"], result.tables["timeline"]
    assert (rounds["n_selected"] == 6).all() and (rounds["n_completed"] == 4).all()
    assert (rounds["n_cancelled"] == 2).all() and (rounds["n_dropped"] == 0).all()
    for _, group in tl.groupby("round"):
        done = group.loc[group["kind"] == "upload_done", "t"]
        cancel = group[group["kind"] == "client_dropped"]
        assert set(cancel["cause"]) == {"oversample"} and len(cancel) == 2
        assert (cancel["t"] == done.max()).all()  # cancelled at the k-th arrival, the round's end
    # the round ends at the 4th arrival: sooner than waiting for all 6 would
    full = simulate(load_scenario(STAR, ["topology.n_clients=8", "fl.schedule.start=6", SLOW]))
    assert result.summary["sim_time_s"] < full.summary["sim_time_s"]


def test_deadline_aware_skips_the_clients_expected_to_be_late():
    over = [SLOW, "fl.rounds=2", "fl.selection={kind: deadline_aware, deadline_s: 4}"]
    env = build(load_scenario(STAR, over))
    expected = Selector(env).expected_times(4, np.ones(4, dtype=bool))
    late = {f"client.{i}" for i in np.flatnonzero(expected > 4)}
    assert 0 < len(late) < 4
    result = simulate(load_scenario(STAR, over))
    tl, rounds = result.tables["timeline"], result.tables["rounds"]
    skips = tl[tl["kind"] == "skip"]
    assert set(skips["reason"]) == {"deadline"} and set(skips["client"]) == late
    assert not late & set(tl.loc[tl["kind"] == "select", "client"])
    assert rounds["n_skipped"].tolist() == [len(late)] * 2
    # the estimate is the real time on an idle star: download + compute + upload at the access link's rate
    assert (rounds["duration_s"] <= 4.0).all()


def test_uniform_selection_is_the_old_draw_exactly():
    a = simulate(load_scenario(STAR, ["fl.rounds=2", "topology.n_clients=8"]))
    b = simulate(load_scenario(STAR, ["fl.rounds=2", "topology.n_clients=8", "fl.selection={kind: uniform}"]))
    pd_a, pd_b = a.tables["timeline"], b.tables["timeline"]
    assert pd_a.equals(pd_b) and a.tables["rounds"].equals(b.tables["rounds"])


@pytest.mark.parametrize("over, message", [
    (["fl.selection={kind: deadline_aware}"], "deadline_aware needs a deadline"),
    (["fl.selection={kind: coverage_aware}"], "coverage_aware needs a horizon"),
    (["fl.selection={kind: oversample, factor: 1.0}"], "factor"),
])
def test_bad_selection_is_one_line(over, message):
    from twin.errors import InputError

    with pytest.raises(InputError, match=message) as err:
        load_scenario(STAR, over)
    assert "\n" not in str(err.value)
