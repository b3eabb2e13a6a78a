"""CUDA cohorts agree with the CPU: runs where torch sees a CUDA device, skips elsewhere (CI has none).

Acceptance (issue 16): on the study's softmax regression and on the 2NN, CUDA and CPU agree within 1e-4 (trained
parameters of a cohort, and the accuracy of every round of a run); CUDA runs are deterministic (the same bits twice)
and chunking on the GPU changes nothing either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.fl.test_device import _cohort
from twin.fl.device import resolve_device
from twin.fl.training import LocalTrainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")
ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4


def test_auto_picks_the_gpu():
    choice = resolve_device("auto")
    assert choice.kind == "cuda" and choice.describe()["used"] == "cuda"
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic


@pytest.mark.parametrize("kind,n_clients,opt", [("softmax_regression", 338, {}), ("mlp_2nn", 120, {}),
                                                ("mlp_2nn", 120, {"momentum": 0.9})],
                         ids=["softmax-study", "2nn", "2nn-momentum"])
def test_cuda_matches_cpu_and_is_deterministic(kind, n_clients, opt):
    model, params, x, y, clients = _cohort(kind, n_clients=n_clients)
    common = dict(lr=0.02, local_epochs=5, batch_size=20, **opt)
    cpu = LocalTrainer(device="cpu", **common).train(model, params, x, y, clients, rng=np.random.default_rng(3))
    runs = [LocalTrainer(device="cuda", **common).train(model, params, x, y, clients, rng=np.random.default_rng(3))
            for _ in range(2)]
    for name in cpu.params:
        assert runs[0].params[name].device.type == "cpu"  # results come back to the host
        diff = float((runs[0].params[name] - cpu.params[name]).abs().max())
        assert diff < TOL, (name, diff)
        assert torch.equal(runs[0].params[name], runs[1].params[name]), f"{name}: CUDA run not deterministic"
    assert np.allclose(runs[0].mean_loss, cpu.mean_loss, atol=TOL, equal_nan=True)
    chunked = LocalTrainer(device="cuda", chunk_clients=37, **common)
    whole = LocalTrainer(device="cuda", chunk_size=37, **common).train(model, params, x, y, clients,
                                                                        rng=np.random.default_rng(3))
    again = chunked.train(model, params, x, y, clients, rng=np.random.default_rng(3))
    assert all(torch.equal(again.params[n], whole.params[n]) for n in whole.params)


def test_cnn_on_cuda_is_close_to_cpu():
    model, params, x, y, clients = _cohort("cnn", n_clients=16)
    common = dict(lr=0.02, local_epochs=1, batch_size=10)
    cpu = LocalTrainer(device="cpu", **common).train(model, params, x, y, clients, rng=np.random.default_rng(3))
    gpu = LocalTrainer(device="cuda", **common).train(model, params, x, y, clients, rng=np.random.default_rng(3))
    assert max(float((gpu.params[n] - cpu.params[n]).abs().max()) for n in cpu.params) < TOL


def _rounds(scenario: str, device: str, rounds: int, extra: list[str]):
    from twin.run import scenario_base_dir
    from twin.scenario.loading import load_scenario
    from twin.sim.runner import simulate

    config = load_scenario(scenario, [f"fl.rounds={rounds}", f"fl.device={device}", *extra])
    result = simulate(config, base_dir=scenario_base_dir(scenario))
    assert result.summary["status"] == "ok"
    assert result.summary["fl"]["device"]["used"] == device
    return result.tables["rounds"]


@pytest.mark.parametrize("model", ["softmax_regression", "mlp_2nn"])
def test_a_run_on_cuda_reproduces_the_cpu_accuracies(model):
    extra = [f"fl.model={{kind: {model}}}"]
    cpu, gpu = (_rounds("quickstart", d, 8, extra) for d in ("cpu", "cuda"))
    assert np.abs(gpu["accuracy"].to_numpy() - cpu["accuracy"].to_numpy()).max() <= TOL
    assert np.abs(gpu["loss"].to_numpy() - cpu["loss"].to_numpy()).max() <= TOL


def test_the_study_on_cuda_reproduces_the_cpu_accuracies():
    from twin.fl.data.idx import FASHION_MNIST_DIR

    if not Path(FASHION_MNIST_DIR).is_dir():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    scenario = str(ROOT / "scenarios" / "study" / "fashion_star.yaml")
    cpu, gpu = (_rounds(scenario, d, 10, ["fl.stop.target_accuracy=null"]) for d in ("cpu", "cuda"))
    assert np.abs(gpu["accuracy"].to_numpy() - cpu["accuracy"].to_numpy()).max() <= TOL
