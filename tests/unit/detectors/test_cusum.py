"""CUSUM: faster than a plain threshold on a small sustained shift, rare alarms in control."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.detectors.cusum import Cusum, z_from_p


def _first_alarm(alarms: np.ndarray) -> np.ndarray:
    """(T, n) bool → (n,) index of the first alarm (T if none)."""
    t = alarms.shape[0]
    return np.where(alarms.any(axis=0), alarms.argmax(axis=0), t)


def test_cusum_detects_a_half_sigma_shift_faster_than_a_threshold_with_fewer_false_alarms() -> None:
    rng = np.random.default_rng(12)
    n, t = 2000, 200
    z = rng.normal(0, 1, (t, n))
    z[:, n // 2:] += 0.75  # second half of the entities degrade by 0.75 sigma from window 0
    cs = Cusum(n, k=0.375, h=5.0)
    cus = np.array([cs.update(z[i]) for i in range(t)])
    thr = z > 3.09  # a per-window test at alpha = 0.001
    d_cus, d_thr = _first_alarm(cus), _first_alarm(thr)
    shifted = slice(n // 2, n)
    # theory: CUSUM ARL at shift 0.75 with k = 0.375, h = 5 is about 12 windows; a 3.09 threshold needs
    # 1 / P(Z > 2.34) = 104 windows on average
    assert np.median(d_cus[shifted]) < 20
    assert np.median(d_cus[shifted]) * 3 < np.median(d_thr[shifted])
    # in control, over 200 windows, CUSUM alarms on few entities (ARL0 for k=0.375, h=5 is several hundred)
    assert cus[:, : n // 2].sum() / (n // 2) < 1.0


def test_reset_and_missing_values() -> None:
    cs = Cusum(3, k=0.5, h=2.0)
    cs.update(np.array([1.5, 1.5, np.nan]))
    assert cs.statistic.tolist() == [1.0, 1.0, 0.0]
    cs.reset(np.array([True, False, False]))
    assert cs.statistic.tolist() == [0.0, 1.0, 0.0]
    alarms = cs.update(np.array([0.0, 2.0, np.nan]))
    assert alarms.tolist() == [False, True, False]
    assert cs.statistic.tolist() == [0.0, 0.0, 0.0]  # reset on alarm


def test_save_restore_and_bad_arguments() -> None:
    cs = Cusum(4, k=0.2, h=3.0, reset=False)
    cs.update(np.array([1.0, 0.3, -1.0, 2.0]))
    back = Cusum.from_bytes(cs.to_bytes())
    assert np.array_equal(back.statistic, cs.statistic) and back.reset_on_alarm is False
    with pytest.raises(ValueError, match="h > 0"):
        Cusum(1, h=0)
    with pytest.raises(ValueError, match=r"z shape"):
        cs.update(np.zeros(2))


def test_z_from_p_is_the_normal_quantile() -> None:
    assert z_from_p(np.array([0.5, 0.05, 0.001])).tolist() == pytest.approx([0.0, 1.6449, 3.0902], abs=1e-4)
