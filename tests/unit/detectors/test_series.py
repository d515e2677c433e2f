"""Twin-less mode: seasonal forecaster + conformal scores, online and calibrated."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.detectors.series import DAY_S, SeasonalForecaster, infer_period, score_many, score_series


def _daily(days: int, step_s: float, rng: np.random.Generator, noise: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    ts = 1.5e9 + np.arange(0, days * DAY_S, step_s)
    y = 100 + 30 * np.sin(2 * np.pi * ts / DAY_S) + rng.normal(0, noise, ts.size)
    return ts, y


def test_scores_are_online() -> None:
    # changing the future must not change the past: row t uses rows < t only
    rng = np.random.default_rng(0)
    ts, y = _daily(6, 3600.0, rng)
    a = score_series(ts, y)
    y2 = y.copy()
    y2[80:] = rng.normal(500, 50, y.size - 80)
    b = score_series(ts, y2)
    assert np.array_equal(a[:80], b[:80]) and not np.array_equal(a[80:], b[80:])
    assert ((a >= 0) & (a <= 1)).all()


def test_false_flag_rate_matches_alpha_on_exchangeable_noise() -> None:
    rng = np.random.default_rng(1)
    series = [(1.5e9 + np.arange(1500) * 60.0, 5 + rng.normal(0, 1, 1500)) for _ in range(8)]
    scores = np.concatenate([s[300:] for s in score_many(series, period_s=None)])
    # two-sided conformal p at alpha = 0.01 and 0.05; the Student-t cold-start reference and whole-bin
    # ties make it slightly conservative; binomial sd over 9,600 rows: 0.001 and 0.002
    assert 0.003 < np.mean(scores >= 0.99) < 0.014
    assert 0.03 < np.mean(scores >= 0.95) < 0.06


def test_false_flag_rate_stays_below_alpha_while_the_season_is_learned() -> None:
    rng = np.random.default_rng(1)
    series = [_daily(10, 900.0, rng) for _ in range(8)]  # 960 rows each, 15-min slots
    scores = np.concatenate([s[200:] for s in score_many(series)])
    # the seasonal error shrinks as slots are learned: the per-series scale lags behind, conservatively
    assert np.mean(scores >= 0.99) < 0.015


def test_detects_spikes_and_learns_the_season() -> None:
    rng = np.random.default_rng(2)
    ts, y = _daily(14, 3600.0, rng)
    spikes = np.array([200, 251, 300])
    y[spikes] += 25  # 12 noise sigmas but inside the daily range (70..130): a static threshold misses them
    s = score_series(ts, y)
    assert (s[spikes] >= 0.99).all()
    assert np.mean(np.delete(s, spikes)[48:] >= 0.99) < 0.02
    assert not (np.abs(y - 100) > 30).any() or (np.abs(y[spikes] - 100) < 55).all()


def test_accepts_a_level_shift_as_the_new_normal() -> None:
    rng = np.random.default_rng(3)
    ts = 1.5e9 + np.arange(0, 2000 * 60.0, 60.0)
    y = np.where(np.arange(ts.size) < 800, 0.0, 1e6 + rng.normal(0, 1e4, ts.size))  # goes live at row 800
    s = score_series(ts, y)
    assert s[800] >= 0.99  # the change itself is flagged
    assert np.mean(s[1000:] >= 0.99) < 0.03  # and then it is learned, not flagged forever


def test_forecaster_state_shapes_and_validation() -> None:
    f = SeasonalForecaster(3, period_s=DAY_S, slot_s=3600.0)
    out = f.step(np.array([0.0, 3600.0, np.nan]), np.array([1.0, np.nan, 2.0]))
    assert out.shape == (3,) and np.isnan(out).all()  # first rows: no forecast yet
    with pytest.raises(ValueError, match="slot_s <= period_s"):
        SeasonalForecaster(1, period_s=60.0, slot_s=120.0)


@pytest.mark.parametrize(("step", "expected"), [(60.0, (DAY_S, 900.0)), (3600.0, (DAY_S, 3600.0)),
                                                (86_400.0, (None, 86_400.0))])
def test_infer_period(step: float, expected: tuple[float | None, float]) -> None:
    assert infer_period(np.arange(64) * step) == expected


def test_detector_save_restore_gives_identical_scores() -> None:
    from twinwatch.detectors.series import SeriesDetector

    rng = np.random.default_rng(4)
    ts, y = _daily(3, 900.0, rng)
    ts2, y2 = np.stack([ts, ts], axis=1), np.stack([y, y[::-1]], axis=1)
    a = SeriesDetector(2, period_s=DAY_S, slot_s=900.0)
    a.run(ts2[:150], y2[:150])
    b = SeriesDetector.from_bytes(a.to_bytes())
    assert b.to_bytes() == a.to_bytes()
    np.testing.assert_array_equal(a.run(ts2[150:], y2[150:]), b.run(ts2[150:], y2[150:]))
    with pytest.raises(ValueError, match="not a SeriesDetector snapshot"):
        SeriesDetector.from_bytes(b"nope")


@pytest.mark.parametrize("jump", [-1e30, 1e40, 1e150])
@pytest.mark.parametrize("row", [3, 40])
def test_a_value_beyond_float32_saturates_the_state_instead_of_overflowing(jump: float, row: int) -> None:
    """One value of -1e30 among small ones while the series warms up (the series-CSV fuzz run, seed 1, k = 605,012):
    its residual is not clipped yet, and its square overflowed the calibrator's float32 variance (a raw NumPy
    RuntimeWarning, then an infinite scale). ``detect series`` reads values up to +-1e150: the location and variance
    now saturate at float32's largest value. Later, once the series has a scale, the value is the most anomalous
    row."""
    import warnings

    ts = 1.5e9 + 900.0 * np.arange(60)
    y = np.tile([3.0, 0.0, 7.0, 5.0], 15)
    y[row] = jump
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = score_series(ts, y)
    assert np.isfinite(scores).all()
    if row >= 24:  # scored (after min_history)
        assert int(np.argmax(scores)) == row and scores[row] > 0.99
