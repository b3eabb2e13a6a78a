"""scikit-learn's embedded 8x8 digits (1,797 images, 10 classes): the small offline default."""

from __future__ import annotations

import numpy as np

from twin.fl.data.base import FederatedDataset
from twin.fl.errors import check_fraction


def load_digits_dataset(*, test_fraction: float = 0.2, seed: int = 0) -> FederatedDataset:
    """Load ``sklearn.datasets.load_digits`` as a pooled data set.

    Pixels (0..16) are scaled to [0, 1]; samples have shape (1, 8, 8) (64 features once flattened). The data has no
    train/test split of its own: a stratified ``test_fraction`` of each class is held out, chosen by ``seed``.
    No client partition is made: use a partitioner.
    """
    from sklearn.datasets import load_digits

    test_fraction = check_fraction("test_fraction", test_fraction, allow_zero=False)
    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test_rows = []
    for label in range(10):
        rows = np.flatnonzero(y == label)
        rows = rng.permutation(rows)
        test_rows.append(rows[: int(round(test_fraction * len(rows)))])
    test = np.sort(np.concatenate(test_rows))
    is_test = np.zeros(len(y), dtype=bool)
    is_test[test] = True
    return FederatedDataset(name="digits", x_train=np.ascontiguousarray(x[~is_test]), y_train=y[~is_test],
                            x_test=np.ascontiguousarray(x[is_test]), y_test=y[is_test], n_classes=10)
