"""Partitioners: split the train rows of a data set into clients.

Each partitioner is a pure function of the labels (and a ``np.random.Generator``) returning one sorted int64 index array
per client; ``make_partition(dataset, kind, rng=..., **fields)`` is the registry entry point and returns the data set with
its new partition. The same generator state gives the same partition.

- ``iid``: a random permutation cut into near-equal parts.
- ``dirichlet``: label skew; for each class, the class's rows are split by proportions ~ Dirichlet(alpha) (Hsu et al.
  2019, with Yurochkin et al.'s cap that stops feeding a client once it holds n/n_clients rows). Small alpha -> few labels
  per client.
- ``shards``: McMahan et al. 2017: rows sorted by label, cut into n_clients * shards_per_client shards, each client gets
  shards_per_client random shards (2 shards -> about two labels per client).
- ``quantity``: quantity skew with IID labels; sizes proportional to log-normal(0, sigma) or Pareto(exponent) weights,
  each at least min_samples (an unbalanced population like the study's 3,383 FEMNIST writers).
- ``natural``: the loader's own partition (LEAF writers, Synthetic devices).

Each partitioner's keyword arguments besides ``labels``, ``n_clients`` and ``rng`` are the fields of its schema class
(``fl.partition``), same names and defaults (``tests/test_registries.py``); the schema checks their values.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from twin.fl.data.base import FederatedDataset
from twin.fl.errors import FLConfigError, check_fraction, check_positive_int

MAX_TRIES = 100  # draws of a Dirichlet partition before giving up on min_samples


def _check(labels: np.ndarray, n_clients: int) -> tuple[np.ndarray, int]:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise FLConfigError(f"labels must be 1-D, got shape {labels.shape}")
    n_clients = check_positive_int("n_clients", n_clients)
    if n_clients > len(labels):
        raise FLConfigError(f"n_clients ({n_clients}) exceeds the number of train samples ({len(labels)})")
    return labels, n_clients


def _sorted(parts: Sequence[np.ndarray]) -> list[np.ndarray]:
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def iid_partition(labels: np.ndarray, *, n_clients: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Random near-equal split (sizes differ by at most one)."""
    labels, n_clients = _check(labels, n_clients)
    return _sorted(np.array_split(rng.permutation(len(labels)), n_clients))


def dirichlet_partition(labels: np.ndarray, *, n_clients: int, alpha: float, rng: np.random.Generator,
                        min_samples: int = 1) -> list[np.ndarray]:
    """Label skew by Dirichlet(alpha) proportions per class; retried (up to :data:`MAX_TRIES` times) until every client
    has ``min_samples`` rows."""
    labels, n_clients = _check(labels, n_clients)
    max_tries = MAX_TRIES
    if min_samples * n_clients > len(labels):
        raise FLConfigError(f"min_samples ({min_samples}) x n_clients ({n_clients}) exceeds the {len(labels)} samples")
    cap = len(labels) / n_clients
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        sizes = np.zeros(n_clients, dtype=np.int64)
        for c in classes:
            rows = rng.permutation(np.flatnonzero(labels == c))
            p = rng.dirichlet(np.full(n_clients, alpha))
            p = p * (sizes < cap)
            total = p.sum()
            p = p / total if total > 0 else np.full(n_clients, 1.0 / n_clients)
            cuts = (np.cumsum(p) * len(rows)).astype(np.int64)[:-1]
            for k, chunk in enumerate(np.split(rows, cuts)):
                parts[k].append(chunk)
                sizes[k] += len(chunk)
        if sizes.min() >= min_samples:
            return _sorted([np.concatenate(p) for p in parts])
    raise FLConfigError(f"dirichlet partition: after {max_tries} tries some client still has fewer than min_samples "
                        f"({min_samples}) rows; raise alpha ({alpha}), lower min_samples or use fewer clients")


def shard_partition(labels: np.ndarray, *, n_clients: int, rng: np.random.Generator,
                    shards_per_client: int = 2) -> list[np.ndarray]:
    """McMahan's pathological non-IID split: label-sorted shards, ``shards_per_client`` random shards per client."""
    labels, n_clients = _check(labels, n_clients)
    n_shards = n_clients * shards_per_client
    if n_shards > len(labels):
        raise FLConfigError(f"n_clients x shards_per_client ({n_shards}) exceeds the {len(labels)} samples")
    order = rng.permutation(len(labels))
    order = order[np.argsort(labels[order], kind="stable")]
    shards = np.array_split(order, n_shards)
    pick = rng.permutation(n_shards).reshape(n_clients, shards_per_client)
    return _sorted([np.concatenate([shards[s] for s in row]) for row in pick])


def quantity_sizes(n_total: int, *, n_clients: int, rng: np.random.Generator, distribution: str = "lognormal",
                   sigma: float = 1.0, exponent: float = 1.5, min_samples: int = 1) -> np.ndarray:
    """Client sizes summing to ``n_total``, each >= min_samples, the rest shared by skewed random weights."""
    n_clients = check_positive_int("n_clients", n_clients)
    extra = n_total - min_samples * n_clients
    if extra < 0:
        raise FLConfigError(f"min_samples ({min_samples}) x n_clients ({n_clients}) exceeds the {n_total} samples")
    if distribution == "lognormal":
        weights = rng.lognormal(0.0, sigma, n_clients)
    elif distribution == "powerlaw":
        weights = rng.pareto(exponent, n_clients) + 1.0
    else:
        raise FLConfigError(f"distribution: unknown size distribution {distribution!r}; choose lognormal or powerlaw")
    share = weights / weights.sum() * extra
    sizes = np.floor(share).astype(np.int64)
    remainder = extra - int(sizes.sum())
    if remainder:
        sizes[np.argsort(-(share - sizes), kind="stable")[:remainder]] += 1
    return sizes + min_samples


