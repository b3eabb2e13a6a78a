"""Evaluation of one parameter set: test-set accuracy and loss (:func:`evaluate`; softmax regression in one compiled
pass, :mod:`twin.fl.linear_kernels`), and per client on its validation rows (:func:`evaluate_clients`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from twin.fl import linear_kernels
from twin.fl.cohort import linear_chain
from twin.fl.errors import FLConfigError, check_positive_int

__all__ = ["Evaluation", "as_tensors", "evaluate", "evaluate_clients", "predict_losses"]


def as_tensors(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    xt = xt.to(torch.float32).contiguous()
    yt = yt.to(torch.int64).contiguous()
    if xt.shape[0] != yt.shape[0]:
        raise FLConfigError(f"x has {xt.shape[0]} rows but y has {yt.shape[0]}")
    return xt, yt



@dataclasses.dataclass(frozen=True)
class Evaluation:
    accuracy: float
    loss: float
    n: int


def predict_losses(model: nn.Module, params: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
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
    xt, yt = as_tensors(x, y)
    layers = linear_chain(model)
    if linear_kernels.AVAILABLE and xt.device.type == "cpu" and layers is not None and len(layers) == 1 and len(yt):
        # softmax regression: one compiled pass over the rows (twin.fl.linear_kernels)
        w, b = (params[name].detach().to(torch.float32).numpy() for name in (layers[0].weight, layers[0].bias))
        hits, loss_sum = linear_kernels.evaluate_linear(xt.reshape(xt.shape[0], -1).numpy(), yt.numpy(), w, b)
        n = int(yt.shape[0])
        return Evaluation(accuracy=hits / n, loss=loss_sum / n, n=n)
    losses, correct = predict_losses(model, params, xt, yt, batch_size)
    n = int(losses.shape[0])
    if n == 0:
        return Evaluation(accuracy=float("nan"), loss=float("nan"), n=0)
    return Evaluation(accuracy=float(correct.double().mean()), loss=float(losses.mean()), n=n)


def evaluate_clients(model: nn.Module, params: Mapping[str, torch.Tensor], x: np.ndarray | torch.Tensor,
                     y: np.ndarray | torch.Tensor, client_indices: Sequence[np.ndarray], *,
                     batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Per-client accuracy, loss and n of one parameter set (e.g. the global model on each validation split)."""
    xt, yt = as_tensors(x, y)
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    rows = torch.from_numpy(np.concatenate([np.asarray(ix, np.int64) for ix in client_indices])
                            if len(sizes) else np.zeros(0, np.int64)).to(xt.device)
    losses, correct = predict_losses(model, params, xt[rows], yt[rows], check_positive_int("batch_size", batch_size))
    owner = np.repeat(np.arange(len(sizes)), sizes)
    loss_sum = np.bincount(owner, weights=losses.cpu().numpy(), minlength=len(sizes))
    hits = np.bincount(owner, weights=correct.cpu().numpy().astype(np.float64), minlength=len(sizes))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"accuracy": np.where(sizes > 0, hits / np.maximum(sizes, 1), np.nan),
                "loss": np.where(sizes > 0, loss_sum / np.maximum(sizes, 1), np.nan), "n": sizes}
