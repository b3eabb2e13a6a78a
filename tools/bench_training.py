"""Benchmark: vectorised cohort training against the one-by-one reference.

    python tools/bench_training.py [--repeats 3] [--threads N] [--skip-study]

Section 1 (the acceptance check): 100 clients, MLP 784-200-200-10 (McMahan's 2NN), 5 local epochs, batch 20, SGD lr 0.02,
synthetic 784-feature data (FedProx Synthetic generator) with realistic unequal client sizes (about 60 train samples
each, log-normal). Prints the one-by-one time, the vectorised times (``auto`` = bmm engine, and the generic vmap engine)
and their max abs difference from the reference.

Section 2: one round of the study: softmax regression 784 -> 10, 338 clients of about 100 samples (quantity skew),
5 epochs, batch 20, SGD lr 0.02: time per round per engine (``auto`` = the dual engine here; bmm and vmap beside it).

The last line is ``speedup_vs_sequential=X.XX max_abs_diff=Y`` for section 1 (auto engine).
Timings are the best of ``--repeats`` runs after a warm-up, the engines taking turns (the machine is shared; the best run
is the least disturbed one).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.fl.data import make_synthetic_dataset  # noqa: E402
from twin.fl.models import build_model, flops_per_sample, model_params  # noqa: E402
from twin.fl.partition import quantity_sizes  # noqa: E402
from twin.fl.training import LocalTrainer  # noqa: E402


def _run(trainer: LocalTrainer, model, params, x, y, clients):
    t0 = time.perf_counter()
    result = trainer.train(model, params, x, y, clients, rng=np.random.default_rng(7))
    return time.perf_counter() - t0, result


def _compare(engines: dict[str, LocalTrainer], model, params, x, y, clients, repeats: int):
    """Best-of-``repeats`` time per engine; the engines take turns so a busy spell hits all of them alike."""
    for trainer in engines.values():  # warm-up on a few clients (first-call costs of torch)
        trainer.train(model, params, x, y, clients[:8], rng=np.random.default_rng(0))
    best = {name: float("inf") for name in engines}
    results = {}
    for _ in range(repeats):
        for name, trainer in engines.items():
            t, results[name] = _run(trainer, model, params, x, y, clients)
            best[name] = min(best[name], t)
    return best, results


def _max_diff(a, b) -> float:
    return max(float((a.params[n] - b.params[n]).abs().max()) for n in a.params)


def section_mlp(repeats: int) -> tuple[float, float]:
    data = make_synthetic_dataset(n_clients=100, alpha=0.5, beta=0.5, n_features=784, size_log_mean=np.log(40.0),
                                  size_log_sigma=0.5, min_samples=20, seed=1)
    clients = data.client_indices
    sizes = data.client_sizes()
    model = build_model("mlp_2nn", input_shape=data.input_shape, n_classes=10, seed=0)
    params = model_params(model)
    flops = flops_per_sample(model, data.input_shape)
    work = flops.train_flops * 5 * sizes.sum()
    print(f"== 1. MLP 784-200-200-10, {len(clients)} clients, 5 epochs, batch 20, SGD lr 0.02 ==")
    print(f"client train samples: mean {sizes.mean():.1f}, min {sizes.min()}, max {sizes.max()}, total {sizes.sum()}; "
          f"nominal work {work / 1e9:.1f} GFLOP (6 x MACs rule)")
    common = dict(optimizer="sgd", lr=0.02, local_epochs=5, batch_size=20)
    engines = {name: LocalTrainer(engine=name, **common) for name in ("sequential", "auto", "vmap")}
    best, res = _compare(engines, model, params, data.x_train, data.y_train, clients, repeats)
    t_seq = best["sequential"]
    print(f"sequential (one by one): {t_seq:.3f} s  ({work / t_seq / 1e9:.0f} nominal GFLOP/s)")
    for name, label in (("auto", "vectorised auto (bmm)"), ("vmap", "vectorised vmap")):
        print(f"{label + ':':24s} {best[name]:.3f} s  speedup {t_seq / best[name]:.2f}x  max_abs_diff "
              f"{_max_diff(res[name], res['sequential']):.2e}")
    for opt in (dict(momentum=0.9), dict(optimizer="adam", lr=0.001)):
        cfg = {**common, **opt}
        b, r = _compare({name: LocalTrainer(engine=name, **cfg) for name in ("sequential", "auto")}, model, params,
                        data.x_train, data.y_train, clients, max(1, repeats - 1))
        label = ", ".join(f"{k}={v}" for k, v in opt.items())
        print(f"  {label:26s} sequential {b['sequential']:.3f} s, auto {b['auto']:.3f} s "
              f"({b['sequential'] / b['auto']:.2f}x), max_abs_diff {_max_diff(r['auto'], r['sequential']):.2e}")
    return t_seq / best["auto"], _max_diff(res["auto"], res["sequential"])


def section_study(repeats: int) -> None:
    rng = np.random.default_rng(3)
    sizes = quantity_sizes(33800, n_clients=338, rng=rng, sigma=0.6, min_samples=10)
    n = int(sizes.sum())
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n)
    clients = np.split(rng.permutation(n), np.cumsum(sizes)[:-1])
    model = build_model("softmax_regression", input_shape=(1, 28, 28), n_classes=10)
    params = model_params(model)
    print(f"== 2. study round: softmax regression 784->10, {len(clients)} clients, 5 epochs, batch 20, SGD lr 0.02 ==")
    print(f"client train samples: mean {sizes.mean():.1f}, min {sizes.min()}, max {sizes.max()}")
    common = dict(optimizer="sgd", lr=0.02, local_epochs=5, batch_size=20)
    engines = {name: LocalTrainer(engine=name, **common) for name in ("sequential", "auto", "bmm", "vmap")}
    best, res = _compare(engines, model, params, x, y, clients, repeats)
    t_ref = best["sequential"]
    print(f"sequential (one by one): {t_ref:.3f} s per round; auto = {engines['auto'].resolve_engine(model)}")
    for name in ("auto", "bmm", "vmap"):
        print(f"vectorised {name + ':':13s} {best[name]:.3f} s per round ({t_ref / best[name]:.1f}x), 150 such rounds "
              f"~ {150 * best[name]:.0f} s, max_abs_diff {_max_diff(res[name], res['sequential']):.2e}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--skip-study", action="store_true", help="only run section 1")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_study:
        section_study(args.repeats)
    speedup, diff = section_mlp(args.repeats)
    print(f"speedup_vs_sequential={speedup:.2f} max_abs_diff={diff:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
