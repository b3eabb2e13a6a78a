"""Data reuse across runs of one process (twin.sim.data_cache): no reload, identical results, bounded size."""

from __future__ import annotations

import contextlib
import functools
import io
import json
from pathlib import Path

import pandas as pd
import pytest

import twin.fl.data as data_sets
from twin.scenario.loading import load_scenario
from twin.sim import data_cache
from twin.sim.runner import simulate

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["fl.rounds=2"]


@pytest.fixture
def counted(monkeypatch):
    """Count the loader's calls (the digits loader, wrapped), starting from an empty cache of size 1."""
    calls = []
    real = data_sets.DATASETS["digits"]

    @functools.wraps(real)  # keeps the loader's signature, which load_dataset checks the fields against
    def loader(**fields):
        calls.append(fields)
        return real(**fields)

    monkeypatch.setitem(data_sets.DATASETS, "digits", loader)
    data_cache.clear()
    data_cache.set_size(1)
    yield calls
    data_cache.clear()


def _tables(overrides):
    result = simulate(load_scenario("quickstart", QUICK + overrides), base_dir=ROOT)
    assert result.summary["status"] == "ok"
    return result.tables, result.summary["fl"]["data_reused"]


def _same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


def test_second_run_with_the_same_data_section_does_not_reload(counted):
    first, reused = _tables([])
    assert len(counted) == 1 and reused is None
    second, reused = _tables(["fl.local.optimizer.lr=0.05"])  # another training setting, same data and partition
    assert len(counted) == 1 and reused == "partition"
    data_cache.clear()
    fresh, _ = _tables(["fl.local.optimizer.lr=0.05"])
    assert len(counted) == 2
    _same(second, fresh)  # a reused partition gives exactly the tables of a fresh load


def test_another_partition_reuses_the_data_set_and_another_data_section_reloads(counted):
    _tables([])
    other, reused = _tables(["fl.partition={kind: dirichlet, alpha: 0.3}"])
    assert len(counted) == 1 and reused == "data set"
    data_cache.clear()
    fresh, _ = _tables(["fl.partition={kind: dirichlet, alpha: 0.3}"])
    _same(other, fresh)
    _tables(["fl.data={kind: digits, test_fraction: 0.3}"])
    assert len(counted) == 3


def test_the_cache_is_bounded(counted):
    _tables([])
    _tables(["fl.data={kind: digits, test_fraction: 0.3}"])
    assert len(data_cache._loaded) == 1 and len(data_cache._partitions) == 1
    _tables([])  # the first data section was evicted: loaded again
    assert len(counted) == 3
    data_cache.set_size(0)
    assert not data_cache._loaded and not data_cache._partitions


def test_a_sweep_worker_reuses_the_data_of_its_previous_run(tmp_path):
    """Two runs of one data section in one worker: the second says it reused the partition; both equal twin.run."""
    from twin.run import main as run_main
    from twin.sweep import main as sweep_main

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"base: {ROOT / 'scenarios' / 'quickstart.yaml'}\nname: reuse\nset:\n  fl.rounds: 2\n"
                     "grid:\n  fl.local.optimizer.lr: [0.02, 0.05]\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert sweep_main([str(sweep), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"]) == 0
    runs = sorted((tmp_path / "out" / "runs").iterdir())
    summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
    assert sorted(str(s["fl"]["data_reused"]) for s in summaries) == ["None", "partition"]
    reused = next(r for r, s in zip(runs, summaries, strict=True) if s["fl"]["data_reused"])
    with contextlib.redirect_stdout(io.StringIO()):  # the same scenario alone, in this process, from a fresh load
        data_cache.clear()
        assert run_main([str(reused / "scenario.resolved.yaml"), "--out", str(tmp_path / "alone"), "--quiet"]) == 0
    for table in ("rounds", "timeline", "clients"):
        pd.testing.assert_frame_equal(pd.read_parquet(reused / f"{table}.parquet"),
                                      pd.read_parquet(tmp_path / "alone" / f"{table}.parquet"), check_exact=True)
