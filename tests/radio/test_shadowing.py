"""Shadow fading tables, the correlated ShadowingProcess, the LOS-state process and O2I car loss."""

import math

import numpy as np
import pytest

from twin.radio import (
    LosProcess,
    ShadowingProcess,
    decorrelation_distance_m,
    los_decorrelation_distance_m,
    o2i_car_loss_db,
    shadow_sigma_db,
)
from twin.radio.shadowing import standard_normal


def test_sigma_and_decorrelation_tables():
    assert shadow_sigma_db("uma", [True, False]).tolist() == [4.0, 6.0]
    assert shadow_sigma_db("umi", [True, False]).tolist() == [4.0, 7.82]
    assert shadow_sigma_db("rma", [True, False]).tolist() == [4.0, 8.0]
    assert shadow_sigma_db("inh", [True, False]).tolist() == [3.0, 8.03]
    assert shadow_sigma_db("freespace", True) == 0.0
    # RMa LOS: 6 dB beyond dBP = 2 pi 35 1.5 3.5e9 / 3e8 = 3848 m
    assert shadow_sigma_db("rma", [True, True, False], [1000.0, 5000.0, 5000.0], fc_hz=3.5e9).tolist() == [
        4.0,
        6.0,
        8.0,
    ]
    assert decorrelation_distance_m("uma", [True, False]).tolist() == [37.0, 50.0]
    assert decorrelation_distance_m("umi", [True, False]).tolist() == [10.0, 13.0]
    assert decorrelation_distance_m("rma", [True, False]).tolist() == [37.0, 120.0]
    assert decorrelation_distance_m("inh", [True, False]).tolist() == [10.0, 6.0]
    assert [los_decorrelation_distance_m(m) for m in ("uma", "umi", "rma", "inh")] == [50.0, 50.0, 60.0, 10.0]
    with pytest.raises(ValueError, match="unknown shadowing model 'x'"):
        shadow_sigma_db("x", True)


def test_standard_normal_draws():
    rng = np.random.default_rng(11)
    for dtype in (np.float32, np.float64):
        z = standard_normal(rng, np.empty(400_001, dtype=dtype))
        assert z.dtype == dtype
        assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01
        assert np.mean(np.abs(z) < 1) == pytest.approx(0.6827, abs=0.003)
        assert np.mean(np.abs(z) < 2) == pytest.approx(0.9545, abs=0.002)
        assert np.mean(z**4) == pytest.approx(3.0, abs=0.05)


def _trajectory(dtype, los=None, n_ue=1000, steps=300, moved=10.0, sigma=6.0, d_corr=50.0, seed=7):
    rng = np.random.default_rng(seed)
    proc = ShadowingProcess((n_ue, 2), sigma_db=sigma, d_corr_m=d_corr, rng=rng, dtype=dtype)
    out = np.empty((steps, n_ue, 2), dtype=dtype)
    for k in range(steps):
        out[k] = proc.step(np.full(n_ue, moved), los)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shadowing_variance_and_lag_correlation(dtype):
    s = _trajectory(dtype).astype(np.float64)
    assert s.dtype == np.float64
    assert s.var() == pytest.approx(36.0, rel=0.03)
    assert abs(s.mean()) < 0.15
    for lag in (1, 5):
        corr = np.mean(s[lag:] * s[:-lag]) / s.var()
        assert corr == pytest.approx(math.exp(-lag * 10.0 / 50.0), abs=0.02)


def test_shadowing_step_matches_scalar_ar1_reference():
    """z1 = R z0 + sqrt(1 - R^2) n, per link, with the LOS/NLOS pair of UMa, from the same draws."""
    n_ue, n_cell, seed = 5, 3, 4
    los = np.random.default_rng(0).random((n_ue, n_cell)) < 0.5
    moved = np.array([0.0, 1.0, 10.0, 37.0, 200.0])
    proc = ShadowingProcess.for_model("uma", (n_ue, n_cell), rng=np.random.default_rng(seed))
    got = proc.step(moved, los)
    twin_rng = np.random.default_rng(seed)  # replay the same draws
    z0 = standard_normal(twin_rng, np.empty((n_ue, n_cell)))
    noise = standard_normal(twin_rng, np.empty((n_ue, n_cell)))
    for u in range(n_ue):
        for c in range(n_cell):
            sigma, d_corr = (4.0, 37.0) if los[u, c] else (6.0, 50.0)
            r = math.exp(-moved[u] / d_corr)
            want = sigma * (r * z0[u, c] + math.sqrt(1 - r * r) * noise[u, c])
            assert got[u, c] == pytest.approx(want, abs=1e-12)


