"""Cohort rounds on the training device: a 338-client study round and a 1,000-client CNN round (issue 16).

Both on Fashion-MNIST partitioned as the study does (scenarios/study/fashion_star.yaml: 3,383 clients, log-normal
quantity skew sigma 0.4, at least 5 samples: about 18 each), SGD lr 0.02, batch 20, 5 local epochs:

- ``study``: softmax regression (784 -> 10), 338 clients (the constant schedule's round), then the evaluation of the
  global model on the 10,000 test images;
- ``cnn``: McMahan's CNN (1.66 M parameters), 1,000 clients (``--cnn-clients``), then the evaluation.

Each round is timed ``--repeats`` times after one warm-up round (median; CUDA synchronised), on ``--device`` (auto:
CUDA when torch sees it, else the CPU), with the group and chunk sizes the trainer chose, and the peak memory (CUDA:
``torch.cuda.max_memory_allocated``; CPU: the process's peak RSS). ``--compare-cpu`` trains the same round on the
CPU as well and prints the largest parameter difference (acceptance: < 1e-4 for the softmax regression and the 2NN).

Usage: python tools/bench_gpu.py [--device auto|cpu|cuda] [--cases study,cnn] [--cnn-clients 1000] [--repeats 3]
       [--compare-cpu] [--chunk-clients N]      (needs apt-get install dataset-fashion-mnist)
On a CPU-only machine the CNN round takes minutes; ``--cnn-clients 50`` gives a quick figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's twin, from any directory

from twin.fl.data import load_dataset  # noqa: E402
from twin.fl.device import resolve_device  # noqa: E402
from twin.fl.models import build_model, model_params  # noqa: E402
from twin.fl.partition import make_partition  # noqa: E402
from twin.fl.training import LocalTrainer, evaluate  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_round(trainer: LocalTrainer, model, params, x, y, clients, x_test, y_test, rng_seed: int):
    """Train the cohort chunk by chunk, aggregate (FedAvg by examples) and evaluate; returns (seconds, chunks,
    params)."""
    dev = trainer.device
    _sync(dev)
    t0 = time.perf_counter()
    total = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params.items()}
    weight, chunks = 0, 0
    for _, part in trainer.train_chunks(model, params, x, y, clients, rng=np.random.default_rng(rng_seed)):
        w = torch.from_numpy(part.n_examples.astype(np.float64))
        for n in total:
            total[n] += torch.tensordot(w, part.params[n].double(), dims=1)
        weight += int(part.n_examples.sum())
        chunks += 1
    new = {n: (t / weight).float() for n, t in total.items()}
    ev = evaluate(model, {n: p.to(dev) for n, p in new.items()}, x_test, y_test)
    _sync(dev)
    return time.perf_counter() - t0, chunks, new, ev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--cases", default="study,cnn")
    parser.add_argument("--cnn-clients", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk-clients", type=int, default=None)
    parser.add_argument("--compare-cpu", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="CPU math threads (default 1, the twin's policy)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    choice = resolve_device(args.device)
    dev = choice.device
    print(f"device: {choice.note}; torch {torch.__version__}; load {' '.join(f'{v:.2f}' for v in os.getloadavg())}",
          flush=True)
    data = load_dataset("fashion_mnist")
    data = make_partition(data, "quantity", rng=np.random.default_rng(1), n_clients=3383, distribution="lognormal",
                          sigma=0.4, min_samples=5)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_test = torch.from_numpy(data.x_test).to(dev)
    y_test = torch.from_numpy(data.y_test).to(dev)
    pick = np.random.default_rng(2)
    for case in args.cases.split(","):
        kind, k = {"study": ("softmax_regression", 338), "cnn": ("cnn", args.cnn_clients)}[case]
        chosen = pick.choice(len(data.client_indices), size=k, replace=False)
        clients = [data.client_indices[c] for c in chosen]
        model = build_model(kind, input_shape=data.input_shape, n_classes=10, seed=0)
        params = model_params(model)
        trainer = LocalTrainer(lr=0.02, batch_size=20, local_epochs=5, device=dev, chunk_clients=args.chunk_clients)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        one_round(trainer, model, params, x, y, clients, x_test, y_test, 0)  # warm-up (data to the device, kernels)
        times = []
        for r in range(args.repeats):
            seconds, chunks, new, ev = one_round(trainer, model, params, x, y, clients, x_test, y_test, r + 1)
            times.append(seconds)
        peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        engine = trainer.resolve_engine(model)
        sizes = np.array([len(c) for c in clients])
        group = trainer._group_size(model, params, engine, sizes, x)
        print(f"{case}: {kind}, {k} clients ({sizes.sum()} samples, {int(trainer.steps(sizes).sum())} steps), "
              f"engine {engine}, {group} clients a group, {chunks} chunk(s); round (train + aggregate + evaluate) "
              f"median {statistics.median(times):.4f} s (runs: {', '.join(f'{t:.4f}' for t in times)}); "
              f"accuracy after the round {ev.accuracy:.4f}; peak {'CUDA' if dev.type == 'cuda' else 'RSS'} "
              f"{peak:.0f} MiB", flush=True)
        if args.compare_cpu and dev.type != "cpu":
            cpu = LocalTrainer(lr=0.02, batch_size=20, local_epochs=5, device="cpu")
            _, _, ref, _ = one_round(cpu, model, params, x, y, clients, x_test.cpu(), y_test.cpu(), args.repeats)
            diff = max(float((new[n] - ref[n]).abs().max()) for n in new)
            print(f"{case}: largest parameter difference CUDA vs CPU after the round: {diff:.2e}", flush=True)


if __name__ == "__main__":
    main()
