"""``radio.profile: drive`` in a running twin: DRIVE's rates at the 3D distance, every vehicle its full link rate
(``sharing: none``), DRIVE's demand-driven LTE power, and the input errors."""

import numpy as np
import pytest
from pydantic import ValidationError

import twin.sim.access_build as access_build
from twin.errors import InputError
from twin.mobility import grid_network
from twin.radio import get_preset
from twin.scenario.loading import validate
from twin.sim.runner import simulate


class Scripted:
    """Vehicles at given positions ``path(t) -> [n, 2]``."""

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


def _scenario(preset="drive-80211ad", n=2, size=1e9, **radio):
    return {
        "name": "drive_profile_test",
        "seed": 3,
        "topology": {"kind": "explicit",
                     "nodes": [{"name": "server", "role": "server"}, {"name": "site.0", "role": "site"}],
                     "links": [{"a": "server", "b": "site.0", "bandwidth_bps": "1000 Gbit/s", "latency_s": 0.0}]},
        "mobility": {"kind": "grid", "rows": 2, "cols": 2, "block_length_m": "1 km", "n_vehicles": n, "step_s": 1.0},
        "radio": {"kind": "cellular", "profile": "drive", "los": "los", "air_latency_s": 0.0,
                  "tiers": [{"name": "t", "preset": preset, "placement": {"kind": "explicit", "sites_m": [[0, 0]]},
                             "backhaul": {"bandwidth_bps": "1000 Gbit/s", "latency_s": 0.0}}],
                  "association": {"hysteresis_db": 3, "time_to_trigger_s": 0}, "coverage": {"enabled": False},
                  **radio},
        "clients": {"device": {"flops_per_s": 1e9}},
        "fl": {"rounds": 1, "schedule": {"kind": "constant", "start": n},
               "model": {"kind": "fixed", "size_bytes": size, "update_bytes": 1e3, "train_flops": 0}},
        "output": {"sample_period_s": 1.0},
    }


def _run(monkeypatch, config, path):
    road = grid_network(rows=2, cols=2, block_length_m=1000.0)
    n = config["mobility"]["n_vehicles"]
    monkeypatch.setattr(access_build, "build_mobility", lambda cfg, base, rng: (road, Scripted(path, n), lambda: None))
    return simulate(validate(config))


def _downloads(result):
    tl = result.tables["timeline"]
    return tl[(tl["kind"] == "flow_end") & (tl["direction"] == "down")].sort_values("client")


def test_every_vehicle_gets_its_full_drive_rate(monkeypatch):
    ad = get_preset("drive-80211ad")
    # 50 m and 120 m from the 802.11ad cell (antenna 10 m, vehicles 1.5 m): DRIVE's rates at the 3D distance
    d3 = np.hypot([50.0, 120.0], 10.0 - 1.5)
    rates = ad.drive_link(d3, True).rate_bps
    assert rates.tolist() == [6756.75e6, 6756.75e6]
    result = _run(monkeypatch, _scenario(), lambda t: [[50, 0], [120, 0]])
    down = _downloads(result)
    assert len(down) == 2
    np.testing.assert_allclose(down["duration_s"], 1e9 * 8 / rates, rtol=1e-9)  # both at once, each alone
    s = result.tables["samples"]
    got = s[s["name"] == "rate_dl"].groupby("entity", observed=True)["value"].first().sort_index()
    np.testing.assert_allclose(got.to_numpy(), rates)
    # the same two vehicles with the twin's time-fair sharing: the cell's air time is split between them
    shared = _downloads(_run(monkeypatch, _scenario(sharing="round-robin"), lambda t: [[50, 0], [120, 0]]))
    assert shared["duration_s"].min() > 1.9 * 1e9 * 8 / rates.max()


def test_nlos_quirk_gives_nlos_links_the_los_rate(monkeypatch):
    lte = get_preset("drive-lte")
    d3 = float(np.hypot(300.0, 40.0 - 1.5))
    off = _run(monkeypatch, _scenario("drive-lte", n=1, size=1e6, los="nlos"), lambda t: [[300, 0]])
    on = _run(monkeypatch, _scenario("drive-lte", n=1, size=1e6, los="nlos", drive_nlos_quirk=True),
              lambda t: [[300, 0]])

    def rate(r):
        s = r.tables["samples"]
        return float(s[s["name"] == "rate_dl"]["value"].iloc[0])

    assert rate(off) == lte.drive_link(d3, False).rate_bps == 15.84e6
    assert rate(on) == lte.drive_link(d3, True).rate_bps == 75.376e6


def test_demand_driven_lte_power(monkeypatch):
    # one vehicle 272 m (3D) from an LTE cell, LOS: PL 107.5 dB. 15 dBm gives -74.5 dBm (75.376 Mbit/s); from t = 2 s
    # the cell serves 1 vehicle: round(1 / 100 x 23 + 20) = 20 dBm -> -69.5 dBm (97.896 Mbit/s)
    x = float(np.sqrt(272.0**2 - 38.5**2))
    config = _scenario("drive-lte", n=1, size=3e7)
    config["radio"]["tiers"][0]["power_policy"] = {"kind": "demand", "start_s": 2, "period_s": 2}
    result = _run(monkeypatch, config, lambda t: [[x, 0]])
    s = result.tables["samples"]
    rate = s[s["name"] == "rate_dl"].set_index("t")["value"]
    assert rate.loc[0.0] == rate.loc[1.0] == 75.376e6
    assert rate.loc[2.0] == 97.896e6


def test_profile_drive_input_errors(monkeypatch):
    with pytest.raises(InputError, match=r"radio.profile: preset 'nr-macro' is not a DRIVE preset"):
        _run(monkeypatch, _scenario("nr-macro", n=1), lambda t: [[50, 0]])
    bad = [({"penetration_loss": True}, "penetration_loss: profile drive has no in-car loss"),
           ({"shadowing": True}, "shadowing: profile drive has no shadow fading"),
           ({"profile": "default", "drive_nlos_quirk": True}, "drive_nlos_quirk: DRIVE's NLOS rate quirk needs")]
    for extra, message in bad:
        config = _scenario()
        config["radio"].update(extra)
        with pytest.raises((InputError, ValidationError), match=message):
            validate(config)
    config = _scenario()
    config["radio"]["profile"] = "default"
    config["radio"]["tiers"][0]["power_policy"] = {"kind": "demand"}
    with pytest.raises((InputError, ValidationError), match="power_policy: the demand-driven power is DRIVE's"):
        validate(config)


def test_drive_greedy_needs_buildings(monkeypatch):
    config = _scenario()
    config["radio"]["tiers"][0]["placement"] = {"kind": "drive_greedy"}
    with pytest.raises(InputError, match=r"radio.tiers\[0\].placement: drive_greedy needs buildings.*mobility.buildings"):
        _run(monkeypatch, config, lambda t: [[50, 0], [120, 0]])
