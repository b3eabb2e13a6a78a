"""Models: sizes, zero init, FLOP counts, registry errors, flat-vector helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twin.fl.errors import FLConfigError
from twin.fl.models import (
    build_model,
    flatten_params,
    flatten_stacked,
    flops_per_sample,
    local_train_flops,
    model_bytes,
    model_params,
    num_params,
    unflatten_params,
)

IMG = (1, 28, 28)


@pytest.mark.parametrize(("kind", "shape", "params", "macs"), [
    ("softmax_regression", IMG, 7_850, 7_840),
    ("mlp_2nn", IMG, 199_210, 198_800),
    ("cnn", IMG, 1_663_370, 627_200 + 10_035_200 + 1_605_632 + 5_120),
    ("digits_mlp", (1, 8, 8), 64 * 64 + 64 + 64 * 10 + 10, 64 * 64 + 64 * 10),
])
def test_sizes_and_flops(kind, shape, params, macs):
    model = build_model(kind, input_shape=shape, n_classes=10)
    assert num_params(model) == params == num_params(model_params(model))
    assert model_bytes(model) == 4 * params
    flops = flops_per_sample(model, shape)
    assert flops.forward_macs == macs and flops.forward_flops == 2 * macs and flops.train_flops == 6 * macs
    np.testing.assert_array_equal(local_train_flops(flops, np.array([0, 10]), 5), [0.0, 50.0 * 6 * macs])


def test_softmax_regression_is_zero_initialised_and_generic():
    model = build_model("softmax_regression", input_shape=(60,), n_classes=7)
    assert model[1].weight.shape == (7, 60)
    assert all(torch.count_nonzero(p) == 0 for p in model.parameters())


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("mlp_2nn", input_shape=IMG, n_classes=10, seed=4)
    assert torch.equal(torch.rand(1), before)
    b = build_model("mlp_2nn", input_shape=IMG, n_classes=10, seed=4)
    c = build_model("mlp_2nn", input_shape=IMG, n_classes=10, seed=5)
    assert torch.equal(flatten_params(model_params(a)), flatten_params(model_params(b)))
    assert not torch.equal(flatten_params(model_params(a)), flatten_params(model_params(c)))
    mlp = build_model("mlp", input_shape=(5,), n_classes=3, hidden=[4, 4])
    assert num_params(mlp) == 5 * 4 + 4 + 4 * 4 + 4 + 4 * 3 + 3


def test_model_errors_are_clear():
    with pytest.raises(FLConfigError, match="unknown model 'resnet'.*softmax_regression"):
        build_model("resnet", input_shape=IMG, n_classes=10)
    with pytest.raises(FLConfigError, match="'cnn' needs image samples"):
        build_model("cnn", input_shape=(60,), n_classes=10)
    with pytest.raises(FLConfigError, match=r"model\.hidden: required"):
        build_model("mlp", input_shape=(5,), n_classes=3)
    with pytest.raises(FLConfigError, match="n_classes must be a positive integer"):
        build_model("mlp_2nn", input_shape=IMG, n_classes=0)


def test_flat_helpers_roundtrip():
    params = model_params(build_model("digits_mlp", input_shape=(1, 8, 8), n_classes=10))
    vec = flatten_params(params)
    back = unflatten_params(vec, params)
    assert all(torch.equal(back[n], params[n]) for n in params)
    stacked = {n: torch.stack([p, p + 1]) for n, p in params.items()}
    flat = flatten_stacked(stacked)
    assert flat.shape == (2, vec.numel()) and torch.equal(flat[0], vec) and torch.equal(flat[1], vec + 1)
    with pytest.raises(FLConfigError, match="flat vector has"):
        unflatten_params(vec[:-1], params)
