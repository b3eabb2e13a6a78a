"""Background load (``traffic.background``): size laws, arrival rates from a load fraction, the processor-sharing
slowdown it gives FL transfers, cell users, determinism and bad input."""

import math

import numpy as np
import pandas as pd
import pytest

from twin.errors import InputError
from twin.run import main
from twin.scenario import traffic as T
from twin.scenario.loading import load_scenario, validate
from twin.sim.background import draw_sizes, mean_size
from twin.sim.build import build
from twin.sim.runner import simulate

OVERHEAD = 1514 / 1448
STAR = {"kind": "star", "n_clients": 1, "client_link": {"bandwidth_bps": 10e6, "latency_s": 0.001},
        "server_link": {"bandwidth_bps": 100e6, "latency_s": 0.001}}


def size(**kw):
    return validate({"topology": STAR, "traffic": {"duration_s": 1, "background": [
        {"kind": "link", "src": "switch", "dst": "client.0", "rate_per_s": 1, "size": kw}]}}).traffic.background[0].size


@pytest.mark.parametrize("law", [
    {"kind": "exponential", "mean_bytes": 3e4},
    {"kind": "lognormal", "mean_bytes": 2e6, "sigma": 0.35},
    {"kind": "lognormal", "mean_bytes": 2e6, "sigma": 0.8, "max_bytes": 5e6},  # cut: the mean of min(X, 5 MB)
    {"kind": "empirical", "bytes": [1e3, 1e4, 1e5], "weights": [5, 3, 2]},
])
def test_drawn_sizes_have_the_law_mean(law):
    spec = size(**law)
    x = draw_sizes(spec, 400_000, np.random.default_rng(3))
    assert x.mean() == pytest.approx(mean_size(spec), rel=0.01)
    if "max_bytes" in law:
        assert x.max() == law["max_bytes"] and mean_size(spec) < law["mean_bytes"]


def test_ftp_models_use_3gpp_file_sizes():
    # TR 36.814 FTP model 1: 2 Mbytes; FTP model 3 (TR 36.872 / 36.889): 0.5 Mbytes
    assert mean_size(size(kind="ftp1")) == 2e6 and mean_size(size(kind="ftp3")) == 0.5e6
    assert (draw_sizes(size(kind="ftp1", file_bytes="0.5 MB"), 5, np.random.default_rng(0)) == 0.5e6).all()


def test_load_fraction_sets_the_poisson_rate_on_the_narrowest_link():
    cfg = validate({"topology": STAR, "seed": 4, "output": {"sample_period_s": 0}, "traffic": {
        "duration_s": 200, "background": [{"kind": "link", "name": "bg", "src": "server", "dst": "client.0",
                                           "load": 0.4, "size": {"kind": "fixed", "bytes": 25e3}}]}})
    env = build(cfg)
    (source,) = env.parts.traffic.background
    rate = 0.4 * 10e6 / OVERHEAD / 8 / 25e3  # the 10 Mbit/s access link, not the 100 Mbit/s server link
    assert source.rate_per_s == pytest.approx(rate, rel=1e-12)
    env.close()
    result = simulate(cfg)
    tl = result.tables["timeline"]
    starts = tl[tl["kind"] == "flow_start"]
    n, expected = len(starts), rate * 200
    assert abs(n - expected) < 4 * math.sqrt(expected)  # Poisson count
    gaps = np.diff(starts["t"].to_numpy())
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05)  # exponential gaps
    assert set(starts["traffic_class"]) == {"background"} and set(starts["traffic"]) == {"bg"}
    assert (starts["flow"].str.startswith("bg.")).all() and starts["flow"].is_unique
    assert result.summary["stop_reason"] == "duration" and set(result.summary["traffic"]) == {"background"}


