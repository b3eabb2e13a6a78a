"""Partitioners: sizes, coverage, label skew, determinism, statistics rows."""

from __future__ import annotations

import numpy as np
import pytest

from twin.fl.data import FederatedDataset
from twin.fl.errors import FLConfigError
from twin.fl.partition import (
    dataset_partition_stats,
    dirichlet_partition,
    iid_partition,
    make_partition,
    partition_stats,
    partition_summary,
    quantity_partition,
    quantity_sizes,
    shard_partition,
    train_validation_split,
)

LABELS = np.repeat(np.arange(10), 100)  # 1,000 rows, 100 per label


def _is_partition(parts, n):
    allrows = np.concatenate(parts)
    return len(allrows) == n and len(np.unique(allrows)) == n


def _mean_labels(parts, labels=LABELS):
    return np.mean([len(np.unique(labels[p])) for p in parts])


def test_iid_equal_sizes_all_labels():
    parts = iid_partition(LABELS, n_clients=7, rng=np.random.default_rng(0))
    assert _is_partition(parts, 1000)
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert _mean_labels(parts) == 10
    assert all(np.all(np.diff(p) > 0) for p in parts)


def test_dirichlet_skew_grows_as_alpha_falls():
    skewed = dirichlet_partition(LABELS, n_clients=20, alpha=0.05, rng=np.random.default_rng(1))
    mild = dirichlet_partition(LABELS, n_clients=20, alpha=100.0, rng=np.random.default_rng(1))
    assert _is_partition(skewed, 1000) and _is_partition(mild, 1000)
    assert _mean_labels(skewed) < 4 < 9 < _mean_labels(mild)
    assert min(len(p) for p in skewed) >= 1


def test_dirichlet_impossible_min_samples_is_clear(monkeypatch):
    import twin.fl.partition as partition

    monkeypatch.setattr(partition, "MAX_TRIES", 3)
    with pytest.raises(FLConfigError, match="exceeds"):
        dirichlet_partition(LABELS, n_clients=10, alpha=0.1, min_samples=101, rng=np.random.default_rng(0))
    with pytest.raises(FLConfigError, match="raise alpha"):
        dirichlet_partition(LABELS, n_clients=100, alpha=0.001, min_samples=10,
                            rng=np.random.default_rng(0))


def test_shards_two_labels_per_client():
    parts = shard_partition(LABELS, n_clients=50, shards_per_client=2, rng=np.random.default_rng(2))
    assert _is_partition(parts, 1000)
    assert all(len(p) == 20 for p in parts)
    assert _mean_labels(parts) <= 2.0


def test_quantity_skew_sizes():
    sizes = quantity_sizes(1000, n_clients=30, rng=np.random.default_rng(3), sigma=1.5, min_samples=5)
    assert sizes.sum() == 1000 and sizes.min() >= 5 and sizes.max() > 3 * np.median(sizes)
    parts = quantity_partition(LABELS, n_clients=30, rng=np.random.default_rng(3), sigma=1.5, min_samples=5)
    assert [len(p) for p in parts] == list(sizes)
    assert _is_partition(parts, 1000)
    pw = quantity_sizes(1000, n_clients=30, rng=np.random.default_rng(3), distribution="powerlaw", exponent=1.2)
    assert pw.sum() == 1000 and pw.min() >= 1
    with pytest.raises(FLConfigError, match="unknown size distribution 'zipf'"):
        quantity_sizes(1000, n_clients=3, rng=np.random.default_rng(0), distribution="zipf")


def test_study_sized_quantity_population():
    labels = np.repeat(np.arange(10), 6000)
    parts = quantity_partition(labels, n_clients=3383, rng=np.random.default_rng(0), sigma=1.0)
    s = partition_summary(parts, labels)
    assert s["n_clients"] == 3383 and s["n_samples"] == 60000 and s["min_samples"] >= 1
    assert s["sd_samples"] > 0.5 * s["mean_samples"]


def test_partitions_are_deterministic():
    for fn, kw in ((iid_partition, {}), (dirichlet_partition, {"alpha": 0.3}), (shard_partition, {}),
                   (quantity_partition, {})):
        a = fn(LABELS, n_clients=10, rng=np.random.default_rng(9), **kw)
        b = fn(LABELS, n_clients=10, rng=np.random.default_rng(9), **kw)
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_validation_split_disjoint():
    parts = iid_partition(LABELS, n_clients=10, rng=np.random.default_rng(0))
    train, val = train_validation_split(parts + [np.array([3], np.int64)], val_fraction=0.2,
                                        rng=np.random.default_rng(0))
    for p, t, v in zip(parts, train[:-1], val[:-1], strict=True):
        assert len(v) == 20 and len(t) == 80 and not set(t) & set(v) and set(t) | set(v) == set(p)
    assert len(train[-1]) == 1 and len(val[-1]) == 0


def _ds():
    x = np.zeros((1000, 4), np.float32)
    return FederatedDataset(name="toy", x_train=x, y_train=LABELS, x_test=x[:10], y_test=LABELS[:10], n_classes=10)


def test_make_partition_registry_and_stats():
    d = make_partition(_ds(), "dirichlet", rng=np.random.default_rng(0), n_clients=5, alpha=0.5, val_fraction=0.1)
    assert d.n_clients == 5 and len(d.val_indices) == 5
    rows = dataset_partition_stats(d)
    assert [r["client"] for r in rows] == list(range(5))
    for r, ix in zip(rows, d.client_indices, strict=True):
        assert r["n_samples"] == len(ix) == sum(r[f"label_{c}"] for c in range(10))
        assert r["n_val"] >= 0 and 1 <= r["n_labels"] <= 10
    rows = partition_stats(LABELS, [np.array([0, 1, 150])], 10, client_names=["w"])
    assert rows == [{"client": 0, "name": "w", "n_samples": 3, "n_labels": 2, "label_0": 2, "label_1": 1,
                     **{f"label_{c}": 0 for c in range(2, 10)}}]


def test_make_partition_errors():
    with pytest.raises(FLConfigError, match="unknown partition 'kmeans'"):
        make_partition(_ds(), "kmeans", rng=np.random.default_rng(0), n_clients=3)
    with pytest.raises(FLConfigError, match=r"partition\.alpah: not a field of partition 'dirichlet'"):
        make_partition(_ds(), "dirichlet", rng=np.random.default_rng(0), n_clients=3, alpah=1)
    with pytest.raises(FLConfigError, match=r"partition\.n_clients: required"):
        make_partition(_ds(), "iid", rng=np.random.default_rng(0))
    with pytest.raises(FLConfigError, match="no natural partition"):
        make_partition(_ds(), "natural", rng=np.random.default_rng(0))
    with pytest.raises(FLConfigError, match="n_clients must be a positive integer"):
        iid_partition(LABELS, n_clients=0, rng=np.random.default_rng(0))
