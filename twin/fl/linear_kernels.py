"""Compiled kernels (numba) of softmax regression (one Linear layer): the ``dual`` training engine, and the test-set
evaluation.

The ``dual`` engine trains with SGD one client at a time in a compiled loop, in the layer's dual form and without
padding.

For a client with rows X (n x d) the weights stay W = W0 - C^T X, with C (n x out) the accumulated, learning-rate-scaled
output gradients of its rows, so a batch's logits are (X W0^T)[batch] + b - Gram[batch] C with Gram = X X^T. Per client
this costs the products X W0^T and X X^T (the Gram matrix's lower triangle) once, a few multiply-adds per sample and
step, and W = W0 - C^T X at the end: for the study's clients (about 18 rows of 784 pixels) about a fifth of the direct
form's work. It is the same SGD as :mod:`twin.fl.cohort`'s ``bmm`` engine, reassociated, and follows the same batch
plan (:func:`twin.fl.batching.make_plan`).

Each client's arithmetic depends only on its own rows and plan: no padding to a group's largest client, no batched
library product whose blocking depends on the group's shape, one thread. So the results do not depend on how a cohort
is grouped or chunked, nor on the thread count. The dot products over the input features are vectorised by the
compiler (``fastmath`` reassociation on those sums only, so their rounding follows the CPU's vector width); every
other sum runs in a fixed order.

:func:`evaluate_linear` gives the test set's accuracy and mean cross-entropy in one pass over its rows (the logits
as vectorised dot products, then log-sum-exp and argmax per row), without the batches of logits and losses that torch
allocates; a study round's evaluation of 10,000 images takes about half the time.

Without numba (a platform with no wheel), ``AVAILABLE`` is False, ``auto`` uses ``bmm`` and evaluation uses torch.
"""

from __future__ import annotations

import numpy as np

from twin.compiled import AVAILABLE, njit  # numba, with a cache keyed by the kernels' sources

__all__ = ["AVAILABLE", "evaluate_linear", "train_dual"]


@njit(fastmath={"reassoc", "contract", "nsz"}, cache=True, nogil=True)
def _dot(a, b):  # pragma: no cover - compiled
    """sum a[f] b[f] over the features, vectorised (reassociated)."""
    acc = np.float32(0.0)
    for f in range(a.shape[0]):
        acc += a[f] * b[f]
    return acc


@njit(cache=True, nogil=True)
def _train(x, y, w0, b0, members, sizes, positions, counts, steps, lr, momentum, w_out, b_out, delta_out, loss_out
           ):  # pragma: no cover - compiled
    k_total = members.shape[0]
    n_out, d = w0.shape
    n_max = max(members.shape[1], 1)
    batch = positions.shape[2]
    xc = np.empty((n_max, d), np.float32)  # the client's rows
    xw0 = np.empty((n_max, n_out), np.float32)  # X W0^T
    gram = np.empty((n_max, n_max), np.float32)
    coef = np.empty((n_max, n_out), np.float32)  # C
    buf = np.empty((n_max, n_out), np.float32)  # momentum buffer on C's rows
    b = np.empty(n_out, np.float32)
    b_buf = np.empty(n_out, np.float32)
    g_bias = np.empty(n_out, np.float32)
    g = np.empty((batch, n_out), np.float32)  # logits, then the output gradients of a batch
    w_row = np.empty(d, np.float32)  # one output's weights
    deltas = delta_out.shape[0] > 0  # write W - W0 and b - b0 (one flat row per client) instead of W and b
    lr32, mu = np.float32(lr), np.float32(momentum)
    one = np.float32(1.0)
    for c in range(k_total):
        n = sizes[c]
        for i in range(n):
            r = members[c, i]
            for f in range(d):
                xc[i, f] = x[r, f]
        for i in range(n):
            for k in range(n_out):
                xw0[i, k] = _dot(xc[i], w0[k])
            for j in range(i + 1):
                gram[i, j] = _dot(xc[i], xc[j])
            for j in range(i):
                gram[j, i] = gram[i, j]
            for k in range(n_out):
                coef[i, k] = 0.0
                buf[i, k] = 0.0
        for k in range(n_out):
            b[k] = b0[k]
            b_buf[k] = 0.0
        loss = 0.0
        for s in range(steps[c]):
            cnt = counts[c, s]
            inv = one / np.float32(cnt)
            for r in range(cnt):  # logits with the weights before the step
                p = positions[c, s, r]
                for k in range(n_out):
                    g[r, k] = xw0[p, k] + b[k]
                for m in range(n):
                    gm = gram[p, m]
                    for k in range(n_out):
                        g[r, k] -= gm * coef[m, k]
            for r in range(cnt):  # cross-entropy: loss, and dL/dz of the batch mean = (softmax - onehot) / cnt
                label = y[members[c, positions[c, s, r]]]
                top = g[r, 0]
                for k in range(1, n_out):
                    top = max(top, g[r, k])
                total = np.float32(0.0)
                for k in range(n_out):
                    total += np.exp(g[r, k] - top)
                lse = top + np.log(total)
                loss += np.float64(lse - g[r, label])
                for k in range(n_out):
                    e = np.exp(g[r, k] - lse)
                    if k == label:
                        e -= one
                    g[r, k] = e * inv
            for k in range(n_out):  # the bias gradient
                gb = np.float32(0.0)
                for r in range(cnt):
                    gb += g[r, k]
                g_bias[k] = gb
            if momentum == 0.0:
                for r in range(cnt):
                    p = positions[c, s, r]
                    for k in range(n_out):
                        coef[p, k] += lr32 * g[r, k]
                for k in range(n_out):
                    b[k] -= lr32 * g_bias[k]
            else:  # torch.optim.SGD: buf = mu buf + grad, p -= lr buf (the weights' buffer lives on C's rows)
                for i in range(n):
                    for k in range(n_out):
                        buf[i, k] *= mu
                for r in range(cnt):
                    p = positions[c, s, r]
                    for k in range(n_out):
                        buf[p, k] += g[r, k]
                for i in range(n):
                    for k in range(n_out):
                        coef[i, k] += lr32 * buf[i, k]
                for k in range(n_out):
                    b_buf[k] = mu * b_buf[k] + g_bias[k]
                    b[k] -= lr32 * b_buf[k]
        for k in range(n_out):  # W = W0 - C^T X, summed over the rows in order (vectorised over the features)
            for f in range(d):
                w_row[f] = w0[k, f]
            for i in range(n):
                cv = coef[i, k]
                for f in range(d):
                    w_row[f] -= cv * xc[i, f]
            if deltas:  # the flat update: weights (row-major), then the bias
                for f in range(d):
                    delta_out[c, k * d + f] = w_row[f] - w0[k, f]
                delta_out[c, n_out * d + k] = b[k] - b0[k]
            else:
                for f in range(d):
                    w_out[c, k, f] = w_row[f]
                b_out[c, k] = b[k]
        loss_out[c] = loss


