"""Residuals of observed KPIs against the twin's expectation, per (entity, KPI), vectorised.

A residual puts each KPI on a scale where the twin's error is roughly
homoscedastic, so one calibrator per (entity kind, KPI) can compare entities
whose absolute values differ by orders of magnitude:

* ``delay_s`` and ``jitter_s2`` (path): **log ratio** ``log(obs / exp)``. The
  twin's delay error is multiplicative (a 5 % error on a 1 ms path and on a
  100 ms path); both sides are floored so an idle path does not give ``-inf``.
* ``loss_ratio``: **logit difference** ``logit(obs) − logit(exp)`` with both
  ratios clipped to ``[floor, 1 − floor]``: a loss of 0 and one of 1e-6 are
  the same thing operationally, 1 % against 0.1 % is not.
* ``utilization``, ``queue_occupancy``: already a ratio of capacity, plain
  **difference** ``obs − exp``.
* rates (``drop_pps``, ``tx_bps``, ...): **difference scaled by capacity**
  ``(obs − exp) / capacity`` (capacity in the rate's own unit).

Positive residual = observed *worse* (higher) than expected, for every KPI.

The traffic-matrix uncertainty of a window widens the expected range where the
residual is judged, not here: the twin's prediction at the matrix's upper
estimate, put through :func:`residual` against its prediction at the estimate
(``residual(kpi, expected_hi, expected)``), is how far the expectation moves on
the residual's own scale, and :class:`~twinwatch.detectors.twin_detector.TwinDetector`
floors the residual's scale at it for the window.

Examples
--------
>>> import numpy as np
>>> r = residual("delay_s", np.array([0.011, 0.010, 0.020]), np.array([0.010, 0.010, 0.010]))
>>> r.round(3).tolist()
[0.095, 0.0, 0.693]
>>> residual("loss_ratio", np.array([0.01, 0.0]), np.array([0.001, 0.0])).round(2).tolist()
[2.31, 0.0]
>>> residual("drop_pps", np.array([500.0]), np.array([0.0]), capacity=np.array([1e5])).tolist()
[0.005]
"""

from __future__ import annotations

import numpy as np

__all__ = ["LOGIT_KPIS", "LOG_KPIS", "RATIO_KPIS", "residual", "transform"]

LOG_KPIS: frozenset[str] = frozenset({"delay_s", "jitter_s2"})
"""KPIs compared on a log ratio."""
LOGIT_KPIS: frozenset[str] = frozenset({"loss_ratio"})
"""KPIs compared on the logit scale."""
RATIO_KPIS: frozenset[str] = frozenset({"utilization", "queue_occupancy"})
"""KPIs already expressed as a fraction of capacity (plain difference)."""

_LOG_FLOOR = 1e-9  # seconds (delay) or seconds² (jitter): below any real path's value
_LOGIT_FLOOR = 1e-6  # loss ratio treated as zero


def transform(kpi: str, x: np.ndarray, *, floor: float | None = None) -> np.ndarray:
    """``x`` on the residual scale of ``kpi`` (log, logit or identity), float64, same shape.

    >>> transform("loss_ratio", np.array([0.0, 0.5])).round(2).tolist()
    [-13.82, 0.0]
    """
    x = np.asarray(x, dtype=np.float64)
    if kpi in LOG_KPIS:
        return np.asarray(np.log(np.maximum(x, _LOG_FLOOR if floor is None else floor)), dtype=np.float64)
    if kpi in LOGIT_KPIS:
        f = _LOGIT_FLOOR if floor is None else floor
        c = np.clip(x, f, 1.0 - f)
        return np.asarray(np.log(c) - np.log1p(-c), dtype=np.float64)
    return x


def residual(
    kpi: str,
    observed: np.ndarray,
    expected: np.ndarray,
    *,
    capacity: np.ndarray | None = None,
    floor: float | None = None,
) -> np.ndarray:
    """Residual of ``observed`` against ``expected`` for one KPI, ``(n,)`` float64.

    Parameters
    ----------
    kpi
        A KPI name of the common schema (``delay_s``, ``jitter_s2``, ``loss_ratio``,
        ``utilization``, ``queue_occupancy``, or a rate such as ``drop_pps``).
    observed, expected
        ``(n,)`` values in SI units. NaN (not observed, not predicted) gives a NaN residual.
    capacity
        ``(n,)`` capacity in the KPI's unit, required for rate KPIs (not log/logit/ratio ones).
        A capacity ``<= 0`` gives NaN.
    floor
        Floor applied before the log/logit transform (defaults: 1e-9 for log KPIs, 1e-6 for loss).

    Raises
    ------
    ValueError
        Shapes differ, or a rate KPI has no capacity.
    """
    obs = np.asarray(observed, dtype=np.float64)
    exp = np.asarray(expected, dtype=np.float64)
    if obs.shape != exp.shape:
        raise ValueError(f"residual({kpi!r}): observed shape {obs.shape} != expected shape {exp.shape}")
    scaled = kpi not in LOG_KPIS and kpi not in LOGIT_KPIS and kpi not in RATIO_KPIS
    if scaled:
        if capacity is None:
            raise ValueError(f"residual({kpi!r}): a rate KPI needs `capacity` (same unit) to be scaled")
        cap = np.asarray(capacity, dtype=np.float64)
        if cap.shape != obs.shape:
            raise ValueError(f"residual({kpi!r}): capacity shape {cap.shape} != observed shape {obs.shape}")
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(cap > 0, 1.0 / cap, np.nan)
        r = (obs - exp) * inv
    else:
        r = transform(kpi, obs, floor=floor) - transform(kpi, exp, floor=floor)
    return r
