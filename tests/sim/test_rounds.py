"""The FL round process on scenarios whose timing can be worked out by hand."""

import pandas as pd
import pytest

from twin.scenario.loading import load_scenario
from twin.sim.runner import simulate

TX = 0.011 + 8e6 * 1514 / 1448 / 10e6  # one 1 MB transfer on wired_star


def test_wired_star_round_time_matches_hand_computation():
    result = simulate(load_scenario("wired_star"))
    rounds = result.tables["rounds"]
    assert list(rounds["round"]) == [1, 2, 3]
    assert rounds["duration_s"].tolist() == pytest.approx([2 * TX + 1.0] * 3, rel=1e-9)
    assert result.summary["sim_time_s"] == pytest.approx(3 * (2 * TX + 1.0), rel=1e-9)
    assert rounds["bytes_down"].tolist() == [4e6] * 3 and rounds["bytes_up"].tolist() == [4e6] * 3
    assert (rounds["n_completed"] == 4).all() and (rounds["n_dropped"] == 0).all()


def test_shared_server_link_becomes_the_bottleneck():
    # 4 clients x 10 Mbit/s through an 8 Mbit/s server link: each download gets 2 Mbit/s.
    result = simulate(load_scenario("wired_star", ["topology.server_link.bandwidth_bps=8 Mbit/s"]))
    down = 0.011 + 8e6 * 1514 / 1448 / 2e6
    assert result.tables["rounds"]["duration_s"].iloc[0] == pytest.approx(2 * down + 1.0, rel=1e-9)


def test_deadline_drops_late_clients_and_frees_capacity():
    # Half the clients compute 10x slower (uniform device factor picks are seeded); a deadline of 3 s drops them.
    over = ["clients.device.heterogeneity={kind: uniform, low: 0.1, high: 1.0}", "fl.deadline_s=2.5", "fl.rounds=4"]
    result = simulate(load_scenario("wired_star", over))
    rounds = result.tables["rounds"]
    assert (rounds["n_completed"] + rounds["n_dropped"] == rounds["n_selected"]).all()
    assert rounds["n_dropped"].sum() > 0
    assert (rounds["duration_s"] <= 2.5 + 1e-9).all()
    tl = result.tables["timeline"]
    dropped = tl[tl["kind"] == "client_dropped"]
    assert len(dropped) == rounds["n_dropped"].sum()
    assert set(dropped["reason"]) == {"deadline"}
    # wired: no stalls; a drop is still training (compute) or still transferring (low_rate), as its phase says
    assert set(dropped["cause"]) <= {"compute", "low_rate"} and (dropped["cause"] == dropped["causes"]).all()
    assert ((dropped["phase"] == "compute") == (dropped["cause"] == "compute")).all()
    assert sum(result.summary["drop_causes"].values()) == len(dropped)
    # a dropped client's upload is partial: its bytes are counted as far as they went
    assert (rounds["bytes_up"] <= 4e6).all()


def test_selection_with_replacement_allows_repeats():
    result = simulate(load_scenario("wired_star", ["fl.replacement=true", "fl.schedule.start=12", "fl.rounds=2"]))
    rounds = result.tables["rounds"]
    assert (rounds["n_selected"] == 12).all()
    assert (rounds["n_unique"] <= 4).all()
    assert (rounds["n_completed"] == 12).all()


def test_same_seed_same_tables_and_other_seed_differs():
    over = ["clients.device.heterogeneity={kind: lognormal, sigma: 0.5}", "fl.schedule.start=2"]
    a = simulate(load_scenario("wired_star", over))
    b = simulate(load_scenario("wired_star", over))
    c = simulate(load_scenario("wired_star", over, seed=8))
    for name in ("timeline", "rounds", "samples"):
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    assert not a.tables["rounds"]["duration_s"].equals(c.tables["rounds"]["duration_s"])


def test_timeline_is_ordered_and_complete():
    tl = simulate(load_scenario("quickstart")).tables["timeline"]
    assert tl["t"].is_monotonic_increasing
    starts = tl[tl["kind"] == "flow_start"]["flow"]
    ends = tl[tl["kind"] == "flow_end"]["flow"]
    assert sorted(starts) == sorted(ends)


def test_samples_report_utilisation_within_bounds():
    samples = simulate(load_scenario("wired_star")).tables["samples"]
    util = samples[samples["name"] == "utilisation"]
    assert util["value"].between(0, 1 + 1e-9).all()
    access = util[util["entity"] == "switch->client.0"]["value"]
    assert access.max() == pytest.approx(1.0)  # the access link is saturated during the download


def test_seed_schedule_drives_cohort_sizes():
    from twin.fl.schedules import clients_per_round

    over = ["fl.schedule={kind: reciprocal, preset: seed}", "fl.rounds=12", "fl.replacement=true",
            "fl.model.size_bytes=1 kB", "fl.model.train_flops=0"]
    rounds = simulate(load_scenario("wired_star", over)).tables["rounds"]
    assert rounds["n_selected"].tolist() == clients_per_round("reciprocal", 12, preset="seed").tolist()


def test_stop_on_simulated_time():
    result = simulate(load_scenario("wired_star", ["fl.rounds=50", "fl.stop.max_time_s=6"]))
    assert result.summary["stop_reason"] == "max_time_s"
    assert result.summary["rounds"] == 3  # 2.69 s per round: the round ending past 6 s is the last


def test_bad_schedule_parameters_name_the_field():
    from twin.errors import InputError
    from twin.scenario.loading import ScenarioError

    with pytest.raises(ScenarioError, match="--set: fl.schedule: end .10. is above start"):
        load_scenario("wired_star", ["fl.schedule={kind: linear, start: 5, end: 10}"])
    with pytest.raises(InputError, match="fl.schedule: start: preset 'seed'"):
        simulate(load_scenario("wired_star", ["fl.schedule={kind: linear, preset: seed, start: 100}"]))
