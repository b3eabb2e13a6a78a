"""Local training of a round's cohort, and evaluation.

:class:`LocalTrainer` trains every selected client from the global parameters: cross-entropy, SGD (optional momentum)
or Adam, ``local_epochs`` passes over the client's rows in batches of ``batch_size``, reshuffled every epoch from a
per-client seed drawn from the round's generator (optimiser state starts fresh every round, as in TFF and Flower).
Engines:

- ``sequential``: the reference; a plain loop, one ``nn.Module`` copy and one ``torch.optim`` optimiser per client.
- ``vmap``: all clients at once, ``torch.func.vmap`` over stacked parameters (any buffer-free model).
- ``bmm``: all clients at once with hand-derived batched products (Linear/ReLU/Flatten chains only; fastest).
- ``auto`` (default): ``bmm`` where the model allows it, else ``vmap``.

All engines follow the same batch plan and agree to float32 rounding (tests: max abs difference < 1e-4). Large cohorts
are trained in groups of ``chunk_size`` clients (default: as many as fit 256 MiB of stacked state), grouped by size so
little padding is computed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from twin.fl.batching import client_seeds, make_plan, steps_per_client
from twin.fl.cohort import OptimiserSpec, auto_chunk_size, linear_chain, train_group_bmm, train_group_vmap
from twin.fl.errors import FLConfigError, check_positive_int
from twin.fl.models import flatten_stacked

OPTIMIZERS = ("sgd", "adam")
ENGINES = ("auto", "bmm", "vmap", "sequential")


@dataclasses.dataclass(frozen=True, eq=False)
class CohortResult:
    """What local training returns for K clients, in the order they were given.

    Attributes:
        params: new parameters by name, each stacked (K, *shape), float32.
        n_examples: int64 (K,): train rows of each client (the NUM_EXAMPLES aggregation weight).
        mean_loss: float64 (K,): mean training loss over all samples processed (nan for a client without data).
        n_steps: int64 (K,): optimiser steps taken.
        n_samples_processed: int64 (K,): samples through forward and backward (local_epochs x n_examples); times the
            model's ``train_flops`` per sample this is the local work in FLOPs.
    """

    params: dict[str, torch.Tensor]
    n_examples: np.ndarray
    mean_loss: np.ndarray
    n_steps: np.ndarray
    n_samples_processed: np.ndarray

    def __len__(self) -> int:
        return int(self.n_examples.shape[0])

    def client_params(self, k: int) -> dict[str, torch.Tensor]:
        """Client ``k``'s parameters (views into the stacked tensors)."""
        return {n: t[k] for n, t in self.params.items()}

    def flat_params(self) -> torch.Tensor:
        """All clients' parameters as one (K, P) float32 matrix (names in model order)."""
        return flatten_stacked(self.params)


