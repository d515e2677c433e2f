"""Residual transforms per KPI."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.detectors.residuals import residual


def test_log_ratio_is_scale_free() -> None:
    # a 10 % excess is the same residual on a 1 ms and on a 100 ms path
    r = residual("delay_s", np.array([0.0011, 0.11]), np.array([0.001, 0.1]))
    assert r[0] == pytest.approx(r[1]) == pytest.approx(np.log(1.1))


def test_positive_means_worse_for_every_kpi() -> None:
    cap = np.array([1e9])
    for kpi, obs, exp in [("delay_s", 2.0, 1.0), ("jitter_s2", 2.0, 1.0), ("loss_ratio", 0.02, 0.01),
                          ("utilization", 0.9, 0.5), ("drop_pps", 1e3, 0.0), ("queue_occupancy", 0.5, 0.1)]:
        r = residual(kpi, np.array([obs]), np.array([exp]), capacity=cap)
        assert r[0] > 0, kpi


def test_loss_floor_ignores_negligible_loss() -> None:
    r = residual("loss_ratio", np.array([1e-9, 0.0, 0.05]), np.array([0.0, 1e-8, 0.0]))
    assert r[0] == 0.0 and r[1] == 0.0
    assert r[2] == pytest.approx(np.log(0.05 / 0.95) - np.log(1e-6 / (1 - 1e-6)))


def test_rates_scale_by_capacity_and_nan_propagates() -> None:
    r = residual("drop_pps", np.array([1000.0, np.nan, 5.0]), np.array([0.0, 0.0, 0.0]),
                 capacity=np.array([1e5, 1e5, 0.0]))
    assert r[0] == pytest.approx(0.01) and np.isnan(r[1]) and np.isnan(r[2])


def test_errors_name_the_kpi_and_rule() -> None:
    with pytest.raises(ValueError, match=r"residual\('tx_bps'\).*capacity"):
        residual("tx_bps", np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="observed shape"):
        residual("delay_s", np.zeros(2), np.zeros(3))
