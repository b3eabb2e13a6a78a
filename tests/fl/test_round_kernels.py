"""Compiled round bookkeeping (twin.fl.round_kernels): the batch plan's shuffles are numpy's default_rng shuffles;
the weighted sum of rows of a cohort's update matrix has weighted_average's bits; the strategies take that path only
for rows of one matrix and fall back otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twin.fl import batching, round_kernels
from twin.fl.batching import client_seeds, make_plan
from twin.fl.seeding import seed_words
from twin.fl.strategies import ClientResult, make_strategy, weighted_average
from twin.fl.strategies.base import stacked_rows

pytestmark = pytest.mark.skipif(not round_kernels.AVAILABLE, reason="needs numba")


@pytest.mark.parametrize("case", range(6))
def test_shuffles_are_numpys(case):
    rng = np.random.default_rng(100 + case)
    k, epochs, length = 40, int(rng.integers(1, 6)), 400
    seeds = client_seeds(rng, k)
    seeds[:3] = [0, 2**32 - 1, 2**32]  # one- and two-word seeds
    sizes = rng.integers(0, 300, size=k)
    sizes[3:6] = [0, 1, 2]
    got = np.tile(np.arange(length, dtype=np.int64), (k, epochs))
    want = got.copy()
    round_kernels.shuffle_plan(seed_words(seeds), sizes, got, np.full(k, length), epochs)
    for c in range(k):
        gen = np.random.default_rng(int(seeds[c]))
        for e in range(epochs):
            if sizes[c] > 1:
                gen.shuffle(want[c, e * length:e * length + sizes[c]])
    np.testing.assert_array_equal(got, want)
    assert round_kernels.shuffles_match_numpy()


def test_plan_falls_back_to_numpys_generators(monkeypatch):
    clients = [np.arange(n) + 10 * n for n in (0, 1, 5, 23, 40)]
    seeds = client_seeds(np.random.default_rng(1), len(clients))
    fast = make_plan(clients, seeds, local_epochs=3, batch_size=4, shuffle=True)
    monkeypatch.setattr(round_kernels, "_MATCH", False)
    slow = make_plan(clients, seeds, local_epochs=3, batch_size=4, shuffle=True)
    np.testing.assert_array_equal(fast.positions, slow.positions)
    assert not np.array_equal(fast.positions, make_plan(clients, seeds, local_epochs=3, batch_size=4,
                                                        shuffle=False).positions)
    assert batching.round_kernels is round_kernels


def test_weighted_rows_has_weighted_averages_bits():
    rng = np.random.default_rng(3)
    matrix = torch.from_numpy(rng.standard_normal((300, 7850)).astype(np.float32) * 1e-2)
    rows = rng.integers(0, 300, size=250)  # repeats, any order
    weights = rng.uniform(0.0, 1.0, size=250)
    weights /= weights.sum()
    got = round_kernels.weighted_rows(matrix.numpy(), rows, weights)
    want = weighted_average([matrix[r] for r in rows], weights).numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="at least one row"):
        round_kernels.weighted_rows(matrix.numpy(), rows[:0], weights[:0])


def test_stacked_rows_only_for_whole_rows_of_one_matrix():
    m = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    got = stacked_rows([m[2], m[0], m[2]])  # m itself a view of arange(12): rows of its root, seen as (4, 3)
    assert got is not None and torch.equal(got[0], m) and got[1].tolist() == [2, 0, 2]
    assert stacked_rows([m[1:][2]])[1].tolist() == [3]  # a row of a view of rows
    other = m.clone()
    assert stacked_rows([m[0], other[1]]) is None  # two matrices
    assert stacked_rows([m[0], torch.zeros(3)]) is None  # not a view
    assert stacked_rows([m[:, 0]]) is None  # a column
    assert stacked_rows([m[1, :2]]) is None  # part of a row
    assert stacked_rows([m.double()[0]]) is None  # float64
    assert stacked_rows([]) is None


@pytest.mark.parametrize("kind,kw", [("fedavg", {}), ("fedavg", {"weighting": "uniform"}), ("fedavgm", {}),
                                     ("fedadam", {"server_lr": 0.01})])
def test_strategies_give_the_same_bits_on_rows_and_on_copies(kind, kw):
    rng = np.random.default_rng(5)
    g = torch.from_numpy(rng.standard_normal(500).astype(np.float32))
    deltas = torch.from_numpy(rng.standard_normal((40, 500)).astype(np.float32) * 1e-2)
    n = rng.integers(1, 50, size=40)
    picked = rng.permutation(40)[:30]
    views = [ClientResult(num_examples=int(n[i]), delta=deltas[i], client_id=int(i)) for i in picked]
    copies = [ClientResult(num_examples=int(n[i]), delta=deltas[i].clone(), client_id=int(i)) for i in picked]
    assert stacked_rows([r.delta for r in views]) is not None and stacked_rows([r.delta for r in copies]) is None
    fast, slow = make_strategy(kind, **kw), make_strategy(kind, **kw)
    for _ in range(2):  # twice: the server state (momentum, moments) carried the same way
        a, b = fast.aggregate(g, views), slow.aggregate(g, copies)
        assert torch.equal(a, b)
    assert not torch.equal(a, g)


@pytest.mark.parametrize("kind", ["fedavg", "fedavgm", "fedadam"])
def test_aggregate_flat_equals_aggregate(kind):
    """Strategy.aggregate_flat (no ClientResult per client) gives aggregate's bits, server state and record; bad
    input takes aggregate's path and its errors; nobody with examples leaves the model unchanged."""
    rng = np.random.default_rng(9)
    g = torch.from_numpy(rng.standard_normal(300).astype(np.float32))
    deltas = torch.from_numpy(rng.standard_normal((20, 300)).astype(np.float32) * 1e-2)
    n = rng.integers(0, 40, size=20)
    views = [deltas[i] for i in range(20)]
    fast, slow = make_strategy(kind), make_strategy(kind)
    for _ in range(2):
        a = fast.aggregate_flat(g, views, n)
        b = slow.aggregate(g, [ClientResult(num_examples=int(k), delta=d) for k, d in zip(n, views, strict=True)])
        assert torch.equal(a, b) and fast.last == slow.last
    same = fast.aggregate_flat(g, views[:2], np.zeros(2, dtype=np.int64))
    assert torch.equal(same, g) and same is not g and not fast.last.changed
    with pytest.raises(ValueError, match="shape"):
        fast.aggregate_flat(g, [torch.zeros(5)], [3])
    with pytest.raises(ValueError, match="num_examples"):
        fast.aggregate_flat(g, views[:1], [-1])


def test_a_strategy_with_its_own_aggregate_gets_client_results_with_their_ids():
    """aggregate_flat on a strategy that overrides aggregate (a plugin) calls that aggregate with one ClientResult per
    client: its examples, its delta (the same tensor) and its id, nobody dropped."""
    seen = {}

    class Own(type(make_strategy("fedavg"))):
        def aggregate(self, global_params, updates, *, dropped=()):
            seen["updates"], seen["dropped"] = list(updates), list(dropped)
            return global_params + 1

    g = torch.zeros(4)
    deltas = [torch.full((4,), float(i)) for i in range(3)]
    out = Own().aggregate_flat(g, deltas, np.array([5, 0, 7]), client_ids=[10, 11, 12])
    assert torch.equal(out, g + 1) and seen["dropped"] == []
    assert [(u.num_examples, u.client_id) for u in seen["updates"]] == [(5, 10), (0, 11), (7, 12)]
    assert all(u.delta is d for u, d in zip(seen["updates"], deltas, strict=True))