class LocalTrainer:
    """Client-side training configuration; :meth:`train` runs one round's cohort.

    Keyword arguments equal the config fields: ``optimizer`` ("sgd" or "adam"), ``lr``, ``momentum`` (SGD only),
    ``beta1``, ``beta2``, ``eps`` (Adam only), ``local_epochs``, ``batch_size``, ``shuffle``, ``engine`` (see the
    module docstring), ``chunk_size`` (clients trained together; None = automatic).
    """

    def __init__(self, *, optimizer: str = "sgd", lr: float = 0.02, momentum: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, local_epochs: int = 5, batch_size: int = 20,
                 shuffle: bool = True, engine: str = "auto", chunk_size: int | None = None) -> None:
        if optimizer not in OPTIMIZERS:
            raise FLConfigError(f"optimizer: unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if engine not in ENGINES:
            raise FLConfigError(f"engine: unknown training engine {engine!r}; choose one of {', '.join(ENGINES)}")
        if not (lr > 0 and np.isfinite(lr)):
            raise FLConfigError(f"lr must be a positive number, got {lr}")
        if not 0.0 <= momentum < 1.0:
            raise FLConfigError(f"momentum must be in [0, 1), got {momentum}")
        if optimizer == "adam" and momentum:
            raise FLConfigError("momentum applies to optimizer 'sgd' only; Adam uses beta1 and beta2")
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= beta < 1.0:
                raise FLConfigError(f"{name} must be in [0, 1), got {beta}")
        if not eps > 0:
            raise FLConfigError(f"eps must be > 0, got {eps}")
        self.optimizer, self.lr, self.momentum = optimizer, float(lr), float(momentum)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.local_epochs = check_positive_int("local_epochs", local_epochs)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.engine = engine
        self.chunk_size = None if chunk_size is None else check_positive_int("chunk_size", chunk_size)

    @property
    def spec(self) -> OptimiserSpec:
        return OptimiserSpec(kind=self.optimizer, lr=self.lr, momentum=self.momentum, beta1=self.beta1,
                             beta2=self.beta2, eps=self.eps)

    def steps(self, n_samples: np.ndarray) -> np.ndarray:
        """Optimiser steps each client of the given sizes will take (known before training)."""
        return steps_per_client(n_samples, local_epochs=self.local_epochs, batch_size=self.batch_size)

    def samples_processed(self, n_samples: np.ndarray) -> np.ndarray:
        """Samples each client will process (local_epochs x n): times train FLOPs per sample = its local work."""
        return np.asarray(n_samples, dtype=np.int64) * self.local_epochs

    def resolve_engine(self, model: nn.Module) -> str:
        """The engine that :meth:`train` will use for ``model``."""
        if self.engine == "auto":
            return "bmm" if linear_chain(model) is not None else "vmap"
        if self.engine == "bmm" and linear_chain(model) is None:
            raise FLConfigError("engine: 'bmm' needs a model made of Flatten, Linear and ReLU layers; use 'auto' or "
                                "'vmap'")
        return self.engine

    def train(self, model: nn.Module, global_params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
              y: np.ndarray | torch.Tensor, client_indices: Sequence[np.ndarray], *,
              rng: np.random.Generator) -> CohortResult:
        """Train each client (rows ``client_indices[k]`` of ``x``, ``y``) from ``global_params``.

        ``model`` gives the architecture (its own parameters are not used or changed); ``rng`` (the round's
        generator) supplies one shuffling seed per client position, so the same generator state gives identical
        results, and a client selected twice trains twice with different shuffles.
        """
        if any(True for _ in model.buffers()):
            raise FLConfigError("model: models with buffers (batch norm) are not supported by cohort training")
        names = [n for n, _ in model.named_parameters()]
        if list(global_params) != names or any(global_params[n].shape != p.shape for n, p in model.named_parameters()):
            raise FLConfigError(f"global_params do not match the model's parameters ({', '.join(names)})")
        xt, yt = _as_tensors(x, y)
        indices = [np.asarray(ix, dtype=np.int64) for ix in client_indices]
        sizes = np.array([len(ix) for ix in indices], dtype=np.int64)
        seeds = client_seeds(rng, len(indices))
        engine = self.resolve_engine(model)
        plan_args = dict(local_epochs=self.local_epochs, batch_size=self.batch_size, shuffle=self.shuffle)
        k_total = len(indices)
        out = {n: torch.empty((k_total, *p.shape), dtype=torch.float32) for n, p in global_params.items()}
        loss_sum = np.zeros(k_total, dtype=np.float64)

        if engine == "sequential":
            work = copy.deepcopy(model)
            for k in range(k_total):
                plan = make_plan([indices[k]], [seeds[k]], **plan_args)
                params, loss_sum[k] = _train_one(work, global_params, xt, yt, plan, self.spec)
                for n in out:
                    out[n][k] = params[n]
        else:
            steps = self.steps(sizes)
            order = np.argsort(-steps, kind="stable")
            chunk = self.chunk_size or auto_chunk_size(global_params, self.spec, engine,
                                                       mean_rows=float(sizes.mean()) if k_total else 0.0,
                                                       n_features=int(np.prod(xt.shape[1:])))
            layers = linear_chain(model) if engine == "bmm" else None
            x2d = xt.reshape(xt.shape[0], -1) if engine == "bmm" else xt
            for start in range(0, k_total, chunk):
                group = order[start:start + chunk]
                plan = make_plan([indices[k] for k in group], seeds[group], **plan_args)
                if engine == "bmm":
                    loss_sum[group] = train_group_bmm(layers, global_params, x2d, yt, plan, self.spec, out, group)
                else:
                    loss_sum[group] = train_group_vmap(model, global_params, xt, yt, plan, self.spec, out, group)
        processed = self.samples_processed(sizes)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_loss = np.where(processed > 0, loss_sum / np.maximum(processed, 1), np.nan)
        return CohortResult(params=out, n_examples=sizes, mean_loss=mean_loss, n_steps=self.steps(sizes),
                            n_samples_processed=processed)


def _as_tensors(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    xt = xt.to(torch.float32).contiguous()
    yt = yt.to(torch.int64).contiguous()
    if xt.shape[0] != yt.shape[0]:
        raise FLConfigError(f"x has {xt.shape[0]} rows but y has {yt.shape[0]}")
    return xt, yt


def _train_one(model: nn.Module, global_params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
               plan, spec: OptimiserSpec) -> tuple[dict[str, torch.Tensor], float]:
    """The reference: one client, a plain loop with torch.optim (reuses ``model`` as the working copy)."""
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(global_params[n])
    if spec.kind == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=spec.lr, betas=(spec.beta1, spec.beta2), eps=spec.eps)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum)
    rows, counts = torch.from_numpy(plan.rows[0]), plan.counts[0]
    loss_sum = 0.0
    for s in range(int(plan.steps[0])):
        idx = rows[s, : counts[s]]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += float(loss.detach()) * int(counts[s])
    return {n: p.detach().clone() for n, p in model.named_parameters()}, loss_sum