@pytest.mark.parametrize("rho", [0.3, 0.6])
def test_link_load_slows_fl_transfers_by_one_over_one_minus_rho(rho):
    # One client; its 1 MB download and upload each cross its 10 Mbit/s access link, loaded to rho in both directions
    # by 10 kB background files. Max-min sharing of one link is processor sharing: a transfer of S bytes takes
    # S / (C (1 - rho)) on average (M/G/1-PS, whatever the size law). 50 rounds: 100 transfers.
    source = f"kind: link, load: {rho}, size: {{kind: fixed, bytes: 10 kB}}"
    traffic = (f"traffic={{background: [{{{source}, src: switch, dst: client.0}}, "
               f"{{{source}, src: client.0, dst: switch}}]}}")
    result = simulate(load_scenario("wired_star", ["topology.n_clients=1", "fl.schedule.start=1", "fl.rounds=50",
                                                   "output.sample_period_s=0", traffic]))
    tl = result.tables["timeline"]
    fl = tl[(tl["kind"] == "flow_end") & tl["traffic_class"].isna()]
    assert len(fl) == 100
    alone = 1e6 * 8 * OVERHEAD / 10e6
    slowdown = ((fl["duration_s"] - 0.011) / alone).mean()
    assert slowdown == pytest.approx(1 / (1 - rho), rel=0.03)


CITY_BG = ("traffic={background: [{kind: cell, name: bg, cells: [0, 3], direction: both, rate_per_s: 3, "
           "size: {kind: ftp3}, users: 4}]}")


def test_cell_users_compete_for_air_time_and_runs_repeat():
    over = ["fl.rounds=1", "fl.schedule.start=4", "output.sample_period_s=0", CITY_BG]
    a = simulate(load_scenario("city_grid", over))
    tl = a.tables["timeline"]
    bg = tl[tl["traffic_class"] == "background"]
    assert len(bg) > 0
    assert set(bg["traffic"]) == {"bg.cell.0.dl", "bg.cell.0.ul", "bg.cell.3.dl", "bg.cell.3.ul"}
    ends = bg[bg["kind"] == "flow_end"]
    down = ends[ends["direction"] == "down"]
    assert (down["dst"].str.startswith("bg.cell.")).all() and (down["src"].str.startswith("site.")).all()
    assert set(ends[ends["direction"] == "up"]["dst"]) <= {"site.0", "site.1", "site.2", "site.3"}
    b = simulate(load_scenario("city_grid", over))
    pd.testing.assert_frame_equal(tl, b.tables["timeline"])
    pd.testing.assert_frame_equal(a.tables["rounds"], b.tables["rounds"])


def test_cell_load_sets_the_rate_from_the_users_air_time():
    env = build(load_scenario("city_grid", ["traffic={background: [{kind: cell, cells: [2], load: 0.5, "
                                            "size: {kind: ftp3}, users: 6}]}"]))
    (source,) = env.parts.traffic.background
    rates = source.users.rates_dl
    assert len(rates) == 6 and (rates > 0).all()
    # air time per file = E[8 S / r]: load 0.5 of the cell's air time
    assert source.rate_per_s * 8 * 0.5e6 * np.mean(1 / rates) == pytest.approx(0.5, rel=1e-12)
    cell = env.access.cells[2]
    assert all(cell.dl.rates_bps[f"background.0.cell.2.dl.u{u}"] == rates[u] for u in range(6))
    env.close()


@pytest.mark.parametrize(("background", "needle"), [
    ({"kind": "link", "src": "switch", "dst": "client.0", "load": 1.0}, "traffic.background.0.load: Input should be less than 1"),
    ({"kind": "link", "src": "switch", "dst": "client.0", "load": 1.5}, "traffic.background.0.load: Input should be less than 1"),
    ({"kind": "link", "src": "switch", "dst": "client.0"}, "give exactly one of rate_per_s, load"),
    ({"kind": "link", "src": "switch", "dst": "client.0", "load": 0.5, "rate_per_s": 2},
     "give exactly one of rate_per_s, load (got rate_per_s, load)"),
    ({"kind": "cell", "load": 0.5}, "kind 'cell' needs radio cells"),
])
def test_bad_background_is_one_line(background, needle):
    with pytest.raises(InputError) as err:
        validate({"topology": STAR, "traffic": {"duration_s": 10, "background": [background]}})
    assert needle in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_background_without_fl_needs_a_duration():
    with pytest.raises(InputError, match="traffic.duration_s: background traffic never ends"):
        validate({"topology": STAR, "traffic": {"background": [{"kind": "link", "src": "switch", "dst": "client.0",
                                                                "load": 0.5}]}})


