import math

import numpy as np
import pytest
import torch

from twin.fl.strategies import (
    STRATEGIES,
    ClientResult,
    FedAdam,
    FedAvg,
    FedAvgM,
    client_weights,
    fedadam_step,
    fedavg_step,
    fedavgm_step,
    make_strategy,
    weighted_average,
)
from twin.scenario.loading import ScenarioError, validate  # noqa: E402

G = torch.tensor([1.0, 2.0, 3.0])


def t(*v):
    return torch.tensor(v, dtype=torch.float32)


# --- pure arithmetic --------------------------------------------------------------------------------------------------


def test_client_weights_by_examples_and_uniform():
    assert np.allclose(client_weights([10, 30], "num_examples"), [0.25, 0.75])
    assert np.allclose(client_weights([10, 30, 60], "uniform"), [1 / 3] * 3)
    assert np.allclose(client_weights([0, 0], "num_examples"), [0, 0])
    with pytest.raises(ValueError, match="weighting"):
        client_weights([1], "median")


def test_weighted_average_hand_values():
    out = weighted_average([t(0, 4), t(8, 0)], [0.25, 0.75])
    assert out.dtype == torch.float64 and torch.allclose(out, torch.tensor([6.0, 1.0], dtype=torch.float64))


def test_step_functions_by_hand():
    g, d = torch.tensor([1.0, -1.0], dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)
    assert torch.allclose(fedavg_step(g, d, 0.5), torch.tensor([1.25, 0.0], dtype=torch.float64))
    new, buf = fedavgm_step(g, d, None, 1.0, 0.9)
    assert torch.equal(buf, d) and torch.allclose(new, g + d)
    new2, buf2 = fedavgm_step(new, d, buf, 1.0, 0.9)
    assert torch.allclose(buf2, 1.9 * d) and torch.allclose(new2, g + 2.9 * d)


# --- FedAvg -----------------------------------------------------------------------------------------------------------


def test_fedavg_num_examples_is_weighted_mean_of_params():
    s = FedAvg()
    new = s.aggregate(
        G, [ClientResult(10, params=t(0, 0, 0), client_id=0), ClientResult(30, params=t(4, 8, 12), client_id=1)]
    )
    assert new.dtype == torch.float32 and torch.allclose(new, t(3, 6, 9))


def test_fedavg_uniform_weighting():
    s = FedAvg(weighting="uniform")
    new = s.aggregate(G, [ClientResult(10, params=t(0, 0, 0)), ClientResult(30, params=t(4, 8, 12))])
    assert torch.allclose(new, t(2, 4, 6))


def test_fedavg_deltas_and_server_lr():
    s = FedAvg(server_lr=0.5)
    new = s.aggregate(G, [ClientResult(1, delta=t(2, 0, 0)), ClientResult(3, delta=t(-2, 4, 0))])
    # mean delta = 0.25*[2,0,0] + 0.75*[-2,4,0] = [-1, 3, 0]; x + 0.5 * delta
    assert torch.allclose(new, t(0.5, 3.5, 3.0))
    same = FedAvg(server_lr=0.5).aggregate(
        G, [ClientResult(1, params=G + t(2, 0, 0)), ClientResult(3, params=G + t(-2, 4, 0))]
    )
    assert torch.allclose(new, same)


def test_dropped_clients_are_excluded():
    s = FedAvg()
    ups = [ClientResult(10, params=t(0, 0, 0), client_id=7), ClientResult(30, params=t(4, 8, 12), client_id=8)]
    assert torch.allclose(s.aggregate(G, ups, dropped=[8]), t(0, 0, 0))
    assert s.last.num_aggregated == 1 and s.last.num_dropped == 1 and s.last.total_examples == 10


def test_nobody_completed_leaves_global_unchanged():
    for kind in STRATEGIES:
        s = make_strategy(kind, weighting="num_examples")  # the asynchronous ones default to uniform
        ups = [ClientResult(10, params=t(9, 9, 9), client_id=1)]
        out = s.aggregate(G, ups, dropped=[1])
        assert torch.equal(out, G) and out is not G and s.last.changed is False
        assert torch.equal(s.aggregate(G, []), G)
        assert torch.equal(s.aggregate(G, [ClientResult(0, params=t(9, 9, 9))]), G)  # no examples -> no weight


def test_duplicate_client_with_replacement_counts_twice():
    ups = [
        ClientResult(10, params=t(0, 0, 0), client_id=1),
        ClientResult(10, params=t(3, 3, 3), client_id=2),
        ClientResult(10, params=t(3, 3, 3), client_id=2),
    ]
    assert torch.allclose(FedAvg().aggregate(G, ups), t(2, 2, 2))


def test_dict_params_round_trip_and_int_buffers_kept():
    g = {"w": torch.zeros(2, 2), "b": torch.ones(2), "steps": torch.tensor(5)}
    c1 = {"w": torch.full((2, 2), 2.0), "b": torch.zeros(2), "steps": torch.tensor(99)}
    c2 = {"w": torch.full((2, 2), 4.0), "b": torch.full((2,), 2.0), "steps": torch.tensor(99)}
    new = FedAvg().aggregate(g, [ClientResult(1, params=c1), ClientResult(1, params=c2)])
    assert set(new) == {"w", "b", "steps"}
    assert torch.allclose(new["w"], torch.full((2, 2), 3.0)) and torch.allclose(new["b"], torch.ones(2))
    assert new["steps"].item() == 5
    with pytest.raises(ValueError, match="'w'"):
        FedAvg().aggregate(g, [ClientResult(1, params={"b": torch.zeros(2)})])


