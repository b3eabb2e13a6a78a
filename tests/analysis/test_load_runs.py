"""load_runs / load_rounds / load_timeline on one run, a folder of runs and a sweep; damaged folders are reported and
skipped, never mixed in; a folder that holds no runs is one clear error."""

import json
import shutil

import pandas as pd
import pytest

from twin.analysis import AnalysisError, RunFolderWarning, load_rounds, load_runs, load_timeline, open_runs
from twin.recording.manifest import write_manifest


def test_single_run_folder(wired_runs):
    run = wired_runs / "constant"
    runs = load_runs(run)
    assert len(runs) == 1 and runs["status"].iloc[0] == "ok" and runs["run_id"].iloc[0] == "constant"
    summary = json.loads((run / "summary.json").read_text())
    row = runs.iloc[0]
    assert row["sim_time_s"] == pytest.approx(summary["sim_time_s"])
    assert row["bytes_total"] == pytest.approx(summary["bytes_down"] + summary["bytes_up"])
    assert row["pushed_updates"] == summary["participations"] == 24
    assert row["mean_round_s"] == pytest.approx(2.694928, abs=1e-6) and row["clients_per_round"] == 4
    rounds = load_rounds(run)
    assert len(rounds) == 6 and (rounds["run_id"] == "constant").all()
    flows = load_timeline(run, kinds=["flow_end"])
    assert set(flows["kind"]) == {"flow_end"} and len(flows) == 48


def test_folder_of_runs(wired_runs):
    runs = open_runs(wired_runs)
    assert runs.kind == "folder" and sorted(runs.runs["run_id"]) == ["constant", "deadline", "linear"]
    # runs that differ in many fields are named by their folders
    assert sorted(runs.runs["strategy"]) == ["constant", "deadline", "linear"]
    deadline = runs.runs.set_index("run_id").loc["deadline"]
    assert deadline["dropped"] > 0 and 0 < deadline["drop_rate"] <= 1
    assert runs.runs.set_index("run_id").loc["linear", "pushed_updates"] < 24
    timeline = load_timeline(wired_runs, kinds=["client_dropped"])
    assert set(timeline["run_id"]) == {"deadline"}


def test_sweep_folder(study_sweep):
    runs = open_runs(study_sweep)
    assert runs.kind == "sweep" and runs.swept == ["fl.schedule"]
    table = runs.runs
    assert len(table) == 6 and (table["status"] == "ok").all()
    assert list(dict.fromkeys(table["strategy"])) == ["constant", "linear", "reciprocal"]
    index = pd.read_parquet(study_sweep / "runs.parquet")
    assert list(table["hash"]) == list(index["hash"]) and list(table["overrides"]) == list(index["overrides"])
    # the to-target columns refer to the runs' own target (0.7) and agree with what the sweep index recorded
    assert table["target"].eq(0.7).all()
    assert list(table["time_to_target_s"]) == pytest.approx(list(index["time_to_target_s"]), nan_ok=True)
    rounds = load_rounds(study_sweep)
    assert set(rounds["strategy"]) == {"constant", "linear", "reciprocal"} and "fl.schedule" in rounds
    assert len(rounds) == sum(len(pd.read_parquet(study_sweep / p / "rounds.parquet")) for p in index["path"])


def test_damaged_run_folders_are_reported_and_skipped(study_sweep, tmp_path):
    root = shutil.copytree(study_sweep, tmp_path / "copy")
    index = pd.read_parquet(root / "runs.parquet")
    truncated, unsummarised = root / index["path"][1], root / index["path"][2]
    data = (truncated / "rounds.parquet").read_bytes()
    (truncated / "rounds.parquet").write_bytes(data[: len(data) // 2])
    (unsummarised / "summary.json").unlink()
    crashed = root / index["path"][3]
    summary = json.loads((crashed / "summary.json").read_text())
    (crashed / "summary.json").write_text(json.dumps({**summary, "status": "failed", "exception": "ValueError: boom"}))
    write_manifest(crashed)  # a run that failed as written (an edit without a new manifest would be damage)
    with pytest.warns(RunFolderWarning) as caught:
        runs = load_runs(root)
    messages = " ".join(str(w.message) for w in caught)
    assert truncated.name in messages and unsummarised.name in messages and crashed.name in messages
    status = runs.set_index("run_id")["status"]
    assert status[index["run_id"][1]] == "corrupt" and status[index["run_id"][2]] == "incomplete"
    assert status[index["run_id"][3]] == "failed" and "boom" in runs["problem"].iloc[3]
    assert "rounds.parquet" in runs.set_index("run_id").loc[index["run_id"][1], "problem"]
    assert runs.loc[runs["status"] != "ok", "sim_time_s"].isna().all()
    with pytest.warns(RunFolderWarning):
        rounds = load_rounds(root)
    assert set(rounds["run_id"]) == set(index["run_id"][[0, 4, 5]])


def test_pending_and_failed_runs(tmp_path, sweep_maker):
    root = sweep_maker(tmp_path / "going", "wired_star", {"fl.rounds": [2, 3]}, [1], [], pending=1)
    index = pd.read_parquet(root / "runs.parquet")
    index.loc[0, ["status", "error"]] = ["failed", "boom"]
    index.to_parquet(root / "runs.parquet")
    with pytest.warns(RunFolderWarning, match="pending"):
        runs = load_runs(root)
    assert list(runs["status"]) == ["failed", "pending"] and "boom" in runs["problem"].iloc[0]
    with pytest.warns(RunFolderWarning):
        assert load_rounds(root).empty


@pytest.mark.parametrize("setup", ["missing", "empty", "file", "no_index", "empty_index"])
def test_not_runs_is_one_clear_error(tmp_path, setup):
    target = tmp_path / "x"
    if setup == "empty":
        target.mkdir()
        (target / "notes").mkdir()
    elif setup == "file":
        target.write_text("hello")
    elif setup in ("no_index", "empty_index"):
        target.mkdir()
        (target / "sweep.json").write_text('{"name": "s"}')
        if setup == "empty_index":
            pd.DataFrame({"run_id": [], "path": [], "status": []}).to_parquet(target / "runs.parquet")
    with pytest.raises(AnalysisError) as err:
        load_runs(target)
    assert str(target) in str(err.value) and "\n" not in str(err.value)


def test_target_override_recomputes_time_to_target(study_sweep):
    lenient, strict = load_runs(study_sweep, target=0.5), load_runs(study_sweep, target=0.99)
    assert lenient["reached"].all() and not strict["reached"].any()
    assert (lenient["time_to_target_s"] <= lenient["sim_time_s"]).all()