def test_unknown_node_and_cell_are_named(tmp_path, capsys):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("topology: {kind: star, n_clients: 1}\ntraffic:\n  duration_s: 5\n  background:\n"
                        "    - {kind: link, src: switch, dst: client.7, load: 0.5}\n")
    assert main([str(scenario), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "traffic.background[0].dst: unknown node 'client.7'" in err, err
    with pytest.raises(InputError, match=r"traffic.background\[0\].cells: no cell 99"):
        build(load_scenario("city_grid", ["traffic={background: [{kind: cell, cells: [99], load: 0.1}]}"]))


def test_pure_network_and_mixed_runs_from_the_command_line(tmp_path):
    pure = tmp_path / "pure.yaml"
    pure.write_text("name: pure\nseed: 3\ntopology: {kind: star, n_clients: 2}\ntraffic:\n  duration_s: 20\n"
                    "  flows: [{name: up, src: client.0, dst: server, size_bytes: 5 MB, repeat: {every_s: 4, count: 4}}]\n"
                    "  background: [{kind: link, src: server, dst: client.1, load: 0.5, size: {kind: ftp3}}]\n")
    tables = []
    for run in ("a", "b"):
        assert main([str(pure), "--out", str(tmp_path / run), "--quiet"]) == 0
        tables.append(pd.read_parquet(tmp_path / run / "timeline.parquet"))
    pd.testing.assert_frame_equal(*tables)
    assert set(tables[0]["traffic_class"].dropna()) == {"scripted", "background"}
    assert pd.read_parquet(tmp_path / "a" / "rounds.parquet").empty
    mixed = ["--set", "traffic={background: [{kind: link, src: server, dst: client.1, load: 0.3}]}", "--quiet"]
    for run in ("c", "d"):
        assert main(["wired_star", "--out", str(tmp_path / run), *mixed]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c" / "rounds.parquet"),
                                  pd.read_parquet(tmp_path / "d" / "rounds.parquet"))


def test_schema_names_every_size_law():
    assert {a.model_fields["kind"].annotation.__args__[0] for a in T.FileSize.__origin__.__args__} == {
        "ftp1", "ftp3", "fixed", "exponential", "lognormal", "empirical"}


def test_flow_table_separates_fl_scripted_and_background():
    from twin.analysis.flows import flow_table

    result = simulate(load_scenario("wired_star", [
        "fl.rounds=2", "traffic={duration_s: 20, flows: [{name: s, src: server, dst: client.2, size_bytes: 2 MB}], "
        "background: [{kind: link, name: bg, src: switch, dst: client.0, load: 0.5, size: {kind: ftp3}}]}"]))
    table = flow_table(result.tables["timeline"])
    assert set(table["traffic_class"]) == {"fl", "scripted", "background"}
    fl = table[table["traffic_class"] == "fl"]
    assert len(fl) == 16 and (fl["status"] == "completed").all() and fl["traffic"].isna().all()
    done = table[table["status"] == "completed"]
    assert (done["duration_s"] == done["end"] - done["start"]).all()
    summary = result.summary["traffic"]
    for cls, rows in table.groupby("traffic_class"):
        assert summary[cls]["flows"] == len(rows)
        assert summary[cls]["completed"] == int((rows["status"] == "completed").sum())
        if summary[cls]["completed"]:
            assert summary[cls]["mean_completion_s"] == pytest.approx(rows["duration_s"].mean())
    assert (table[table["status"] == "unfinished"]["end"].isna()).all()
