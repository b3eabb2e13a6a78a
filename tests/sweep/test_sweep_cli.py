"""The sweep command line as a user meets it: bad input is one line, exit 2, nothing written; failures exit 1."""

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import EIGHT

from twin.sweep import main

ROOT = Path(__file__).resolve().parents[2]


def _one_line_error(capsys, needle: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert re.search(needle, err), err
    return err


@pytest.mark.parametrize(("body", "needle"), [
    ("grid: {fl.nope: [1, 2]}\n", r"sweep.yaml:2: run 000-\w+: override fl.nope=1: fl.nope: unknown field"),
    ("grid: {}\n", r"sweep.yaml:2: empty grid"),
    ("zip: {fl.rounds: [1, 2], seed: [1]}\n", r"zip.0: lists of different lengths"),
    ("grid: {fl.rounds: [1]}\nworkers: 3\n", r"workers: unknown field"),
])
def test_bad_sweep_exits_2_and_writes_nothing(make_sweep, tmp_path, capsys, body, needle):
    out = tmp_path / "out"
    assert main([str(make_sweep(body)), "--out", str(out)]) == 2
    _one_line_error(capsys, needle)
    assert not out.exists()


def test_out_that_is_not_a_sweep_folder_is_refused(make_sweep, tmp_path, capsys):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main([str(make_sweep(EIGHT)), "--out", str(out)]) == 2
    _one_line_error(capsys, r"precious: folder exists, is not empty and is not a sweep folder")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_out_that_holds_another_sweep_is_refused(make_sweep, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sweep.json").write_text('{"name": "other", "n_runs": 1, "base": "x", "created": "now"}')
    assert main([str(make_sweep(EIGHT)), "--out", str(out)]) == 2
    _one_line_error(capsys, r"holds the sweep 'other', not 'eight'")


def test_ray_not_installed_names_the_extra(make_sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    out = tmp_path / "out"
    assert main([str(make_sweep(EIGHT)), "--out", str(out), "--backend", "ray"]) == 2
    _one_line_error(capsys, re.escape("Ray is not installed (pip install 'twin[ray]')"))
    assert not out.exists()


def test_unreachable_ray_address(make_sweep, tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'twin[ray]')")
    out = tmp_path / "out"
    assert main([str(make_sweep(EIGHT)), "--out", str(out), "--backend", "ray", "--address", "127.0.0.1:1"]) == 2
    _one_line_error(capsys, r"--address 127.0.0.1:1: cannot reach a Ray cluster there")
    assert not out.exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--workers", "0"], r"--workers: must be at least 1"),
    (["--backend", "slurm"], r"--backend: invalid choice"),
    (["--address", "127.0.0.1:1"], r"--address is for --backend ray"),
])
def test_bad_options(make_sweep, tmp_path, capsys, args, needle):
    assert main([str(make_sweep(EIGHT)), "--out", str(tmp_path / "out"), *args]) == 2
    _one_line_error(capsys, needle)
    assert not (tmp_path / "out").exists()


def test_missing_sweep_file(capsys):
    assert main(["no/such/sweep.yaml"]) == 2
    _one_line_error(capsys, r"no/such/sweep.yaml: sweep file not found")


def test_dry_run_lists_the_runs(make_sweep, tmp_path, capsys):
    assert main([str(make_sweep(EIGHT)), "--dry-run", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "ok (eight: 8 runs" in printed and "{fl.schedule: {kind: linear, start: 6, end: 2}, fl.rounds: 3, seed: 2}" in printed
    assert "built 4 distinct scenarios" in printed and "nothing simulated" in printed  # 8 runs = 4 x 2 seeds
    assert not (tmp_path / "out").exists()


def test_dry_run_builds_what_validation_alone_passes(tmp_path, capsys):
    """More clients than vehicles passes the schema and the preflight; only building the city finds it. The dry run
    builds, names the run, and writes nothing."""
    import textwrap

    city = ROOT / "scenarios" / "city_grid.yaml"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(textwrap.dedent(f"""\
        base: {city}
        set: {{fl.rounds: 1}}
        grid:
          mobility.n_vehicles: [300, 20]
        """))
    assert main([str(sweep), "--dry-run", "--out", str(tmp_path / "out")]) == 2
    _one_line_error(capsys, r"run 001-\w+ \(\{mobility.n_vehicles: 20\}\): clients.vehicles.count: 60 clients, "
                            r"but only 20 vehicles")
    assert not (tmp_path / "out").exists()


def test_a_failing_run_is_recorded_exit_1_and_retried(make_sweep, tmp_path, capsys):
    (tmp_path / "missing.graphml").write_text("not GraphML at all")  # a damaged file is found only at build time
    sweep = make_sweep("""\
        set: {fl.rounds: 1, output.sample_period_s: 0}
        grid:
          topology: [{kind: star, n_clients: 2}, {kind: graphml, path: missing.graphml}]
        """)
    out = tmp_path / "out"
    assert main([str(sweep), "--out", str(out), "--workers", "1"]) == 1
    captured = capsys.readouterr()
    assert "2 runs (1 ok, 1 failed, 0 pending)" in captured.out
    assert "1 of 2 runs failed" in captured.err
    df = pd.read_parquet(out / "runs.parquet")
    assert list(df["status"]) == ["ok", "failed"] and "missing.graphml" in df["error"].iloc[1]
    assert df["topology"].iloc[1] == "{kind: graphml, path: missing.graphml}"
    assert main([str(sweep), "--out", str(out), "--workers", "1", "--quiet"]) == 1  # the failed run is tried again
    assert "1 of 2 runs failed" in capsys.readouterr().err
