"""Local training of a round's cohort, and evaluation.

:class:`LocalTrainer` trains every selected client from the global parameters: cross-entropy, SGD (optional momentum)
or Adam, ``local_epochs`` passes over the client's rows in batches of ``batch_size``, reshuffled every epoch from a
per-client seed drawn from the round's generator (optimiser state starts fresh every round, as in TFF and Flower).
Engines:

- ``sequential``: the reference; a plain loop, one ``nn.Module`` copy and one ``torch.optim`` optimiser per client.
- ``vmap``: all clients at once, ``torch.func.vmap`` over stacked parameters (any buffer-free model).
- ``bmm``: all clients at once with hand-derived batched products (Linear/ReLU/Flatten chains only).
- ``dual``: softmax regression (one Linear layer) with SGD, on the CPU: one client at a time in a compiled loop, in the
  layer's dual form, without padding (:mod:`twin.fl.linear_kernels`; needs numba); the fastest for the study's clients.
- ``auto`` (default): ``dual`` where it applies (and numba is installed), else ``bmm`` where the model allows it, else
  ``vmap``.

All engines follow the same batch plan and agree to float32 rounding (tests: max abs difference < 1e-4).

Two sizes bound the work and the memory. A *group* is the clients trained together in one vectorised call
(``chunk_size``; default: as many as fit the engine's working-set budget, :func:`twin.fl.cohort.auto_chunk_size` on
the CPU, :data:`twin.fl.cohort.GPU_GROUP_BYTES` on a GPU), clients of similar size together so little padding is
computed; the grouping fixes the float rounding. A *chunk* is whole consecutive groups whose trained parameters are
handed out together (:meth:`LocalTrainer.train_chunks`; ``chunk_clients`` caps its clients, default: as many as fit
:func:`twin.fl.device.chunk_budget_bytes`), so a cohort of any size holds only one chunk's parameters on the device.
Chunks never split a group, so the results are exactly the same however the cohort is chunked; only a ``chunk_clients``
below the group size shrinks the groups to it.

``device`` (a ``torch.device`` or its name) is where training runs: the data moves there once and stays
(:meth:`LocalTrainer.resident`), every chunk's parameters come back to the host.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from twin.fl import linear_kernels
from twin.fl.batching import client_seeds, make_plan, steps_per_client
from twin.fl.cohort import (
    GPU_GROUP_BYTES,
    OptimiserSpec,
    auto_chunk_size,
    device_group_bytes,
    linear_chain,
    train_group_bmm,
    train_group_vmap,
)
from twin.fl.device import chunk_budget_bytes
from twin.fl.errors import FLConfigError, check_positive_int
from twin.fl.models import flatten_stacked

OPTIMIZERS = ("sgd", "adam")
ENGINES = ("auto", "dual", "bmm", "vmap", "sequential")


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
    module docstring), ``chunk_size`` (clients trained together; None = automatic), ``chunk_clients`` (clients whose
    parameters are held at once; None = automatic), ``device`` (where training runs).
    """

    def __init__(self, *, optimizer: str = "sgd", lr: float = 0.02, momentum: float = 0.0, beta1: float = 0.9,
                 beta2: float = 0.999, eps: float = 1e-8, local_epochs: int = 5, batch_size: int = 20,
                 shuffle: bool = True, engine: str = "auto", chunk_size: int | None = None,
                 chunk_clients: int | None = None, device: str | torch.device = "cpu") -> None:
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
        self.chunk_clients = None if chunk_clients is None else check_positive_int("chunk_clients", chunk_clients)
        self.device = torch.device(device)
        self._resident: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

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
            if linear_kernels.AVAILABLE and self._dual_applies(model):
                return "dual"
            return "bmm" if linear_chain(model) is not None else "vmap"
        if self.engine == "dual" and not self._dual_applies(model):
            raise FLConfigError("engine: 'dual' needs a single Linear layer (softmax regression), SGD and the CPU; "
                                "use 'auto'")
        if self.engine == "dual" and not linear_kernels.AVAILABLE:
            raise FLConfigError("engine: 'dual' needs numba (pip install numba); use 'auto'")
        if self.engine == "bmm" and linear_chain(model) is None:
            raise FLConfigError("engine: 'bmm' needs a model made of Flatten, Linear and ReLU layers; use 'auto' or "
                                "'vmap'")
        return self.engine

    def _dual_applies(self, model: nn.Module) -> bool:
        layers = linear_chain(model)
        return layers is not None and len(layers) == 1 and self.optimizer == "sgd" and self.device.type == "cpu"

    def resident(self, x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``, ``y`` as float32 / int64 tensors on the training device; the last pair stays there, so a data set
        given again (the same host tensors) is not copied again."""
        xt, yt = _as_tensors(x, y)
        if self.device.type == "cpu":
            return xt, yt
        if self._resident is None or self._resident[0] is not xt or self._resident[1] is not yt:
            self._resident = (xt, yt, xt.to(self.device), yt.to(self.device))
        return self._resident[2], self._resident[3]

    def train(self, model: nn.Module, global_params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
              y: np.ndarray | torch.Tensor, client_indices: Sequence[np.ndarray], *,
              rng: np.random.Generator) -> CohortResult:
        """Train each client (rows ``client_indices[k]`` of ``x``, ``y``) from ``global_params``.

        ``model`` gives the architecture (its own parameters are not used or changed); ``rng`` (the round's
        generator) supplies one shuffling seed per client position, so the same generator state gives identical
        results, and a client selected twice trains twice with different shuffles. The whole cohort's parameters,
        on the host; :meth:`train_chunks` hands them out a chunk at a time instead.
        """
        k_total = len(client_indices)
        parts = list(self.train_chunks(model, global_params, x, y, client_indices, rng=rng))
        if len(parts) == 1 and np.array_equal(parts[0][0], np.arange(k_total)):
            return parts[0][1]
        out = {n: torch.empty((k_total, *p.shape), dtype=torch.float32) for n, p in global_params.items()}
        sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
        mean_loss = np.full(k_total, np.nan)
        for positions, part in parts:
            rows = torch.from_numpy(positions)
            for n in out:
                out[n].index_copy_(0, rows, part.params[n])
            mean_loss[positions] = part.mean_loss
        return CohortResult(params=out, n_examples=sizes, mean_loss=mean_loss, n_steps=self.steps(sizes),
                            n_samples_processed=self.samples_processed(sizes))

    def train_chunks(self, model: nn.Module, global_params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
                     y: np.ndarray | torch.Tensor, client_indices: Sequence[np.ndarray], *,
                     rng: np.random.Generator) -> Iterator[tuple[np.ndarray, CohortResult]]:
        """:meth:`train`, a chunk at a time: yields ``(positions, result)``, ``positions`` the (sorted) places in
        ``client_indices`` of the chunk's clients and ``result`` their :class:`CohortResult` (parameters on the
        host). The seeds are drawn for the whole cohort first, so the results do not depend on the chunking."""
        if any(True for _ in model.buffers()):
            raise FLConfigError("model: models with buffers (batch norm) are not supported by cohort training")
        names = [n for n, _ in model.named_parameters()]
        if list(global_params) != names or any(global_params[n].shape != p.shape for n, p in model.named_parameters()):
            raise FLConfigError(f"global_params do not match the model's parameters ({', '.join(names)})")
        xt, yt = self.resident(x, y)
        indices = [np.asarray(ix, dtype=np.int64) for ix in client_indices]
        sizes = np.array([len(ix) for ix in indices], dtype=np.int64)
        seeds = client_seeds(rng, len(indices))
        engine = self.resolve_engine(model)
        plan_args = dict(local_epochs=self.local_epochs, batch_size=self.batch_size, shuffle=self.shuffle)
        k_total = len(indices)
        params_dev = {n: p.detach().to(self.device, torch.float32) for n, p in global_params.items()}

        if engine == "sequential":
            groups = [np.array([k]) for k in range(k_total)]
        elif engine == "dual":  # one client at a time inside the kernel: the grouping changes nothing but memory
            group = max(1, self._chunk_clients(global_params))
            groups = [np.arange(s, min(s + group, k_total)) for s in range(0, k_total, group)]
        else:
            order = np.argsort(-self.steps(sizes), kind="stable")
            group = self._group_size(model, global_params, engine, sizes, xt)
            groups = [order[s:s + group] for s in range(0, k_total, group)]
        per_chunk = max(1, self._chunk_groups(global_params, groups))
        work = copy.deepcopy(model).to(self.device) if engine == "sequential" else None
        layers = linear_chain(model) if engine in ("bmm", "dual") else None
        x2d = xt.reshape(xt.shape[0], -1) if engine in ("bmm", "dual") else xt
        for c in range(0, len(groups), per_chunk):
            members = np.concatenate(groups[c:c + per_chunk])
            positions = np.sort(members)
            local = np.searchsorted(positions, members)  # row of each member in the chunk's tensors
            out = {n: torch.empty((len(positions), *p.shape), dtype=torch.float32, device=self.device)
                   for n, p in global_params.items()}
            loss_sum = np.zeros(len(positions), dtype=np.float64)
            at = 0
            for g in groups[c:c + per_chunk]:
                rows = local[at:at + len(g)]
                at += len(g)
                if engine == "sequential":
                    plan = make_plan([indices[g[0]]], [seeds[g[0]]], **plan_args)
                    params, loss_sum[rows[0]] = _train_one(work, params_dev, xt, yt, plan, self.spec)
                    for n in out:
                        out[n][rows[0]] = params[n]
                    continue
                plan = make_plan([indices[k] for k in g], seeds[g], **plan_args)
                if engine == "dual":
                    loss_sum[rows] = _train_dual(layers[0], params_dev, x2d, yt, plan, self.spec, out, rows)
                elif engine == "bmm":
                    loss_sum[rows] = train_group_bmm(layers, params_dev, x2d, yt, plan, self.spec, out, rows)
                else:
                    loss_sum[rows] = train_group_vmap(model, params_dev, xt, yt, plan, self.spec, out, rows)
            part_sizes = sizes[positions]
            processed = self.samples_processed(part_sizes)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_loss = np.where(processed > 0, loss_sum / np.maximum(processed, 1), np.nan)
            yield positions, CohortResult(params={n: t.cpu() for n, t in out.items()}, n_examples=part_sizes,
                                          mean_loss=mean_loss, n_steps=self.steps(part_sizes),
                                          n_samples_processed=processed)

    def _group_size(self, model: nn.Module, global_params: Mapping[str, torch.Tensor], engine: str,
                    sizes: np.ndarray, xt: torch.Tensor) -> int:
        """Clients trained together: ``chunk_size``, else the engine's budget (cache-sized on the CPU, large on a
        GPU); never more than ``chunk_clients``."""
        if self.chunk_size:
            group = self.chunk_size
        elif self.device.type == "cpu":
            group = auto_chunk_size(global_params, self.spec, engine, mean_rows=float(sizes.mean()) if len(sizes)
                                    else 0.0, n_features=int(np.prod(xt.shape[1:])))
        else:
            per_client = device_group_bytes(model, global_params, self.spec, engine, batch_size=self.batch_size,
                                            max_rows=int(sizes.max(initial=1)), sample_shape=tuple(xt.shape[1:]))
            # a group's working set within half the chunk budget, so it fits beside a chunk's results
            group = max(1, min(GPU_GROUP_BYTES, chunk_budget_bytes(self.device) // 2) // per_client)
        return max(1, min(group, self.chunk_clients or group))

    def _chunk_clients(self, global_params: Mapping[str, torch.Tensor]) -> int:
        """Clients whose parameters a chunk holds: ``chunk_clients``, else what the device's chunk budget holds."""
        per_client = 4 * sum(p.numel() for p in global_params.values())
        return self.chunk_clients or int(chunk_budget_bytes(self.device) // max(per_client, 1))

    def _chunk_groups(self, global_params: Mapping[str, torch.Tensor], groups: list[np.ndarray]) -> int:
        """Whole groups per chunk (:meth:`_chunk_clients` clients)."""
        return self._chunk_clients(global_params) // max((len(g) for g in groups), default=1)


def _train_dual(layer, params: Mapping[str, torch.Tensor], x2d: torch.Tensor, y: torch.Tensor, plan,
                spec: OptimiserSpec, out: dict[str, torch.Tensor], rows: np.ndarray) -> np.ndarray:
    """The ``dual`` engine on one group: the kernel writes straight into the chunk's tensors when the group fills
    them in order, else into its own arrays that are then copied to ``rows``."""
    k = len(rows)
    w_dest, b_dest = out[layer.weight], out[layer.bias]
    direct = np.array_equal(rows, np.arange(k)) and w_dest.shape[0] == k
    w_out = w_dest.numpy() if direct else np.empty((k, *w_dest.shape[1:]), dtype=np.float32)
    b_out = b_dest.numpy() if direct else np.empty((k, *b_dest.shape[1:]), dtype=np.float32)
    loss = linear_kernels.train_dual(x2d.numpy(), y.numpy(), params[layer.weight].numpy(), params[layer.bias].numpy(),
                                  plan, lr=spec.lr, momentum=spec.momentum, w_out=w_out, b_out=b_out)
    if not direct:
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        w_dest.index_copy_(0, index, torch.from_numpy(w_out))
        b_dest.index_copy_(0, index, torch.from_numpy(b_out))
    return loss


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
    """Accuracy and mean cross-entropy of ``params`` (the model's parameter names) on ``x``, ``y`` (nan if empty);
    runs where ``x`` and ``params`` are (give both on one device)."""
    batch_size = check_positive_int("batch_size", batch_size)
    xt, yt = _as_tensors(x, y)
    layers = linear_chain(model)
    if linear_kernels.AVAILABLE and xt.device.type == "cpu" and layers is not None and len(layers) == 1 and len(yt):
        # softmax regression: one compiled pass over the rows (twin.fl.linear_kernels)
        w, b = (params[name].detach().to(torch.float32).numpy() for name in (layers[0].weight, layers[0].bias))
        hits, loss_sum = linear_kernels.evaluate_linear(xt.reshape(xt.shape[0], -1).numpy(), yt.numpy(), w, b)
        n = int(yt.shape[0])
        return Evaluation(accuracy=hits / n, loss=loss_sum / n, n=n)
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
                            if len(sizes) else np.zeros(0, np.int64)).to(xt.device)
    losses, correct = _predict_losses(model, params, xt[rows], yt[rows], check_positive_int("batch_size", batch_size))
    owner = np.repeat(np.arange(len(sizes)), sizes)
    loss_sum = np.bincount(owner, weights=losses.cpu().numpy(), minlength=len(sizes))
    hits = np.bincount(owner, weights=correct.cpu().numpy().astype(np.float64), minlength=len(sizes))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"accuracy": np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan),
                "loss": np.where(sizes > 0, loss_sum / np.maximum(sizes, 1), np.nan), "n": sizes}
