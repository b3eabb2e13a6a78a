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
from twin.fl.evaluation import (  # noqa: F401 - evaluation's names, also importable from here
    Evaluation,
    as_tensors,
    evaluate,
    evaluate_clients,
)
from twin.fl.models import flatten_stacked

OPTIMIZERS = ("sgd", "adam")
ENGINES = ("auto", "dual", "bmm", "vmap", "sequential")


@dataclasses.dataclass(frozen=True, eq=False)
class CohortResult:
    """What local training returns for K clients, in the order they were given.

    Attributes:
        params: new parameters by name, each stacked (K, *shape), float32 (empty when trained for ``deltas``).
        n_examples: int64 (K,): train rows of each client (the NUM_EXAMPLES aggregation weight).
        mean_loss: float64 (K,): mean training loss over all samples processed (nan for a client without data).
        n_steps: int64 (K,): optimiser steps taken.
        n_samples_processed: int64 (K,): samples through forward and backward (local_epochs x n_examples); times the
            model's ``train_flops`` per sample this is the local work in FLOPs.
        deltas: float32 (K, P): each client's flat update (new parameters minus the start), when asked for
            (:meth:`LocalTrainer.train_chunks` with ``deltas_from``), else None.
    """

    params: dict[str, torch.Tensor]
    n_examples: np.ndarray
    mean_loss: np.ndarray
    n_steps: np.ndarray
    n_samples_processed: np.ndarray
    deltas: torch.Tensor | None = None

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
        xt, yt = as_tensors(x, y)
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
                     rng: np.random.Generator, deltas_from: torch.Tensor | None = None
                     ) -> Iterator[tuple[np.ndarray, CohortResult]]:
        """:meth:`train`, a chunk at a time: yields ``(positions, result)``, ``positions`` the (sorted) places in
        ``client_indices`` of the chunk's clients and ``result`` their :class:`CohortResult` (parameters on the
        host). The seeds are drawn for the whole cohort first, so the results do not depend on the chunking.

        ``deltas_from`` (the flat ``global_params``, float32): the results carry each client's flat update
        (``deltas``: the flat parameters minus ``deltas_from``, the same float32 differences) instead of its
        parameters; the ``dual`` engine writes them straight from its kernel."""
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
        dual_deltas = engine == "dual" and deltas_from is not None and list(global_params) == [
            layers[0].weight, layers[0].bias]  # the kernel's flat order: the weights, then the bias
        for c in range(0, len(groups), per_chunk):
            members = np.concatenate(groups[c:c + per_chunk])
            positions = np.sort(members)
            local = np.searchsorted(positions, members)  # row of each member in the chunk's tensors
            direct = dual_deltas  # the kernel writes the flat updates itself
            flat = torch.empty((len(positions), deltas_from.numel()), dtype=torch.float32) if direct else None
            out = {} if direct else {n: torch.empty((len(positions), *p.shape), dtype=torch.float32,
                                                    device=self.device) for n, p in global_params.items()}
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
                    loss_sum[rows] = _train_dual(layers[0], params_dev, x2d, yt, plan, self.spec, flat if direct
                                                 else out, rows)
                elif engine == "bmm":
                    loss_sum[rows] = train_group_bmm(layers, params_dev, x2d, yt, plan, self.spec, out, rows)
                else:
                    loss_sum[rows] = train_group_vmap(model, params_dev, xt, yt, plan, self.spec, out, rows)
            part_sizes = sizes[positions]
            processed = self.samples_processed(part_sizes)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_loss = np.where(processed > 0, loss_sum / np.maximum(processed, 1), np.nan)
            params = {n: t.cpu() for n, t in out.items()}
            if deltas_from is not None and not direct:
                flat = flatten_stacked(params) - deltas_from  # row j: flat[j] - deltas_from
                params = {}
            yield positions, CohortResult(params=params, n_examples=part_sizes, mean_loss=mean_loss,
                                          n_steps=self.steps(part_sizes), n_samples_processed=processed, deltas=flat)

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
                spec: OptimiserSpec, out: dict[str, torch.Tensor] | torch.Tensor, rows: np.ndarray) -> np.ndarray:
    """The ``dual`` engine on one group, into the chunk's parameter tensors (``out`` a dict) or its flat updates
    (``out`` a (K, P) tensor, :func:`twin.fl.linear_kernels.train_dual`'s ``delta_out``): the kernel writes straight
    into them when the group fills them in order, else into its own arrays that are then copied to ``rows``."""
    k = len(rows)
    dests = [out] if isinstance(out, torch.Tensor) else [out[layer.weight], out[layer.bias]]
    direct = np.array_equal(rows, np.arange(k)) and dests[0].shape[0] == k
    arrays = [d.numpy() if direct else np.empty((k, *d.shape[1:]), dtype=np.float32) for d in dests]
    given = {"delta_out": arrays[0]} if len(arrays) == 1 else {"w_out": arrays[0], "b_out": arrays[1]}
    loss = linear_kernels.train_dual(x2d.numpy(), y.numpy(), params[layer.weight].numpy(), params[layer.bias].numpy(),
                                     plan, lr=spec.lr, momentum=spec.momentum, **given)
    if not direct:
        index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
        for dest, array in zip(dests, arrays, strict=True):
            dest.index_copy_(0, index, torch.from_numpy(array))
    return loss


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
