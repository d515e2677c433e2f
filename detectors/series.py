"""Twin-less mode: a robust seasonal forecaster per series feeding the conformal machinery.

For KPIs the twin does not model (CPU, error counters, any gauge) and for
networks without a model, each series is its own reference. Per series and
per step (row):

1. :class:`SeasonalForecaster` predicts the value from earlier rows only: an
   additive Holt–Winters without trend, ``ŷ = level + season[slot]``, where
   ``slot`` is the position of the timestamp in the period (e.g. the
   15-minute slot of the day). The error used to learn is clipped to
   ``±clip × scale`` (``scale`` an EWMA of the absolute error), so an outage or
   a spike moves the level by a bounded amount (robust Holt–Winters).
2. The residual ``y − ŷ`` goes to a two-sided
   :class:`~detectors.conformal.ConformalCalibrator` (one pool per series),
   which returns its p-value *before* learning from it;
   ``anomaly_score = 1 − p`` in ``[0, 1]`` (0 while warming up).
3. The calibrator learns only from rows with ``p ≥ learn_alpha`` (the
   detector does not learn an anomaly as normal, as River's
   ``protect_anomaly_detector``) unless a series has been flagged for more
   than ``shift_after`` rows in a row (a persisting change is the new
   normal); the forecaster always learns, clipped, and accepts a level shift
   after ``shift_after`` one-sided clipped errors (the series' calibration
   then restarts).

The period comes from the timestamps (:func:`infer_period`): daily when the
spacing is an hour or less, none otherwise; or it is configured. Everything
is vectorised over series: :meth:`SeriesDetector.step` takes one row of each
of ``n`` series (NaN / ``mask=False`` where a series has no row).

Examples
--------
>>> import numpy as np
>>> ts = np.arange(0, 5 * 86400, 3600.0)                      # five days, hourly
>>> rng = np.random.default_rng(1)
>>> y = 100 + 20 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 2, ts.size)   # daily cycle + noise
>>> y[100] += 30                                              # one spike
>>> scores = score_series(ts, y)
>>> int(np.argmax(scores)), bool(scores[100] > 0.98), float(scores[:24].max())   # no score while warming up
(100, True, 0.0)
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
from scipy import stats

from twinwatch.detectors.conformal import ConformalCalibrator

__all__ = ["SeasonalForecaster", "SeriesDetector", "infer_period", "score_many", "score_series"]

DAY_S = 86_400.0
_T_PRIOR = stats.t.ppf((np.arange(2048) + 0.5) / 2048, df=5) / np.sqrt(5 / 3)  # unit variance
WEEK_S = 7 * DAY_S


def infer_period(ts: np.ndarray, *, max_slots: int = 96) -> tuple[float | None, float]:
    """``(period_seconds, slot_seconds)`` for timestamps ``ts`` (epoch seconds, any order, first rows suffice).

    Daily seasonality when the median spacing is at most an hour, with slots of the spacing
    but at most ``max_slots`` per day (minute data: 15-minute slots); no period otherwise.

    >>> infer_period(np.arange(0, 7200, 60.0))
    (86400.0, 900.0)
    >>> infer_period(np.arange(0, 10 * 86400, 86400.0))
    (None, 86400.0)
    """
    t = np.sort(np.asarray(ts, dtype=np.float64)[np.isfinite(ts)])
    d = np.diff(t)
    d = d[d > 0]
    if d.size == 0:
        return None, 1.0
    dt = float(np.median(d))
    if dt > 3600.0:
        return None, dt
    return DAY_S, max(dt, DAY_S / max_slots)


class SeasonalForecaster:
    """Robust additive Holt–Winters without trend, vectorised over ``n`` series.

    Parameters
    ----------
    n_series
        Number of series.
    period_s, slot_s
        Season length and slot width in seconds (``period_s=None``: no season, a robust EWMA).
    alpha, gamma
        Learning rates of the level and of the seasonal slot (per observed row).
    clip
        Errors are clipped to ``±clip × scale`` before learning.
    scale_rate
        Learning rate of ``scale``, the EWMA of the absolute one-step error.
    shift_after
        After this many consecutive clipped errors of the same sign the series has shifted
        level (a service going live after a week of zeros, a capacity change): the level jumps
        to the new value and ``scale`` restarts. :attr:`shifted` flags these series for the row.
    """

    def __init__(self, n_series: int, *, period_s: float | None = DAY_S, slot_s: float = 3600.0,
                 alpha: float = 0.1, gamma: float = 0.3, clip: float = 3.0, scale_rate: float = 0.05,
                 shift_after: int = 10) -> None:
        if period_s is not None and (period_s <= 0 or slot_s <= 0 or slot_s > period_s):
            raise ValueError(f"SeasonalForecaster: need 0 < slot_s <= period_s, got {slot_s}, {period_s}")
        if not (0 < alpha <= 1 and 0 <= gamma <= 1 and clip > 0 and 0 < scale_rate <= 1):
            raise ValueError("SeasonalForecaster: need 0 < alpha <= 1, 0 <= gamma <= 1, clip > 0, 0 < scale_rate <= 1")
        self.n_series = int(n_series)
        self.period_s, self.slot_s = period_s, float(slot_s)
        self.alpha, self.gamma, self.clip, self.scale_rate = float(alpha), float(gamma), float(clip), float(scale_rate)
        self.n_slots = round(period_s / slot_s) if period_s is not None else 1
        self._level = np.full(self.n_series, np.nan)
        self._season = np.zeros((self.n_series, self.n_slots))
        self._hits = np.zeros((self.n_series, self.n_slots), dtype=np.uint16)  # rows learned per slot
        self._scale = np.full(self.n_series, np.nan)
        self.shift_after = int(shift_after)
        self._run = np.zeros(self.n_series, dtype=np.int16)  # signed run of clipped errors
        self.shifted = np.zeros(self.n_series, dtype=bool)
        """``(n,)`` bool: series whose level shift was accepted at the last :meth:`step`."""

    def _slot(self, ts: np.ndarray) -> np.ndarray:
        if self.period_s is None:
            return np.zeros(ts.shape, dtype=np.intp)
        pos = np.floor(np.mod(np.nan_to_num(ts), self.period_s) / self.slot_s).astype(np.intp)
        return np.asarray(np.minimum(pos, self.n_slots - 1), dtype=np.intp)

    def step(self, ts: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Forecast this row of every series, then learn it; returns ``(n,)`` forecasts (NaN on a series' first row).

        ``ts`` in epoch seconds, ``y`` in the series' unit; NaN ``y`` skips a series.
        """
        ts = np.asarray(ts, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        rows = np.arange(self.n_series)
        slot = self._slot(ts)
        season = self._season[rows, slot]
        forecast = self._level + season
        obs = np.isfinite(y)
        first = obs & ~np.isfinite(self._level)
        self._level = np.where(first, y, self._level)
        learn = obs & ~first
        e = np.where(learn, y - forecast, 0.0)
        sc = self._scale
        bound = np.where(np.isfinite(sc), self.clip * sc, np.inf)
        ec = np.clip(e, -bound, bound)
        self._level = np.where(learn, self._level + self.alpha * ec, self._level)
        # a slot's first rows initialise it (rate 1/hits, as Holt-Winters' first-period init), then gamma
        hits = self._hits[rows, slot]
        g = np.maximum(self.gamma, 1.0 / (hits.astype(np.float64) + 1.0)) if self.period_s is not None else 0.0
        self._season[rows, slot] = np.where(learn, season + g * (1.0 - self.alpha) * ec, season)
        self._hits[rows, slot] = np.where(learn, np.minimum(hits + 1, 60_000), hits)
        # scale: EWMA of |e| clipped at 2x the bound (a spike inflates it by a bounded amount)
        abs_e = np.minimum(np.abs(e), 2.0 * bound)
        new_sc = np.where(np.isfinite(sc), sc + self.scale_rate * (abs_e - sc), abs_e)
        self._scale = np.where(learn, new_sc, sc)
        # level-shift acceptance: a long one-sided run of clipped errors is a new normal
        out = learn & (np.abs(e) > bound)
        sign = np.sign(e).astype(np.int16)
        same = out & (np.sign(self._run) == sign)
        self._run = np.where(same, self._run + sign, np.where(out, sign, 0)).astype(np.int16)
        shift = np.abs(self._run) >= self.shift_after
        if shift.any():
            self._level[shift] = y[shift] - self._season[rows[shift], slot[shift]]
            self._scale[shift] = np.nan
            self._run[shift] = 0
        self.shifted = shift
        return np.asarray(forecast, dtype=np.float64)

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        cfg = {"format": "twinwatch.SeasonalForecaster/1", "n_series": self.n_series, "period_s": self.period_s,
               "slot_s": self.slot_s, "alpha": self.alpha, "gamma": self.gamma, "clip": self.clip,
               "scale_rate": self.scale_rate, "shift_after": self.shift_after}
        return _npz(cfg, level=self._level, season=self._season, hits=self._hits, scale=self._scale, run=self._run)

    @classmethod
    def from_bytes(cls, data: bytes) -> SeasonalForecaster:
        """Restore a :meth:`to_bytes` snapshot (ValueError on a foreign blob)."""
        cfg, a = _unnpz(data, "SeasonalForecaster")
        obj = cls(int(cfg["n_series"]), period_s=cfg["period_s"], slot_s=float(cfg["slot_s"]),
                  alpha=float(cfg["alpha"]), gamma=float(cfg["gamma"]), clip=float(cfg["clip"]),
                  scale_rate=float(cfg["scale_rate"]), shift_after=int(cfg["shift_after"]))
        obj._level, obj._season, obj._hits, obj._scale, obj._run = (a["level"], a["season"], a["hits"], a["scale"],
                                                                    a["run"])
        return obj


def _npz(config: dict[str, Any], **arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    payload: dict[str, Any] = {"config": np.frombuffer(json.dumps(config).encode(), dtype=np.uint8), **arrays}
    np.savez(buf, **payload)
    return buf.getvalue()


def _unnpz(data: bytes, what: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k].copy() for k in z.files}
        cfg = json.loads(arrays.pop("config").tobytes().decode())
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what}.from_bytes: not a {what} snapshot ({exc})") from None
    if cfg.get("format") != f"twinwatch.{what}/1":
        raise ValueError(f"{what}.from_bytes: format {cfg.get('format')!r}, expected 'twinwatch.{what}/1'")
    return cfg, arrays


