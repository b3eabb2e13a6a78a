"""The batch plan filled for a whole group at once, with the seeded streams, equals the one-client-at-a-time loop with
``np.random.default_rng(seed)`` per client (the definition), array for array."""

from __future__ import annotations

import numpy as np
import pytest

from twin.fl import seeding
from twin.fl.batching import client_seeds, make_plan, steps_per_client


def reference_plan(client_indices, seeds, *, local_epochs, batch_size, shuffle):
    """The plan as it was first written: a loop over clients and epochs, one default_rng per client."""
    sizes = np.array([len(ix) for ix in client_indices], dtype=np.int64)
    steps = steps_per_client(sizes, local_epochs=local_epochs, batch_size=batch_size)
    k, max_steps = len(sizes), int(steps.max(initial=0))
    members = np.zeros((k, max(int(sizes.max(initial=0)), 1)), dtype=np.int64)
    positions = np.zeros((k, max_steps, batch_size), dtype=np.int64)
    counts = np.zeros((k, max_steps), dtype=np.int64)
    for c, (ix, seed) in enumerate(zip(client_indices, seeds, strict=True)):
        n = len(ix)
        if n == 0:
            continue
        members[c, :n] = ix
        members[c, n:] = ix[0]
        per_epoch = -(-n // batch_size)
        gen = np.random.default_rng(int(seed))
        padded = np.zeros(per_epoch * batch_size, dtype=np.int64)
        epoch_counts = np.full(per_epoch, batch_size, dtype=np.int64)
        epoch_counts[-1] = n - (per_epoch - 1) * batch_size
        for e in range(local_epochs):
            padded[:n] = gen.permutation(n) if shuffle else np.arange(n)
            positions[c, e * per_epoch:(e + 1) * per_epoch] = padded.reshape(per_epoch, batch_size)
            counts[c, e * per_epoch:(e + 1) * per_epoch] = epoch_counts
    return members, sizes, positions, counts, steps


@pytest.mark.parametrize("case", range(40))
def test_plan_equals_the_loop(case):
    rng = np.random.default_rng(case)
    k = int(rng.integers(0, 30))
    sizes = rng.integers(0, 60, size=k) if case % 3 else rng.integers(0, 3, size=k)  # some tiny clients
    clients = [rng.choice(10_000, size=int(n), replace=False) for n in sizes]
    seeds = client_seeds(rng, k)
    if case % 5 == 0 and k:
        seeds[0] = int(rng.integers(0, 2**32))  # a seed of one 32-bit word
    args = dict(local_epochs=int(rng.integers(1, 6)), batch_size=int(rng.integers(1, 25)), shuffle=case % 7 != 0)
    plan = make_plan(clients, seeds, **args)
    want = reference_plan(clients, seeds, **args)
    for got, ref in zip((plan.members, plan.sizes, plan.positions, plan.counts, plan.steps), want, strict=True):
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_array_equal(got, ref)


def test_streams_are_default_rng():
    seeds = np.concatenate([[0, 1, 2**32 - 1, 2**32, 2**63 - 2], client_seeds(np.random.default_rng(3), 500)])
    states = seeding.pcg64_states(seeds)
    for s, (state, inc) in zip(seeds, states, strict=True):
        assert np.random.default_rng(int(s)).bit_generator.state["state"] == {"state": state, "inc": inc}
    streams = seeding.SeededStreams(seeds)
    for i in (0, 3, 4, 7, 250):
        np.testing.assert_array_equal(streams.stream(i).permutation(37), np.random.default_rng(int(seeds[i])).permutation(37))
    assert seeding._same_as_numpy()


def test_fallback_when_numpy_seeds_differently(monkeypatch):
    monkeypatch.setattr(seeding, "_CHECKED", False)
    streams = seeding.SeededStreams([5, 6])
    np.testing.assert_array_equal(streams.stream(1).permutation(10), np.random.default_rng(6).permutation(10))


def test_seed_count_must_match():
    with pytest.raises(ValueError, match="2 clients but 1 seeds"):
        make_plan([np.arange(3), np.arange(2)], [1], local_epochs=1, batch_size=2, shuffle=True)
