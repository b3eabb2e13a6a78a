"""The access layer with scripted vehicles: handover mid-transfer, stall and drop without coverage, reachability,
determinism, and input errors that name the field."""

import numpy as np
import pandas as pd
import pytest

import twin.sim.access_build as access_build
from twin.errors import InputError
from twin.mobility import grid_network
from twin.radio import get_preset, user_rate_bps
from twin.radio.model import RadioModel, Tier
from twin.scenario.loading import validate
from twin.sim.runner import simulate

MB = 1e6


class Scripted:
    """Vehicles that jump between given positions: ``path(t) -> [n, 2]`` (NaN: off the road)."""

    finished = False

    def __init__(self, path, n):
        self.path, self.n_vehicles, self.t = path, n, 0.0
        self.vehicle_ids = np.array([str(i) for i in range(n)], dtype=object)
        self.vehicle_types = np.array(["passenger"] * n, dtype=object)
        self._prev = self.positions_m

    @property
    def positions_m(self):
        return np.asarray(self.path(self.t), dtype=float).reshape(self.n_vehicles, 2)

    @property
    def active(self):
        return ~np.isnan(self.positions_m[:, 0])

    @property
    def step_distance_m(self):
        return np.nan_to_num(np.hypot(*(self.positions_m - self._prev).T))

    def step(self, dt_s):
        self._prev = self.positions_m
        self.t += dt_s

    def close(self):
        pass


def _scenario(**fl):
    """Two NR macro cells 1 km apart on a straight road, deterministic radio, a fat wired core."""
    return {
        "name": "access_test",
        "seed": 3,
        "topology": {"kind": "explicit",
                     "nodes": [{"name": "server", "role": "server"}, {"name": "site.0", "role": "site"}],
                     "links": [{"a": "server", "b": "site.0", "bandwidth_bps": "100 Gbit/s", "latency_s": "1 ms"}]},
        "mobility": {"kind": "grid", "rows": 2, "cols": 2, "block_length_m": "1 km", "n_vehicles": 2, "step_s": 1.0},
        "radio": {"kind": "cellular",
                  "tiers": [{"name": "macro", "preset": "nr-macro", "max_range_m": "300 m",
                             "placement": {"kind": "explicit", "sites_m": [[0, 0], [1000, 0]]},
                             "backhaul": {"bandwidth_bps": "100 Gbit/s", "latency_s": 0.0}}],
                  "association": {"hysteresis_db": 3, "time_to_trigger_s": 0},
                  "handover_interruption_s": 0.05, "air_latency_s": 0.004, "los": "los", "shadowing": False,
                  "penetration_loss": False, "interference": "none",
                  "coverage": {"spacing_m": "100 m"}},
        "clients": {"device": {"flops_per_s": 1e9}},
        "fl": {"rounds": 1, "schedule": {"kind": "constant", "start": 2},
               "model": {"kind": "fixed", "size_bytes": 1e6, "update_bytes": 1e3, "train_flops": 0}, **fl},
        "output": {"sample_period_s": 1.0},
    }


def _run(monkeypatch, config, path):
    road = grid_network(rows=2, cols=2, block_length_m=1000.0)
    n = config["mobility"]["n_vehicles"]
    monkeypatch.setattr(access_build, "build_mobility", lambda cfg, base, rng: (road, Scripted(path, n), lambda: None))
    return simulate(validate(config))


def _events(result, kind):
    tl = result.tables["timeline"]
    return tl[tl["kind"] == kind].reset_index(drop=True)


def test_handover_mid_transfer_delays_by_the_interruption_and_conserves_bytes(monkeypatch):
    # Vehicle 0 sits 100 m from cell 0, then (t = 5 s) 100 m from cell 1; LOS, no interference: both give the
    # preset's peak rate, so the handover costs exactly the interruption. Vehicle 1 stays put near cell 0.
    rate = float(user_rate_bps("nr-macro", sinr_db=60.0))
    size = rate * 10 / 8  # 10 s at the peak rate
    config = _scenario(model={"kind": "fixed", "size_bytes": size, "update_bytes": 1e3, "train_flops": 0},
                       schedule={"kind": "constant", "start": 1})
    config["clients"]["vehicles"] = {"ids": ["0"]}
    result = _run(monkeypatch, config, lambda t: [[100, 0] if t < 5 else [900, 0], [50, 0]])
    hand, stall, resume = _events(result, "handover"), _events(result, "stall"), _events(result, "resume")
    assert len(hand) == 1 and hand.loc[0, "t"] == 5.0
    assert (hand.loc[0, "from_cell"], hand.loc[0, "cell"]) == ("cell.0", "cell.1")
    assert stall.loc[0, "reason"] == "handover" and resume.loc[0, "t"] == pytest.approx(5.05)
    assert resume.loc[0, "stalled_s"] == pytest.approx(0.05)
    end = _events(result, "flow_end")
    down = end[end["direction"] == "down"].iloc[0]
    assert down["bytes"] == size
    latency = 0.001 + 0.004  # wired + air, one way
    assert down["duration_s"] == pytest.approx(size * 8 / rate + 0.05 + latency, rel=1e-9)
    assert result.tables["rounds"]["n_completed"].tolist() == [1]


