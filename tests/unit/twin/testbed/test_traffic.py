"""The testbed's traffic generator: gravity structure, time shape, noise statistics, surges."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.testbed.shape import ABILENE, FLAT
from twinwatch.twin.testbed.traffic import NOISE_AR1_5MIN, NOISE_LOG_SD_5MIN, GravityTraffic, Surge, gravity_matrix


def test_gravity_matrix_is_a_share_matrix_with_zero_diagonal() -> None:
    g = gravity_matrix(np.array([1.0, 2.0, 3.0, 4.0]), 0.0, np.random.default_rng(0))
    assert g.sum() == pytest.approx(1.0)
    assert np.all(np.diag(g) == 0)
    # pure gravity: proportional to the product of the node weights
    assert g[3, 2] / g[0, 1] == pytest.approx(12.0 / 2.0)


@pytest.mark.parametrize("bad", [np.array([1.0]), np.array([1.0, -1.0]), np.array([0.0, 0.0]), np.array([1.0, np.nan])])
def test_gravity_matrix_refuses_meaningless_weights(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        gravity_matrix(bad, 0.0, np.random.default_rng(0))


def test_shape_peaks_at_the_configured_local_hour_and_has_mean_one() -> None:
    hours = np.arange(0, 86400, 60.0)
    assert abs(hours[np.argmax(ABILENE.daily_factor(hours))] / 3600 - 14.0) < 0.1
    week = np.arange(0, 7 * 86400, 60.0)
    assert ABILENE.factor(week).mean() == pytest.approx(1.0, rel=1e-3)
    # peak to trough of the daily component: the fitted Abilene shape swings about 2:1 overall
    d = ABILENE.daily_factor(hours)
    assert 1.3 < d.max() / d.min() < 2.5
    assert np.allclose(FLAT.factor(week), 1.0)


def test_same_seed_same_matrices_and_time_order_enforced() -> None:
    kw = dict(node_weight=np.arange(1.0, 6.0), mean_total_bps=1e9, tos_share=(0.5, 0.5), seed=3)
    a, b = GravityTraffic(**kw), GravityTraffic(**kw)
    for t in (0.0, 10.0, 20.0):
        assert np.array_equal(a.matrix(t, 10.0), b.matrix(t, 10.0))
    with pytest.raises(ValueError, match="time order"):
        a.matrix(0.0, 10.0)


def test_noise_has_the_fitted_spread_and_autocorrelation_at_five_minutes() -> None:
    gen = GravityTraffic(node_weight=np.ones(30), mean_total_bps=1e9, shape=FLAT, seed=11)
    logs = np.log(np.stack([gen.matrix(t, 300.0)[..., 0] for t in np.arange(0, 400 * 300.0, 300.0)]))
    off = ~np.eye(30, dtype=bool)
    dev = logs[:, off] - logs[:, off].mean(axis=0)
    sd = dev.std(axis=0).mean()
    ac = ((dev[1:] * dev[:-1]).sum(axis=0) / (dev**2).sum(axis=0)).mean()
    assert sd == pytest.approx(NOISE_LOG_SD_5MIN, rel=0.1)
    assert ac == pytest.approx(NOISE_AR1_5MIN, abs=0.08)


def test_surge_multiplies_only_the_traffic_towards_its_destination_while_active() -> None:
    kw = dict(node_weight=np.ones(4), mean_total_bps=1e9, shape=FLAT, noise_log_sd=0.0, seed=1)
    base = GravityTraffic(**kw)
    surged = GravityTraffic(**kw, surges=[Surge(dst=2, start_s=100.0, end_s=200.0, factor=5.0)])
    for t in (0.0, 100.0, 200.0):
        m0, m1 = base.matrix(t, 10.0), surged.matrix(t, 10.0)
        ratio = np.divide(m1, m0, out=np.ones_like(m1), where=m0 > 0)
        if t == 100.0:
            assert np.allclose(np.delete(ratio[:, 2], 2), 5.0) and np.allclose(np.delete(ratio, 2, axis=1), 1.0)
        else:
            assert np.allclose(ratio, 1.0)
