"""Asynchronous FL (fedbuff, fedasync) on the event loop: the exact equivalence with FedAvg, determinism, event order
that does not depend on training, the rounds table of server steps, drops, and bad input."""

import numpy as np
import pandas as pd
import pytest
import torch

from twin.fl.strategies import make_strategy
from twin.fl.strategies.asynchronous import AsyncUpdate, staleness_weight
from twin.run import main
from twin.scenario.loading import load_scenario
from twin.sim.runner import simulate

SHORT = ["fl.rounds=6", "fl.stop.target_accuracy=null"]
FEDBUFF = "fl.strategy={kind: fedbuff, buffer_size: 4, concurrency: 8}"
FEDASYNC = "fl.strategy={kind: fedasync, mixing: 0.6, concurrency: 6, staleness: {kind: polynomial, a: 0.5}}"


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("weighting", "replacement"), [("num_examples", False), ("uniform", False),
                                                       ("num_examples", True)])
def test_fedbuff_with_a_full_buffer_refilled_at_each_step_is_fedavg_bit_for_bit(one_thread, weighting, replacement):
    # quickstart selects 10 of its 20 clients per round; fedbuff with buffer = concurrency = 10, refill at_step (the
    # same selection stream, in order) and constant staleness must give the same models (with replacement too: a
    # client drawn twice trains twice, in the same order).
    sync = simulate(load_scenario("quickstart", [*SHORT, f"fl.strategy.weighting={weighting}",
                                                 f"fl.replacement={str(replacement).lower()}"]))
    buff = simulate(load_scenario("quickstart", [*SHORT, f"fl.replacement={str(replacement).lower()}", (
        "fl.strategy={kind: fedbuff, buffer_size: 10, concurrency: 10, refill: at_step, "
        f"staleness: {{kind: constant}}, weighting: {weighting}}}")]))
    cols = ["round", "t_start", "t_end", "n_selected", "n_completed", "n_dropped", "bytes_down", "bytes_up",
            "accuracy", "loss", "train_loss"]
    pd.testing.assert_frame_equal(sync.tables["rounds"][cols], buff.tables["rounds"][cols], check_exact=True)
    assert torch.equal(sync.env.workload.global_flat, buff.env.workload.global_flat)
    tl_s, tl_b = sync.tables["timeline"], buff.tables["timeline"]
    assert tl_s.loc[tl_s["kind"] == "select", "client"].tolist() == \
        tl_b.loc[tl_b["kind"] == "dispatch", "client"].tolist()
    assert (buff.tables["rounds"]["staleness_max"] == 0).all()


def test_a_stale_update_breaks_the_equivalence():
    # The same set-up with immediate refill is a different algorithm: the check above can fail.
    sync = simulate(load_scenario("quickstart", SHORT))
    buff = simulate(load_scenario("quickstart", [*SHORT, (
        "fl.strategy={kind: fedbuff, buffer_size: 5, concurrency: 10, staleness: {kind: constant}, "
        "weighting: num_examples}")]))
    assert not sync.tables["rounds"]["accuracy"].equals(buff.tables["rounds"]["accuracy"])
    assert buff.tables["rounds"]["staleness_max"].max() > 0


@pytest.mark.parametrize("strategy", [FEDBUFF, FEDASYNC])
def test_async_runs_are_deterministic_and_seeded(strategy):
    a = simulate(load_scenario("quickstart", [*SHORT, strategy]))
    b = simulate(load_scenario("quickstart", [*SHORT, strategy]))
    pd.testing.assert_frame_equal(a.tables["rounds"], b.tables["rounds"])
    pd.testing.assert_frame_equal(a.tables["timeline"], b.tables["timeline"])
    c = simulate(load_scenario("quickstart", [*SHORT, strategy], seed=2))
    assert not a.tables["rounds"]["accuracy"].equals(c.tables["rounds"]["accuracy"])


