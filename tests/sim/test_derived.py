"""The ``derived:`` block of scenario.resolved.yaml: computed values, shown, never read back as input."""

from __future__ import annotations

import math

import pytest
import yaml

from twin.errors import InputError
from twin.fl.schedules import clients_per_round
from twin.run import main
from twin.scenario.loading import load_scenario, resolved_yaml, validate, without_derived
from twin.sim.derived import derive
from twin.sweeps.plan import scenario_hash


def test_schedule_values_are_the_ones_the_run_uses():
    cfg = load_scenario("wired_star", ["fl.rounds=31", "fl.schedule={kind: exponential, start: 20, end: 4}"])
    d = derive(cfg)["fl"]
    assert d["schedule"] == {"start": 20, "end": 4, "horizon": 31, "tau": pytest.approx(10.3 * 30 / 60)}
    assert d["clients_per_round"] == clients_per_round("exponential", 31, 20, 4).tolist()
    assert len(d["clients_per_round"]) == 31


def test_a_bad_computed_shape_is_an_input_error():
    cfg = load_scenario("wired_star", ["fl.rounds=10", "fl.schedule={kind: reciprocal, start: 20, end: 4, knee: 30}"])
    with pytest.raises(InputError, match=r"fl.schedule: knee must be < horizon - 1"):
        derive(cfg)


def test_radio_tiers_show_floor_range_and_preset_after_overrides():
    cfg = load_scenario("city_grid", ["radio.tiers.0.p_tx_dbm=40"])
    tiers = derive(cfg)["radio"]["tiers"]
    macro, small = tiers
    assert macro["preset"]["p_tx_dbm"] == 40.0 and macro["preset"]["name"] == "nr-macro"
    assert math.isfinite(macro["min_rx_dbm"]) and macro["max_range_m"] == math.inf
    assert small["max_range_m"] == (cfg.radio.tiers[1].max_range_m or math.inf)
    text = resolved_yaml(cfg, derive(cfg))
    assert yaml.safe_load(text)["derived"]["radio"]["tiers"][0]["min_rx_dbm"] == macro["min_rx_dbm"]


def test_loading_ignores_the_block_and_the_hash_leaves_it_out(tmp_path):
    cfg = load_scenario("wired_star", ["fl.rounds=4"])
    plain = resolved_yaml(cfg)
    full = resolved_yaml(cfg, derive(cfg))
    assert full.startswith(plain) and "derived:" in full and without_derived(full) == plain
    assert scenario_hash(full) == scenario_hash(plain)
    path = tmp_path / "scenario.resolved.yaml"
    path.write_text(full)
    assert load_scenario(str(path)) == cfg
    # the block decides nothing: a changed input derives again
    again = load_scenario(str(path), ["fl.rounds=7"])
    assert len(derive(again)["fl"]["clients_per_round"]) == 7
    # even a nonsensical block is ignored (it is not input)
    data = yaml.safe_load(full)
    data["derived"] = {"fl": "whatever"}
    assert validate(data) == cfg


def test_print_resolved_shows_it(capsys):
    assert main(["wired_star", "--validate", "--quiet", "--print-resolved", "--set", "fl.rounds=3"]) == 0
    out = capsys.readouterr().out
    assert "\nderived:\n" in out and "clients_per_round: [" in out


def test_the_run_folder_holds_it(tmp_path):
    assert main(["wired_star", "--quiet", "--out", str(tmp_path / "run"), "--set", "fl.rounds=2"]) == 0
    data = yaml.safe_load((tmp_path / "run" / "scenario.resolved.yaml").read_text())
    assert data["derived"]["fl"]["clients_per_round"] == [data["fl"]["schedule"]["start"]] * 2
