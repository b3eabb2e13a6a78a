"""The thread policy (twin.threads): the rule, its inputs, and that the thread count never changes results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from twin.errors import InputError
from twin.fl.models import build_model, model_params
from twin.fl.training import LocalTrainer
from twin.scenario.loading import load_scenario
from twin.threads import ENV_VAR, LARGE_THREADS, available_cores, default_threads, resolve_threads

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = (1, 2, 4)  # the counts the policy can choose or a user is expected to pass; each is checked below


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_depends_on_the_scenario_only(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_threads(load_scenario("quickstart", [])) == 1  # a small MLP
    assert default_threads(load_scenario("quickstart", ["fl.model={kind: softmax_regression}"])) == 1
    assert default_threads(load_scenario("quickstart", ["fl.train=false", "fl.model={kind: cnn}"])) == 1
    assert default_threads(load_scenario("quickstart", ["fl.model={kind: fixed}"])) == 1
    large = min(LARGE_THREADS, available_cores())
    assert default_threads(load_scenario("quickstart", ["fl.model={kind: cnn}"])) == large
    assert default_threads(load_scenario("quickstart", ["fl.model={kind: mlp, hidden: [2048]}"])) == large


def test_flag_then_environment_then_scenario(monkeypatch):
    config = load_scenario("quickstart", [])
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_threads(config) == (1, "scenario")
    monkeypatch.setenv(ENV_VAR, "3")
    assert resolve_threads(config) == (3, ENV_VAR)
    assert resolve_threads(config, 2) == (2, "--threads")
    monkeypatch.setenv(ENV_VAR, "many")
    with pytest.raises(InputError, match=ENV_VAR):
        resolve_threads(config)
    with pytest.raises(InputError, match="--threads"):
        resolve_threads(config, 0)


def _toy(kind: str):
    rng = np.random.default_rng(0)
    x = rng.random((160, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 160)
    clients = np.split(rng.permutation(160)[:150], np.cumsum([13, 7, 1, 25, 20, 9, 30, 17]))  # unequal sizes
    model = build_model(kind, input_shape=(1, 8, 8), n_classes=10, seed=1,
                        **({"hidden": [64, 32]} if kind == "mlp" else {}))
    return model, model_params(model), x, y, clients


@pytest.mark.parametrize("opt", [dict(optimizer="sgd", lr=0.05), dict(optimizer="sgd", lr=0.05, momentum=0.9)],
                         ids=["sgd", "momentum"])
def test_vectorised_equals_sequential_at_every_allowed_count(opt, restore_threads):
    model, params, x, y, clients = _toy("mlp")
    common = dict(local_epochs=3, batch_size=8, **opt)
    first = None
    for n in ALLOWED:
        torch.set_num_threads(n)
        runs = {engine: LocalTrainer(engine=engine, **common).train(model, params, x, y, clients,
                                                                    rng=np.random.default_rng(3)).flat_params()
                for engine in ("sequential", "auto")}
        assert float((runs["auto"] - runs["sequential"]).abs().max()) < 1e-5, n
        if first is None:
            first = runs["auto"]
        assert torch.equal(runs["auto"], first), f"vectorised training changed with {n} threads"


@pytest.mark.parametrize("kind", ["softmax_regression", "cnn"])
def test_vectorised_training_is_bit_identical_across_counts(kind, restore_threads):
    model, params, x, y, clients = _toy(kind)
    out = []
    for n in ALLOWED:
        torch.set_num_threads(n)
        out.append(LocalTrainer(engine="auto", local_epochs=2, batch_size=8, momentum=0.9).train(
            model, params, x, y, clients, rng=np.random.default_rng(3)).flat_params())
    assert all(torch.equal(o, out[0]) for o in out[1:])


def _hashes(threads: int, out: Path) -> tuple[dict, dict]:
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    from frozen_tables import table_hash

    proc = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--set", "fl.rounds=2", "--out", str(out),
                           "--quiet", "--threads", str(threads)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    hashes = {p.stem: table_hash(pd.read_parquet(p)) for p in sorted(out.glob("*.parquet"))}
    return hashes, json.loads((out / "summary.json").read_text())


def test_tables_are_identical_across_thread_counts_and_the_count_is_recorded(tmp_path):
    first, summary = _hashes(1, tmp_path / "t1")
    assert summary["threads"]["count"] == 1 and summary["threads"]["source"] == "--threads"
    assert summary["threads"]["torch"] == {"intra_op": 1, "inter_op": 1}
    second, summary = _hashes(2, tmp_path / "t2")
    assert summary["threads"]["torch"]["intra_op"] == 2
    assert first == second


def test_bad_thread_count_is_one_line_input_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--out", str(tmp_path / "x"),
                           "--threads", "0"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--threads" in proc.stderr
    assert not (tmp_path / "x").exists()
