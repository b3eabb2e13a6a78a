"""Best server and the Association state machine (hysteresis, time-to-trigger) on hand-made sequences."""

import numpy as np
import pytest

from twin.radio import Association, best_server


def m(*rows):
    return np.array(rows, dtype=float)


def run(assoc, metrics, dt=0.1):
    return [int(assoc.step(m(row), dt)[0]) for row in metrics]


def test_best_server():
    cell, val = best_server(
        m([-80, -70, -90], [-100, -100, -120], [np.nan, -95, -np.inf], [-np.inf, -np.inf, -np.inf]), min_metric=-110
    )
    assert cell.tolist() == [1, 0, 1, -1]  # ties: the lowest index
    assert val.tolist() == [-70, -100, -95, -np.inf]
    cell, _ = best_server(m([-120, -115]), min_metric=-110)
    assert cell.tolist() == [-1]


def test_initial_attach_is_immediate():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=1.0)
    assert run(a, [[-80, -90]]) == [0]
    assert a.attached.tolist() == [True] and not a.handover.any()


def test_within_hysteresis_never_hands_over():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=0.0)
    seq = [[-80, -90]] + [[-80, -77.5]] * 10 + [[-80, -77.0]] * 3  # 2.5 dB and exactly 3 dB better: not > 3
    assert run(a, seq) == [0] * 14


def test_ttt_zero_hands_over_at_once():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=0.0)
    assert run(a, [[-80, -90], [-80, -76.9]]) == [0, 1]
    assert a.handover.tolist() == [True]


def test_ttt_must_elapse_and_resets_when_condition_fails():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=0.3)
    better, worse = [-80, -75], [-80, -78]
    # condition holds at t = 0.1, 0.2, 0.3 (timer 0, 0.1, 0.2), fails at 0.4, holds again from 0.5:
    # timer 0, 0.1, 0.2, 0.3 -> handover at the 4th consecutive step (t = 0.8)
    seq = [[-80, -90], better, better, better, worse, better, better, better, better, better]
    got = run(a, seq)
    assert got == [0, 0, 0, 0, 0, 0, 0, 0, 1, 1]


def test_ttt_counts_real_time_with_uneven_steps():
    a = Association(1, hysteresis_db=1, time_to_trigger_s=0.5)
    a.step(m([-80, -90]), 0.0)
    assert int(a.step(m([-80, -70]), 0.2)[0]) == 0  # condition seen: timer 0
    assert a.timer_s.tolist() == [0.0]
    assert int(a.step(m([-80, -70]), 0.3)[0]) == 0  # timer 0.3
    assert a.timer_s.tolist() == pytest.approx([0.3])
    assert int(a.step(m([-80, -70]), 0.2)[0]) == 1  # timer 0.5 -> handover


def test_ping_pong_is_suppressed():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=0.0)
    seq = [[-80, -90]] + [[-80, -78], [-78, -80]] * 10  # alternating 2 dB advantages
    assert run(a, seq) == [0] * 21


def test_target_may_change_while_timer_runs():
    a = Association(1, hysteresis_db=3, time_to_trigger_s=0.2)
    seq = [[-80, -90, -90], [-80, -70, -90], [-80, -90, -70], [-80, -90, -69]]
    assert run(a, seq) == [0, 0, 0, 2]  # handover to the then-best cell


def test_floor_loss_and_reattach():
    a = Association(2, hysteresis_db=3, time_to_trigger_s=10.0, min_metric=-100)
    assert a.step(m([-90, -95], [-120, -130]), 0.1).tolist() == [0, -1]  # UE 1 below the floor
    assert a.attached.tolist() == [True, False]
    # UE 0's cell drops below the floor: it re-attaches at once (no TTT) to cell 1; UE 1 attaches
    assert a.step(m([-105, -99], [-99, -130]), 0.1).tolist() == [1, 0]
    assert a.handover.tolist() == [True, False] and a.attached.tolist() == [False, True]
    # everything below the floor: both detached
    assert a.step(m([-105, -101], [-120, -130]), 0.1).tolist() == [-1, -1]
    assert a.detached.tolist() == [True, True]


def test_vectorised_over_many_ues():
    rng = np.random.default_rng(0)
    a = Association(1000, hysteresis_db=3, time_to_trigger_s=0.0)
    metric = rng.uniform(-120, -60, size=(1000, 20))
    first = a.step(metric, 1.0)
    np.testing.assert_array_equal(first, np.argmax(metric, axis=1))
    metric2 = metric + rng.normal(0, 2, size=metric.shape)
    second = a.step(metric2, 1.0)
    cur = metric2[np.arange(1000), first]
    best = metric2.max(axis=1)
    moved = best > cur + 3
    np.testing.assert_array_equal(second[moved], np.argmax(metric2, axis=1)[moved])
    np.testing.assert_array_equal(second[~moved], first[~moved])


def test_bad_input():
    with pytest.raises(ValueError, match="hysteresis_db"):
        Association(3, hysteresis_db=-1)
    with pytest.raises(ValueError, match="time_to_trigger_s"):
        Association(3, time_to_trigger_s=-0.1)
    a = Association(2)
    with pytest.raises(ValueError, match="metric"):
        a.step(np.zeros((3, 2)), 0.1)
    with pytest.raises(ValueError, match="dt_s"):
        a.step(np.zeros((2, 2)), -1.0)