@pytest.mark.parametrize("strategy", [FEDBUFF, FEDASYNC])
def test_event_order_does_not_depend_on_training(strategy):
    # Without training (fl.train: false) the bytes and FLOPs are the same, and so is every event but the evaluations.
    trained = simulate(load_scenario("quickstart", [*SHORT, strategy]))
    timing = simulate(load_scenario("quickstart", [*SHORT, strategy, "fl.train=false"]))
    drop = ["accuracy", "loss"]
    tl = [t.tables["timeline"] for t in (trained, timing)]
    tl = [t[t["kind"] != "evaluate"].drop(columns=drop, errors="ignore").reset_index(drop=True) for t in tl]
    pd.testing.assert_frame_equal(tl[0], tl[1])
    cols = ["round", "t_end", "n_selected", "n_completed", "bytes_down", "bytes_up", "staleness_mean"]
    pd.testing.assert_frame_equal(trained.tables["rounds"][cols], timing.tables["rounds"][cols])
    assert timing.tables["rounds"]["accuracy"].isna().all()


def test_fedbuff_rounds_table_is_one_row_per_server_step():
    res = simulate(load_scenario("quickstart", ["fl.rounds=30", FEDBUFF]))
    r = res.tables["rounds"]
    assert r["round"].tolist() == list(range(1, len(r) + 1))
    assert (r["n_completed"] == 4).all()
    assert (r["t_end"].diff().dropna() >= 0).all() and (r["t_start"].iloc[1:].values == r["t_end"].iloc[:-1].values).all()
    assert np.allclose(r["bytes_up_total"], r["bytes_up"].cumsum()) and np.allclose(r["bytes_down_total"],
                                                                                    r["bytes_down"].cumsum())
    assert (r["n_completed_total"] == r["n_completed"].cumsum()).all()
    assert (r["n_selected_total"] == r["n_selected"].cumsum()).all()
    assert r["staleness_max"].max() >= 1  # with 8 clients training and a step every 4, updates go stale
    assert res.summary["final_accuracy"] > 0.85  # the digits still learn
    tl = res.tables["timeline"]
    steps = tl[tl["kind"] == "server_step"]
    assert steps["round"].tolist() == r["round"].tolist() and steps["version"].tolist() == r["round"].tolist()
    arrivals = tl[tl["kind"] == "arrival"]
    assert len(arrivals) == r["n_arrived"].sum() and (arrivals["staleness"] >= 0).all()
    # at most `concurrency` participations in flight at any time
    dispatch = tl[tl["kind"] == "dispatch"]["t"].to_numpy()
    done = arrivals["t"].to_numpy()
    assert max(np.searchsorted(dispatch, t, side="right") - np.searchsorted(done, t, side="right")
               for t in dispatch) <= 8


def test_fedasync_steps_on_every_arrival_and_learns():
    res = simulate(load_scenario("quickstart", ["fl.rounds=40", "fl.stop.target_accuracy=null", FEDASYNC]))
    r = res.tables["rounds"]
    assert len(r) == 40 and (r["n_completed"] == 1).all()
    assert r["accuracy"].iloc[-1] > 0.8 and r["accuracy"].iloc[-1] > r["accuracy"].iloc[0]


def test_deadline_drops_participations_and_refills_their_slots():
    over = ["clients.device.heterogeneity={kind: uniform, low: 0.01, high: 1.0}", "fl.deadline_s=0.13",
            "fl.rounds=8", "fl.train=false", "fl.stop.target_accuracy=null", FEDBUFF]
    res = simulate(load_scenario("quickstart", over))
    assert res.summary["stop_reason"] == "max_rounds"
    r, tl = res.tables["rounds"], res.tables["timeline"]
    dropped = tl[tl["kind"] == "client_dropped"]
    assert len(dropped) > 0 and set(dropped["reason"]) == {"deadline"}
    assert r["n_dropped"].sum() == len(dropped[dropped["t"] <= r["t_end"].iloc[-1]])
    arrived = tl[tl["kind"] == "arrival"]
    start = tl[tl["kind"] == "dispatch"].set_index("slot")["t"]
    assert ((arrived["t"].to_numpy() - start[arrived["slot"]].to_numpy()) <= 0.13 + 1e-9).all()


def test_a_run_where_nothing_gets_through_ends():
    # No participation fits a 10 ms deadline: after 10 x concurrency drops in a row the run ends, it does not spin.
    res = simulate(load_scenario("quickstart", ["fl.deadline_s=0.01", "fl.train=false", FEDBUFF]))
    assert res.summary["stop_reason"] == "no_updates" and res.tables["rounds"].empty
    tl = res.tables["timeline"]
    assert (tl["kind"] == "client_dropped").sum() == 80


