"""The common in-memory form of a federated data set.

Every loader returns a :class:`FederatedDataset`: pooled train and test arrays, plus (where the data has one) a natural
partition of the train rows into clients. A partitioner (``twin.fl.partition``) makes or replaces the client partition;
training takes ``x_train``, ``y_train`` and one index array per client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from twin.fl.errors import FLConfigError


@dataclasses.dataclass(frozen=True, eq=False)
class FederatedDataset:
    """Pooled arrays plus an optional partition of the train rows into clients.

    Attributes:
        name: short label ("digits", "fashion_mnist", "femnist", "synthetic(0.5,0.5)" ...).
        x_train: float32, shape (n_train, *input_shape), values roughly in [0, 1] for images.
        y_train: int64, shape (n_train,), labels in [0, n_classes).
        x_test, y_test: the pooled held-out set, same layout.
        n_classes: number of labels.
        client_indices: one sorted int64 array of train-row indices per client, or None if the data set has no
            partition yet (IID image sets before a partitioner runs). Natural partitions (LEAF writers, Synthetic
            devices) are filled in by the loader.
        client_names: optional names of the clients (LEAF writer ids), same length as client_indices.
        val_indices: optional per-client validation rows (train-row indices disjoint from client_indices).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    client_indices: list[np.ndarray] | None = None
    client_names: list[str] | None = None
    val_indices: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if self.x_train.shape[0] != self.y_train.shape[0]:
            raise FLConfigError(f"{self.name}: x_train has {self.x_train.shape[0]} rows but y_train has "
                                f"{self.y_train.shape[0]}")
        if self.x_test.shape[0] != self.y_test.shape[0]:
            raise FLConfigError(f"{self.name}: x_test has {self.x_test.shape[0]} rows but y_test has "
                                f"{self.y_test.shape[0]}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise FLConfigError(f"{self.name}: train samples have shape {self.x_train.shape[1:]} but test samples "
                                f"{self.x_test.shape[1:]}")
        if self.client_names is not None and self.client_indices is not None \
                and len(self.client_names) != len(self.client_indices):
            raise FLConfigError(f"{self.name}: {len(self.client_names)} client names for "
                                f"{len(self.client_indices)} clients")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. (1, 28, 28) for images, (60,) for Synthetic."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def n_features(self) -> int:
        """Number of input values per sample (784 for 28x28 images)."""
        return int(np.prod(self.input_shape))

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    @property
    def n_clients(self) -> int:
        """Number of clients of the current partition (0 when there is none)."""
        return 0 if self.client_indices is None else len(self.client_indices)

    def client_sizes(self) -> np.ndarray:
        """Training samples per client, int64 array (empty when there is no partition)."""
        if self.client_indices is None:
            return np.zeros(0, dtype=np.int64)
        return np.array([len(ix) for ix in self.client_indices], dtype=np.int64)

    def with_clients(self, client_indices: Sequence[np.ndarray], *, client_names: Sequence[str] | None = None,
                     val_indices: Sequence[np.ndarray] | None = None) -> FederatedDataset:
        """A copy (sharing the arrays) with a new client partition."""
        indices = [_as_index_array(ix, self.n_train, f"client_indices[{i}]") for i, ix in enumerate(client_indices)]
        vals = None
        if val_indices is not None:
            if len(val_indices) != len(indices):
                raise FLConfigError(f"{self.name}: {len(val_indices)} validation sets for {len(indices)} clients")
            vals = [_as_index_array(ix, self.n_train, f"val_indices[{i}]") for i, ix in enumerate(val_indices)]
        return dataclasses.replace(self, client_indices=indices,
                                   client_names=None if client_names is None else list(client_names),
                                   val_indices=vals)


def _as_index_array(ix: np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(ix)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise FLConfigError(f"{what} must be a 1-D integer array, got dtype {arr.dtype} and shape {arr.shape}")
    if arr.min() < 0 or arr.max() >= n:
        raise FLConfigError(f"{what} has indices outside [0, {n}) (min {arr.min()}, max {arr.max()})")
    return arr.astype(np.int64, copy=False)
