"""Compiled softmax-regression kernels. The ``dual`` training engine (SGD, one client at a time): equal to the
one-by-one reference and to ``bmm``; each client's result independent of its cohort, grouping and chunking; when
``auto`` picks it; errors. The compiled test-set evaluation against torch's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twin.fl import linear_kernels
from twin.fl.data import load_digits_dataset
from twin.fl.errors import FLConfigError
from twin.fl.models import build_model, model_params
from twin.fl.training import LocalTrainer

pytestmark = pytest.mark.skipif(not linear_kernels.AVAILABLE, reason="the dual engine needs numba")

SIZES = [13, 7, 1, 0, 25, 20, 9, 40]  # unequal, partial batches, a one-sample and an empty client


@pytest.fixture(scope="module")
def digits():
    data = load_digits_dataset(seed=1)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(data.y_train))
    clients = np.split(perm[: sum(SIZES)], np.cumsum(SIZES)[:-1])
    model = build_model("softmax_regression", input_shape=data.input_shape, n_classes=10, seed=2)
    return data, clients, model, model_params(model)


def _train(digits, engine, **kw):
    data, clients, model, g = digits
    common = dict(local_epochs=4, batch_size=6, lr=0.05)
    common.update(kw)
    return LocalTrainer(engine=engine, **common).train(model, g, data.x_train, data.y_train, clients,
                                                       rng=np.random.default_rng(7))


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_dual_equals_sequential_and_bmm(digits, momentum):
    ref = _train(digits, "sequential", momentum=momentum)
    for engine in ("dual", "bmm"):
        res = _train(digits, engine, momentum=momentum)
        assert float((res.flat_params() - ref.flat_params()).abs().max()) < 1e-5, engine
        np.testing.assert_allclose(res.mean_loss, ref.mean_loss, rtol=1e-5, equal_nan=True)
        np.testing.assert_array_equal(res.n_steps, ref.n_steps)
    # training moved the weights (not a comparison of untouched copies); the empty client keeps the start
    start = torch.cat([p.reshape(-1) for p in digits[3].values()])
    moved = (ref.flat_params() - start).abs().amax(dim=1)
    assert float(moved[0]) > 1e-2 and float(moved[3]) == 0.0
    assert np.isnan(ref.mean_loss[3])


def test_a_clients_result_does_not_depend_on_its_cohort(digits):
    """No padding and no group-shaped products: a client trained alone, in a cohort, or in small chunks gets the same
    bits (bmm's results depend on the group's largest client; this engine's do not)."""
    data, clients, model, g = digits
    whole = _train(digits, "dual").flat_params()
    chunked = _train(digits, "dual", chunk_clients=3).flat_params()
    assert torch.equal(whole, chunked)
    seeds_rng = np.random.default_rng(7)
    seeds = seeds_rng.integers(0, 2**63 - 1, size=len(clients), dtype=np.int64)  # what the cohort drew
    for k in (0, 4, 7):
        alone_rng = _SeedReplay(seeds[k])
        alone = LocalTrainer(engine="dual", local_epochs=4, batch_size=6, lr=0.05).train(
            model, g, data.x_train, data.y_train, [clients[k]], rng=alone_rng).flat_params()
        assert torch.equal(alone[0], whole[k]), k


@pytest.mark.parametrize("engine,kw", [("dual", {}), ("dual", {"chunk_clients": 3}), ("dual", {"momentum": 0.9}),
                                       ("bmm", {})])
def test_flat_updates_equal_the_parameters_minus_the_start(digits, engine, kw):
    """train_chunks(deltas_from=start): the dual kernel writes each client's flat update itself (weights, then bias);
    the same float32 bits as its trained parameters flattened minus the start, chunk by chunk (bmm subtracts)."""
    data, clients, model, g = digits
    start = torch.cat([p.reshape(-1) for p in g.values()])
    trainer = LocalTrainer(engine=engine, local_epochs=4, batch_size=6, lr=0.05, **kw)
    args = (model, g, data.x_train, data.y_train, clients)
    ref = [(pos, part.flat_params() - start) for pos, part in trainer.train_chunks(*args, rng=np.random.default_rng(7))]
    got = list(trainer.train_chunks(*args, rng=np.random.default_rng(7), deltas_from=start))
    assert len(got) == len(ref) == (3 if kw.get("chunk_clients") else 1)
    for (pos, delta), (pos2, part) in zip(ref, got, strict=True):
        np.testing.assert_array_equal(pos, pos2)
        assert part.params == {} and part.deltas.dtype == torch.float32
        assert torch.equal(part.deltas, delta)
    assert float(got[0][1].deltas.abs().max()) > 1e-2  # training moved the weights


class _SeedReplay:
    """A generator stand-in whose ``integers`` hands out one given client seed (the cohort's seed for that client)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def integers(self, *_args, size: int, **_kwargs) -> np.ndarray:
        assert size == 1
        return np.array([self.seed], dtype=np.int64)


def test_auto_picks_dual_only_where_it_applies():
    soft = build_model("softmax_regression", input_shape=(1, 4, 4), n_classes=5)
    mlp = build_model("mlp", input_shape=(1, 4, 4), n_classes=5, hidden=[8])
    assert LocalTrainer().resolve_engine(soft) == "dual"
    assert LocalTrainer(momentum=0.9).resolve_engine(soft) == "dual"
    assert LocalTrainer(optimizer="adam", lr=0.01).resolve_engine(soft) == "bmm"
    assert LocalTrainer().resolve_engine(mlp) == "bmm"
    with pytest.raises(FLConfigError, match="'dual' needs a single Linear layer"):
        LocalTrainer(engine="dual").resolve_engine(mlp)
    with pytest.raises(FLConfigError, match="'dual' needs a single Linear layer"):
        LocalTrainer(engine="dual", optimizer="adam", lr=0.01).resolve_engine(soft)


def test_compiled_evaluation_equals_torchs(digits):
    """evaluate() on softmax regression runs the compiled pass; it agrees with the torch batches (argmax: the first
    of equal maxima, as torch), and a model it does not apply to still takes the torch path."""
    from twin.fl.evaluation import evaluate, predict_losses

    data, _, model, g = digits
    params = {n: p + 0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) for n, p in g.items()}
    x, y = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    got = evaluate(model, params, x, y)
    losses, correct = predict_losses(model, params, x, y, 4096)
    assert got.n == len(y) and got.accuracy == float(correct.double().mean())
    assert abs(got.loss - float(losses.mean())) < 1e-6
    assert 0.0 < got.accuracy < 1.0
    zero = {n: torch.zeros_like(p) for n, p in g.items()}  # every logit equal: class 0 predicted, loss log(10)
    tied = evaluate(model, zero, x, y)
    assert tied.accuracy == float((y == 0).double().mean()) and abs(tied.loss - np.log(10)) < 1e-6
    mlp = build_model("mlp", input_shape=data.input_shape, n_classes=10, hidden=[8], seed=1)
    mp = model_params(mlp)
    ref_l, ref_c = predict_losses(mlp, mp, x, y, 4096)
    assert evaluate(mlp, mp, x, y).loss == float(ref_l.mean())
