"""The radio scenarios end to end through the CLI: city_grid (generated grid) and sumo_grid (SUMO at build time),
their run folders (timeline, samples, map tables) and the map plot; bad radio / mobility input exits 2 on one line."""

import importlib.util
import json
import pathlib

import pandas as pd
import pytest

from twin.analysis.maps import plot_map
from twin.recording.run_folder import is_complete
from twin.run import main

ROOT = pathlib.Path(__file__).resolve().parents[2]
CITY = str(ROOT / "scenarios" / "city_grid.yaml")
SUMO = str(ROOT / "scenarios" / "sumo_grid.yaml")
needs_sumo = pytest.mark.skipif(importlib.util.find_spec("sumolib") is None or importlib.util.find_spec("sumo") is None,
                                reason="sumo extra missing: eclipse-sumo / sumolib not installed (pip install 'twin[sumo]')")


FAST_SMALL_CELLS = "radio.tiers.1.placement={kind: roadside, min_degree: 3}"


def _read(run, name):
    return pd.read_parquet(run / f"{name}.parquet")


def test_city_grid_end_to_end(tmp_path):
    run = tmp_path / "city"
    assert main([CITY, "--out", str(run), "--quiet"]) == 0
    assert is_complete(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["rounds"] == 5
    rounds = _read(run, "rounds")
    assert (rounds["n_completed"] > 0).all()
    timeline = _read(run, "timeline")
    kinds = timeline["kind"].value_counts()
    assert kinds["handover"] > 0 and kinds["stall"] >= kinds["handover"] and kinds["resume"] > 0
    assert summary["radio"]["handovers"] == kinds["handover"]
    samples = _read(run, "samples")
    assert {"x", "y", "sinr_dl", "rate_dl", "rate_ul", "attached", "utilisation"} <= set(samples["name"])
    rate = samples[samples["name"] == "rate_dl"]
    assert rate["entity"].nunique() == 60 and (rate["value"] > 0).mean() > 0.9
    air = samples[(samples["name"] == "utilisation") & samples["entity"].str.startswith("cell.")]
    assert air["value"].between(0, 1 + 1e-9).all() and air["value"].max() > 0.5
    cells = _read(run, "cells")
    assert set(cells["tier"]) == {"macro", "small"} and set(cells["preset"]) == {"nr-macro", "nr-mmwave"}
    assert len(_read(run, "roads")) > 0 and (_read(run, "coverage")["rate_dl_bps"] > 0).mean() > 0.9
    png = plot_map(run, t=10.0, out=tmp_path / "map.png")
    assert png.stat().st_size > 10_000


@needs_sumo
def test_sumo_grid_end_to_end(tmp_path):
    run = tmp_path / "sumo"
    # a shorter SUMO run, two rounds and small cells at the junctions (not the greedy canyon cover, which takes
    # seconds on SUMO's detailed geometry) keep the test quick; the full scenario runs in about 8 s
    args = ["--set", "mobility.duration_s=300", "--set", "mobility.warmup_s=150", "--set", "mobility.trips.end_s=300",
            "--set", "fl.rounds=2", "--set", FAST_SMALL_CELLS]
    assert main([SUMO, "--out", str(run), "--quiet", *args]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["rounds"] == 2
    assert _read(run, "rounds")["n_completed"].sum() > 0
    timeline = _read(run, "timeline")
    assert (timeline["kind"] == "handover").any()
    samples = _read(run, "samples")
    x = samples[samples["name"] == "x"]["value"].dropna()
    assert x.between(-20, 1020).all()  # vehicles on the 1 km SUMO grid
    assert summary["radio"]["vehicles"] <= 400


@needs_sumo
def test_sumo_live_traci_runs(tmp_path):
    run = tmp_path / "traci"
    args = ["--set", "mobility.mode=traci", "--set", "mobility.warmup_s=100", "--set", "mobility.trips.end_s=200",
            "--set", "fl.rounds=1", "--set", "mobility.max_vehicles=120", "--set", "clients.vehicles.count=10",
            "--set", FAST_SMALL_CELLS]
    assert main([SUMO, "--out", str(run), "--quiet", *args]) == 0
    assert _read(run, "rounds")["n_completed"].sum() > 0


MINIMAL = """
topology:
  kind: explicit
  nodes: [{name: server, role: server}, {name: site.0, role: site}]
  links: [{a: server, b: site.0, bandwidth_bps: 1 Gbit/s}]
mobility: {kind: grid, rows: 2, cols: 2, n_vehicles: 5}
radio: {kind: cellular, tiers: [{name: macro}]}
fl: {model: {kind: fixed}}
"""


@pytest.mark.parametrize("args, message", [
    (["--set", "radio.tiers.0.preset=lte-9000"], "radio.tiers[0].preset: unknown preset 'lte-9000'"),
    (["--set", "radio.tiers.0.placement={kind: hex, isd_m: -500}"],
     "radio.tiers.0.placement.isd_m: Input should be greater than 0"),
    (["--set", "radio.tiers.0.placement.kind=greedy", "--set", "radio.tiers.0.placement.max_cells=1"],
     "radio.tiers[0].placement: greedy_small_cells: reached"),
    (["--set", "radio.tiers.0.placement={kind: greedy, count: 9999}"],
     "radio.tiers[0].placement: greedy_small_cells: only"),
    (["--set", "mobility={kind: sumo, net_file: nowhere.net.xml}"], "mobility.net_file: nowhere.net.xml: not found"),
    (["--set", "mobility={kind: osm, path: city.osm}"], "mobility.path: city.osm: not found"),
    (["--set", "radio={kind: none}"], "mobility: vehicles need a radio access network"),
    (["--set", "mobility={kind: none}"], "radio: cellular needs vehicles"),
])
def test_bad_radio_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(MINIMAL)
    if "kind: sumo" in " ".join(args) and importlib.util.find_spec("sumolib") is None:
        message = "mobility.kind: this mobility needs the 'sumo' extra"
    if "kind: osm" in " ".join(args) and importlib.util.find_spec("osmnx") is None:
        message = "mobility.kind: this mobility needs the 'osm' extra"
    assert main([str(scenario), "--out", str(tmp_path / "x"), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x").exists()


def test_missing_sumo_extra_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sumolib" else real(name, *a))
    assert main([SUMO, "--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "needs the 'sumo' extra" in err and "pip install" in err


TINY_OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="hand">
  <node id="1" lat="48.1000" lon="11.5000"/><node id="2" lat="48.1000" lon="11.5020"/>
  <node id="3" lat="48.1010" lon="11.5020"/><node id="4" lat="48.1010" lon="11.5000"/>
  <node id="5" lat="48.1015" lon="11.5010"/><node id="6" lat="48.1005" lon="11.5030"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
  <way id="11"><nd ref="2"/><nd ref="3"/><tag k="highway" v="primary"/></way>
  <way id="12"><nd ref="3"/><nd ref="5"/><nd ref="4"/><tag k="highway" v="residential"/></way>
  <way id="13"><nd ref="4"/><nd ref="1"/><tag k="highway" v="residential"/></way>
  <way id="14"><nd ref="2"/><nd ref="6"/><tag k="highway" v="residential"/></way>
</osm>
"""


@pytest.mark.skipif(importlib.util.find_spec("osmnx") is None,
                    reason="osm extra missing: osmnx not installed (pip install 'twin[osm]')")
def test_osm_roads_end_to_end(tmp_path):
    (tmp_path / "block.osm").write_text(TINY_OSM)
    scenario = tmp_path / "osm.yaml"
    scenario.write_text(MINIMAL.replace("mobility: {kind: grid, rows: 2, cols: 2, n_vehicles: 5}",
                                        "mobility: {kind: osm, path: block.osm, n_vehicles: 6}")
                        + "clients: {vehicles: {count: 3}}\n")
    run = tmp_path / "run"
    assert main([str(scenario), "--out", str(run), "--quiet", "--set", "fl.rounds=1"]) == 0
    assert _read(run, "rounds")["n_completed"].tolist() == [3]
    assert len(_read(run, "roads")) >= 4


def test_map_cli_on_a_wired_run_says_why(tmp_path, capsys):
    from twin.analysis.maps import main as maps_main

    assert maps_main([str(tmp_path)]) == 2
    assert "cells.parquet" in capsys.readouterr().err
