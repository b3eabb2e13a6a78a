import numpy as np
import pytest

from twin.fl.selection import UniformSelection, select_clients


def test_with_replacement_only_reachable_and_seeded():
    mask = np.zeros(100, dtype=bool)
    mask[[3, 7, 42]] = True
    a = select_clients(50, mask, np.random.default_rng(1))
    b = select_clients(50, mask, np.random.default_rng(1))
    assert a.client_ids.dtype == np.int64 and a.client_ids.size == 50 and a.shortfall == 0
    assert set(a.client_ids.tolist()) <= {3, 7, 42}
    assert np.array_equal(a.client_ids, b.client_ids)
    assert len(set(a.client_ids.tolist())) == 3  # repeats are allowed (and certain here)


def test_with_replacement_is_uniform():
    mask = np.ones(5, dtype=bool)
    ids = select_clients(50_000, mask, np.random.default_rng(0)).client_ids
    freq = np.bincount(ids, minlength=5) / ids.size
    assert np.allclose(freq, 0.2, atol=0.01)


def test_without_replacement_distinct_and_shortfall():
    mask = np.array([True, False, True, True, False, True])
    sel = select_clients(3, mask, np.random.default_rng(5), replace=False)
    assert len(set(sel.client_ids.tolist())) == 3 and set(sel.client_ids.tolist()) <= {0, 2, 3, 5}
    short = select_clients(10, mask, np.random.default_rng(5), replace=False)
    assert sorted(short.client_ids.tolist()) == [0, 2, 3, 5]
    assert short.shortfall == 6 and short.num_reachable == 4 and short.requested == 10


def test_nobody_reachable_and_zero_k():
    none = select_clients(4, np.zeros(10, dtype=bool), np.random.default_rng(0))
    assert none.client_ids.size == 0 and none.shortfall == 4
    assert select_clients(0, np.ones(3, dtype=bool), np.random.default_rng(0)).client_ids.size == 0


def test_custom_client_ids_and_wrapper():
    mask = np.array([False, True, True])
    ids = np.array([100, 200, 300])
    sel = UniformSelection(replace=False).select(2, mask, np.random.default_rng(3), client_ids=ids)
    assert sorted(sel.client_ids.tolist()) == [200, 300]


@pytest.mark.parametrize(
    "k,mask,word",
    [(-1, np.ones(3, dtype=bool), "k"), (2.5, np.ones(3, dtype=bool), "k"), (2, np.ones(3), "reachable")],
)
def test_bad_input(k, mask, word):
    with pytest.raises(ValueError, match=word):
        select_clients(k, mask, np.random.default_rng(0))


def test_bad_rng_and_replace():
    with pytest.raises(ValueError, match="rng"):
        select_clients(1, np.ones(3, dtype=bool), np.random.RandomState(0))
    with pytest.raises(ValueError, match="replace"):
        UniformSelection(replace="yes")
