import math

import pandas as pd
import pytest

from twin.analysis.metrics import reached_target, savings, time_to_target


def _rounds(acc, selected, bytes_each=10.0, dt=2.0):
    n = len(acc)
    return pd.DataFrame({"round": range(1, n + 1), "t_end": [dt * (i + 1) for i in range(n)], "accuracy": acc,
                         "n_selected": selected, "n_completed": selected,
                         "bytes_down": [bytes_each * s for s in selected], "bytes_up": [bytes_each * s for s in selected]})


def test_floor_rule_of_the_study():
    assert reached_target([0.7999, 0.80, 0.8049], 0.8, floor_decimals=2).tolist() == [False, True, True]
    assert reached_target([0.79999999], 0.8).tolist() == [False]
    assert reached_target([math.nan, 0.9], 0.8).tolist() == [False, True]


def test_time_to_target_sums_up_to_the_hit():
    r = _rounds([0.5, 0.7, 0.81, 0.9], [10, 10, 5, 5])
    hit = time_to_target(r, 0.8)
    assert hit["round"] == 3 and hit["sim_time_s"] == 6.0 and hit["pushed_updates"] == 25
    assert hit["bytes_total"] == 500.0
    assert time_to_target(r, 0.95) is None


def test_savings_until_target_and_whole_run():
    base = _rounds([0.5, 0.7, 0.81], [10, 10, 10])
    run = _rounds([0.5, 0.7, 0.6, 0.82], [10, 5, 2, 1])
    s = savings(run, base, target=0.8)
    assert s["reached"] and s["pushed_updates"]["baseline"] == 30 and s["pushed_updates"]["run"] == 18
    assert s["pushed_updates"]["reduction_pct"] == pytest.approx(40.0)
    assert s["sim_time_s"]["reduction_pct"] == pytest.approx(100 * (6 - 8) / 6)
    whole = savings(run, base)
    assert whole["basis"] == "whole run" and whole["pushed_updates"]["run"] == 18


def test_round_times_drops_and_cohort():
    from twin.analysis.metrics import dropped_clients, fixed_cohort, round_times

    r = _rounds([0.5, 0.6, 0.7, 0.8], [10, 10, 10, 10]).assign(duration_s=[1.0, 2.0, 3.0, 10.0],
                                                               n_dropped=[0, 1, 0, 3])
    times = round_times(r)
    assert times["mean_round_s"] == pytest.approx(4.0) and times["p95_round_s"] == pytest.approx(8.95)
    assert dropped_clients(r) == {"dropped": 4, "drop_rate": pytest.approx(0.1)}
    assert fixed_cohort(r) == 10 and math.isnan(fixed_cohort(r.assign(n_selected=[10, 9, 8, 7])))


def test_run_metrics_to_target():
    from twin.analysis.metrics import reduction_pct, run_metrics

    r = _rounds([0.5, 0.7, 0.81, 0.9], [10, 10, 5, 5]).assign(duration_s=2.0, n_dropped=0)
    m = run_metrics(r, 0.8)
    assert m["reached"] and m["time_to_target_round"] == 3 and m["time_to_target_s"] == 6.0
    assert m["updates_to_target"] == 25 and m["bytes_to_target"] == 500.0 and m["bytes_total"] == 600.0
    assert m["final_accuracy"] == 0.9 and m["best_accuracy"] == 0.9
    never = run_metrics(r, 0.95)
    assert not never["reached"] and math.isnan(never["time_to_target_s"])
    assert reduction_pct(25, 100) == 75.0 and math.isnan(reduction_pct(1, 0))


def test_strategy_labels_keep_what_differs():
    from twin.analysis.labels import strategy_labels

    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d"],
                         "fl.schedule": ["{kind: constant, preset: seed}", "{kind: linear, preset: seed}",
                                         "{kind: linear, start: 10, end: 2}", "{kind: linear, start: 10, end: 3}"],
                         "fl.local.optimizer.lr": [0.1, 0.1, 0.1, 0.02]})
    assert strategy_labels(runs, ["fl.schedule", "fl.local.optimizer.lr"]) == [
        "constant, lr=0.1", "linear (preset=seed), lr=0.1", "linear (start=10, end=2), lr=0.1",
        "linear (start=10, end=3), lr=0.02"]
    assert strategy_labels(runs.iloc[:2], ["fl.schedule", "fl.local.optimizer.lr"]) == ["constant", "linear"]