def test_at_step_refill_waits_for_the_step():
    res = simulate(load_scenario("quickstart", [*SHORT, "fl.train=false", (
        "fl.strategy={kind: fedbuff, buffer_size: 4, concurrency: 8, refill: at_step}")]))
    tl = res.tables["timeline"]
    steps = set(tl.loc[tl["kind"] == "server_step", "t"]) | {0.0}
    assert set(tl.loc[tl["kind"] == "dispatch", "t"]) <= steps


# --------------------------------------------------------------------------------------------- the arithmetic


def test_staleness_functions_follow_xie_et_al():
    tau = np.array([0, 1, 3, 4, 5, 8])
    assert staleness_weight(tau, "constant").tolist() == [1.0] * 6
    assert staleness_weight(tau, "polynomial", a=0.5) == pytest.approx(1 / np.sqrt(1 + tau))
    # hinge a=10, b=4: 1 up to 4, then 1 / (10 (tau - 4) + 1)
    assert staleness_weight(tau, "hinge", a=10, b=4) == pytest.approx([1, 1, 1, 1, 1 / 11, 1 / 41])


def test_fedbuff_step_is_the_staleness_weighted_mean_delta():
    s = make_strategy("fedbuff", staleness={"kind": "polynomial", "a": 1.0}, server_lr=0.5, buffer_size=2)
    x = torch.tensor([1.0, 2.0])
    ups = [AsyncUpdate(torch.tensor([2.0, 0.0]), 1, 0), AsyncUpdate(torch.tensor([0.0, 4.0]), 3, 1)]
    # uniform: 0.5 * (0.5 * 1 * d1 + 0.5 * 0.5 * d2) = 0.5 * [1, 1]
    assert s.apply(x, ups).tolist() == pytest.approx([1.5, 2.5])
    s.weighting = "num_examples"  # w = 1/4, 3/4: 0.5 * ([0.5, 0] + 3/4 * 1/2 * [0, 4]) = [0.25, 0.75]
    assert s.apply(x, ups).tolist() == pytest.approx([1.25, 2.75])


def test_fedasync_mixes_the_clients_model_by_staleness():
    s = make_strategy("fedasync", mixing=0.6, staleness={"kind": "polynomial", "a": 0.5})
    x = torch.tensor([1.0, 1.0])
    base = torch.tensor([0.0, 0.0])  # the client started from an older model
    up = AsyncUpdate(torch.tensor([2.0, 4.0]), 10, staleness=3, base=base)
    alpha = 0.6 / 2  # (1 + 3)^-0.5
    assert s.apply(x, [up]).tolist() == pytest.approx([(1 - alpha) * 1 + alpha * 2, (1 - alpha) * 1 + alpha * 4])
    s.weighting = "num_examples"  # twice the mean client: alpha doubles (at most 1)
    assert s.apply(x, [up], mean_examples=5.0).tolist() == pytest.approx([1.6, 2.8])


# --------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("over", "needle"), [
    (["fl.strategy={kind: fedbuff, buffer_size: 20, concurrency: 10}"], "buffer_size (20) is above concurrency (10)"),
    (["fl.strategy={kind: fedbuff, buffer_size: 5, concurrency: 50}"], "fl.strategy.concurrency: 50"),
    (["fl.strategy={kind: fedasync}"], "fl.strategy.concurrency: 100"),
    (["fl.strategy={kind: fedasync, concurrency: 5, staleness: {kind: hinge, a: -1}}"], "fl.strategy.staleness"),
    (["fl.strategy={kind: fedasync, concurrency: 5, mixing: 1.5}"], "fl.strategy.mixing"),
    (["fl.strategy={kind: fedbuff, concurrency: 5, buffer_size: 5, refill: later}"], "fl.strategy.refill"),
])
def test_bad_async_input_is_one_line_exit_2(tmp_path, capsys, over, needle):
    args = ["quickstart", "--out", str(tmp_path / "o")]
    for o in over:
        args += ["--set", o]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not (tmp_path / "o").exists()
