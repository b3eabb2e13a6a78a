"""Fault injection on the run folder: two runs into one folder, a full disk, a read-only or missing parent, a file in
the way, --overwrite of a folder that is not a run, stale temporary folders of killed runs (issue 9, "lost work")."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.adversarial.conftest import refused
from twin.errors import InputError
from twin.recording.run_folder import RunNotWritten, is_complete, write_or_save, write_run_folder
from twin.recording.target import Claim, RunFolderExists, check_target, claim, clean_leftovers

TABLES = {"timeline": pd.DataFrame({"t": [0.0]}), "rounds": pd.DataFrame({"round": [1]}),
          "samples": pd.DataFrame({"t": [0.0]}), "clients": pd.DataFrame({"client": ["c0"]})}


def _one_run(out: str, tag: str, barrier, results) -> None:
    """A run as twin.run makes it: claim, 'simulate' (a short sleep), write, commit."""
    barrier.wait()
    try:
        with claim(Path(out)) as c:
            time.sleep(0.05)
            write_run_folder(c.out, TABLES, "name: x\n", {"status": "ok", "tag": tag}, target=c)
        results.put((tag, "ok"))
    except RunFolderExists as exc:
        results.put((tag, f"refused: {exc}"))


@pytest.mark.parametrize("n_racers", [2, 4])
def test_two_runs_into_one_folder_never_both_succeed(tmp_path, n_racers):
    ctx = mp.get_context("fork")
    for trial in range(25):
        out = tmp_path / f"trial{trial}" / "run"
        barrier, results = ctx.Barrier(n_racers), ctx.Queue()
        procs = [ctx.Process(target=_one_run, args=(str(out), f"r{i}", barrier, results)) for i in range(n_racers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes = dict(results.get(timeout=5) for _ in procs)
        winners = [tag for tag, o in outcomes.items() if o == "ok"]
        assert len(winners) == 1, outcomes
        assert json.loads((out / "summary.json").read_text())["tag"] == winners[0]
        assert all("another run is writing" in o or "not empty" in o for o in outcomes.values() if o != "ok")
        assert sorted(p.name for p in out.parent.iterdir()) == ["run"]  # no temp folder, no lock file left


@pytest.mark.slow
def test_two_cli_runs_into_one_folder(tmp_path):
    """The issue's reproduction with the real command: never both exit 0, the finished run is never replaced."""
    for trial in range(3):
        out = tmp_path / f"t{trial}"
        cmd = ["python", "-m", "twin.run", "quickstart", "--out", str(out), "--quiet", "--set", "fl.rounds=1"]
        procs = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
                 for _ in range(2)]
        rcs = [p.wait(120) for p in procs]
        errs = [p.stderr.read() for p in procs]
        assert sorted(rcs) == [0, 2], (rcs, errs)
        assert is_complete(out)
        loser = errs[rcs.index(2)]
        assert loser.count("\n") == 1 and ("another run is writing" in loser or "not empty" in loser), loser


def test_second_claim_is_refused_before_anything_runs(tmp_path):
    out = tmp_path / "run"
    with claim(out):
        with pytest.raises(RunFolderExists, match=f"another run is writing this folder \\(pid {os.getpid()}\\)"):
            claim(out)
    with claim(out):  # released: free again
        pass


def test_stale_lock_of_a_killed_run_never_blocks(tmp_path):
    out = tmp_path / "run"
    ctx = mp.get_context("fork")
    p = ctx.Process(target=lambda: (claim(out), os.kill(os.getpid(), 9)))
    p.start()
    p.join(10)
    leftovers = sorted(x.name for x in tmp_path.iterdir())
    assert ".run.lock" in leftovers and any(n.startswith(".run.tmp-") for n in leftovers)
    with claim(out) as c:  # the dead process's temp folder is cleaned, its lock does not block
        names = sorted(x.name for x in tmp_path.iterdir())
        assert names == [".run.lock", c.tmp.name]
    assert list(tmp_path.iterdir()) == []


