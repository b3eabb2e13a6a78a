"""Every plot mode writes a non-empty PNG from small runs; a plot the runs cannot give is one line, exit 2."""

import numpy as np
import pandas as pd
import pytest

from twin.analysis import MODES, PlotUnavailable, make_plot, open_runs
from twin.analysis.phases import phases
from twin.analysis.plots.network import pareto_front
from twin.plot import main

PNG = b"\x89PNG\r\n\x1a\n"
# mode -> the fixture whose runs can draw it
SOURCE = {
    "reduction_functions": "study_sweep", "data_distribution": "study_sweep",
    "uniform_vs_num_examples_weighting": "clients_sweep", "accuracy_vs_clients": "clients_sweep",
    "reduction_functions_comparison": "study_sweep", "updates_comparison": "study_sweep",
    "accuracy_vs_time": "study_sweep", "bytes_vs_accuracy": "clients_sweep", "gantt": "wired_runs",
    "cell_load": "radio_run", "link_load": "wired_runs", "map": "radio_run",
}


def test_every_mode_has_a_source():
    assert set(SOURCE) == set(MODES)


@pytest.mark.parametrize("mode", list(SOURCE))
def test_mode_writes_a_png(mode, request, tmp_path):
    source = request.getfixturevalue(SOURCE[mode])
    extra = {"run": "deadline", "round": 2} if mode == "gantt" else {}
    out = make_plot(mode, source, tmp_path / f"{mode}.png", **extra)
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_cli_default_path_and_list(study_sweep, capsys):
    assert main(["updates_comparison", str(study_sweep)]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.endswith("plots/updates_comparison.png") and (study_sweep / "plots" / "updates_comparison.png").stat().st_size
    assert main(["--list"]) == 0
    assert "gantt" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "needle"), [
    (["cell_load", "{wired}/constant"], "no per-cell load samples"),
    (["map", "{wired}/constant"], "radio.kind: cellular"),
    (["accuracy_vs_time", "{wired}"], "record none"),
    (["data_distribution", "{wired}"], "no n_samples"),
    (["uniform_vs_num_examples_weighting", "{wired}"], "weighting"),
    (["gantt", "{wired}/constant", "--round", "99"], "no round 99"),
    (["gantt", "{wired}", "--run", "nosuch"], "no run 'nosuch'"),
    (["nosuchmode", "{wired}"], "unknown plot mode"),
    (["gantt", "{wired}/../nowhere"], "not found"),
])
def test_unavailable_plot_is_one_line_exit_2(args, needle, wired_runs, capsys):
    assert main([a.format(wired=wired_runs) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err


def test_plot_function_raises_plot_unavailable(wired_runs):
    with pytest.raises(PlotUnavailable):
        make_plot("bytes_vs_accuracy", wired_runs)


def test_gantt_phases_follow_the_timeline(wired_runs):
    timeline = pd.read_parquet(wired_runs / "deadline" / "timeline.parquet")
    rounds = pd.read_parquet(wired_runs / "deadline" / "rounds.parquet")
    bars = phases(timeline, 1)
    r1 = rounds.iloc[0]
    assert set(bars["phase"]) == {"download", "compute", "upload"}
    assert (bars["start"] >= r1["t_start"] - 1e-12).all() and (bars["end"] <= r1["t_end"] + 1e-12).all()
    cut = bars[~bars["done"]]
    assert len(cut["slot"].unique()) == r1["n_dropped"] > 0
    assert np.allclose(cut["end"], r1["t_end"])  # cut at the deadline, when the round ends
    down = bars[bars["phase"] == "download"]
    assert np.allclose(down["end"] - down["start"], 0.847464, atol=1e-6)  # the hand-timed transfer


def test_pareto_front():
    cost = np.array([1.0, 2.0, 3.0, 2.0, 5.0])
    value = np.array([0.5, 0.7, 0.6, 0.8, 0.9])
    assert pareto_front(cost, value).tolist() == [0, 3, 4]


def test_one_run_modes_take_a_run_from_a_sweep(study_sweep, tmp_path):
    runs = open_runs(study_sweep)
    second = runs.runs["run_id"].iloc[1]
    out = make_plot("gantt", runs, tmp_path / "g.png", run=second, round=1)
    assert out.read_bytes().startswith(PNG)