def train_dual(x2d: np.ndarray, y: np.ndarray, w0: np.ndarray, b0: np.ndarray, plan, *, lr: float, momentum: float,
               w_out: np.ndarray | None = None, b_out: np.ndarray | None = None,
               delta_out: np.ndarray | None = None) -> np.ndarray:
    """Train the plan's clients from (``w0`` (out, d), ``b0``) on rows of ``x2d`` (float32, (N, d)) and labels ``y``
    (int64); client ``j``'s weights go to ``w_out[j]`` ((K, out, d), float32) and bias to ``b_out[j]``, or, with
    ``delta_out`` ((K, out * d + out), float32), its update as one flat row: ``W - W0`` row-major, then ``b - b0`` (the
    same float32 differences as subtracting the flattened start from the flattened result). Returns each client's
    loss sum over the samples it processed (float64)."""
    if not AVAILABLE:
        raise RuntimeError("the dual training engine needs numba")
    if (delta_out is None) == (w_out is None or b_out is None):
        raise ValueError("train_dual: give either w_out and b_out or delta_out")
    k = len(plan.sizes)
    if delta_out is None:
        delta_out = np.empty((0, 0), dtype=np.float32)
    else:
        w_out, b_out = np.empty((0, 0, 0), dtype=np.float32), np.empty((0, 0), dtype=np.float32)
        if delta_out.shape != (k, w0.size + b0.size):
            raise ValueError(f"train_dual: delta_out must have shape {(k, w0.size + b0.size)}")
    loss = np.zeros(k, dtype=np.float64)
    _train(np.ascontiguousarray(x2d, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64),
           np.ascontiguousarray(w0, dtype=np.float32), np.ascontiguousarray(b0, dtype=np.float32), plan.members,
           plan.sizes, plan.positions, plan.counts, plan.steps, float(lr), float(momentum), w_out, b_out, delta_out,
           loss)
    return loss


@njit(cache=True, nogil=True)
def _evaluate(x, y, w, b):  # pragma: no cover - compiled
    n_out = w.shape[0]
    z = np.empty(n_out, np.float32)
    correct = 0
    loss = 0.0
    for i in range(x.shape[0]):
        for k in range(n_out):
            z[k] = _dot(x[i], w[k]) + b[k]
        best = 0
        for k in range(1, n_out):
            if z[k] > z[best]:  # the first of equal maxima, as torch's argmax
                best = k
        total = np.float32(0.0)
        for k in range(n_out):
            total += np.exp(z[k] - z[best])
        label = y[i]
        loss += np.float64(z[best] + np.log(total) - z[label])
        if best == label:
            correct += 1
    return correct, loss


def evaluate_linear(x2d: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(correct predictions, summed cross-entropy) of the linear model ``x2d @ w.T + b`` on labels ``y``."""
    if not AVAILABLE:
        raise RuntimeError("evaluate_linear needs numba")
    correct, loss = _evaluate(np.ascontiguousarray(x2d, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64),
                              np.ascontiguousarray(w, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32))
    return int(correct), float(loss)
