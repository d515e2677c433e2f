"""Network-wide multiple testing and k-of-m persistence with hysteresis, vectorised over entities.

A window tests every (entity, KPI) of a network at once: 40,000 paths × 3
KPIs is 120,000 tests, so a per-test threshold α would raise 1,200 false
flags per window. :func:`reject` controls the error over the whole window:

* ``"bh"``: Benjamini–Hochberg [^1], false-discovery rate ≤ ``alpha``
  (expected share of false flags among the flags), valid for independent or
  positively dependent p-values (paths sharing a link are positively
  dependent). Powerful when a fault moves many paths.
* ``"holm"``: Holm's step-down [^2], family-wise error ≤ ``alpha``
  (probability of any false flag), valid under any dependence.
* ``"bonferroni"``: ``p ≤ alpha / m``; same guarantee as Holm, less power.

:class:`Persistence` turns per-window flags into alert state: fire when at
least ``k`` of the last ``m`` windows were flagged, resolve after ``r``
consecutive clean windows (hysteresis: an entity hovering at the edge does
not flap).

References
----------
[^1]: Y. Benjamini, Y. Hochberg, "Controlling the false discovery rate", JRSS B 57 (1995).
[^2]: S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J. Stat. 6 (1979).

Examples
--------
>>> import numpy as np
>>> p = np.array([0.0001, 0.004, 0.03, 0.2, np.nan])
>>> reject(p, 0.05, "bh").tolist()          # thresholds 0.05*k/4: 0.0125, 0.025, 0.0375, 0.05
[True, True, True, False, False]
>>> reject(p, 0.05, "holm").tolist()        # thresholds 0.05/4, 0.05/3, 0.05/2, 0.05
[True, True, False, False, False]
"""

from __future__ import annotations

import io
import json
from typing import Literal, NamedTuple

import numpy as np

__all__ = ["METHODS", "Persistence", "PersistenceChange", "reject"]

Method = Literal["bh", "holm", "bonferroni"]
METHODS: tuple[str, ...] = ("bh", "holm", "bonferroni")


def reject(p_values: np.ndarray, alpha: float, method: Method = "bh") -> np.ndarray:
    """``(n,)`` bool: which hypotheses are rejected at level ``alpha`` under ``method``.

    NaN p-values (not tested this window) are never rejected and do not count in ``m``.

    Raises
    ------
    ValueError
        ``alpha`` outside (0, 1) or an unknown method.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"reject: alpha must be in (0, 1), got {alpha}")
    if method not in METHODS:
        raise ValueError(f"reject: method must be one of {METHODS}, got {method!r}")
    p = np.asarray(p_values, dtype=np.float64).ravel()
    out = np.zeros(p.shape, dtype=bool)
    valid = np.flatnonzero(np.isfinite(p))
    m = valid.size
    if m == 0:
        return out
    pv = p[valid]
    if method == "bonferroni":
        out[valid] = pv <= alpha / m
        return out
    # only p-values below alpha can be rejected by either procedure: sort those alone
    cand = np.flatnonzero(pv <= alpha)
    if cand.size == 0:
        return out
    order = cand[np.argsort(pv[cand], kind="stable")]
    ps = pv[order]
    ranks = np.arange(1, order.size + 1)
    if method == "bh":
        ok = ps <= alpha * ranks / m
        k = int(np.flatnonzero(ok)[-1]) + 1 if ok.any() else 0
    else:  # holm: step down until the first failure
        fail = ps > alpha / (m - ranks + 1)
        k = int(np.argmax(fail)) if fail.any() else order.size
    out[valid[order[:k]]] = True
    return out


class PersistenceChange(NamedTuple):
    """What one :meth:`Persistence.update` changed: ``(n,)`` bool masks."""

    fired: np.ndarray
    """Entities that start firing this window."""
    resolved: np.ndarray
    """Entities that resolve this window."""
    active: np.ndarray
    """Entities firing after this window."""


class Persistence:
    """k-of-m persistence with r-clean-windows hysteresis, vectorised over entities.

    Parameters
    ----------
    n_entities
        Number of entities (rows).
    k, m
        Fire when at least ``k`` of the last ``m`` windows (this one included) are flagged;
        ``1 <= k <= m <= 64``.
    r
        Resolve after ``r`` consecutive clean windows (``r >= 1``).

    A missing observation counts as clean for the k-of-m window (the entity cannot be
    confirmed) but does not count towards resolution: pass ``observed=False`` for it.
    State: a 64-bit history, a bool and an int16 per entity (11 bytes).

    Examples
    --------
    >>> import numpy as np
    >>> pers = Persistence(1, k=2, m=3, r=2)
    >>> seq = [1, 0, 1, 0, 0, 1, 0, 0]
    >>> [int(pers.update(np.array([bool(f)])).active[0]) for f in seq]
    [0, 0, 1, 1, 0, 0, 0, 0]
    """

    def __init__(self, n_entities: int, *, k: int = 2, m: int = 3, r: int = 2) -> None:
        if not 1 <= k <= m <= 64 or r < 1:
            raise ValueError(f"Persistence: need 1 <= k <= m <= 64 and r >= 1, got k={k}, m={m}, r={r}")
        self.n_entities = int(n_entities)
        self.k, self.m, self.r = int(k), int(m), int(r)
        self._mask = np.uint64((1 << self.m) - 1)
        self._hist = np.zeros(self.n_entities, dtype=np.uint64)
        self._active = np.zeros(self.n_entities, dtype=bool)
        self._clean = np.zeros(self.n_entities, dtype=np.int16)

    @property
    def active(self) -> np.ndarray:
        """``(n,)`` bool: entities currently firing (a copy)."""
        return self._active.copy()

    def update(self, flagged: np.ndarray, observed: np.ndarray | None = None) -> PersistenceChange:
        """Advance one window with this window's ``(n,)`` bool ``flagged`` mask."""
        f = np.asarray(flagged, dtype=bool)
        if f.shape != (self.n_entities,):
            raise ValueError(f"Persistence.update: flagged shape {f.shape} != ({self.n_entities},)")
        obs = np.ones_like(f) if observed is None else np.asarray(observed, dtype=bool)
        f = f & obs
        self._hist = ((self._hist << np.uint64(1)) | f.astype(np.uint64)) & self._mask
        hits = np.bitwise_count(self._hist)
        clean = obs & ~f
        self._clean = np.where(f, 0, np.where(clean, np.minimum(self._clean + 1, 32_000), self._clean)).astype(
            np.int16)
        was = self._active
        fire = ~was & (hits >= self.k)
        resolve = was & (self._clean >= self.r)
        self._active = (was | fire) & ~resolve
        if resolve.any():
            self._hist[resolve] = 0  # a resolved entity must re-earn k flags to fire again
        return PersistenceChange(fire, resolve, self._active.copy())

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        cfg = np.frombuffer(json.dumps({"k": self.k, "m": self.m, "r": self.r}).encode(), dtype=np.uint8)
        np.savez(buf, config=cfg, hist=self._hist, active=self._active, clean=self._clean)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Persistence:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            cfg = json.loads(z["config"].tobytes().decode())
            obj = cls(int(z["hist"].size), k=cfg["k"], m=cfg["m"], r=cfg["r"])
            obj._hist, obj._active, obj._clean = z["hist"].copy(), z["active"].copy(), z["clean"].copy()
        return obj
