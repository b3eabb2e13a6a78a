"""fl.device (auto | cpu | cuda) and chunked cohorts: the choice, the fallback, the refusal, and that chunking never
changes results. The CUDA checks are in tests/fl/test_cuda.py (skipped without a GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import twin.fl.device as device_mod
from twin.fl.device import resolve_device
from twin.fl.errors import FLConfigError
from twin.fl.models import build_model, model_params
from twin.fl.training import LocalTrainer
from twin.scenario.loading import load_scenario, resolved_yaml

ROOT = Path(__file__).resolve().parents[2]
HAS_CUDA = torch.cuda.is_available()


def test_cpu_is_cpu_and_auto_falls_back_saying_why(monkeypatch):
    assert resolve_device("cpu").device == torch.device("cpu")
    monkeypatch.setattr(device_mod, "cuda_available", lambda: False)
    auto = resolve_device("auto")
    assert auto.device == torch.device("cpu") and auto.kind == "cpu"
    assert "no CUDA" in auto.note and auto.describe()["used"] == "cpu" and auto.describe()["requested"] == "auto"


def test_cuda_without_a_gpu_is_one_line_naming_the_field(monkeypatch):
    monkeypatch.setattr(device_mod, "cuda_available", lambda: False)
    with pytest.raises(FLConfigError, match=r"^device: 'cuda' asked for but .*use fl.device: auto") as err:
        resolve_device("cuda")
    assert "\n" not in str(err.value)
    with pytest.raises(FLConfigError, match="device: unknown device 'gpu'"):
        resolve_device("gpu")


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA: the refusal is for machines without")
def test_cli_refuses_cuda_without_a_gpu_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--set", "fl.device=cuda", "--out",
                           str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "fl.device" in proc.stderr and "cuda" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "x").exists()


def test_schema_and_resolved_scenario():
    config = load_scenario("quickstart", [])
    assert config.fl.device == "auto" and config.fl.chunk_clients is None
    fl = yaml.safe_load(resolved_yaml(config))["fl"]  # defaults left out: existing sweep hashes stay the same
    assert "device" not in fl and "chunk_clients" not in fl
    fl = yaml.safe_load(resolved_yaml(load_scenario("quickstart", ["fl.device=cpu", "fl.chunk_clients=64"])))["fl"]
    assert fl["device"] == "cpu" and fl["chunk_clients"] == 64
    from twin.errors import InputError

    with pytest.raises(InputError, match="fl.device"):
        load_scenario("quickstart", ["fl.device=gpu"])


def _cohort(kind: str, n_clients: int = 40, seed: int = 0, *, shape=(1, 28, 28), max_rows: int = 120):
    rng = np.random.default_rng(seed)
    n = 4000
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    sizes = np.clip(rng.lognormal(3.0, 1.0, n_clients).astype(int), 1, max_rows)  # quantity skew, unequal steps
    perm = rng.permutation(n)
    clients = np.split(perm[:sizes.sum()], np.cumsum(sizes)[:-1])
    model = build_model(kind, input_shape=shape, n_classes=10, seed=1)
    params = {k: v + 0.01 * torch.randn(v.shape, generator=torch.Generator().manual_seed(2))
              for k, v in model_params(model).items()}
    return model, params, x, y, clients


@pytest.mark.parametrize("kind,opt", [("softmax_regression", {}), ("mlp_2nn", {"momentum": 0.9}),
                                      ("mlp_2nn", {"optimizer": "adam", "lr": 0.001}), ("cnn", {})],
                         ids=["softmax-dual", "2nn-momentum", "2nn-adam", "cnn-vmap"])
def test_chunked_equals_unchunked_exactly(kind, opt):
    # small inputs for the CNN (8x8) and small clients keep it quick; the softmax regression's 784 inputs and clients
    # of at most 40 rows put its first layer in the dual form, whose X W0 product rounds differently for other
    # group shapes: whole groups per chunk keep it exact
    model, params, x, y, clients = _cohort(kind, n_clients=8 if kind == "cnn" else 20, max_rows=20 if kind == "cnn" else 40,
                                           shape=(1, 8, 8) if kind == "cnn" else (1, 28, 28))
    common = dict(local_epochs={"softmax_regression": 5, "cnn": 1}.get(kind, 2), batch_size=10, chunk_size=4, **opt)
    whole = LocalTrainer(**common).train(model, params, x, y, clients, rng=np.random.default_rng(7))
    for cap in (4, 13):  # 13: not a multiple of the group, so 3 whole groups (12 clients) a chunk
        trainer = LocalTrainer(chunk_clients=cap, **common)
        parts = list(trainer.train_chunks(model, params, x, y, clients, rng=np.random.default_rng(7)))
        assert len(parts) == -(-len(clients) // (cap // 4 * 4))
        assert all(len(pos) <= cap for pos, _ in parts)
        seen = np.concatenate([pos for pos, _ in parts])
        assert np.array_equal(np.sort(seen), np.arange(len(clients)))
        for pos, part in parts:
            for name, stacked in part.params.items():
                assert torch.equal(stacked, whole.params[name][torch.from_numpy(pos)]), (cap, name)
            assert np.array_equal(part.mean_loss, whole.mean_loss[pos], equal_nan=True)
            assert np.array_equal(part.n_examples, whole.n_examples[pos])
        # and train() puts the chunks back together in the cohort's order
        again = trainer.train(model, params, x, y, clients, rng=np.random.default_rng(7))
        assert all(torch.equal(again.params[n], whole.params[n]) for n in whole.params)


def test_default_chunking_is_one_chunk_on_the_cpu_for_the_study_round():
    """The automatic chunk (1 GiB of parameters on the CPU) holds a whole study round: CPU results are what they were
    before chunking existed, bit for bit (the frozen tables check the same end to end)."""
    model, params, x, y, clients = _cohort("softmax_regression", n_clients=338)
    parts = list(LocalTrainer().train_chunks(model, params, x, y, clients, rng=np.random.default_rng(1)))
    assert len(parts) == 1 and np.array_equal(parts[0][0], np.arange(338))


def test_a_small_chunk_cap_below_the_group_shrinks_the_group():
    model, params, x, y, clients = _cohort("mlp_2nn", n_clients=10)
    parts = list(LocalTrainer(chunk_clients=3, local_epochs=1).train_chunks(model, params, x, y, clients,
                                                                            rng=np.random.default_rng(1)))
    assert [len(p) for p, _ in parts] == [3, 3, 3, 1]


def test_summary_names_the_device(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "twin.run", "quickstart", "--set", "fl.rounds=1", "--set",
                           "fl.device=cpu", "--out", str(out), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    device = json.loads((out / "summary.json").read_text())["fl"]["device"]
    assert device["requested"] == "cpu" and device["used"] == "cpu"
    assert "training on cpu" in (out / "run.log").read_text()


def test_cuda_numerics_settings_are_consistent(monkeypatch):
    """The flags deterministic_cuda sets (they exist in CPU builds too): no TF32, deterministic cuDNN, and torch's
    own cudnn.flags() context still works (a mix of the legacy and new TF32 APIs would make it raise)."""
    from twin.fl.device import deterministic_cuda

    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        deterministic_cuda()
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        with torch.backends.cudnn.flags(enabled=True):
            pass
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,
         torch.backends.cudnn.benchmark) = saved