def test_client_without_coverage_stalls_and_is_dropped_at_the_deadline(monkeypatch):
    config = _scenario(deadline_s=8.0, model={"kind": "fixed", "size_bytes": 5e9, "train_flops": 0},
                       schedule={"kind": "constant", "start": 1})
    config["clients"]["vehicles"] = {"ids": ["0"]}
    # covered at first, then (t = 2 s) 500 m from both cells: beyond their 300 m range
    result = _run(monkeypatch, config, lambda t: [[100, 0] if t < 2 else [500, 500], [50, 0]])
    stall = _events(result, "stall")
    assert stall.loc[0, "t"] == 2.0 and stall.loc[0, "reason"] == "coverage"
    dropped = _events(result, "client_dropped")
    assert dropped.loc[0, "t"] == 8.0 and dropped.loc[0, "reason"] == "deadline"
    rounds = result.tables["rounds"]
    assert rounds["n_dropped"].tolist() == [1] and rounds["bytes_down"].iloc[0] < 5e9
    assert not result.env.reachable[0]
    samples = result.tables["samples"]
    cell = samples[(samples["name"] == "x") & (samples["entity"] == "client.0")].set_index("t")["cell"]
    assert (dropped.loc[0, "cause"], dropped.loc[0, "causes"], dropped.loc[0, "phase"]) == ("coverage", "coverage",
                                                                                          "download")
    assert result.summary["drop_causes"] == {"coverage": 1}
    assert cell.loc[1.0] == "cell.0" and pd.isna(cell.loc[3.0])
    assert samples["cell"].dtype == "string"
    assert stall.loc[0, "round"] == 1  # the round in progress when the client lost coverage


def test_out_of_coverage_clients_are_not_selected(monkeypatch):
    config = _scenario()
    config["clients"]["vehicles"] = {"active_at_start": False}
    result = _run(monkeypatch, config, lambda t: [[100, 0], [500, 500]])  # vehicle 1 never has a cell
    assert result.env.reachable.tolist() == [True, False]
    select = _events(result, "select")
    assert select["client"].tolist() == ["client.0"]
    assert result.tables["rounds"]["n_selected"].tolist() == [1]


def test_same_seed_same_tables_other_seed_differs(monkeypatch):
    base = {**_scenario(), "mobility": {"kind": "grid", "rows": 3, "cols": 3, "block_length_m": 200.0,
                                        "n_vehicles": 30}}
    base["radio"] = {"kind": "cellular", "tiers": [
        {"name": "macro", "placement": {"kind": "hex", "isd_m": 300.0}, "g_bs_dbi": 15},
        {"name": "small", "preset": "nr-mmwave", "placement": {"kind": "roadside"}, "bias_db": 5}]}
    base["clients"]["vehicles"] = {"count": 10}
    base["fl"].update(rounds=2, schedule={"kind": "constant", "start": 5},
                      model={"kind": "fixed", "size_bytes": 5e7, "train_flops": 1e9})
    runs = [simulate(validate({**base, "seed": s})).tables for s in (5, 5, 6)]
    for name in ("timeline", "rounds", "samples", "cells", "roads", "coverage"):
        pd.testing.assert_frame_equal(runs[0][name], runs[1][name])
    assert not runs[0]["samples"].equals(runs[2]["samples"])


def test_proportional_fair_gain_and_sinr_association_run():
    preset = get_preset("nr-macro")
    tier = Tier("macro", preset, np.array([0, 1]), floor_dbm=-120.0)
    rx = np.array([[-70.0, -90.0], [-75.0, -80.0], [-95.0, -72.0]])
    rates = {}
    for sharing in ("round-robin", "proportional-fair"):
        model = RadioModel([tier], np.array([[0.0, 0.0], [500.0, 0.0]]), 3, rng=np.random.default_rng(0),
                           sharing=sharing, metric="sinr", interference="full-buffer")
        metric = model.association_metric(rx, np.ones(2))
        assert metric.argmax(axis=1).tolist() == [0, 0, 1]
        users = np.array([2, 1])
        rates[sharing] = model.link_quality(rx, rx, np.array([0, 0, 1]), np.ones(2), np.ones(2), users, users)[2]
    assert np.all(rates["proportional-fair"] >= rates["round-robin"])
    assert rates["proportional-fair"][0] > rates["round-robin"][0]  # 2 users: selection gain H_2 = 1.5
    assert rates["proportional-fair"][2] == rates["round-robin"][2]  # alone: no gain