# ------------------------------------------------------------------------------------------------------- evaluation


@dataclasses.dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    n: int


def _predict_losses(model: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                    batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    losses, correct = [], []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = functional_call(model, dict(params), (x[start:start + batch_size],))
            yb = y[start:start + batch_size]
            losses.append(F.cross_entropy(logits, yb, reduction="none").to(torch.float64))
            correct.append(logits.argmax(dim=1) == yb)
    if not losses:
        return torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.bool)
    return torch.cat(losses), torch.cat(correct)


def evaluate(model: nn.Module, params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
             y: np.ndarray | torch.Tensor, *, batch_size: int = 4096) -> Evaluation:
    """Accuracy and mean cross-entropy of ``params`` (the model's parameter names) on ``x``, ``y`` (nan if empty)."""
    batch_size = check_positive_int("batch_size", batch_size)
    xt, yt = _as_tensors(x, y)
    losses, correct = _predict_losses(model, params, xt, yt, batch_size)
    n = int(losses.shape[0])
    if n == 0:
        return Evaluation(accuracy=float("nan"), loss=float("nan"), n=0)
    return Evaluation(accuracy=float(correct.double().mean()), loss=float(losses.mean()), n=n)


def evaluate_clients(model: nn.Module, params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
                     y: np.ndarray | torch.Tensor, client_indices: Sequence[np.ndarray], *,
                     batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Per-client accuracy, loss and n of one parameter set (e.g. the global model on each validation split)."""
    xt, yt = _as_tensors(x, y)
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    rows = torch.from_numpy(np.concatenate([np.asarray(ix, np.int64) for ix in client_indices])
                            if len(sizes) else np.zeros(0, np.int64))
    losses, correct = _predict_losses(model, params, xt[rows], yt[rows], check_positive_int("batch_size", batch_size))
    owner = np.repeat(np.arange(len(sizes)), sizes)
    loss_sum = np.bincount(owner, weights=losses.numpy(), minlength=len(sizes))
    hits = np.bincount(owner, weights=correct.numpy().astype(np.float64), minlength=len(sizes))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"accuracy": np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan),
                "loss": np.where(sizes > 0, loss_sum / np.maximum(sizes, 1), np.nan), "n": sizes}