class SeriesDetector:
    """Forecaster + two-sided conformal calibrator per series: one anomaly score per row.

    Parameters
    ----------
    n_series
        Number of series scored together (independent of each other: one calibration pool each).
    period_s, slot_s
        As :class:`SeasonalForecaster`; see :func:`infer_period`.
    learn_alpha
        The calibrator learns from a row only when its p-value is at least this.
    min_history
        Rows a series needs before it is scored (score 0 before).
    half_life
        Half-life of the calibrator's per-series statistics, in rows.
    prior_count
        Weight, in rows, of the cold-start reference (a Student-t grid with 5 degrees of freedom,
        unit variance: heavier tails than a normal, as one-step forecast errors have). A series can
        flag at ``p ≈ 2/(prior_count + 1)`` from row ``min_history`` on, instead of waiting for ``2/α``
        rows of its own; the reference fades as the series' own normalised residuals fill its pool.
    """

    def __init__(self, n_series: int, *, period_s: float | None = DAY_S, slot_s: float = 3600.0,
                 learn_alpha: float = 1e-3, min_history: int = 24, half_life: float = 512.0,
                 prior_count: float = 256.0) -> None:
        self.n_series = int(n_series)
        self.learn_alpha = float(learn_alpha)
        self.forecaster = SeasonalForecaster(n_series, period_s=period_s, slot_s=slot_s)
        self.calibrator = ConformalCalibrator(n_series, side="two-sided", pool="entity", bins=512, z_max=16.0,
                                              pool_size=4096.0, half_life=half_life, min_history=min_history,
                                              pool_prior=_T_PRIOR, prior_count=prior_count)
        self._flag_run = np.zeros(self.n_series, dtype=np.int32)

    def step(self, ts: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``(n,)`` anomaly scores in ``[0, 1]`` of this row of each series (0 where NaN or warming up)."""
        y = np.asarray(y, dtype=np.float64)
        forecast = self.forecaster.step(ts, y)
        resid = y - forecast
        p = self.calibrator.p_values(resid)
        flagged = p < self.learn_alpha  # NaN p (warming up) counts as healthy
        self._flag_run = np.where(flagged, self._flag_run + 1, 0).astype(np.int32)
        # protect the calibrator from anomalies, but not forever: a change that persists is the new normal
        healthy = ~flagged | (self._flag_run > self.forecaster.shift_after)
        self.calibrator.update(resid, healthy=healthy)
        if self.forecaster.shifted.any():  # a new normal: re-learn this series' residual scale
            self.calibrator.reset(self.forecaster.shifted)
        return np.where(np.isfinite(p), 1.0 - p, 0.0)

    def to_bytes(self) -> bytes:
        """Lossless snapshot of forecaster and calibrator (npz of npz blobs, no pickle)."""
        cfg = {"format": "twinwatch.SeriesDetector/1", "learn_alpha": self.learn_alpha}
        return _npz(cfg, forecaster=np.frombuffer(self.forecaster.to_bytes(), dtype=np.uint8),
                    calibrator=np.frombuffer(self.calibrator.to_bytes(), dtype=np.uint8), flag_run=self._flag_run)

    @classmethod
    def from_bytes(cls, data: bytes) -> SeriesDetector:
        """Restore a :meth:`to_bytes` snapshot (ValueError on a foreign blob)."""
        cfg, a = _unnpz(data, "SeriesDetector")
        obj = cls.__new__(cls)
        obj.forecaster = SeasonalForecaster.from_bytes(a["forecaster"].tobytes())
        obj.calibrator = ConformalCalibrator.from_bytes(a["calibrator"].tobytes())
        obj.n_series = obj.forecaster.n_series
        obj.learn_alpha = float(cfg["learn_alpha"])
        obj._flag_run = a["flag_run"]
        return obj

    def run(self, ts: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Score ``(T, n)`` arrays row by row (online); returns ``(T, n)`` scores."""
        ts = np.asarray(ts, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.zeros(y.shape)
        for t in range(y.shape[0]):
            out[t] = self.step(ts[t], y[t])
        return out


def _resolve_period(ts: np.ndarray, period_s: float | str | None) -> tuple[float | None, float]:
    per, slot = infer_period(ts[:64])
    if period_s == "auto":
        return per, slot
    if period_s is None:
        return None, slot
    p = float(period_s)
    return p, min(max(slot, p / 96), p)


def score_many(series: list[tuple[np.ndarray, np.ndarray]], *, period_s: float | str | None = "auto",
               **kwargs: float) -> list[np.ndarray]:
    """Scores of many independent series at once: ``[(ts, y), ...]`` → ``[(T_i,) scores, ...]``.

    Series with the same ``(period, slot)`` run together, row ``t`` of each as one vectorised
    step; the result for a series is the same as :func:`score_series` on it alone.

    >>> ts = np.arange(0, 200 * 3600.0, 3600.0)
    >>> a, b = np.sin(ts / 5e4), np.cos(ts / 7e4)
    >>> many = score_many([(ts, a), (ts[:150], b[:150])])
    >>> bool(np.array_equal(many[1], score_series(ts[:150], b[:150]))), many[1].shape
    (True, (150,))
    """
    out: list[np.ndarray] = [np.zeros(0)] * len(series)
    groups: dict[tuple[float | None, float], list[int]] = {}
    for i, (ts, _) in enumerate(series):
        groups.setdefault(_resolve_period(np.asarray(ts, dtype=np.float64), period_s), []).append(i)
    for (per, slot), members in groups.items():
        t_max = max(len(series[i][0]) for i in members)
        ts_m = np.full((t_max, len(members)), np.nan)
        y_m = np.full((t_max, len(members)), np.nan)
        for j, i in enumerate(members):
            n = len(series[i][0])
            ts_m[:n, j] = series[i][0]
            y_m[:n, j] = series[i][1]
        det = SeriesDetector(len(members), period_s=per, slot_s=slot, **kwargs)  # type: ignore[arg-type]
        scores = det.run(ts_m, y_m)
        for j, i in enumerate(members):
            out[i] = scores[: len(series[i][0]), j]
    return out


def score_series(ts: np.ndarray, y: np.ndarray, *, period_s: float | str | None = "auto",
                 **kwargs: float) -> np.ndarray:
    """Anomaly scores ``(T,)`` of one series (online: row ``t`` uses rows ``< t`` only).

    ``period_s="auto"`` infers the period from the first 64 timestamps (:func:`infer_period`);
    ``None`` disables seasonality; a number sets the period in seconds (slot: the median spacing).
    """
    return score_many([(np.asarray(ts, dtype=np.float64), np.asarray(y, dtype=np.float64))],
                      period_s=period_s, **kwargs)[0]
