"""FedProx "Synthetic(alpha, beta)" (Li et al., MLSys 2020, Section 5.1 and their generator script).

Device k draws u_k ~ N(0, alpha) and B_k ~ N(0, beta) (standard deviations, as in the authors' code); its model
W_k ~ N(u_k, 1) of shape (60, 10), b_k ~ N(u_k, 1); its inputs x ~ N(v_k, Sigma) with v_k[j] ~ N(B_k, 1) and Sigma
diagonal, Sigma_jj = j^-1.2; labels y = argmax(softmax(x W_k + b_k)). alpha controls how much the local models differ,
beta how much the local inputs differ. Sample counts follow a power law: int(lognormal(4, 2)) + 50 per device. The
iid variant shares one W, b ~ N(0, 1) and centres every device's inputs on B_k. Each device keeps the first 90% of its
samples for training; the last 10% go to the pooled test set.
"""

from __future__ import annotations

import numpy as np

from twin.fl.data.base import FederatedDataset
from twin.fl.errors import FLConfigError, check_fraction, check_positive_int


def make_synthetic_dataset(*, n_clients: int, alpha: float = 0.5, beta: float = 0.5, iid: bool = False,
                           n_features: int = 60, n_classes: int = 10, size_log_mean: float = 4.0,
                           size_log_sigma: float = 2.0, min_samples: int = 50, max_samples: int | None = None,
                           test_fraction: float = 0.1, seed: int = 0) -> FederatedDataset:
    """Generate Synthetic(alpha, beta) at any number of clients; the natural partition is one client per device.

    ``max_samples`` (optional) caps a device's sample count, whose log-normal tail is long. Samples have shape
    (n_features,). The same arguments and seed give the same arrays.
    """
    n_clients = check_positive_int("n_clients", n_clients)
    n_features = check_positive_int("n_features", n_features)
    n_classes = check_positive_int("n_classes", n_classes)
    if n_classes < 2:
        raise FLConfigError(f"n_classes must be at least 2, got {n_classes}")
    if alpha < 0 or beta < 0:
        raise FLConfigError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
    if size_log_sigma < 0:
        raise FLConfigError(f"size_log_sigma must be >= 0, got {size_log_sigma}")
    min_samples = check_positive_int("min_samples", min_samples)
    if max_samples is not None and check_positive_int("max_samples", max_samples) < min_samples:
        raise FLConfigError(f"max_samples ({max_samples}) is below min_samples ({min_samples})")
    test_fraction = check_fraction("test_fraction", test_fraction)

    rng = np.random.default_rng(seed)
    sizes = rng.lognormal(size_log_mean, size_log_sigma, n_clients).astype(np.int64) + min_samples
    if max_samples is not None:
        sizes = np.minimum(sizes, max_samples)
    mean_w = rng.normal(0.0, alpha, n_clients)
    shift = rng.normal(0.0, beta, n_clients)
    std_x = np.power(np.arange(1, n_features + 1, dtype=np.float64), -1.2) ** 0.5
    if iid:
        mean_x = np.repeat(shift[:, None], n_features, axis=1)
        w_shared = rng.normal(0.0, 1.0, (n_features, n_classes))
        b_shared = rng.normal(0.0, 1.0, n_classes)
    else:
        mean_x = rng.normal(shift[:, None], 1.0, (n_clients, n_features))

    train_x, train_y, test_x, test_y, clients = [], [], [], [], []
    start = 0
    for k in range(n_clients):
        if iid:
            w, b = w_shared, b_shared
        else:
            w = rng.normal(mean_w[k], 1.0, (n_features, n_classes))
            b = rng.normal(mean_w[k], 1.0, n_classes)
        x = mean_x[k] + std_x * rng.standard_normal((int(sizes[k]), n_features))
        y = np.argmax(x @ w + b, axis=1)
        n_train = int((1.0 - test_fraction) * len(y))  # as the FedProx generator: int(0.9 * n)
        train_x.append(x[:n_train])
        train_y.append(y[:n_train])
        test_x.append(x[n_train:])
        test_y.append(y[n_train:])
        clients.append(np.arange(start, start + n_train, dtype=np.int64))
        start += n_train
    return FederatedDataset(
        name=f"synthetic({alpha:g},{beta:g})" if not iid else "synthetic_iid",
        x_train=np.concatenate(train_x).astype(np.float32), y_train=np.concatenate(train_y).astype(np.int64),
        x_test=np.concatenate(test_x).astype(np.float32), y_test=np.concatenate(test_y).astype(np.int64),
        n_classes=n_classes, client_indices=clients, client_names=[f"device{k}" for k in range(n_clients)])
