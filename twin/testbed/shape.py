"""The diurnal and weekly shape of backbone traffic, fitted on real Abilene matrices.

The network under test scales its traffic matrix by a smooth time shape:
a Fourier series in log space with three harmonics of the day and one of the
week,

.. math::

   \\log s(t) = \\sum_{k=1}^{3} a_k \\cos(2\\pi k t / 24\\,h) + b_k \\sin(2\\pi k t / 24\\,h)
               + a_w \\cos(2\\pi t / 168\\,h) + b_w \\sin(2\\pi t / 168\\,h),

normalised to a mean of 1 over a week. The shipped coefficients
(:data:`ABILENE`) were fitted by ``bench/fit_traffic_shape.py`` on 200
consecutive hours of the real Abilene traffic matrices (Zhang et al.; the
package never reads them at run time): the shape explains 67 % of the
variance of log total traffic, peak to trough is 2.1 : 1, and the residual
around it has a log standard deviation of 0.12. Only 8.3 days were available,
so the weekly harmonic is poorly identified (one cycle); it is kept because the
fit needs it, and documented as such in ``bench/notes/traffic_shape.md``.

The time of day of the series start is not documented upstream; the shape is
therefore anchored by its daily peak: :attr:`DiurnalShape.peak_hour` (local
time, default 14:00, a research network's afternoon peak) is where the
fitted daily component peaks.

Examples
--------
>>> import numpy as np
>>> s = ABILENE.factor(np.arange(0, 7 * 86400, 3600.0))
>>> round(float(s.mean()), 2)
1.0
>>> hours = np.arange(24) * 3600.0
>>> int(np.argmax(ABILENE.daily_factor(hours)))
14
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ABILENE", "FLAT", "DiurnalShape"]

_DAY_S = 86_400.0
_WEEK_S = 7 * _DAY_S


@dataclass(frozen=True, slots=True)
class DiurnalShape:
    """A daily + weekly multiplicative shape of traffic volume.

    Parameters
    ----------
    daily
        ``(3, 2)`` cosine/sine coefficients of the 24 h harmonics k = 1..3
        (log scale, time measured from the fitted series start).
    weekly
        ``(2,)`` cosine/sine coefficients of the 168 h harmonic (log scale).
    peak_hour
        Local hour (0..24) at which the daily component peaks.
    """

    daily: tuple[tuple[float, float], ...]
    weekly: tuple[float, float]
    peak_hour: float = 14.0

    def _fitted_peak_s(self) -> float:
        grid = np.arange(0.0, _DAY_S, 60.0)
        return float(grid[np.argmax(self._daily_log(grid))])

    def _daily_log(self, t_fit_s: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t_fit_s, dtype=np.float64)
        for k, (a, b) in enumerate(self.daily, start=1):
            w = 2 * np.pi * k * t_fit_s / _DAY_S
            out += a * np.cos(w) + b * np.sin(w)
        return out

    def _to_fit_time(self, t_local_s: np.ndarray) -> np.ndarray:
        return np.asarray(t_local_s, dtype=np.float64) - self.peak_hour * 3600.0 + self._fitted_peak_s()

    def daily_factor(self, t_local_s: np.ndarray) -> np.ndarray:
        """``(T,)`` daily component only, mean 1 over a day; ``t_local_s`` seconds since local midnight."""
        g = self._daily_log(self._to_fit_time(t_local_s))
        grid = self._daily_log(np.arange(0.0, _DAY_S, 60.0))
        return np.exp(g - np.log(np.exp(grid).mean()))

    def factor(self, t_local_s: np.ndarray) -> np.ndarray:
        """``(T,)`` traffic multiplier, mean 1 over a week; ``t_local_s``: seconds since Monday 00:00 local."""
        tf = self._to_fit_time(t_local_s)
        a, b = self.weekly
        w = 2 * np.pi * tf / _WEEK_S
        g = self._daily_log(tf) + a * np.cos(w) + b * np.sin(w)
        grid = np.arange(0.0, _WEEK_S, 600.0)
        wg = 2 * np.pi * grid / _WEEK_S
        norm = np.exp(self._daily_log(grid) + a * np.cos(wg) + b * np.sin(wg)).mean()
        return np.exp(g) / norm


ABILENE = DiurnalShape(
    daily=((-0.08862, -0.04177), (0.05989, -0.04463), (0.02382, 0.02822)),
    weekly=(-0.20502, 0.03588),
)
"""Shape fitted on the real Abilene matrices (``bench/notes/traffic_shape.json``)."""

FLAT = DiurnalShape(daily=((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)), weekly=(0.0, 0.0))
"""No time variation (tests, steady-state benchmarks)."""
