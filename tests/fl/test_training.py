"""Local training: the vectorised engines equal the one-by-one reference; determinism; results; evaluation; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twin.fl.batching import client_seeds, make_plan
from twin.fl.cohort import OptimiserSpec, dual_first_layer_pays, linear_chain, train_group_bmm
from twin.fl.data import load_digits_dataset
from twin.fl.errors import FLConfigError
from twin.fl.models import build_model, model_params
from twin.fl.partition import iid_partition
from twin.fl.training import LocalTrainer, evaluate, evaluate_clients

SIZES = [13, 7, 1, 0, 25, 20, 9]  # unequal, partial batches, a one-sample and an empty client
OPTIMISERS = [dict(optimizer="sgd", lr=0.1), dict(optimizer="sgd", lr=0.05, momentum=0.9),
              dict(optimizer="adam", lr=0.01)]


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    x = rng.random((120, 1, 4, 4), dtype=np.float32)
    y = rng.integers(0, 5, 120)
    perm = rng.permutation(120)
    clients = np.split(perm[: sum(SIZES)], np.cumsum(SIZES)[:-1])
    return x, y, clients


def _diff(a, b):
    return max(float((a.params[n] - b.params[n]).abs().max()) for n in a.params)


@pytest.mark.parametrize("opt", OPTIMISERS, ids=["sgd", "momentum", "adam"])
@pytest.mark.parametrize("kind", ["softmax_regression", "mlp"])
def test_vectorised_engines_equal_sequential(toy, opt, kind):
    x, y, clients = toy
    model = build_model(kind, input_shape=(1, 4, 4), n_classes=5, seed=1,
                        hidden=[12, 8] if kind == "mlp" else None)
    g = model_params(model)
    common = dict(local_epochs=3, batch_size=4, **opt)
    ref = LocalTrainer(engine="sequential", **common).train(model, g, x, y, clients, rng=np.random.default_rng(3))
    for engine, chunk in (("vmap", None), ("bmm", None), ("bmm", 2), ("vmap", 3)):
        res = LocalTrainer(engine=engine, chunk_size=chunk, **common).train(model, g, x, y, clients,
                                                                            rng=np.random.default_rng(3))
        assert _diff(res, ref) < 1e-4, (engine, chunk)
        np.testing.assert_allclose(res.mean_loss, ref.mean_loss, atol=1e-5, equal_nan=True)
    # the trained weights moved (the comparison is not trivially between untouched copies)
    assert float((ref.params[next(iter(g))][0] - g[next(iter(g))]).abs().max()) > 1e-3


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_dual_first_layer_equals_direct(toy, momentum):
    x, y, clients = toy
    model = build_model("mlp", input_shape=(1, 4, 4), n_classes=5, seed=2, hidden=[6])
    g = model_params(model)
    spec = OptimiserSpec(kind="sgd", lr=0.1, momentum=momentum)
    order = np.argsort(-np.array(SIZES), kind="stable")
    plan = make_plan([clients[k] for k in order], client_seeds(np.random.default_rng(1), len(order)),
                     local_epochs=2, batch_size=4, shuffle=True)
    x2d, yt = torch.from_numpy(x.reshape(120, -1)), torch.from_numpy(y)
    k = len(order)
    direct, dual = ({n: torch.empty((k, *p.shape)) for n, p in g.items()} for _ in range(2))
    loss_d = train_group_bmm(linear_chain(model), g, x2d, yt, plan, spec, direct, np.arange(k), dual=False)
    loss_u = train_group_bmm(linear_chain(model), g, x2d, yt, plan, spec, dual, np.arange(k), dual=True)
    assert max(float((direct[n] - dual[n]).abs().max()) for n in g) < 1e-5
    np.testing.assert_allclose(loss_d, loss_u, rtol=1e-5)
    # written into a cohort's stacked tensors at rows given out of order, leaving the other rows alone
    out = {n: torch.full((k + 2, *p.shape), float("nan")) for n, p in g.items()}
    rows = np.arange(k)[::-1] + 2
    loss_o = train_group_bmm(linear_chain(model), g, x2d, yt, plan, spec, out, rows, dual=True)
    assert all(torch.equal(out[n][rows], dual[n]) or float((out[n][rows] - dual[n]).abs().max()) < 1e-6 for n in g)
    assert all(torch.isnan(out[n][:2]).all() for n in g)
    np.testing.assert_allclose(loss_o, loss_u)


def test_cnn_vmap_equals_sequential():
    rng = np.random.default_rng(5)
    x = rng.random((30, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 10, 30)
    clients = [np.arange(0, 9), np.arange(9, 12), np.arange(12, 30)]
    model = build_model("cnn", input_shape=(1, 8, 8), n_classes=10, seed=0)
    g = model_params(model)
    common = dict(local_epochs=1, batch_size=5, lr=0.05, momentum=0.5)
    ref = LocalTrainer(engine="sequential", **common).train(model, g, x, y, clients, rng=np.random.default_rng(0))
    auto = LocalTrainer(**common)
    assert auto.resolve_engine(model) == "vmap"
    res = auto.train(model, g, x, y, clients, rng=np.random.default_rng(0))
    assert _diff(res, ref) < 1e-4


def test_result_fields(toy):
    x, y, clients = toy
    model = build_model("softmax_regression", input_shape=(1, 4, 4), n_classes=5)
    g = model_params(model)
    res = LocalTrainer(local_epochs=2, batch_size=4).train(model, g, x, y, clients, rng=np.random.default_rng(0))
    sizes = np.array(SIZES)
    assert len(res) == len(SIZES)
    np.testing.assert_array_equal(res.n_examples, sizes)
    np.testing.assert_array_equal(res.n_steps, 2 * np.ceil(sizes / 4).astype(int))
    np.testing.assert_array_equal(res.n_samples_processed, 2 * sizes)
    assert np.isnan(res.mean_loss[3]) and np.all(np.isfinite(np.delete(res.mean_loss, 3)))
    assert all(torch.equal(res.client_params(3)[n], g[n]) for n in g)  # the empty client keeps the global model
    assert res.flat_params().shape == (len(SIZES), 5 * 16 + 5)
    assert res.params["1.weight"].dtype == torch.float32


def test_determinism_and_per_position_shuffles(toy):
    x, y, clients = toy
    model = build_model("mlp", input_shape=(1, 4, 4), n_classes=5, hidden=[8])
    g = model_params(model)
    trainer = LocalTrainer(local_epochs=2, batch_size=4, lr=0.1)
    a = trainer.train(model, g, x, y, clients, rng=np.random.default_rng(9))
    b = trainer.train(model, g, x, y, clients, rng=np.random.default_rng(9))
    c = trainer.train(model, g, x, y, clients, rng=np.random.default_rng(10))
    assert all(torch.equal(a.params[n], b.params[n]) for n in g)
    assert not all(torch.equal(a.params[n], c.params[n]) for n in g)
    twice = [clients[0], clients[0]]
    shuffled = trainer.train(model, g, x, y, twice, rng=np.random.default_rng(1))
    assert not torch.equal(shuffled.params["1.weight"][0], shuffled.params["1.weight"][1])
    ordered = LocalTrainer(local_epochs=2, batch_size=4, lr=0.1, shuffle=False).train(
        model, g, x, y, twice, rng=np.random.default_rng(1))
    assert torch.equal(ordered.params["1.weight"][0], ordered.params["1.weight"][1])


def test_fedavg_on_digits_learns():
    data = load_digits_dataset(seed=0)
    clients = iid_partition(data.y_train, n_clients=10, rng=np.random.default_rng(0))
    model = build_model("softmax_regression", input_shape=data.input_shape, n_classes=10)
    params = model_params(model)
    trainer = LocalTrainer(lr=0.1, local_epochs=2, batch_size=20)
    before = evaluate(model, params, data.x_test, data.y_test)
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(5):
        res = trainer.train(model, params, data.x_train, data.y_train, clients, rng=rng)
        weights = torch.from_numpy(res.n_examples / res.n_examples.sum()).float()
        params = {n: torch.einsum("k,k...->...", weights, t) for n, t in res.params.items()}
        losses.append(float(np.average(res.mean_loss, weights=res.n_examples)))
    after = evaluate(model, params, data.x_test, data.y_test)
    assert losses[-1] < losses[0] and after.loss < before.loss
    assert before.accuracy < 0.2 and after.accuracy > 0.85 and after.n == data.n_test


def test_evaluate_by_hand_and_per_client():
    model = build_model("softmax_regression", input_shape=(2,), n_classes=2)
    params = {"1.weight": torch.tensor([[1.0, 0.0], [0.0, 1.0]]), "1.bias": torch.zeros(2)}
    x = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 0.0], [5.0, 0.0]], np.float32)
    y = np.array([0, 1, 1, 0])
    ev = evaluate(model, params, x, y, batch_size=3)
    assert ev.accuracy == 0.75 and ev.n == 4
    logits = torch.from_numpy(x)
    expected = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item()
    assert ev.loss == pytest.approx(expected, rel=1e-6)
    per = evaluate_clients(model, params, x, y, [np.array([0, 1]), np.array([2]), np.array([], np.int64)])
    np.testing.assert_allclose(per["accuracy"][:2], [1.0, 0.0])
    assert np.isnan(per["accuracy"][2]) and list(per["n"]) == [2, 1, 0]
    assert np.isnan(evaluate(model, params, x[:0], y[:0]).accuracy)


def test_bad_configuration_is_one_clear_line(toy):
    x, y, clients = toy
    with pytest.raises(FLConfigError, match="batch_size must be a positive integer, got 0"):
        LocalTrainer(batch_size=0)
    with pytest.raises(FLConfigError, match="local_epochs must be a positive integer"):
        LocalTrainer(local_epochs=-1)
    with pytest.raises(FLConfigError, match="unknown optimizer 'rmsprop'"):
        LocalTrainer(optimizer="rmsprop")
    with pytest.raises(FLConfigError, match="unknown training engine 'gpu'"):
        LocalTrainer(engine="gpu")
    with pytest.raises(FLConfigError, match="lr must be a positive number"):
        LocalTrainer(lr=0)
    with pytest.raises(FLConfigError, match="momentum applies to optimizer 'sgd' only"):
        LocalTrainer(optimizer="adam", momentum=0.9)
    cnn = build_model("cnn", input_shape=(1, 8, 8), n_classes=10)
    with pytest.raises(FLConfigError, match="'bmm' needs a model made of Flatten, Linear and ReLU"):
        LocalTrainer(engine="bmm").resolve_engine(cnn)
    model = build_model("softmax_regression", input_shape=(1, 4, 4), n_classes=5)
    with pytest.raises(FLConfigError, match="global_params do not match"):
        LocalTrainer().train(model, {"w": torch.zeros(1)}, x, y, clients, rng=np.random.default_rng(0))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_cohort_with_dual_first_layer_equals_sequential(momentum):
    data = load_digits_dataset(seed=1)
    sizes = [10, 3, 9, 1, 7, 10, 5, 8, 2, 6]
    clients = np.split(np.arange(sum(sizes)) * 7, np.cumsum(sizes)[:-1])
    model = build_model("mlp", input_shape=data.input_shape, n_classes=10, seed=3, hidden=[32])
    g = model_params(model)
    common = dict(lr=0.1, momentum=momentum, local_epochs=5, batch_size=4)
    plan = make_plan(clients, client_seeds(np.random.default_rng(0), len(clients)), local_epochs=5, batch_size=4,
                     shuffle=True)
    assert dual_first_layer_pays(plan, 64, 32)
    ref = LocalTrainer(engine="sequential", **common).train(model, g, data.x_train, data.y_train, clients,
                                                            rng=np.random.default_rng(4))
    for chunk in (None, 3):
        res = LocalTrainer(engine="auto", chunk_size=chunk, **common).train(model, g, data.x_train, data.y_train,
                                                                            clients, rng=np.random.default_rng(4))
        assert _diff(res, ref) < 1e-4
        np.testing.assert_allclose(res.mean_loss, ref.mean_loss, atol=1e-5)


def test_without_numba_auto_trains_with_bmm_and_evaluates_with_torch(toy, monkeypatch):
    """On a platform without numba the compiled softmax-regression kernels are off: ``auto`` picks ``bmm``, ``dual``
    is refused in one line, and evaluation runs through torch."""
    from twin.fl import linear_kernels
    from twin.fl.evaluation import predict_losses

    monkeypatch.setattr(linear_kernels, "AVAILABLE", False)
    x, y, clients = toy
    model = build_model("softmax_regression", input_shape=(1, 4, 4), n_classes=5, seed=1)
    g = model_params(model)
    assert LocalTrainer().resolve_engine(model) == "bmm"
    with pytest.raises(FLConfigError, match="'dual' needs numba"):
        LocalTrainer(engine="dual").resolve_engine(model)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    losses, _ = predict_losses(model, g, xt, yt, 4096)
    assert evaluate(model, g, xt, yt).loss == float(losses.mean())
