"""A real sweep of 8 runs: the folder and index it writes, the same runs as twin.run, and the same results on Ray."""

import contextlib
import hashlib
import io
import json

import pandas as pd
import pytest
import yaml
from conftest import EIGHT, needs_builtins, write_sweep

from twin.recording.run_folder import RUN_FILES, is_complete
from twin.scenario.loading import without_derived
from twin.sweep import main

CONTRACT = ["run_id", "path", "status", "hash", "seed", "overrides", "fl.schedule", "fl.rounds", "error", "rounds",
            "stop_reason", "final_accuracy", "best_accuracy", "sim_time_s", "bytes_down", "bytes_up",
            "participations", "time_to_target_s", "time_to_target_round", "wall_s"]


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The 8-run sweep, run once by the command line on the local backend with 2 workers."""
    folder = tmp_path_factory.mktemp("local")
    sweep = write_sweep(folder, EIGHT)
    code, printed = _cli(str(sweep), "--out", str(folder / "out"), "--workers", "2")
    assert code == 0, printed
    return sweep, folder / "out", printed


def test_index_has_the_contract_columns_and_one_ok_row_per_run(local):
    _, out, printed = local
    df = pd.read_parquet(out / "runs.parquet")
    assert list(df.columns) == CONTRACT
    assert len(df) == 8 and (df["status"] == "ok").all() and (df["error"] == "").all()
    assert df["run_id"].is_unique and (df["path"] == "runs/" + df["run_id"]).all()
    assert df["overrides"].iloc[0] == "{fl.schedule: {kind: constant, start: 3}, fl.rounds: 2, seed: 1}"
    assert df["fl.schedule"].iloc[-1] == "{kind: linear, start: 6, end: 2}"
    assert df["fl.rounds"].dtype.kind == "i" and list(df["seed"]) == [1, 2] * 4
    assert list(df["rounds"]) == list(df["fl.rounds"])
    assert (df["stop_reason"] == "max_rounds").all() and df["time_to_target_s"].isna().all()
    assert (df["bytes_down"] > 0).all() and (df["sim_time_s"] > 0).all() and (df["wall_s"] > 0).all()
    assert "8 runs (8 ok, 0 failed, 0 pending)" in printed and "8 ran, 0 already done" in printed


def test_every_run_folder_is_complete_and_hashed(local):
    _, out, _ = local
    df = pd.read_parquet(out / "runs.parquet")
    for run in df.itertuples():
        folder = out / run.path
        assert is_complete(folder) and sorted(p.name for p in folder.iterdir()) == sorted((*RUN_FILES, "run.log",
                                                                                          "manifest.json"))
        assert f"round {run.rounds}/{run.rounds} " in (folder / "run.log").read_text()
        text = (folder / "scenario.resolved.yaml").read_text()
        assert "\nderived:\n" in text  # the computed values are shown; the hash leaves them out
        assert hashlib.sha256(without_derived(text).encode()).hexdigest() == run.hash
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["sweep"] == {"name": "eight", "run_id": run.run_id, "overrides": run.overrides}
        assert summary["seed"] == run.seed and summary["sim_time_s"] == run.sim_time_s
    marker = json.loads((out / "sweep.json").read_text())
    assert marker["name"] == "eight" and marker["n_runs"] == 8 and set(marker) == {"name", "n_runs", "base", "created"}
    resolved = yaml.safe_load((out / "sweep.yaml").read_text())
    assert resolved["seeds"] == [1, 2] and resolved["grid"]["fl.rounds"] == [2, 3]


@needs_builtins  # twin.run's --help lists the built-in scenarios
def test_a_sweep_run_equals_twin_run_with_the_same_overrides(local, tmp_path):
    from twin.run import main as run_main

    sweep, out, _ = local
    df = pd.read_parquet(out / "runs.parquet")
    row = df.iloc[5]
    base = yaml.safe_load(sweep.read_text())["base"]
    sets = ["output.sample_period_s=0", "fl.replacement=true", "clients.device.heterogeneity={kind: lognormal, sigma: 0.5}",
            f"fl.schedule={row['fl.schedule']}", f"fl.rounds={row['fl.rounds']}"]
    args = [base, "--out", str(tmp_path / "single"), "--quiet", "--seed", str(row["seed"])]
    for item in sets:
        args += ["--set", item]
    assert run_main(args) == 0
    assert (tmp_path / "single" / "scenario.resolved.yaml").read_text() == (out / row["path"] / "scenario.resolved.yaml").read_text()
    for table in ("rounds", "timeline", "clients"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "single" / f"{table}.parquet"),
                                      pd.read_parquet(out / row["path"] / f"{table}.parquet"))


def test_ray_backend_gives_identical_runs(local, tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'twin[ray]'): the ray backend is untested")
    sweep, out, _ = local
    # --workers 2: the backend starts a local Ray with num_cpus=2 for the sweep and shuts it down after.
    code, printed = _cli(str(sweep), "--out", str(tmp_path / "ray"), "--backend", "ray", "--workers", "2")
    assert code == 0, printed
    a = pd.read_parquet(out / "runs.parquet").drop(columns="wall_s")
    b = pd.read_parquet(tmp_path / "ray" / "runs.parquet").drop(columns="wall_s")
    pd.testing.assert_frame_equal(a, b)
    for path in a["path"]:
        for table in ("rounds", "timeline", "clients", "samples"):
            pd.testing.assert_frame_equal(pd.read_parquet(out / path / f"{table}.parquet"),
                                          pd.read_parquet(tmp_path / "ray" / path / f"{table}.parquet"))


def test_running_again_skips_every_finished_run(local):
    sweep, out, _ = local
    before = {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")}
    code, printed = _cli(str(sweep), "--out", str(out), "--quiet")
    assert code == 0 and printed == ""
    assert {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/summary.json")} == before
    assert len(before) == 8
    assert (pd.read_parquet(out / "runs.parquet")["status"] == "ok").all()
