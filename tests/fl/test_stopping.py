import pytest

from twin.fl.stopping import StopRule, floor_to, reached_target


def test_floor_to_and_guard():
    assert floor_to(0.8049, 2) == 0.80
    assert floor_to(0.7999, 2) == 0.79
    assert floor_to(0.29, 2) == 0.29  # 0.29 * 100 = 28.999999999999996 without the guard
    assert floor_to(0.123456, 0) == 0.0


def test_study_rule():
    rule = StopRule(max_rounds=150, target_accuracy=0.80, floor_decimals=2)
    assert rule.should_stop(10, 0.7999, 100.0) is None
    assert rule.should_stop(117, 0.8010, 100.0) == "target_accuracy"
    assert rule.should_stop(118, 0.8000, 100.0) == "target_accuracy"
    assert rule.should_stop(119, 0.83, 100.0) == "target_accuracy"  # jumping past the target also stops
    assert rule.should_stop(150, 0.70, 100.0) == "max_rounds"
    assert rule.should_stop(149, None, 100.0) is None  # not evaluated this round


def test_raw_comparison_without_flooring():
    assert not reached_target(0.7999, 0.80)
    assert reached_target(0.7999, 0.79, 2)
    rule = StopRule(max_rounds=10, target_accuracy=0.8)
    assert rule.should_stop(3, 0.8049, 0.0) == "target_accuracy" and rule.should_stop(3, 0.7999, 0.0) is None


def test_max_time_and_order():
    rule = StopRule(max_time_s=60.0, target_accuracy=0.9)
    assert rule.should_stop(1000, 0.5, 59.9) is None
    assert rule.should_stop(1000, 0.5, 60.0) == "max_time_s"
    assert rule.should_stop(1000, 0.95, 60.0) == "target_accuracy"
    assert StopRule(max_rounds=5, floor_decimals=2).should_stop(1, 0.99, 0.0) is None  # no target: flooring unused
    both = StopRule(max_rounds=5, max_time_s=10.0)
    assert both.should_stop(5, None, 20.0) == "max_rounds"


@pytest.mark.parametrize(
    "kwargs,word",
    [
        ({}, "max_rounds"),
        ({"target_accuracy": 0.8}, "max_rounds"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_rounds": 2.5}, "max_rounds"),
        ({"max_rounds": 5, "target_accuracy": 1.5}, "target_accuracy"),
        ({"max_rounds": 5, "target_accuracy": 0.0}, "target_accuracy"),
        ({"max_rounds": 5, "target_accuracy": 0.8, "floor_decimals": -1}, "floor_decimals"),
        ({"max_time_s": -3.0}, "max_time_s"),
        ({"max_time_s": float("inf")}, "max_time_s"),
    ],
)
def test_bad_input(kwargs, word):
    with pytest.raises(ValueError, match=word) as err:
        StopRule(**kwargs)
    assert "\n" not in str(err.value)