def test_shadowing_sigma_follows_los_state_at_once():
    rng = np.random.default_rng(5)
    proc = ShadowingProcess.for_model("uma", (20_000,), rng=rng)
    s_los = proc.step(5.0, True)
    s_nlos = proc.value_db(False)
    assert s_los.std() == pytest.approx(4.0, rel=0.03)
    assert s_nlos.std() == pytest.approx(6.0, rel=0.03)
    np.testing.assert_allclose(s_nlos / 6.0, s_los / 4.0)  # same latent state


def test_shadowing_frozen_cases():
    rng = np.random.default_rng(1)
    proc = ShadowingProcess((4, 3), sigma_db=5.0, d_corr_m=20.0, rng=rng)
    before = proc.value_db()
    np.testing.assert_array_equal(proc.step(0.0), before)  # standing still: no change
    frozen = ShadowingProcess((4, 3), sigma_db=5.0, d_corr_m=np.inf, rng=rng)
    b = frozen.value_db()
    np.testing.assert_array_equal(frozen.step(np.full(4, 100.0)), b)
    moved_one = proc.step(np.array([0.0, 5.0, 0.0, 0.0]))
    np.testing.assert_array_equal(moved_one[[0, 2, 3]], before[[0, 2, 3]])  # only vehicle 1 moved
    assert not np.array_equal(moved_one[1], before[1])


def test_shadowing_bad_input():
    rng = np.random.default_rng(0)
    proc = ShadowingProcess.for_model("uma", (4, 3), rng=rng)
    with pytest.raises(ValueError, match="los is required"):
        proc.step(1.0)
    with pytest.raises(ValueError, match="moved_m"):
        proc.step(np.ones(3), True)  # one value per vehicle, not per cell
    with pytest.raises(ValueError, match="moved_m"):
        proc.step(-1.0, True)
    with pytest.raises(ValueError, match="sigma_db"):
        ShadowingProcess((2,), sigma_db=-1.0, d_corr_m=10.0, rng=rng)


def test_los_process_marginal_and_consistency():
    rng = np.random.default_rng(2)
    n_ue, n_cell = 4000, 5
    proc = LosProcess.for_model("uma", (n_ue, n_cell), rng=rng)
    assert proc.d_corr_m == 50.0
    p = np.full((n_ue, n_cell), 0.3)
    los0 = proc.step(0.0, p)
    assert los0.mean() == pytest.approx(0.3, abs=0.015)
    np.testing.assert_array_equal(proc.step(0.0, p), los0)  # standing still: same state
    # a short move keeps most links; the kept fraction is exp(-dd / d_corr) (per vehicle clock)
    u0 = proc.uniform.copy()
    proc.step(np.full(n_ue, 10.0), p)
    kept = np.all(proc.uniform == u0, axis=1).mean()
    assert kept == pytest.approx(math.exp(-10.0 / 50.0), abs=0.02)
    # marginal stays 0.3 after many moves
    for _ in range(20):
        los = proc.step(np.full(n_ue, 10.0), p)
    assert los.mean() == pytest.approx(0.3, abs=0.015)


def test_los_process_changes_only_through_p_without_renewal():
    rng = np.random.default_rng(3)
    proc = LosProcess((500, 4), d_corr_m=np.inf, rng=rng)
    d = np.linspace(20, 2000, 60)
    prev = None
    for dk in d:  # driving away: p_LOS falls, so LOS links may only turn NLOS, never back
        los = proc.step(np.full(500, 33.0), np.broadcast_to(np.asarray(0.0) + 18 / dk, (500, 4)))
        if prev is not None:
            assert not np.any(los & ~prev)
        prev = los


def test_los_process_redraw_every_move_with_zero_distance():
    rng = np.random.default_rng(4)
    proc = LosProcess((1000,), d_corr_m=0.0, rng=rng)
    u0 = proc.uniform.copy()
    proc.step(1.0, 0.5)
    assert np.mean(proc.uniform == u0) < 0.01
    with pytest.raises(ValueError, match="d_corr_m"):
        LosProcess((3,), d_corr_m=-1.0, rng=rng)
    with pytest.raises(ValueError, match="moved_m"):
        proc.step(np.ones(3), 0.5)


def test_o2i_car_loss():
    x = o2i_car_loss_db(200_000, np.random.default_rng(9))
    assert x.mean() == pytest.approx(9.0, abs=0.05) and x.std() == pytest.approx(5.0, abs=0.05)