def quantity_partition(labels: np.ndarray, *, n_clients: int, rng: np.random.Generator,
                       distribution: str = "lognormal", sigma: float = 1.0, exponent: float = 1.5,
                       min_samples: int = 1) -> list[np.ndarray]:
    """Quantity skew: IID labels, unbalanced sizes (see :func:`quantity_sizes`)."""
    labels, n_clients = _check(labels, n_clients)
    sizes = quantity_sizes(len(labels), n_clients=n_clients, rng=rng, distribution=distribution, sigma=sigma,
                           exponent=exponent, min_samples=min_samples)
    return _sorted(np.split(rng.permutation(len(labels)), np.cumsum(sizes)[:-1]))


def train_validation_split(client_indices: Sequence[np.ndarray], *, val_fraction: float,
                           rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Split each client's rows into train and validation; a client keeps at least one train row."""
    val_fraction = check_fraction("val_fraction", val_fraction)
    train, val = [], []
    for rows in client_indices:
        rows = np.asarray(rows, dtype=np.int64)
        order = rng.permutation(len(rows))
        n_val = min(int(round(val_fraction * len(rows))), max(len(rows) - 1, 0))
        val.append(np.sort(rows[order[:n_val]]))
        train.append(np.sort(rows[order[n_val:]]))
    return train, val


PARTITIONERS: dict[str, Callable[..., list[np.ndarray]]] = {
    "iid": iid_partition,
    "dirichlet": dirichlet_partition,
    "shards": shard_partition,
    "quantity": quantity_partition,
}


def make_partition(dataset: FederatedDataset, kind: str, *, rng: np.random.Generator, val_fraction: float = 0.0,
                   **fields: Any) -> FederatedDataset:
    """Partition ``dataset``'s train rows with partitioner ``kind`` and optionally split off per-client validation.

    ``kind`` is one of :data:`PARTITIONERS` or "natural" (keep the loader's partition; no fields). ``fields`` are the
    partitioner's keyword arguments (``n_clients``, ``alpha`` ...).
    """
    if kind == "natural":
        if fields:
            raise FLConfigError(f"partition.{next(iter(fields))}: the natural partition takes no fields")
        if dataset.client_indices is None:
            raise FLConfigError(f"partition.kind: data set {dataset.name!r} has no natural partition; choose one of "
                                f"{', '.join(sorted(PARTITIONERS))}")
        parts, names = dataset.client_indices, dataset.client_names
    elif kind in PARTITIONERS:
        func = PARTITIONERS[kind]
        allowed = [v for v in inspect.signature(func).parameters if v not in ("labels", "rng")]
        for field in fields:
            if field not in allowed:
                raise FLConfigError(f"partition.{field}: not a field of partition {kind!r}; its fields are "
                                    f"{', '.join(allowed)}")
        if "n_clients" not in fields:
            raise FLConfigError(f"partition.n_clients: required for partition {kind!r}")
        parts, names = func(dataset.y_train, rng=rng, **fields), None
    else:
        raise FLConfigError(f"partition.kind: unknown partition {kind!r}; choose one of "
                            f"{', '.join(sorted([*PARTITIONERS, 'natural']))}")
    val = None
    if val_fraction:
        parts, val = train_validation_split(parts, val_fraction=val_fraction, rng=rng)
    return dataset.with_clients(parts, client_names=names, val_indices=val)


def partition_stats(labels: np.ndarray, client_indices: Sequence[np.ndarray], n_classes: int, *,
                    val_indices: Sequence[np.ndarray] | None = None,
                    client_names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One plain row per client for the data-distribution table.

    Columns: ``client`` (position), ``name`` (if names are given), ``n_samples`` (train rows), ``n_val`` (if a
    validation split exists), ``n_labels`` (distinct labels held), ``label_0`` ... ``label_{n_classes-1}`` (train rows per
    label).
    """
    labels = np.asarray(labels)
    rows = []
    for k, ix in enumerate(client_indices):
        counts = np.bincount(labels[np.asarray(ix, dtype=np.int64)], minlength=n_classes)
        row: dict[str, Any] = {"client": k}
        if client_names is not None:
            row["name"] = str(client_names[k])
        row["n_samples"] = int(len(ix))
        if val_indices is not None:
            row["n_val"] = int(len(val_indices[k]))
        row["n_labels"] = int(np.count_nonzero(counts))
        row.update({f"label_{c}": int(counts[c]) for c in range(n_classes)})
        rows.append(row)
    return rows


def dataset_partition_stats(dataset: FederatedDataset) -> list[dict[str, Any]]:
    """:func:`partition_stats` of a partitioned data set."""
    if dataset.client_indices is None:
        raise FLConfigError(f"data set {dataset.name!r} has no client partition yet; run make_partition first")
    return partition_stats(dataset.y_train, dataset.client_indices, dataset.n_classes,
                           val_indices=dataset.val_indices, client_names=dataset.client_names)


def partition_summary(client_indices: Sequence[np.ndarray], labels: np.ndarray) -> dict[str, float]:
    """Headline numbers of a partition: clients, samples per client (mean, sd, min, max), mean labels per client."""
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.float64)
    labels = np.asarray(labels)
    n_labels = [len(np.unique(labels[np.asarray(ix, dtype=np.int64)])) for ix in client_indices]
    return {"n_clients": int(len(sizes)), "n_samples": int(sizes.sum()), "mean_samples": float(sizes.mean()),
            "sd_samples": float(sizes.std()), "min_samples": int(sizes.min()), "max_samples": int(sizes.max()),
            "mean_labels": float(np.mean(n_labels))}
