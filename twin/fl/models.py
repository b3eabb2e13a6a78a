"""Models (``torch.nn``), their sizes and their per-sample training FLOPs.

Every model is an ``nn.Sequential`` without buffers, so its state is exactly its named parameters; training code keeps
parameters as ``dict[str, Tensor]`` (the names of ``model.named_parameters()``).

FLOP convention (:func:`flops_per_sample`): forward multiply-accumulates (MACs) of the Linear and Conv2d layers only
(bias adds, activations, pooling and the loss are ignored, < 1% for these models); forward FLOPs = 2 x MACs; training
FLOPs per sample = 3 x forward FLOPs (the backward pass costs about two forwards: gradients with respect to the
activations and to the weights; Kaplan et al. 2020 use the same 6 x MACs rule). The twin times local work as
``local_epochs * n_samples * train_flops / device FLOP/s``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from twin.fl.errors import FLConfigError, check_positive_int


class SoftmaxRegression(nn.Sequential):
    """The study's model: flatten, one Linear layer (784 -> 10 for 28x28 images), weights and bias zero."""

    def __init__(self, *, in_features: int, n_classes: int) -> None:
        super().__init__(nn.Flatten(), nn.Linear(in_features, n_classes))
        nn.init.zeros_(self[1].weight)
        nn.init.zeros_(self[1].bias)


class MLP(nn.Sequential):
    """Flatten, then Linear + ReLU per hidden size, then a Linear output layer (PyTorch default initialisation)."""

    def __init__(self, *, in_features: int, n_classes: int, hidden: Sequence[int]) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, int(h)), nn.ReLU()]
            width = int(h)
        layers.append(nn.Linear(width, n_classes))
        super().__init__(*layers)


