"""One-sided CUSUM on normalised residuals, vectorised over entities, for slow degradations.

A path whose delay creeps up by half a standard deviation never crosses a
per-window threshold, but the evidence accumulates. Page's CUSUM [^1] keeps,
per entity, ``S ← max(0, S + z − k)`` and alarms when ``S > h``; with
``k = δ/2`` it is the quickest detector of a shift of ``δ`` standard deviations
for a given false-alarm rate (Lorden's criterion). The input ``z`` should be a
residual normalised to unit scale under health: the calibrator's
:meth:`~detectors.conformal.ConformalCalibrator.normalise`, or
:func:`z_from_p` of its p-values (scale-free, any residual distribution).

Defaults ``k = 0.5, h = 5`` detect a 1-σ shift in about 10 windows with an
in-control average run length of about 930 windows (Siegmund's approximation).

References
----------
[^1]: E. S. Page, "Continuous inspection schemes", Biometrika 41 (1954).

Examples
--------
>>> import numpy as np
>>> cs = Cusum(2, k=0.5, h=4.0)
>>> alarms = [cs.update(np.array([0.0, 1.0])).tolist() for _ in range(8)]   # entity 1 shifted by 1 sigma
>>> [a[1] for a in alarms]                    # S = 0.5 per window: 4.0 after 8, not > h yet
[False, False, False, False, False, False, False, False]
>>> cs.update(np.array([0.0, 1.0])).tolist()
[False, True]
>>> cs.statistic.tolist()                     # reset after the alarm
[0.0, 0.0]
"""

from __future__ import annotations

import io

import numpy as np
from scipy.special import ndtri

__all__ = ["Cusum", "z_from_p"]


def z_from_p(p_values: np.ndarray, *, floor: float = 1e-12) -> np.ndarray:
    """``(n,)`` standard-normal score ``Φ⁻¹(1 − p)`` of upper-tail p-values (NaN stays NaN).

    >>> z_from_p(np.array([0.5, 0.025])).round(2).tolist()
    [0.0, 1.96]
    """
    p = np.clip(np.asarray(p_values, dtype=np.float64), floor, 1.0 - floor)
    return np.asarray(-ndtri(p), dtype=np.float64)


class Cusum:
    """Upper one-sided CUSUM per entity.

    Parameters
    ----------
    n_entities
        Number of entities.
    k
        Allowance (reference value), in units of ``z``: half the shift to detect.
    h
        Decision threshold, in units of ``z``.
    reset
        Reset an entity's statistic to 0 when it alarms (default), so it alarms again only
        on fresh evidence.
    """

    def __init__(self, n_entities: int, *, k: float = 0.5, h: float = 5.0, reset: bool = True) -> None:
        if k < 0 or h <= 0:
            raise ValueError(f"Cusum: need k >= 0 and h > 0, got k={k}, h={h}")
        self.n_entities = int(n_entities)
        self.k, self.h, self.reset_on_alarm = float(k), float(h), bool(reset)
        self._s = np.zeros(self.n_entities, dtype=np.float32)

    @property
    def statistic(self) -> np.ndarray:
        """``(n,)`` current CUSUM statistic ``S`` (a copy)."""
        return self._s.astype(np.float64)

    def update(self, z: np.ndarray) -> np.ndarray:
        """Add one window's ``(n,)`` normalised residuals; returns the ``(n,)`` bool alarms.

        NaN (not observed) leaves an entity's statistic unchanged.
        """
        x = np.asarray(z, dtype=np.float64)
        if x.shape != (self.n_entities,):
            raise ValueError(f"Cusum.update: z shape {x.shape} != ({self.n_entities},)")
        s = self._s.astype(np.float64)
        s = np.where(np.isfinite(x), np.maximum(0.0, s + np.nan_to_num(x) - self.k), s)
        alarm = s > self.h
        if self.reset_on_alarm:
            s[alarm] = 0.0
        self._s = s.astype(np.float32)
        return alarm

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Set the statistic to 0 where ``mask`` (all entities if None), e.g. once an alert resolves."""
        if mask is None:
            self._s[:] = 0.0
        else:
            self._s[np.asarray(mask, dtype=bool)] = 0.0

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, s=self._s, params=np.array([self.k, self.h, float(self.reset_on_alarm)]))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Cusum:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            k, h, rst = z["params"].tolist()
            obj = cls(int(z["s"].size), k=k, h=h, reset=bool(rst))
            obj._s = z["s"].copy()
        return obj
