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
