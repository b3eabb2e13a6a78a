"""RadioModel's received powers for a tier with a short range: computed only for the links in range, they equal the
whole-array computation element by element (bit for bit), and every link beyond the range is -inf."""

import numpy as np

from twin.radio import get_preset
from twin.radio.model import RadioModel, Tier

MMW, MACRO = get_preset("nr-mmwave"), get_preset("nr-macro")


def _model(range_m: float, n_vehicles: int, rng: np.random.Generator) -> tuple[RadioModel, np.ndarray]:
    cells = rng.uniform(0, 2000, size=(40, 2))
    tiers = [Tier("macro", MACRO, np.arange(0, 10), floor_dbm=-200.0),
             Tier("small", MMW, np.arange(10, 40), floor_dbm=-200.0, max_range_m=range_m)]
    return RadioModel(tiers, cells, n_vehicles, rng=np.random.default_rng(7), ue_h_m=rng.uniform(1.5, 3.0,
                                                                                                n_vehicles)), cells


def _dense(model: RadioModel, i: int, d2d, los, loss) -> tuple[np.ndarray, np.ndarray]:
    tier = model.tiers[i]
    p = tier.preset
    pl = p.pathloss_db(d2d, los=los, h_ut_m=model.h_ut_m[i][:, None], h_bs_m=model.h_bs_m[i][None, :])
    far = d2d > tier.max_range_m
    return (np.where(far, -np.inf, p.rx_power_dbm(pl, "dl", loss_db=loss)),
            np.where(far, -np.inf, p.rx_power_dbm(pl, "ul", loss_db=loss)))


def test_links_in_range_only_give_the_whole_array_values_bit_for_bit():
    rng = np.random.default_rng(3)
    model, cells = _model(200.0, 3000, rng)
    xy = rng.uniform(0, 2000, size=(3000, 2))
    small = model.tiers[1]
    d2d = np.hypot(xy[:, 0:1] - cells[small.cells, 0], xy[:, 1:2] - cells[small.cells, 1])
    los = rng.random(d2d.shape) < 0.4
    loss = rng.normal(9.0, 5.0, size=d2d.shape)
    near = d2d <= 200.0
    assert 0 < near.sum() < d2d.size // 4  # the sparse path
    for args in ((los, loss), (los, 0.0), (True, loss[:, :1])):
        dl, ul = model._budget(1, d2d, *args)
        ref_dl, ref_ul = _dense(model, 1, d2d, *args)
        assert np.array_equal(dl, ref_dl) and np.array_equal(ul, ref_ul)
        assert np.all(dl[~near] == -np.inf) and np.all(np.isfinite(dl[near]))
    # a whole step: every small-cell link beyond 200 m is unusable, the macro links are not
    rx_dl, rx_ul = model.step(xy, np.ones(3000, dtype=bool), np.full(3000, 10.0))
    d_all = np.hypot(xy[:, 0:1] - cells[:, 0], xy[:, 1:2] - cells[:, 1])
    assert np.all(np.isneginf(rx_dl[:, 10:][d_all[:, 10:] > 200.0]))
    assert np.all(np.isfinite(rx_dl[:, 10:][d_all[:, 10:] <= 200.0])) and np.all(np.isfinite(rx_ul[:, :10]))


def test_no_link_in_range_is_all_unusable():
    model, cells = _model(1.0, 50, np.random.default_rng(5))
    d2d = np.full((50, 30), 500.0)
    dl, ul = model._budget(1, d2d, False, 0.0)
    assert dl.shape == (50, 30) and np.all(np.isneginf(dl)) and np.all(np.isneginf(ul))
