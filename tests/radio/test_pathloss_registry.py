"""The path-loss registry: one record per model, filled from the pathloss_<family>.py modules; a new model is one
record (shown with a toy model registered from this file alone). Presets and path-loss models against the scenario
schema: tests/test_registries.py."""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from pathlib import Path

import numpy as np
import pytest

import twin.radio as radio
from twin.radio.model import RadioModel, Tier
from twin.radio.pathloss import PATHLOSS_MODELS, PathLossModel, pathloss_db, pathloss_model, register_pathloss_model
from twin.radio.presets import LinkQuality, get_preset

ROOT = Path(__file__).resolve().parents[2]
RADIO = ROOT / "twin" / "radio"


def _mid_fc(rec: PathLossModel) -> float:
    lo, hi = rec.fc_range_hz
    return 3.5e9 if lo <= 3.5e9 <= hi else math.sqrt(max(lo, 1e8) * min(hi, 1e11))


def test_the_registry_is_what_the_family_modules_declare():
    declared = []
    for path in sorted(RADIO.glob("pathloss_*.py")):
        module = importlib.import_module(f"twin.radio.{path.stem}")
        declared += [m.name for m in getattr(module, "MODELS", ())]
    assert declared == list(PATHLOSS_MODELS)  # registered in module-name order: TR 38.901 first
    assert declared[:4] == ["uma", "umi", "rma", "inh"]
    assert set(radio.PATHLOSS_MODELS) == set(declared)


@pytest.mark.parametrize("name", list(PATHLOSS_MODELS))
def test_every_record_is_complete_and_its_defaults_evaluate(name):
    rec = pathloss_model(name)
    assert rec.name == name and rec.clause.strip()
    assert getattr(rec.formula, "func", rec.formula).__doc__  # partial(urban_pathloss_db, coef=...) or a function
    lo, hi = rec.fc_range_hz
    assert 0 <= lo < hi and rec.h_bs_m > 0 and rec.h_ut_m > rec.min_h_ut_m
    d = np.array([10.0, 100.0, 1000.0])
    for los in (True, False):
        pl = pathloss_db(name, d, _mid_fc(rec), los=los)  # default heights and parameter table
        assert np.all(np.isfinite(pl)) and np.all(np.diff(pl) > 0), (name, los, pl)
        explicit = pathloss_db(name, d, _mid_fc(rec), los=los, h_bs_m=rec.h_bs_m, h_ut_m=rec.h_ut_m, **rec.params)
        np.testing.assert_array_equal(pl, explicit)
    assert all(s >= 0 for s in rec.shadow_sigma_db) and all(c > 0 for c in rec.shadow_decorrelation_m)
    np.testing.assert_array_equal(radio.shadow_sigma_db(name, [True, False]), rec.shadow_sigma_db)


def test_records_are_read_only_and_checked():
    rec = pathloss_model("rma")
    with pytest.raises(TypeError):
        rec.params["street_width_m"] = 30.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.h_bs_m = 10.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="fc_range_hz"):
        PathLossModel("bad", rec.formula, "nowhere", (5e9, 1e9), h_bs_m=10.0)
    with pytest.raises(ValueError, match="already registered"):
        register_pathloss_model(dataclasses.replace(rec, clause="another"))
    with pytest.raises(ValueError, match="lower-case"):
        register_pathloss_model(dataclasses.replace(rec, name="RMa2"))


# ------------------------------------------------------------------------ adding a model: one record, one file


def toy_pathloss_db(d, fc_hz, los, h_bs, h_ut, *, exponent):
    """A log-distance model: 20 log10(4 pi fc / c) at 1 m, then ``10 exponent log10(d3D)``; + 10 dB where NLOS."""
    d3 = np.sqrt(d * d + (h_bs - h_ut) ** 2)
    pl = 20.0 * np.log10(4.0 * math.pi * fc_hz / 3e8) + 10.0 * exponent * np.log10(np.maximum(d3, 1.0))
    return np.where(los, pl, pl + 10.0)


TOY = PathLossModel("toy-logdistance", toy_pathloss_db, "a textbook log-distance model (test only)", (1e9, 10e9),
                    h_bs_m=20.0, params={"exponent": 3.0}, shadow_sigma_db=(2.0, 5.0),
                    shadow_decorrelation_m=(20.0, 30.0))


@pytest.fixture
def toy():
    register_pathloss_model(TOY)
    try:
        yield TOY
    finally:
        del PATHLOSS_MODELS[TOY.name]


def test_a_new_model_is_one_record(toy):
    d = np.array([1.0, 100.0])
    want = 20 * np.log10(4 * np.pi * 2e9 / 3e8) + 30 * np.log10(np.sqrt(d**2 + 18.5**2))
    np.testing.assert_allclose(pathloss_db("toy-logdistance", d, 2e9), want)  # default heights and exponent
    np.testing.assert_allclose(pathloss_db("toy-logdistance", d, 2e9, los=False, exponent=2.0),
                               want / 1.5 + 10 + 20 * np.log10(4 * np.pi * 2e9 / 3e8) / 3, rtol=1e-12)
    with pytest.raises(ValueError, match="outside the validity range of path-loss model 'toy-logdistance'"):
        pathloss_db("toy-logdistance", d, 28e9)
    with pytest.raises(ValueError, match="unknown parameter.*valid: exponent"):
        pathloss_db("toy-logdistance", d, 2e9, dhb_m=3.0)
    # shadowing knows its table
    assert radio.decorrelation_distance_m("toy-logdistance", False) == 30.0
    proc = radio.ShadowingProcess.for_model("toy-logdistance", (4, 2), rng=np.random.default_rng(0))
    assert np.std(proc.step(0.0, False)) > 0
    # a preset and the radio model use it through the preset interface
    lte = get_preset("drive-lte").replace(pathloss_los="toy-logdistance", pathloss_nlos="toy-logdistance",
                                          los_params=(), nlos_params=(), fc_hz=2e9)
    assert lte.shadowing_model == "toy-logdistance"
    model = RadioModel([Tier("toy", lte, np.array([0, 1]), lte.sensitivity_floor_dbm())],
                       np.array([[0.0, 0.0], [400.0, 0.0]]), 3, rng=np.random.default_rng(1), penetration_loss=False)
    rx_dl, rx_ul = model.step(np.array([[50.0, 0.0], [380.0, 0.0], [200.0, 5.0]]), np.ones(3, bool), np.zeros(3))
    assert np.all(np.isfinite(rx_dl)) and model._shadow[0] is not None
    _, _, rate_dl, rate_ul = model.link_quality(rx_dl, rx_ul, rx_dl.argmax(axis=1), np.ones(2), np.ones(2))
    np.testing.assert_array_equal(rate_dl, lte.rate_bps(LinkQuality(rx_power_dbm=rx_dl.max(axis=1))))


def test_the_toy_is_gone_after_the_test():
    assert "toy-logdistance" not in PATHLOSS_MODELS


def test_no_caller_branches_on_the_preset_type():
    """Outside presets.py nothing in twin/ names a concrete preset class: everything goes through the interface."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "twin").rglob("*.py")
                 if p.name not in ("presets.py", "__init__.py") and re.search(r"\b(NrPreset|TablePreset)\b",
                                                                              p.read_text())]
    assert not offenders, offenders