@pytest.mark.parametrize("change, field", [
    (lambda c: c["radio"]["tiers"][0].update(preset="nr-nope"), "radio.tiers[0].preset: unknown preset 'nr-nope'"),
    (lambda c: c["radio"].update(attach_to="nowhere"), "radio.attach_to"),
    (lambda c: c["clients"].update(vehicles={"ids": ["77"]}), "clients.vehicles.ids"),
    (lambda c: c["clients"].update(vehicles={"count": 5}), "clients.vehicles.count"),
    (lambda c: c["topology"]["nodes"].append({"name": "c0", "role": "client"}) or c["topology"]["links"].append(
        {"a": "site.0", "b": "c0", "bandwidth_bps": 1e9}), "topology: with radio"),
])
def test_bad_radio_input_names_the_field(monkeypatch, change, field):
    config = _scenario()
    change(config)
    with pytest.raises(InputError, match=field.replace("[", r"\[").replace("]", r"\]")):
        _run(monkeypatch, config, lambda t: [[100, 0], [50, 0]])


@pytest.mark.parametrize(("interruption_s", "path", "cause", "causes"), [
    (3.0, lambda t: [[100, 0] if t < 5 else [900, 0], [50, 0]], "handover", "handover"),  # deadline mid-handover
    (0.05, lambda t: [[100, 0] if t < 5 else [900, 0], [50, 0]], "low_rate", "handover>low_rate"),
    (0.05, lambda t: [[100, 0] if t < 2 else [np.nan, np.nan], [50, 0]], "unavailable", "coverage>unavailable"),
])
def test_drop_records_its_cause_chain(monkeypatch, interruption_s, path, cause, causes):
    """A 10 s download with a deadline at 6 s: what held the client at the deadline, after what."""
    rate = float(user_rate_bps("nr-macro", sinr_db=60.0))
    config = _scenario(deadline_s=6.0, model={"kind": "fixed", "size_bytes": rate * 10 / 8, "update_bytes": 1e3,
                                              "train_flops": 0}, schedule={"kind": "constant", "start": 1})
    config["radio"]["handover_interruption_s"] = interruption_s
    config["clients"]["vehicles"] = {"ids": ["0"]}
    result = _run(monkeypatch, config, path)
    dropped = _events(result, "client_dropped")
    assert len(dropped) == 1 and dropped.loc[0, "reason"] == "deadline"
    assert (dropped.loc[0, "cause"], dropped.loc[0, "causes"], dropped.loc[0, "phase"]) == (cause, causes, "download")
    assert result.summary["drop_causes"] == {cause: 1}


def _weak_uplink_config(**fl):
    """One NLOS macro cell whose uplink power control (P0 -60 dBm, alpha 0.5) gives no rate beyond about 240 m while
    its downlink still does; the client's update is large enough to be under way when the vehicle moves out."""
    config = _scenario(**fl)
    config["radio"]["los"] = "nlos"
    config["radio"]["tiers"][0].update(ul_p0_dbm=-60, ul_alpha=0.5)
    config["clients"]["vehicles"] = {"ids": ["0"]}
    return config


def _rates_at(d2d_m, **changes):
    from twin.radio.interface import LinkQuality

    p = get_preset("nr-macro").replace(**changes)
    pl = p.pathloss_db(np.asarray(d2d_m, dtype=float), los=False)
    dl, ul = p.rx_power_dbm(pl, "dl"), p.rx_power_dbm(pl, "ul")
    return (p.rate_bps(LinkQuality(sinr_db=dl - p.noise_dbm("dl"), rx_power_dbm=dl), "dl"),
            p.rate_bps(LinkQuality(rx_power_dbm=ul), "ul"))


