import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.fl.schedules import KINDS, SCHEDULES, clients_per_round, pushed_updates, resolved_shape, seed_head
from twin.scenario.loading import ScenarioError, validate

REDUCING = ("exponential", "linear", "sigmoid", "reciprocal")
SEED = ("constant",) + REDUCING


# --- seed preset: the study's integers --------------------------------------------------------------------------------


def study_formula(kind: str, x: float) -> int:
    """The study's formulas, written out independently of the module."""
    return {
        "constant": lambda: 338,
        "exponential": lambda: int(338 - math.exp((x - 1) / 10.3)),
        "linear": lambda: int(338 - 5.065 * x),
        "sigmoid": lambda: int(338 - 304 / (1 + math.exp(-0.26 * (x - 20)))),
        "reciprocal": lambda: int(34 + 50 / (0.164 if x == 0 else x)),
    }[kind]()


FIRST_TEN = {
    "constant": [338] * 10,
    "exponential": [337, 337, 336, 336, 336, 336, 336, 336, 336, 335],
    "linear": [338, 332, 327, 322, 317, 312, 307, 302, 297, 292],
    "sigmoid": [336, 335, 335, 334, 333, 331, 330, 327, 325, 321],
    "reciprocal": [338, 84, 59, 50, 46, 44, 42, 41, 40, 39],
}


@pytest.mark.parametrize("kind", SEED)
def test_seed_preset_first_ten_values(kind):
    assert clients_per_round(kind, 150, preset="seed")[:10].tolist() == FIRST_TEN[kind]


@pytest.mark.parametrize("kind", SEED)
def test_seed_preset_matches_study_formulas(kind):
    got = clients_per_round(kind, 150, 338, 34, preset="seed")
    assert got.dtype == np.int64 and got.shape == (150,)
    want = [study_formula(kind, x) for x in range(61)] + [338 if kind == "constant" else 34] * 89
    assert got.tolist() == want


# the study's table: pushed updates (sum of clients per round up to the stop round)
@pytest.mark.parametrize(
    "kind,stop,pushed",
    [
        ("constant", 117, 39546),
        ("exponential", 123, 19382),
        ("linear", 122, 13393),
        ("sigmoid", 119, 10259),
        ("reciprocal", 120, 4591),
    ],
)
def test_seed_preset_reproduces_study_pushed_updates(kind, stop, pushed):
    assert pushed_updates(clients_per_round(kind, 150, preset="seed"), stop) == pushed


def test_seed_exponential_keeps_its_undershoot():
    s = clients_per_round("exponential", 150, preset="seed")
    assert s[60] == 30 and s[61] == 34 and s.min() == 30


def test_seed_preset_shorter_and_longer_than_150():
    assert clients_per_round("linear", 5, preset="seed").tolist() == [338, 332, 327, 322, 317]
    long = clients_per_round("sigmoid", 400, preset="seed")
    assert long.shape == (400,) and (long[61:] == 34).all()
    assert (clients_per_round("constant", 200, preset="seed") == 338).all()
    assert seed_head("reciprocal").shape == (61,)


# --- general forms ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,max_diff", [("linear", 1), ("sigmoid", 2), ("reciprocal", 1), ("exponential", 4)])
def test_general_form_close_to_seed_preset(kind, max_diff):
    general = clients_per_round(kind, 150, 338, 34, horizon=61)
    preset = clients_per_round(kind, 150, preset="seed")
    assert int(np.abs(general - preset).max()) == max_diff
    if kind == "exponential":
        assert int(np.abs(general - preset)[:60].max()) == 3


@pytest.mark.parametrize("kind", REDUCING)
def test_general_form_endpoints(kind):
    s = clients_per_round(kind, 100, 200, 20, horizon=50)
    assert s[0] == 200 and s[49] == 20 and (s[49:] == 20).all()
    assert clients_per_round(kind, 100, 200, 20)[-1] == 20  # default horizon = rounds


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(REDUCING),
    rounds=st.integers(1, 300),
    end=st.integers(1, 500),
    extra=st.integers(0, 3000),
    horizon=st.one_of(st.none(), st.integers(2, 400)),
)
def test_general_forms_monotone_and_bounded(kind, rounds, end, extra, horizon):
    start = end + extra
    s = clients_per_round(kind, rounds, start, end, horizon=horizon)
    assert s.dtype == np.int64 and s.shape == (rounds,)
    assert (np.diff(s) <= 0).all()
    assert s.min() >= end and s.max() <= start and s[0] == start


def test_shape_parameters_change_the_curve():
    base = clients_per_round("sigmoid", 60, 300, 30)
    steep = clients_per_round("sigmoid", 60, 300, 30, steepness=1.0, midpoint=30)
    assert steep[25] > base[25] and steep[35] < base[35]
    slow = clients_per_round("exponential", 60, 300, 30, tau=30.0)
    fast = clients_per_round("exponential", 60, 300, 30, tau=3.0)
    assert slow[30] < fast[30]
    assert clients_per_round("reciprocal", 60, 300, 30, knee=5.0)[5] == 300


