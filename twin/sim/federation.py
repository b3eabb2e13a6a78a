"""The real FL workload: data, model, local training, codecs and aggregation behind the round process's Workload protocol.

Per round, :meth:`FederatedWorkload.begin_round` trains every selected client at once (vectorised cohort training),
encodes each update with the upload codec, and so knows before any byte moves how much each client computes and sends.
The round process then times exactly those FLOPs and bytes on the network; :meth:`end_round` aggregates the updates
of the participations that made it (dropped ones are simply absent) and evaluates the global model.
With ``fl.train: false`` the same selection, bytes and FLOPs are produced without training (fast schedule sweeps).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from twin.errors import InputError
from twin.fl.codecs import Encoded, make_codec
from twin.fl.data import load_dataset
from twin.fl.data.base import FederatedDataset
from twin.fl.device import resolve_device
from twin.fl.models import (
    build_model,
    flatten_params,
    flops_per_sample,
    model_params,
    num_params,
    unflatten_params,
)
from twin.fl.partition import dataset_partition_stats, make_partition
from twin.fl.strategies import ClientResult, Strategy, make_strategy
from twin.fl.training import LocalTrainer, evaluate, evaluate_clients
from twin.scenario import schema as S
from twin.sim import data_cache, data_store
from twin.sim.workload import Participation, RoundOutcome

_PATH_FIELDS = ("path",)
log = logging.getLogger(__name__)


def _fl_error(exc: Exception, prefix: str = "fl") -> InputError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, FileNotFoundError) or text.startswith(("/", ".")):
        return InputError(text)
    return InputError(f"{prefix}.{text}" if not text.startswith(prefix + ".") else text)


def load_federated_data(cfg: S.FLConfig, n_clients: int, *, base_dir: Path, rng: np.random.Generator
                        ) -> FederatedDataset:
    """Load ``fl.data`` and partition it into ``n_clients`` clients (``fl.partition``)."""
    fields: dict[str, Any] = cfg.data.model_dump(exclude={"kind"})
    for key in _PATH_FIELDS:
        if fields.get(key):
            path = Path(fields[key]).expanduser()
            fields[key] = str(path if path.is_absolute() else base_dir / path)
    if cfg.data.kind == "synthetic":
        fields["n_clients"] = n_clients
    if "seed" in _loader_params(cfg.data.kind):
        fields["seed"] = int(rng.integers(2**31))
    fields = {k: v for k, v in fields.items() if not (v is None and k in _PATH_FIELDS)}
    part = cfg.partition.model_dump(exclude={"kind"})
    # A sweep worker reuses the data set and partition of its previous run when they would come out the same
    # (twin.sim.data_cache: keyed by the loader's arguments, the partition section and the data stream's state).
    data_key = data_cache.dataset_key(cfg.data.kind, fields)
    part_key = data_cache.partition_key(data_key, cfg.partition.model_dump(), {
        "n_clients": n_clients, "validation_fraction": cfg.validation_fraction}, rng.bit_generator.state)

    def loaded() -> FederatedDataset:  # from the disk cache (twin.sim.data_store) when an earlier process stored it
        return data_store.load(cfg.data.kind, fields, lambda: load_dataset(cfg.data.kind, **fields))[0]

    def partitioned() -> FederatedDataset:
        data = data_cache.load(data_key, loaded)
        if cfg.partition.kind == "natural":
            data = _natural_clients(data, n_clients)
            return make_partition(data, "natural", rng=rng, val_fraction=cfg.validation_fraction)
        return make_partition(data, cfg.partition.kind, rng=rng, val_fraction=cfg.validation_fraction,
                              n_clients=n_clients, **part)

    try:
        return data_cache.partition(part_key, partitioned)
    except InputError:
        raise
    except (ValueError, FileNotFoundError) as exc:
        raise _fl_error(exc) from None


def _loader_params(kind: str) -> set[str]:
    import inspect

    from twin.fl.data import DATASETS

    return set(inspect.signature(DATASETS[kind]).parameters)


def _natural_clients(data: FederatedDataset, n_clients: int) -> FederatedDataset:
    if data.client_indices is None:
        raise InputError(f"fl.partition.kind: data set {data.name!r} has no natural partition; use iid, dirichlet, "
                         "shards or quantity")
    have = len(data.client_indices)
    if have < n_clients:
        raise InputError(f"fl.partition: data set {data.name!r} has {have} natural clients but the scenario has "
                         f"{n_clients}; use fewer clients or another partition")
    if have > n_clients:  # the first n writers, in the data set's order
        names = data.client_names[:n_clients] if data.client_names is not None else None
        data = data.with_clients(data.client_indices[:n_clients], client_names=names)
    return data


class FederatedWorkload:
    """Real federated training timed by the twin (see the module docstring)."""

    def __init__(self, *, cfg: S.FLConfig, n_clients: int, base_dir: Path, rng: Callable[[str], np.random.Generator],
                 server_flops_per_s: float) -> None:
        self.cfg = cfg
        self.train_enabled = cfg.train
        try:  # first: a missing GPU is refused before any data is read
            self.device = resolve_device(cfg.device)
        except ValueError as exc:
            raise _fl_error(exc) from None
        before, disk_hits = dict(data_cache.stats), data_store.stats["hits"]
        self.data = load_federated_data(cfg, n_clients, base_dir=base_dir, rng=rng("data"))
        hits = {k: data_cache.stats[k] - before[k] for k in before}
        self.data_reused = "partition" if hits["partition_hits"] else "data set" if hits["load_hits"] else \
            "disk cache" if data_store.stats["hits"] > disk_hits else None
        torch_seed = int(rng("torch").integers(2**31))
        model_cfg = cfg.model
        try:
            self.model = build_model(model_cfg.kind, input_shape=self.data.input_shape, n_classes=self.data.n_classes,
                                     seed=torch_seed, **model_cfg.model_dump(exclude={"kind"}))
            opt = cfg.local.optimizer
            opt_args = {"momentum": opt.momentum} if opt.kind == "sgd" else \
                {"beta1": opt.beta1, "beta2": opt.beta2, "eps": opt.eps}
            self.trainer = LocalTrainer(optimizer=opt.kind, lr=opt.lr, local_epochs=cfg.local.epochs,
                                        batch_size=cfg.local.batch_size, shuffle=cfg.local.shuffle,
                                        chunk_clients=cfg.chunk_clients, device=self.device.device, **opt_args)
            self.strategy = make_strategy(cfg.strategy.kind, **cfg.strategy.model_dump(exclude={"kind"}))
            self.up_codec = make_codec(cfg.upload_codec.kind, **cfg.upload_codec.model_dump(exclude={"kind"}))
            self.down_codec = make_codec(cfg.broadcast_codec.kind, **cfg.broadcast_codec.model_dump(exclude={"kind"}))
        except ValueError as exc:
            raise _fl_error(exc) from None
        self.like = model_params(self.model)
        self.global_flat = flatten_params(self.like).to(torch.float32)
        self.numel = num_params(self.like)
        self.flops = flops_per_sample(self.model, self.data.input_shape)
        self.sizes = self.data.client_sizes()
        self.server_flops_per_s = server_flops_per_s
        self._train_rng = rng("training")
        self._codec_rng = rng("codec")
        self._states: dict[int, Any] = {}
        self._x_train = torch.from_numpy(np.ascontiguousarray(self.data.x_train))
        self._y_train = torch.from_numpy(np.ascontiguousarray(self.data.y_train))
        self._eval_sets: tuple | None = None  # test set and validation rows on the device, moved there once
        self._device_said = False
        self._updates: dict[int, torch.Tensor] = {}
        self._up_bytes: dict[int, int] = {}
        self._flops: dict[int, float] = {}
        self._train_loss: dict[int, float] = {}
        self._down_bytes = self.down_codec.nbytes(self.numel)
        self._n_rounds = 0

    # -------------------------------------------------------------------------------------------- Workload protocol

    def download_bytes(self, round_: int) -> float:
        return float(self._down_bytes)

    def train_flops(self, round_: int, p: Participation) -> float:
        return self._flops[p.slot]

    def upload_bytes(self, round_: int, p: Participation) -> float:
        return float(self._up_bytes[p.slot])

    def server_flops(self, round_: int, completed: list[Participation]) -> float:
        """Server work to decode and aggregate the completed updates."""
        return len(completed) * (self.up_codec.cost(self.numel).decode_flops + 2.0 * self.numel)

    def expected_flops(self, clients: np.ndarray) -> np.ndarray:
        """Local work of one participation of each of ``clients`` (training + codec work), before anyone trains."""
        return np.asarray(self.participation_flops(np.asarray(clients, dtype=np.int64)), dtype=float)

    def expected_upload_bytes(self) -> float:
        return float(self.up_codec.nbytes(self.numel))

    def begin_round(self, round_: int, selected: list[Participation],
                    groups: list[tuple[torch.Tensor, list[Participation]]] | None = None) -> None:
        """Train the round's cohort now. ``groups``: (start model, participations) pairs, each group trained from its
        own model (hierarchical FL: one group per edge); default one group, the global model."""
        self._updates.clear()
        self._up_bytes.clear()
        self._flops.clear()
        self._train_loss.clear()
        self._n_rounds = round_
        if not selected:
            return
        if self.train_enabled and not self._device_said:  # once the run is under way (never beside an input error)
            log.info("training on %s", self.device.note)
            self._device_said = True
        groups = [(self.global_flat, selected)] if groups is None else groups
        cost_up = self.up_codec.cost(self.numel)
        cost_down = self.down_codec.cost(self.numel)
        clients = np.array([p.client for p in selected])
        work = self.trainer.samples_processed(self.sizes[clients]) * float(self.flops.train_flops)
        for p, w in zip(selected, work, strict=True):
            self._flops[p.slot] = float(w) + cost_up.encode_flops + cost_down.decode_flops
        if not self.train_enabled:
            for p in selected:
                self._up_bytes[p.slot] = self.up_codec.nbytes(self.numel)
            return
        for start_flat, group in groups:
            start, self._down_bytes = self.broadcast(start_flat)
            members = np.array([p.client for p in group])
            for p, (update, nbytes, loss) in zip(group, self.train_updates(start, members), strict=True):
                self._up_bytes[p.slot] = nbytes
                self._updates[p.slot] = update
                self._train_loss[p.slot] = float(loss)

    def train_updates(self, start_flat: torch.Tensor, clients: np.ndarray) -> list[tuple[torch.Tensor, int, float]]:
        """Train ``clients`` (indices, in order) from the flat model ``start_flat`` as one vectorised cohort and
        encode each update with the upload codec (error feedback per client, in this order): per client the update
        the server decodes, its encoded bytes, and its mean training loss. The training and codec streams advance.

        A chunk at a time (whole groups, so the same results as one piece): only one chunk's stacked parameters
        exist besides the updates kept for aggregation. Encoded in the clients' order, as the codecs draw from one
        generator."""
        start = unflatten_params(start_flat, self.like)
        out: list[tuple[torch.Tensor, int, float]] = []
        pending: dict[int, tuple[torch.Tensor, float]] = {}
        plain = self.cfg.upload_codec.kind == "none"  # the update is the delta itself, 4 bytes a parameter
        plain_bytes = self.up_codec.nbytes(self.numel)
        for positions, part in self.trainer.train_chunks(self.model, start, self._x_train, self._y_train,
                                                         [self.data.client_indices[c] for c in clients],
                                                         rng=self._train_rng, deltas_from=start_flat):
            deltas = part.deltas  # the chunk's flat updates (row j: its trained parameters - start_flat)
            if plain and not pending and np.array_equal(positions, np.arange(len(out), len(out) + len(positions))):
                out.extend(zip(deltas.unbind(0), [plain_bytes] * len(positions), part.mean_loss.tolist(), strict=True))
                continue  # the next clients in order, as they are: their rows (views), no per-client work
            for j, (k, loss) in enumerate(zip(positions.tolist(), part.mean_loss.tolist(), strict=True)):
                pending[k] = (deltas[j], loss)
            del deltas
            while len(out) in pending:
                delta, loss = pending.pop(len(out))
                if plain:  # encoding draws nothing and keeps no state that matters: skip the byte copy
                    out.append((delta, plain_bytes, loss))
                    continue
                client = int(clients[len(out)])
                enc: Encoded = self.up_codec.encode(delta, rng=self._codec_rng, state=self._state(client))
                out.append((self.up_codec.decode(enc), enc.nbytes, loss))
        return out

    def participation_flops(self, clients: np.ndarray) -> np.ndarray:
        """FLOPs of one participation of each client: local training plus upload encoding and broadcast decoding."""
        work = self.trainer.samples_processed(self.sizes[clients]) * float(self.flops.train_flops)
        return work + self.up_codec.cost(self.numel).encode_flops + self.down_codec.cost(self.numel).decode_flops

    def broadcast(self, flat: torch.Tensor) -> tuple[torch.Tensor, int]:
        """What a client starts from when the server sends ``flat`` (the broadcast codec's round trip, lossless
        without one) and the bytes sent. The codec stream advances only when a codec is set."""
        if self.cfg.broadcast_codec.kind != "none" and self.train_enabled:
            enc = self.down_codec.encode(flat, rng=self._codec_rng)
            return self.down_codec.decode(enc), enc.nbytes
        return flat, self.down_codec.nbytes(self.numel)

    def aggregate(self, base_flat: torch.Tensor, completed: list[Participation], strategy) -> torch.Tensor:
        """``strategy``'s step from ``base_flat`` with the updates of ``completed`` (float32)."""
        if isinstance(strategy, Strategy):  # no ClientResult per client unless its aggregate is its own
            sizes = self.sizes[np.fromiter((p.client for p in completed), dtype=np.int64, count=len(completed))]
            return strategy.aggregate_flat(base_flat, [self._updates[p.slot] for p in completed], sizes,
                                           client_ids=[p.slot for p in completed]).to(torch.float32)
        results = [ClientResult(num_examples=int(self.sizes[p.client]), delta=self._updates[p.slot],
                                client_id=p.slot) for p in completed]
        return strategy.aggregate(base_flat, results, dropped=[]).to(torch.float32)

    def end_round(self, round_: int, completed: list[Participation], dropped: list[Participation]) -> RoundOutcome:
        if self.train_enabled and completed:
            self.global_flat = self.aggregate(self.global_flat, completed, self.strategy)
        return self.outcome(round_, completed)

    def outcome(self, round_: int, completed: list[Participation]) -> RoundOutcome:
        """The round's training loss and, on an evaluation round, the global model's test accuracy and loss."""
        extra: dict[str, float] = {}
        if self.train_enabled and completed:
            losses = [self._train_loss[p.slot] for p in completed if math.isfinite(self._train_loss[p.slot])]
            extra["train_loss"] = float(np.mean(losses)) if losses else math.nan
        if not self.train_enabled:
            return RoundOutcome(extra=extra)
        return self.evaluation(round_, extra)

    def evaluation(self, round_: int, extra: dict[str, float]) -> RoundOutcome:
        """The global model evaluated after round (or server step) ``round_``, every ``fl.evaluate_every`` and at
        the last one (NaN accuracy otherwise)."""
        last = round_ == self.cfg.rounds
        if round_ % self.cfg.evaluate_every and not last:
            return RoundOutcome(extra=extra)
        params = unflatten_params(self.global_flat.to(self.device.device), self.like)
        x_test, y_test = self._on_device()
        ev = evaluate(self.model, params, x_test, y_test)
        if self.data.val_indices is not None:
            x_train, y_train = self.trainer.resident(self._x_train, self._y_train)
            per_client = evaluate_clients(self.model, params, x_train, y_train, self.data.val_indices)
            acc = per_client["accuracy"]
            extra["val_accuracy_mean"] = float(np.nanmean(acc)) if np.isfinite(acc).any() else math.nan
            extra["val_accuracy_p10"] = float(np.nanpercentile(acc, 10)) if np.isfinite(acc).any() else math.nan
        return RoundOutcome(accuracy=ev.accuracy, loss=ev.loss, extra=extra)

    def _on_device(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The test set as tensors on the training device (moved there once)."""
        if self._eval_sets is None:
            x = torch.from_numpy(np.ascontiguousarray(self.data.x_test, dtype=np.float32))
            y = torch.from_numpy(np.ascontiguousarray(self.data.y_test, dtype=np.int64))
            self._eval_sets = (x.to(self.device.device), y.to(self.device.device))
        return self._eval_sets

    def _state(self, client: int):
        if client not in self._states:
            self._states[client] = self.up_codec.new_state()
        return self._states[client]

    # ------------------------------------------------------------------------------------------------- reporting

    def clients_table(self) -> pd.DataFrame:
        """Partition statistics per client (samples, labels): the run folder's ``clients.parquet``."""
        return pd.DataFrame.from_records(dataset_partition_stats(self.data))

    def describe(self) -> dict[str, Any]:
        return {"data": self.data.name, "n_train": int(self.data.n_train), "n_test": int(self.data.n_test),
                "n_classes": int(self.data.n_classes), "model_params": int(self.numel),
                "model_bytes": int(4 * self.numel), "broadcast_bytes": int(self.down_codec.nbytes(self.numel)),
                "update_bytes": int(self.up_codec.nbytes(self.numel)),
                "train_flops_per_sample": int(self.flops.train_flops),
                "data_reused": self.data_reused,
                "device": self.device.describe()}  # from an earlier run of this process (twin.sim.data_cache)