class CNN(nn.Sequential):
    """McMahan et al. 2017 CNN: two 5x5 'same' convolutions (32, 64 channels) each with ReLU and 2x2 max pooling,
    a 512-unit ReLU layer and a linear output (1,663,370 parameters for 28x28x1 input and 10 classes)."""

    def __init__(self, *, input_shape: Sequence[int], n_classes: int, channels: Sequence[int] = (32, 64),
                 hidden: int = 512) -> None:
        c, h, w = (int(d) for d in input_shape)
        c1, c2 = (int(ch) for ch in channels)
        super().__init__(
            nn.Conv2d(c, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (h // 4) * (w // 4), hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def _flat(input_shape: Sequence[int]) -> int:
    return int(np.prod(input_shape))


def softmax_regression(input_shape: Sequence[int], n_classes: int) -> nn.Module:
    return SoftmaxRegression(in_features=_flat(input_shape), n_classes=n_classes)


def mlp_2nn(input_shape: Sequence[int], n_classes: int) -> nn.Module:
    return MLP(in_features=_flat(input_shape), n_classes=n_classes, hidden=(200, 200))


def digits_mlp(input_shape: Sequence[int], n_classes: int) -> nn.Module:
    return MLP(in_features=_flat(input_shape), n_classes=n_classes, hidden=(64,))


def cnn(input_shape: Sequence[int], n_classes: int) -> nn.Module:
    if len(input_shape) != 3 or input_shape[1] < 4 or input_shape[2] < 4:
        raise FLConfigError(f"model.kind: 'cnn' needs image samples (channels, height >= 4, width >= 4), the data "
                            f"set has samples of shape {tuple(input_shape)}; choose softmax_regression or an mlp")
    return CNN(input_shape=input_shape, n_classes=n_classes)


def mlp(input_shape: Sequence[int], n_classes: int, *, hidden: Sequence[int]) -> nn.Module:
    return MLP(in_features=_flat(input_shape), n_classes=n_classes, hidden=[int(h) for h in hidden])


MODELS: dict[str, Callable[..., nn.Module]] = {
    "softmax_regression": softmax_regression,
    "mlp_2nn": mlp_2nn,
    "digits_mlp": digits_mlp,
    "cnn": cnn,
    "mlp": mlp,
}
"""Model kinds: the study's softmax regression; McMahan's 2NN (two hidden layers of 200) and CNN; a small MLP for the
8x8 digits (one hidden layer of 64); an MLP of given hidden widths. Each builder takes the sample shape and the number of
classes, then the fields of its schema class (``fl.model``; ``tests/test_registries.py``)."""


def build_model(kind: str, *, input_shape: Sequence[int], n_classes: int, seed: int = 0,
                hidden: Sequence[int] | None = None) -> nn.Module:
    """Build model ``kind`` for samples of ``input_shape`` and ``n_classes`` labels, initialised from ``seed``.

    ``hidden`` gives the hidden widths of the "mlp" kind (the named kinds have fixed widths). The global torch RNG is
    left untouched.
    """
    n_classes = check_positive_int("n_classes", n_classes)
    if kind not in MODELS:
        raise FLConfigError(f"model.kind: unknown model {kind!r}; choose one of {', '.join(sorted(MODELS))}")
    params = {}
    if kind == "mlp":
        if hidden is None:
            raise FLConfigError("model.hidden: required for model 'mlp' (a list of hidden widths, e.g. [200, 200])")
        params["hidden"] = hidden
    elif hidden is not None:
        raise FLConfigError(f"model.hidden: only the 'mlp' model takes hidden widths, not {kind!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[kind](tuple(input_shape), n_classes, **params)


# ------------------------------------------------------------------------------------------------ parameters and size


def model_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the model's parameters, by name (the form training and aggregation work on)."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def num_params(model_or_params: nn.Module | Mapping[str, torch.Tensor]) -> int:
    """Number of scalar parameters."""
    tensors = (model_or_params.parameters() if isinstance(model_or_params, nn.Module)
               else model_or_params.values())
    return int(sum(t.numel() for t in tensors))


def model_bytes(model_or_params: nn.Module | Mapping[str, torch.Tensor], *, bytes_per_param: int = 4) -> int:
    """Size of the raw parameters on the wire (float32: 4 bytes each); codecs give compressed sizes."""
    return num_params(model_or_params) * int(bytes_per_param)


def flatten_params(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate parameters (in dict order) into one flat vector. Stacked (K, ...) tensors: see flatten_stacked."""
    return torch.cat([t.reshape(-1) for t in params.values()])


def flatten_stacked(params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Stacked per-client parameters (each (K, *shape)) -> one (K, P) matrix."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in params.values()], dim=1)


def unflatten_params(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`flatten_params`: cut ``vector`` into tensors shaped like ``like``'s."""
    need = sum(t.numel() for t in like.values())
    if need != vector.numel():
        raise FLConfigError(f"flat vector has {vector.numel()} values, the parameters need {need}")
    out, start = {}, 0
    for name, t in like.items():
        out[name] = vector[start:start + t.numel()].view_as(t)
        start += t.numel()
    return out


# ---------------------------------------------------------------------------------------------------------- FLOPs


@dataclasses.dataclass(frozen=True)
class FlopCount:
    """Per-sample compute of a model (see the module docstring for the convention)."""

    forward_macs: int
    forward_flops: int
    train_flops: int


def flops_per_sample(model: nn.Module, input_shape: Sequence[int]) -> FlopCount:
    """Count the forward MACs of one sample with forward hooks on Linear and Conv2d layers."""
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output[0].numel() * (module.in_channels // module.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape)))
    finally:
        for h in handles:
            h.remove()
    return FlopCount(forward_macs=macs, forward_flops=2 * macs, train_flops=6 * macs)


def local_train_flops(flop_count: FlopCount, n_samples: int | np.ndarray, local_epochs: int) -> np.ndarray:
    """Training FLOPs of a client's local work: local_epochs x n_samples x train FLOPs per sample."""
    return np.asarray(n_samples, dtype=np.float64) * float(local_epochs) * float(flop_count.train_flops)