def test_constant_and_equal_start_end():
    assert (clients_per_round("constant", 7, 12) == 12).all()
    assert (clients_per_round("linear", 7, 12, 12) == 12).all()


def test_list_schedule():
    assert clients_per_round("list", 5, counts=[5, 3]).tolist() == [5, 3, 3, 3, 3]
    assert clients_per_round("list", 2, counts=[5, 3, 1]).tolist() == [5, 3]
    assert clients_per_round("list", 3, counts=np.array([4, 4, 2])).dtype == np.int64


@pytest.mark.parametrize(
    "schedule,word",
    [
        ({"kind": "cubic", "start": 5, "end": 1}, "fl.schedule.kind"),
        ({"kind": "linear", "start": 5, "end": 10}, "fl.schedule: end .10. is above start .5."),
        ({"kind": "linear", "start": 5, "end": 0}, "fl.schedule.end"),
        ({"kind": "linear", "start": -5, "end": 1}, "fl.schedule.start"),
        ({"kind": "linear", "start": 5, "end": 1, "horizon": 1}, "fl.schedule.horizon"),
        ({"kind": "linear", "start": 5, "end": 1, "tau": 2.0}, "fl.schedule.tau: unknown field"),
        ({"kind": "exponential", "start": 5, "end": 1, "tau": -1.0}, "fl.schedule.tau"),
        ({"kind": "sigmoid", "start": 5, "end": 1, "steepness": 0}, "fl.schedule.steepness"),
        ({"kind": "linear", "start": 5, "end": 1, "preset": "paper"}, "fl.schedule.preset"),
        ({"kind": "linear", "start": 300, "preset": "seed"}, "fl.schedule: start: preset 'seed' fixes"),
        ({"kind": "linear", "end": 30, "preset": "seed"}, "fl.schedule: end: preset 'seed' fixes"),
        ({"kind": "linear", "preset": "seed", "horizon": 50}, "fl.schedule: horizon: preset 'seed' fixes"),
        ({"kind": "sigmoid", "preset": "seed", "steepness": 1.0}, "fl.schedule: steepness: preset 'seed' fixes"),
        ({"kind": "constant", "preset": "seed", "start": 338}, "fl.schedule: start: preset 'seed' fixes"),
        ({"kind": "list"}, "fl.schedule.counts"),
        ({"kind": "list", "counts": [3, -1]}, r"fl.schedule.counts.1"),
        ({"kind": "list", "counts": []}, "fl.schedule.counts"),
        ({"kind": "linear", "end": 1}, "fl.schedule: give start and end"),
        ({"kind": "constant"}, "fl.schedule: give start"),
    ],
)
def test_bad_schedules_are_caught_by_the_schema(schedule, word):
    """The schema is the one home of the schedule checks it can make; clients_per_round trusts its input."""
    with pytest.raises(ScenarioError, match=word) as err:
        validate({"fl": {"rounds": 10, "schedule": schedule}})
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "args,kwargs,word",
    [
        (("cubic", 10, 5, 1), {}, "kind"),
        (("reciprocal", 10, 5, 1), {"knee": 20.0}, "knee"),
        (("exponential", 10, 5, 1), {"tau": 0.001}, "tau"),
        (("sigmoid", 10, 5, 1), {"steepness": 1e-14}, "flat sigmoid"),
    ],
)
def test_checks_that_need_the_computed_shape(args, kwargs, word):
    """Checks against the horizon-derived defaults live with those defaults (resolved_shape)."""
    with pytest.raises(ValueError, match=word) as err:
        clients_per_round(*args, **kwargs)
    assert "\n" not in str(err.value)


def test_resolved_shape_is_what_the_schedule_runs_with():
    p = resolved_shape("exponential", 61, start=338, end=34)
    assert p == {"start": 338, "end": 34, "horizon": 61, "tau": pytest.approx(10.3)}
    assert (clients_per_round("exponential", 61, 338, 34, tau=p["tau"], horizon=p["horizon"])
            == clients_per_round("exponential", 61, 338, 34)).all()
    s = resolved_shape("sigmoid", 61, start=338, end=34)
    assert s["steepness"] == pytest.approx(0.26) and s["midpoint"] == pytest.approx(20.0)
    assert resolved_shape("reciprocal", 61, start=338, end=34, horizon=31)["knee"] == pytest.approx(50 / 304 / 2)
    assert resolved_shape("linear", 1, start=5, end=1)["horizon"] == 2
    assert resolved_shape("linear", 10, preset="seed") == {"start": 338, "end": 34, "horizon": 61}
    assert resolved_shape("list", 10, counts=[1]) == {}


def test_kinds_listed():
    assert set(KINDS) == set(SCHEDULES) == {"constant", "exponential", "linear", "sigmoid", "reciprocal", "list"}
