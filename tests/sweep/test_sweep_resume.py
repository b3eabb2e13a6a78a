"""Resuming: Ctrl-C and a hard kill keep finished runs, a restart reruns only the rest, a changed base reruns."""

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from conftest import EIGHT, ROOT

from twin.recording.run_folder import is_complete
from twin.sweeps import load_sweep, make_plan
from twin.sweeps.backends import LocalBackend
from twin.sweeps.runner import run_sweep


def _stamps(out):
    """run_id -> (inode, mtime) of its summary.json: unchanged means the run was not executed again."""
    return {p.parent.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "runs").glob("*/summary.json")}


def _leftovers(out):
    return [p.name for p in [*out.iterdir(), *(out / "runs").iterdir()] if ".tmp-" in p.name or ".old-" in p.name]


def test_ctrl_c_keeps_finished_runs_and_the_index_consistent(make_sweep, tmp_path):
    plan = make_plan(load_sweep(make_sweep(EIGHT)))
    out = tmp_path / "out"
    seen = []

    def interrupt_after_three(row):
        seen.append(row["run_id"])
        if len(seen) == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver

    with pytest.raises(KeyboardInterrupt):
        run_sweep(plan, out, LocalBackend(2), on_result=interrupt_after_three)
    df = pd.read_parquet(out / "runs.parquet")
    assert len(df) == 8 and set(df["status"]) <= {"ok", "pending"}
    ok = set(df.loc[df["status"] == "ok", "run_id"])
    assert set(seen) <= ok and len(ok) < 8  # a run in flight may have finished on disk: then it is indexed too
    for row in df.itertuples():
        assert is_complete(out / row.path) == (row.status == "ok")
    assert _leftovers(out) == []
    before = _stamps(out)

    report = run_sweep(plan, out, LocalBackend(2))
    assert report.n_skipped == len(ok) and report.n_ran == 8 - len(ok)
    assert {k: v for k, v in _stamps(out).items() if k in ok} == before
    assert (report.index["status"] == "ok").all()


KILLER = """
import os, signal, sys
from twin.sweeps import load_sweep, make_plan
from twin.sweeps.backends import LocalBackend
from twin.sweeps.runner import run_sweep

done = []
def kill_after_three(row):  # one worker: when the third result arrives no other run is in flight
    done.append(row)
    if len(done) == 3:
        os.killpg(0, signal.SIGKILL)  # the driver and its worker, at once, like kill -9 on the group
run_sweep(make_plan(load_sweep(sys.argv[1])), sys.argv[2], LocalBackend(1), on_result=kill_after_three)
"""


def test_killed_sweep_reruns_only_the_unfinished_runs(make_sweep, tmp_path):
    sweep = make_sweep(EIGHT)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLER), str(sweep), str(out)], env=env,
                          start_new_session=True, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    plan = make_plan(load_sweep(sweep))
    finished = [r.run_id for r in plan.runs if is_complete(out / r.path)]
    assert finished == [r.run_id for r in plan.runs[:3]]
    # what a kill in the middle of writing leaves: a temporary folder, and a run folder without its summary
    (out / "runs" / f".{plan.runs[3].run_id}.tmp-x1y2z3").mkdir()
    (out / "runs" / f".{plan.runs[3].run_id}.tmp-x1y2z3" / "timeline.parquet").write_bytes(b"half")
    (out / "runs" / plan.runs[4].run_id).mkdir()
    (out / "runs" / plan.runs[4].run_id / "rounds.parquet").write_bytes(b"half")
    before = _stamps(out)

    executed = []
    report = run_sweep(plan, out, LocalBackend(2), on_result=lambda row: executed.append(row["run_id"]))
    assert sorted(executed) == [r.run_id for r in plan.runs[3:]]
    assert report.n_skipped == 3 and report.cleaned == [f".{plan.runs[3].run_id}.tmp-x1y2z3"]
    assert {k: v for k, v in _stamps(out).items() if k in finished} == before
    assert (report.index["status"] == "ok").all() and _leftovers(out) == []
    assert all(is_complete(out / r.path) for r in plan.runs)


def test_changing_the_base_scenario_reruns_what_it_changes(make_sweep, tmp_path):
    base = tmp_path / "base.yaml"
    original = (ROOT / "scenarios" / "wired_star.yaml").read_text()
    base.write_text(original)
    sweep = make_sweep("set: {fl.rounds: 2}\nseeds: [1, 2]\n", base="base.yaml")
    out = tmp_path / "out"
    first = run_sweep(make_plan(load_sweep(sweep)), out, LocalBackend(1))
    assert first.n_ran == 2

    base.write_text(original.replace("latency_s: 10 ms", "latency_s: 20 ms"))
    second = run_sweep(make_plan(load_sweep(sweep)), out, LocalBackend(1))
    assert second.n_skipped == 0 and second.n_ran == 2
    assert set(second.index["hash"]).isdisjoint(first.index["hash"])
    assert (second.index["sim_time_s"] > first.index["sim_time_s"]).all()

    base.write_text(original.replace("latency_s: 10 ms", "latency_s: 20 ms").replace("rounds: 3", "rounds: 9"))
    third = run_sweep(make_plan(load_sweep(sweep)), out, LocalBackend(1))  # fl.rounds is set by the sweep: same runs
    assert third.n_skipped == 2 and third.n_ran == 0
    assert list(third.index["hash"]) == list(second.index["hash"])
