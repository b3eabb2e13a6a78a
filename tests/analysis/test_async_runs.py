"""Asynchronous runs in the analysis: twin.compare ranks them with synchronous ones (server steps counted as their
rounds), the accuracy plots switch to a time axis, and what needs rounds says why it cannot draw them."""

import pandas as pd
import pytest

from twin.analysis import compare, open_runs
from twin.analysis.plots import PlotUnavailable, make_plot
from twin.compare import main as compare_main

QUICK = ["--set", "fl.rounds=30", "--set", "fl.stop.target_accuracy=0.7"]
STRATEGIES = ["{kind: fedavg, weighting: num_examples}",
              "{kind: fedbuff, buffer_size: 5, concurrency: 10, weighting: num_examples}",
              "{kind: fedasync, concurrency: 5, mixing: 0.6}"]


@pytest.fixture
def async_sweep(tmp_path_factory, sweep_maker):
    root = tmp_path_factory.getbasetemp() / "async_sweep"
    if not (root / "runs.parquet").exists():  # built once per session
        sweep_maker(root, "quickstart", {"fl.strategy": STRATEGIES}, [1], QUICK)
    return root


def test_compare_ranks_async_runs_against_the_synchronous_baseline(async_sweep, capsys):
    runs = open_runs(async_sweep)
    assert runs.ok.set_index("strategy")["asynchronous"].to_dict() == {"fedavg": False, "fedbuff": True,
                                                                        "fedasync": True}
    result = compare(runs, target=0.7, within=1000)
    assert result.baseline == "fedavg"
    buff = pd.read_parquet(async_sweep / runs.ok.set_index("strategy").loc["fedbuff", "path"] / "rounds.parquet")
    hit = buff[buff["accuracy"] >= 0.7].index[0]
    assert result.table.loc["fedbuff", "time_to_target_s"] == pytest.approx(buff["t_end"].iloc[hit])
    assert result.table.loc["fedbuff", "updates_to_target"] == buff["n_selected"].iloc[: hit + 1].sum()
    assert result.table.loc["fedbuff", "time_to_target_round"] == buff["round"].iloc[hit]
    assert any("Asynchronous runs (fedbuff, fedasync)" in n for n in result.notes)
    assert compare_main([str(async_sweep), "--target", "0.7"]) == 0
    assert "rounds / steps" in capsys.readouterr().out


def test_only_async_runs_need_a_named_baseline(async_sweep, tmp_path, capsys):
    runs = open_runs(async_sweep)
    only = runs.ok[runs.ok["asynchronous"]]
    folder = tmp_path / "only_async"
    folder.mkdir()
    for path in only["path"]:
        (folder / path.rsplit("/", 1)[-1]).symlink_to(path, target_is_directory=True)
    assert compare_main([str(folder)]) == 2
    assert "--baseline" in capsys.readouterr().err


def test_accuracy_plots_use_time_when_rounds_do_not_exist(async_sweep, tmp_path):
    for mode in ("accuracy_vs_time", "reduction_functions_comparison", "updates_comparison", "reduction_functions"):
        assert make_plot(mode, async_sweep, tmp_path / f"{mode}.png").stat().st_size > 0
    runs = open_runs(async_sweep)
    buff = runs.ok.set_index("strategy").loc["fedbuff", "run_id"]
    with pytest.raises(PlotUnavailable, match="asynchronous run"):
        make_plot("gantt", async_sweep, tmp_path / "g.png", run=buff)
