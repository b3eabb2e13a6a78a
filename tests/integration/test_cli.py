"""The command line as a user meets it: outputs, one-line errors with exit status 2, safe run folders."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from twin.recording.run_folder import RUN_FILES, is_complete
from twin.run import main

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_writes_a_complete_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["quickstart", "--out", str(out)]) == 0
    assert is_complete(out)
    assert sorted(p.name for p in out.iterdir()) == sorted((*RUN_FILES, "run.log", "manifest.json"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["stop_reason"] == "target_accuracy"
    assert summary["final_accuracy"] >= 0.9
    rounds = pd.read_parquet(out / "rounds.parquet")
    assert summary["bytes_down"] == pytest.approx(rounds["bytes_down"].sum())
    printed = capsys.readouterr().out
    assert "simulated time" in printed and "bytes down" in printed


def test_quiet_prints_only_the_run_folder(tmp_path, capsys):
    assert main(["quickstart", "--out", str(tmp_path / "r"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{tmp_path / 'r'}\n" and captured.err == ""
    assert "round 1/30 " in (tmp_path / "r" / "run.log").read_text()  # the lines still go to run.log


def test_validate_only(tmp_path, capsys):
    assert main(["--validate", "quickstart"]) == 0
    out = capsys.readouterr().out
    assert "ok" in out and "built 20 clients" in out and "data set digits" in out and "nothing simulated" in out


@pytest.mark.parametrize(("change", "needle"), [
    # each passes the schema; only building finds it
    ({"fl": {"data": {"kind": "idx", "path": "/nonexistent/idx"}, "model": {"kind": "mlp", "hidden": [8]}}},
     "fl.data.path: /nonexistent/idx: not found"),  # the preflight finds a missing file before building
    ({"mobility": {"n_vehicles": 20}}, "clients.vehicles.count: 60 clients, but only 20 vehicles"),
])
def test_validate_builds_what_can_fail(tmp_path, capsys, change, needle):
    import yaml

    config = yaml.safe_load((ROOT / "scenarios" / "city_grid.yaml").read_text())
    for key, value in change.items():
        config[key] = {**config[key], **value}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main([str(path), "--validate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err


@pytest.mark.parametrize(("text", "args", "needle"), [
    ("fl: [1, 2\n", [], "malformed YAML"),
    ("topology: {kind: star, colour: red}\n", [], "topology.colour: unknown field"),
    ("fl: {rounds: lots}\n", [], "fl.rounds"),
    ("topology: {kind: star, client_link: {bandwidth_bps: -1}}\n", [], "bandwidth_bps"),
    ("topology:\n  kind: explicit\n  nodes: [{name: s, role: server}, {name: r}, {name: c, role: client}]\n"
     "  links: [{a: s, b: r, bandwidth_bps: 1e6}]\n", [], "topology: client 'c' cannot reach server 's'"),
    ("topology: {kind: graphml, path: missing.graphml}\n", [], "topology.path: missing.graphml: not found"),
    ("", ["--set", "fl.nope=1"], "fl.nope: unknown field"),
    ("", ["--set", "fl.rounds"], "FIELD.PATH=VALUE"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, text, args, needle):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text)
    out = tmp_path / "out"
    assert main([str(scenario), "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    import re

    assert re.search(needle, err), err
    assert not out.exists()


def test_missing_scenario_file(capsys):
    assert main(["no/such/file.yaml"]) == 2
    assert "scenario file not found" in capsys.readouterr().err


def test_unknown_option_is_exit_2(capsys):
    assert main(["quickstart", "--frobnicate"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_existing_out_folder_is_never_clobbered(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert main(["quickstart", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"
    # --overwrite replaces only a twin run folder: this one is not, so it is refused and kept
    assert main(["quickstart", "--out", str(out), "--overwrite", "--quiet"]) == 2
    assert "not one; nothing was deleted" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "keep me"
    (out / "precious.txt").unlink()
    assert main(["quickstart", "--out", str(out), "--quiet"]) == 0  # an empty folder may be written
    (out / "extra.txt").write_text("from an earlier run")
    assert main(["quickstart", "--out", str(out), "--overwrite", "--quiet"]) == 0  # a run folder is replaced
    assert is_complete(out) and not (out / "extra.txt").exists()


def test_crash_mid_write_leaves_no_folder_and_saves_the_results(tmp_path, monkeypatch, capsys):
    import twin.recording.target as target

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(target, "_fsync", boom)
    monkeypatch.setenv("TWIN_FALLBACK_DIR", str(tmp_path / "fallback"))
    out = tmp_path / "runs" / "run"
    assert main(["quickstart", "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "No space left on device" in err and "saved to" in err
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no temporary folder or lock left over either
    saved = Path(err.rsplit("saved to ", 1)[1])
    assert saved.parent == tmp_path / "fallback" and is_complete(saved)


def test_module_entry_point_exit_status_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("topology: {kind: star, client_link: {bandwidth_bps: 10 ms}}\n")
    proc = subprocess.run([sys.executable, "-m", "twin.run", str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.yaml:1: topology.client_link.bandwidth_bps: unit 'ms'" in proc.stderr


def test_failure_mid_run_keeps_partial_results(tmp_path, monkeypatch, capsys):
    from twin.sim.workload import FixedWorkload

    def broken(self, round_, completed, dropped):
        if round_ == 3:
            raise FloatingPointError("model diverged")
        return original(self, round_, completed, dropped)

    original = FixedWorkload.end_round
    monkeypatch.setattr(FixedWorkload, "end_round", broken)
    out = tmp_path / "run"
    assert main(["wired_star", "--out", str(out), "--quiet", "--set", "fl.rounds=5"]) == 1
    assert "model diverged" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "FloatingPointError" in summary["exception"]
    assert len(pd.read_parquet(out / "rounds.parquet")) == 2


def test_baseline_comparison_goes_into_the_summary(tmp_path, capsys):
    base = tmp_path / "base"
    assert main(["wired_star", "--out", str(base), "--quiet", "--set", "fl.schedule.start=4"]) == 0
    run = tmp_path / "run"
    assert main(["wired_star", "--out", str(run), "--set", "fl.schedule.start=2", "--baseline", str(base)]) == 0
    printed = capsys.readouterr().out
    # one sign convention everywhere: percent saved, positive = less than the baseline
    assert "saved: updates 50.0%, bytes 50.0%" in printed
    vs = json.loads((run / "summary.json").read_text())["vs_baseline"]
    assert vs["pushed_updates"]["baseline"] == 12 and vs["pushed_updates"]["run"] == 6
    assert vs["pushed_updates"]["reduction_pct"] == pytest.approx(50.0)
    assert vs["bytes_total"]["reduction_pct"] == pytest.approx(50.0)


def test_baseline_must_be_a_complete_run(tmp_path, capsys):
    (tmp_path / "half").mkdir()
    assert main(["wired_star", "--out", str(tmp_path / "r"), "--baseline", str(tmp_path / "half")]) == 2
    assert "not a complete run folder" in capsys.readouterr().err


def test_baseline_of_another_job_is_refused_before_running(tmp_path, capsys):
    base = tmp_path / "base"
    assert main(["wired_star", "--out", str(base), "--quiet", "--set", "fl.rounds=1"]) == 0
    capsys.readouterr()
    out = tmp_path / "run"
    assert main(["wired_star", "--out", str(out), "--set", "topology.n_clients=6", "--set", "fl.rounds=1",
                 "--baseline", str(base)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not the same FL job" in err and "topology.n_clients (6 / 4)" in err, err
    assert not out.exists()


def test_version_and_the_command_list(capsys):
    import twin
    from twin.__main__ import main as twin_main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"twin {twin.__version__}"
    assert twin_main([]) == 0
    listed = capsys.readouterr().out
    assert all(f"python -m twin.{c}" in listed for c in ("run", "sweep", "compare", "plot", "report"))
    assert twin_main(["--version"]) == 0 and capsys.readouterr().out.strip() == f"twin {twin.__version__}"


def test_default_run_folders_do_not_collide(tmp_path, monkeypatch):
    from twin.run import default_out

    monkeypatch.chdir(tmp_path)
    first = default_out("x")
    first.mkdir(parents=True)
    second = default_out("x")  # the same second, the same process
    assert second != first and second.name.startswith(first.name)
    assert f"-{os.getpid()}" in first.name  # two processes starting in the same second differ by their pid