# --- FedAvgM / FedAdam ------------------------------------------------------------------------------------------------


def test_fedavgm_accumulates_momentum_over_rounds():
    s = FedAvgM(server_lr=1.0, momentum=0.5)
    x = torch.zeros(3)
    for _ in range(3):  # same delta [1,1,1] every round: buf = 1, 1.5, 1.75 -> x = 1, 2.5, 4.25
        x = s.aggregate(x, [ClientResult(5, delta=torch.ones(3))])
    assert torch.allclose(x, torch.full((3,), 4.25)) and torch.allclose(
        s.buf, torch.full((3,), 1.75, dtype=torch.float64)
    )
    s.reset()
    assert s.buf is None
    zero = FedAvgM(momentum=0.0).aggregate(G, [ClientResult(1, delta=t(1, 1, 1))])
    assert torch.allclose(zero, FedAvg().aggregate(G, [ClientResult(1, delta=t(1, 1, 1))]))


def test_fedadam_matches_hand_computation():
    b1, b2, tau, lr = 0.9, 0.99, 1e-3, 0.1
    s = FedAdam(server_lr=lr, beta1=b1, beta2=b2, tau=tau)
    d1, d2 = [0.5, -2.0, 0.0], [1.0, 1.0, 1.0]
    x1 = s.aggregate(G, [ClientResult(4, delta=torch.tensor(d1))])
    x2 = s.aggregate(x1, [ClientResult(4, delta=torch.tensor(d2))])
    x, m, v = [1.0, 2.0, 3.0], [0.0] * 3, [tau * tau] * 3
    for d in (d1, d2):
        m = [b1 * mi + (1 - b1) * di for mi, di in zip(m, d, strict=True)]
        v = [b2 * vi + (1 - b2) * di * di for vi, di in zip(v, d, strict=True)]
        x = [xi + lr * mi / (math.sqrt(vi) + tau) for xi, mi, vi in zip(x, m, v, strict=True)]
    assert torch.allclose(x2.double(), torch.tensor(x, dtype=torch.float64), atol=1e-6)
    new, m_t, v_t = fedadam_step(
        torch.zeros(1, dtype=torch.float64),
        torch.ones(1, dtype=torch.float64),
        None,
        None,
        server_lr=1.0,
        beta1=0.0,
        beta2=0.0,
        tau=1.0,
    )
    assert new.item() == pytest.approx(0.5) and m_t.item() == 1.0 and v_t.item() == 1.0


def test_state_shape_change_is_reported():
    s = FedAdam()
    s.aggregate(G, [ClientResult(1, delta=t(1, 1, 1))])
    with pytest.raises(ValueError, match="reset"):
        s.aggregate(torch.zeros(2), [ClientResult(1, delta=torch.ones(2))])


# --- registry and bad input -------------------------------------------------------------------------------------------


def test_registry():
    assert set(STRATEGIES) == {"fedavg", "fedavgm", "fedadam", "fedbuff", "fedasync"}
    s = make_strategy("fedavgm", weighting="uniform", server_lr=0.5, momentum=0.0)
    assert isinstance(s, FedAvgM) and s.weighting == "uniform" and s.server_lr == 0.5


@pytest.mark.parametrize(
    "kind,params,word",
    [
        ("fedprox", {}, "fl.strategy.kind"),
        ("fedavg", {"weighting": "size"}, "fl.strategy.weighting"),
        ("fedavg", {"server_lr": 0}, "fl.strategy.server_lr"),
        ("fedavg", {"momentum": 0.9}, "fl.strategy.momentum: unknown field"),
        ("fedavgm", {"momentum": 1.0}, "fl.strategy.momentum"),
        ("fedadam", {"beta1": -0.1}, "fl.strategy.beta1"),
        ("fedadam", {"beta2": 1.2}, "fl.strategy.beta2"),
        ("fedadam", {"tau": 0.0}, "fl.strategy.tau"),
    ],
)
def test_bad_parameters_are_caught_by_the_schema(kind, params, word):
    """Strategy parameters are checked once, when the scenario is validated; the constructors trust them."""
    with pytest.raises(ScenarioError, match=word) as err:
        validate({"fl": {"strategy": {"kind": kind, **params}}})
    assert "\n" not in str(err.value)


def test_unknown_kind_in_the_registry():
    with pytest.raises(ValueError, match="strategy kind must be one of"):
        make_strategy("fedprox")


def test_bad_results():
    with pytest.raises(ValueError, match="exactly one"):
        ClientResult(3)
    with pytest.raises(ValueError, match="num_examples"):
        ClientResult(-1, params=G)
    with pytest.raises(ValueError, match="shape"):
        FedAvg().aggregate(G, [ClientResult(1, params=torch.zeros(4))])
    with pytest.raises(ValueError, match="ClientResult"):
        FedAvg().aggregate(G, [(G, 3)])
