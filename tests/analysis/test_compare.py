"""twin.compare: the ranking's numbers agree with the rounds tables they come from (recomputed here by hand), the
choice follows the documented criterion, and bad input is one line with exit status 2."""

import math

import pandas as pd
import pytest
import yaml

from twin.analysis import compare
from twin.compare import main


def _by_hand(sweep, target):
    """Per strategy, straight from each run's rounds.parquet: the first round whose accuracy >= target, and the
    simulated time, bytes and pushed updates up to it; averaged over seeds."""
    index = pd.read_parquet(sweep / "runs.parquet")
    rows = []
    for path, schedule in zip(index["path"], index["fl.schedule"], strict=True):
        rounds = pd.read_parquet(sweep / path / "rounds.parquet")
        hit = rounds[rounds["accuracy"] >= target]
        upto = rounds.loc[: hit.index[0]] if len(hit) else None
        rows.append({"strategy": yaml.safe_load(schedule)["kind"], "reached": upto is not None,
                     "time": upto["t_end"].iloc[-1] if upto is not None else math.nan,
                     "bytes": (upto["bytes_down"].sum() + upto["bytes_up"].sum()) if upto is not None else math.nan,
                     "updates": upto["n_selected"].sum() if upto is not None else math.nan})
    return pd.DataFrame(rows).groupby("strategy").agg(
        time=("time", "mean"), bytes=("bytes", "mean"), updates=("updates", "mean"), reached=("reached", "all"))


@pytest.mark.parametrize("within", [10.0, 100.0])
def test_numbers_agree_with_the_rounds_tables(study_sweep, within):
    result = compare(study_sweep, target=0.7, within=within)
    hand = _by_hand(study_sweep, 0.7)
    table = result.table
    assert sorted(table.index) == sorted(hand.index) and result.baseline == "constant"
    for strategy, row in hand.iterrows():
        assert table.loc[strategy, "time_to_target_s"] == pytest.approx(row["time"], nan_ok=True)
        assert table.loc[strategy, "bytes_to_target"] == pytest.approx(row["bytes"], nan_ok=True)
        assert table.loc[strategy, "updates_to_target"] == pytest.approx(row["updates"], nan_ok=True)
    base = hand.loc["constant"]
    eligible = hand[hand["reached"] & (hand["time"] <= base["time"] * (1 + within / 100))]
    chosen = eligible["bytes"].idxmin()
    assert result.choice == chosen and table.index[0] == chosen and table["rank"].tolist() == [1, 2, 3]
    for key, col in (("updates", "updates"), ("bytes", "bytes"), ("time", "time")):
        assert result.reduction[key]["baseline"] == pytest.approx(base[col])
        assert result.reduction[key]["chosen"] == pytest.approx(hand.loc[chosen, col])
        assert result.reduction[key]["reduction_pct"] == pytest.approx(
            100 * (base[col] - hand.loc[chosen, col]) / base[col])


def test_cli_prints_ranking_and_choice(study_sweep, capsys, tmp_path):
    assert main([str(study_sweep), "--target", "0.7", "--within", "10", "--csv", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "Criterion: least bytes" in out and "Best: " in out and "fewer updates" in out
    assert "constant" in out and "reciprocal" in out
    assert len(pd.read_csv(tmp_path / "r.csv")) == 3


def test_target_never_reached_is_stated(study_sweep, capsys):
    assert main([str(study_sweep), "--target", "0.99"]) == 0
    out = capsys.readouterr().out
    assert "No run reaches accuracy 0.99" in out and "no choice" in out


def test_runs_without_accuracy_compare_whole_runs(wired_sweep, capsys):
    result = compare(wired_sweep)
    assert result.basis == "whole run" and result.choice is None and result.table.index[0] == "linear"
    assert result.reduction["updates"]["reduction_pct"] > 0
    assert main([str(wired_sweep)]) == 0
    assert "no test accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "not_one_job", "no_constant", "bad_target", "no_args"])
def test_bad_input_is_one_line_exit_2(case, tmp_path, wired_runs, sweep_maker, capsys):
    args = {"missing": [str(tmp_path / "nope")], "not_one_job": [str(wired_runs)],
            "bad_target": [str(wired_runs), "--target", "3"], "no_args": []}.get(case)
    if case == "no_constant":
        sweep = sweep_maker(tmp_path / "nc", "wired_star", {"fl.schedule": ["{kind: linear, start: 4, end: 1}"]},
                            [1], ["--set", "fl.rounds=3"])
        args = [str(sweep)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    if case == "no_constant":
        assert "constant schedule" in err
    if case == "not_one_job":  # the deadline run also changed the devices: another job, named field by field
        assert "not the same FL job" in err and "clients.device.heterogeneity" in err and "--mixed" in err


def test_folder_of_runs_of_one_job_is_ranked(wired_runs, tmp_path, capsys):
    """A plain folder of run folders (no sweep) is compared as docs/analysis.md says, when they are one job."""
    import shutil

    folder = tmp_path / "runs"
    for name in ("constant", "linear"):
        shutil.copytree(wired_runs / name, folder / name)
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert "saved updates %" in out and "percent less than the baseline" in out and "not the same" not in out


def test_mixed_ranks_other_jobs_with_a_warning(wired_runs, capsys):
    assert main([str(wired_runs), "--mixed"]) == 0
    assert "Warning: not the same FL job: the runs also differ in clients.device.heterogeneity" in capsys.readouterr().out