def test_live_processes_keep_their_temp_folders(tmp_path):
    mine = tmp_path / f".other.tmp-{os.getpid()}-abcd"
    dead = tmp_path / ".other.tmp-999999999-abcd"
    legacy = tmp_path / ".other.tmp-x1y2z3"  # an older twin's name: not ours to judge
    for d in (mine, dead, legacy):
        d.mkdir()
    assert clean_leftovers(tmp_path) == [dead]
    assert mine.is_dir() and legacy.is_dir() and not dead.exists()


def test_overwrite_replaces_only_run_folders(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    with pytest.raises(RunFolderExists, match="replaces only a twin run folder"):
        check_target(thesis, overwrite=True)
    assert (thesis / "thesis.tex").read_text() == "years of work"
    run = write_run_folder(tmp_path / "run", TABLES, "name: x\n", {"status": "ok", "n": 1})
    write_run_folder(run, TABLES, "name: x\n", {"status": "ok", "n": 2}, overwrite=True)
    assert json.loads((run / "summary.json").read_text())["n"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "thesis"]  # no .old- folder left


def test_dot_and_working_directory_are_refused(tmp_path, monkeypatch):
    run = write_run_folder(tmp_path / "run", TABLES, "name: x\n", {"status": "ok"})
    monkeypatch.chdir(run)
    for target in (Path("."), run, tmp_path):
        with pytest.raises(RunFolderExists):
            check_target(target, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_parent_is_a_file_is_refused_before_the_run(tmp_path):
    (tmp_path / "afile").write_text("x")
    r = refused("twin.run", "quickstart", "--out", str(tmp_path / "afile" / "run"), match="is not a folder")
    assert r.wall_s < 10
    refused("twin.run", "quickstart", "--out", str(tmp_path / "afile"), match="exists and is not a folder")


def test_missing_parents_are_created(tmp_path):
    with claim(tmp_path / "a" / "b" / "run") as c:
        assert c.tmp.parent == tmp_path / "a" / "b"


def _ro_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write: chmod for a normal user, a read-only tmpfs for root."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        return ro
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs",
                                                        str(ro)], capture_output=True).returncode != 0:
        pytest.skip("root without a way to mount a read-only tmpfs")
    return ro


def test_read_only_parent_is_refused_before_the_run(tmp_path):
    ro = _ro_folder(tmp_path)
    try:
        r = refused("twin.run", "quickstart", "--out", str(ro / "run"), match="not writable")
        assert r.wall_s < 10
        with pytest.raises(RunFolderExists):
            claim(ro / "sub" / "run")
    finally:
        if os.path.ismount(ro):
            subprocess.run(["umount", str(ro)], check=False)
        ro.chmod(0o755)


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MB tmpfs (root only: mounting needs it)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_full_disk_is_refused_before_the_run(small_disk):
    (small_disk / "filler").write_bytes(b"\0" * (4 * 2**20 - 64 * 1024))  # leaves less than MIN_FREE_BYTES
    r = refused("twin.run", "quickstart", "--out", str(small_disk / "run"), match="not enough free space")
    assert r.wall_s < 10 and not (small_disk / "run").exists()


def test_disk_full_after_the_run_saves_the_results_elsewhere(small_disk, tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_FALLBACK_DIR", str(tmp_path / "fallback"))
    big = {**TABLES, "timeline": pd.DataFrame({"x": os.urandom(6 * 2**20)}, index=[0])}  # 6 MB > the disk
    with claim(small_disk / "run") as c, pytest.raises(RunNotWritten) as info:
        write_or_save(c, big, "name: x\n", {"status": "ok"})
    msg = str(info.value)
    assert "No space left on device" in msg and "\n" not in msg
    assert info.value.saved_to is not None and is_complete(info.value.saved_to)
    assert sorted(p.name for p in small_disk.iterdir()) == []  # nothing half-written is left on the full disk


def test_claim_is_an_input_error():
    assert issubclass(RunFolderExists, InputError) and issubclass(Claim, object)