def test_zero_uplink_rate_stalls_as_no_uplink_and_the_upload_resumes(monkeypatch):
    dl, ul = _rates_at([100.0, 250.0], ul_p0_dbm=-60.0, ul_alpha=0.5)
    assert dl.min() > 0 and ul[0] > 0 and ul[1] == 0  # the premise: at 250 m only the uplink is gone
    config = _weak_uplink_config(model={"kind": "fixed", "size_bytes": 1e3, "update_bytes": ul[0] * 2 / 8,
                                        "train_flops": 0}, schedule={"kind": "constant", "start": 1})
    # 100 m from the cell, then (t = 1 s) 250 m: the 2 s upload stops; back at 100 m at t = 4 s
    result = _run(monkeypatch, config, lambda t: [[100, 0] if t < 1 or t >= 4 else [250, 0], [1000, 50]])
    stall, resume = _events(result, "stall"), _events(result, "resume")
    assert stall[["t", "client", "cell", "reason"]].values.tolist() == [[1.0, "client.0", "cell.0", "no_uplink"]]
    assert resume[["t", "reason", "stalled_s"]].values.tolist() == [[4.0, "no_uplink", 3.0]]
    assert _events(result, "handover").empty  # it never left its cell
    up = _events(result, "flow_end").query("direction == 'up'").iloc[0]
    assert up["t"] > 4.0 and up["bytes"] == pytest.approx(ul[0] * 2 / 8)
    # the upload sent for 1 s before the stall, waited 3 s, then sent the rest: about 2 + 3 s in all
    assert up["duration_s"] == pytest.approx(5.0, abs=0.05)
    assert result.tables["rounds"]["n_completed"].tolist() == [1]
    assert result.env.reachable[0]  # attached all along: still selectable


def test_zero_downlink_rate_stalls_as_no_downlink_until_it_comes_back(monkeypatch):
    # a 30 dBm cell with its floor lowered to -200 dBm: usable (attached) where its downlink gives no rate
    changes = {"p_tx_dbm": 10.0}
    dl, ul = _rates_at([30.0, 250.0], **changes)
    assert dl[0] > 0 and dl[1] == 0 and ul.min() > 0
    config = _scenario(model={"kind": "fixed", "size_bytes": dl[0] * 3 / 8, "update_bytes": 1e3, "train_flops": 0},
                       schedule={"kind": "constant", "start": 1})
    config["radio"]["los"] = "nlos"
    config["radio"]["tiers"][0].update(p_tx_dbm=10.0, min_rx_dbm=-200.0)
    config["clients"]["vehicles"] = {"ids": ["0"]}
    result = _run(monkeypatch, config, lambda t: [[30, 0] if t < 1 or t >= 3 else [250, 0], [1000, 50]])
    stall, resume = _events(result, "stall"), _events(result, "resume")
    assert stall[["t", "reason"]].values.tolist() == [[1.0, "no_downlink"]]
    assert resume[["t", "reason", "stalled_s"]].values.tolist() == [[3.0, "no_downlink", 2.0]]
    down = _events(result, "flow_end").query("direction == 'down'").iloc[0]
    assert down["t"] > 3.0 and down["bytes"] == pytest.approx(dl[0] * 3 / 8)


def test_a_rate_stall_ends_when_the_client_hands_over(monkeypatch):
    # no uplink at 250 m from cell 0 (t = 1 s), then next to cell 1 (t = 3 s): the no_uplink stall resumes at the
    # handover, which opens its own stall; one stall open at a time, each closed by a resume naming its reason
    config = _weak_uplink_config(model={"kind": "fixed", "size_bytes": 1e3, "update_bytes": 1e9, "train_flops": 0},
                                 schedule={"kind": "constant", "start": 1}, deadline_s=6.0)
    result = _run(monkeypatch, config, lambda t: [[100, 0] if t < 1 else [250, 0] if t < 3 else [900, 0],
                                                  [1000, 50]])
    tl = result.tables["timeline"]
    ev = tl[tl["kind"].isin(["stall", "resume"])][["t", "kind", "reason"]].values.tolist()
    assert ev == [[1.0, "stall", "no_uplink"], [3.0, "resume", "no_uplink"], [3.0, "stall", "handover"],
                  [pytest.approx(3.05), "resume", "handover"]]
    dropped = _events(result, "client_dropped")  # the cause chain builds on any stall reason
    assert dropped["causes"].tolist() == ["no_uplink>handover>low_rate"] and dropped["phase"].tolist() == ["upload"]


def test_uplink_power_control_overrides_are_checked_per_tier(monkeypatch):
    config = _scenario()
    config["radio"]["tiers"][0]["ul_alpha"] = 0.75
    with pytest.raises(Exception, match=r"ul_alpha must be one of"):
        validate(config)
    config["radio"]["tiers"][0].update(ul_alpha=0.8, ul_p0_dbm=30)
    with pytest.raises(Exception, match=r"ul_p0_dbm"):
        validate(config)
    config["radio"]["tiers"][0].update(preset="drive-lte", ul_p0_dbm=-90)
    del config["radio"]["tiers"][0]["ul_alpha"]
    with pytest.raises(InputError, match=r"radio\.tiers\[0\]\.ul_p0_dbm: preset 'drive-lte' has no such setting"):
        _run(monkeypatch, config, lambda t: [[100, 0], [50, 0]])


def test_schema_alphas_match_the_radio_ones():
    from twin.radio.uplink import ALPHAS
    from twin.scenario.access import UL_ALPHAS

    assert UL_ALPHAS == ALPHAS
