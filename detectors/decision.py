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
import math
from typing import Literal, NamedTuple

import numpy as np

__all__ = ["METHODS", "CalibratedPersistence", "EffectiveTests", "Persistence", "PersistenceChange", "reject"]

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

    ENTITY_SIZE = "n_entities"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_hist": 0, "_active": 0, "_clean": 0}

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


class CalibratedPersistence:
    """p-values of "``k`` of the last ``m`` windows were this extreme", calibrated on the network's own windows.

    Per entity the statistic is ``t``, the ``k``-th smallest of its last ``m`` window p-values (1.0 where
    not observed). Its null distribution depends on how correlated an entity's consecutive windows
    are: ``P(t ≤ u)`` is ``≈ 3u²`` for independent windows (``k=2, m=3``) and ``u`` for identical ones.
    The any-dependence bound ``min(1, m·u/k)`` (Markov's inequality on the count of small p-values,
    :func:`twinwatch.detectors.twin_detector.persistent_p_values`) is valid but spends a tenth of the
    configured level or less on real telemetry. This class *learns* the distribution instead:

    * a pooled histogram of ``log10 t`` over all entities and windows not inside an open alert
      (``R`` bins per decade over ``decades`` decades, one underflow slot, exponential forgetting with
      an effective size of ``pool_size`` scores), seeded with ``min(prior_count, 64 · n)`` scores drawn
      from the Markov bound (so the first windows are tested as before, conservatively);
    * the p-value of ``t`` is conformal, ``(W(≤ t) + 1) / (W + 1)`` (the slot holding ``t`` counted in
      full), down to the *anchor* ``t₁``: the lowest slot below which the pool holds at least ``anchor``
      scores. Below it the p-value is extrapolated as a power law, ``F(t₁) · (t / t₁)^g``, the power ``g``
      measured between ``t₁`` and the slot with ``4 · anchor`` scores below it and kept within
      ``[1, k]``: ``1`` for identical windows (``P(t ≤ u) ∝ u``), ``k`` for independent ones (``∝ u^k``,
      the thinnest tail the statistic can have), so that a strong anomaly is not held at the pool's
      resolution ``1/W``. (This assumes the tail keeps the power it has at the pool's edge.)

    A network-wide rule at level ``a`` on these p-values (:func:`reject`) then rejects a null window with
    probability close to ``a`` (0.6–0.9 ``a`` on simulated nulls) rather than a fraction of it. On the
    testbed it raised recall a little and precision fell (``bench/notes/detect_eval.md``, session 6):
    :class:`~twinwatch.detectors.twin_detector.TwinDetector` uses it with ``dependence="calibrated"`` only.
    Shapes: ``(n,)`` per entity; state ``m`` float32 per entity (the window ring, ``4·m`` bytes) plus one shared pool
    of ``decades·R + 1`` float64.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> cp = CalibratedPersistence(2_000, k=2, m=3)
    >>> for _ in range(200):                      # independent uniform windows: t ~ Beta(2, 2)
    ...     p = cp.update(rng.uniform(size=2_000))
    ...     _ = cp.learn(np.ones(2_000, bool))
    >>> u = np.array([1e-2, 1e-1])
    >>> cp.p_of(u).round(4).tolist()              # near the exact 3u² − 2u³ (0.0003, 0.028), not Markov's 1.5u
    [0.0003, 0.0289]
    >>> restored = CalibratedPersistence.from_bytes(cp.to_bytes())
    >>> bool(np.array_equal(restored.p_of(u), cp.p_of(u)))
    True
    """

    def __init__(self, n_entities: int, *, k: int = 2, m: int = 3, decades: int = 12, per_decade: int = 100,
                 pool_size: float = 2.0**20, prior_count: float = 256.0, anchor: float = 32.0) -> None:
        if not 1 <= k <= m <= 64:
            raise ValueError(f"CalibratedPersistence: need 1 <= k <= m <= 64, got k={k}, m={m}")
        if decades < 1 or per_decade < 1 or pool_size <= 0 or prior_count <= 0 or anchor <= 0:
            raise ValueError("CalibratedPersistence: decades, per_decade, pool_size, prior_count and anchor must be "
                             f"> 0, got {decades}, {per_decade}, {pool_size}, {prior_count}, {anchor}")
        self.n_entities, self.k, self.m = int(n_entities), int(k), int(m)
        self.decades, self.per_decade = int(decades), int(per_decade)
        # a small family learns few scores a window: its prior must not outweigh hours of its own windows
        prior_count = min(float(prior_count), 64.0 * max(self.n_entities, 1))
        self.pool_size, self.prior_count, self.anchor = float(pool_size), prior_count, float(anchor)
        self._hist = np.ones((self.m, self.n_entities), dtype=np.float32)
        self._pos = 0
        self._t = np.ones(self.n_entities, dtype=np.float64)
        self._seen = np.zeros(self.n_entities, dtype=bool)
        slots = self.decades * self.per_decade + 1
        # upper edge of every slot: slot 0 holds t < 10**-decades, slot s >= 1 holds [edge[s-1], edge[s])
        self._edge = 10.0 ** (-self.decades + np.arange(slots, dtype=np.float64) / self.per_decade)
        self._edge[-1] = 1.0
        # the Markov bound's CDF min(1, m·u/k) as the prior pool
        cdf = np.minimum(1.0, self.m * self._edge / self.k)
        self._pool = np.diff(np.concatenate([[0.0], cdf])) * self.prior_count

    ENTITY_SIZE = "n_entities"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_hist": 1, "_t": 0, "_seen": 0}

    def _slot(self, t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            pos = np.floor((np.log10(np.maximum(t, 1e-300)) + self.decades) * self.per_decade)
        return (np.clip(pos, -1, self.decades * self.per_decade - 1) + 1).astype(np.int64)

    def p_of(self, t: np.ndarray) -> np.ndarray:
        """``(n,)`` calibrated p-values of statistics ``t`` (any shape) against the current pool."""
        t = np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0)
        cum = np.cumsum(self._pool)
        tot = cum[-1]
        a = min(int(np.searchsorted(cum, self.anchor)), cum.size - 1)  # first slot with >= anchor scores at or below
        a4 = min(int(np.searchsorted(cum, 4.0 * self.anchor)), cum.size - 1)
        f1, f4 = (cum[a] + 1.0) / (tot + 1.0), (cum[a4] + 1.0) / (tot + 1.0)
        # the tail's power, P(t <= u) ∝ u**g, from the pool's two lowest well-filled points; g within [1, k]
        # (1: identical windows; k: independent ones, the thinnest tail a k-of-m statistic can have)
        g = math.log(f4 / f1) / math.log(self._edge[a4] / self._edge[a]) if a4 > a else 1.0
        g = min(max(g, 1.0), float(self.k))
        s = self._slot(t)
        out = np.minimum(1.0, (cum[s] + 1.0) / (tot + 1.0))
        low = np.flatnonzero(s < a)  # few: the extrapolated tail
        if low.size:
            out[low] = np.minimum(out[low], f1 * (t[low] / self._edge[a]) ** g)
        return out

    def update(self, p_window: np.ndarray, observed: np.ndarray | None = None, *,
               calibrate: bool = True) -> np.ndarray:
        """Add this window's ``(n,)`` p-values (NaN: not observed) and return the calibrated persistence p-values.

        NaN where the entity is not observed this window. ``calibrate=False``: only advance the ring and
        the statistic (:meth:`statistic`), return NaN (a caller using a closed-form bound saves the work).
        """
        p = np.asarray(p_window, dtype=np.float64)
        if p.shape != (self.n_entities,):
            raise ValueError(f"CalibratedPersistence.update: p-values shape {p.shape} != ({self.n_entities},)")
        obs = np.isfinite(p) if observed is None else np.asarray(observed, dtype=bool) & np.isfinite(p)
        # a ring: the order of the m windows does not matter to an order statistic
        self._hist[self._pos % self.m] = np.where(obs, p, 1.0)
        self._pos += 1
        h = self._hist
        if (self.k, self.m) == (2, 3):  # the median of three, elementwise (3x faster than a partition)
            t = np.maximum(np.minimum(h[0], h[1]), np.minimum(np.maximum(h[0], h[1]), h[2]))
        else:
            t = np.partition(h, self.k - 1, axis=0)[self.k - 1]
        self._t = t.astype(np.float64)
        self._seen = obs
        if not calibrate:
            return np.full(self.n_entities, np.nan)
        return np.where(obs, self.p_of(self._t), np.nan)

    def statistic(self) -> np.ndarray:
        """``(n,)`` the current window's ``t`` per entity (``k``-th smallest of its last ``m`` p-values), a copy."""
        return self._t.copy()

    def learn(self, mask: np.ndarray) -> int:
        """Fold this window's statistics of the entities in ``mask`` (and observed) into the pool; returns how many."""
        ok = np.asarray(mask, dtype=bool) & self._seen
        n = int(ok.sum())
        if n:
            self._pool *= math.exp(-n / self.pool_size)
            self._pool += np.bincount(self._slot(self._t[ok]), minlength=self._pool.size)
        return n

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        cfg = {"k": self.k, "m": self.m, "decades": self.decades, "per_decade": self.per_decade,
               "pool_size": self.pool_size, "prior_count": self.prior_count, "anchor": self.anchor}
        np.savez(buf, config=np.frombuffer(json.dumps(cfg).encode(), dtype=np.uint8), hist=self._hist,
                 t=self._t, seen=self._seen, pool=self._pool, pos=np.array([self._pos], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CalibratedPersistence:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            cfg = json.loads(z["config"].tobytes().decode())
            obj = cls(int(z["hist"].shape[1]), **cfg)
            if z["pool"].shape != obj._pool.shape:
                raise ValueError(f"CalibratedPersistence.from_bytes: pool of {z['pool'].size} slots, the "
                                 f"configuration needs {obj._pool.size}")
            obj._hist, obj._t, obj._seen, obj._pool = (z["hist"].copy(), z["t"].copy(), z["seen"].copy(),
                                                       z["pool"].copy())
            obj._pos = int(z["pos"][0])
        return obj


class EffectiveTests:
    """How often one family's windows reach a network-wide level, learned from the windows themselves.

    A network-wide rule at level ``a`` over ``m`` p-values rejects a null window with probability ``a``
    only when the tests are independent and exactly uniform. Paths that share links, or a probe and the
    paths it crosses, are positively dependent; conformal p-values with a heavy-tailed prior are
    conservative: the window's Bonferroni statistic ``b = m · min p`` then falls below ``a`` far less
    often than ``a``, and the rule spends a fraction of its level. This class keeps the distribution
    ``F`` of ``b`` over the family's windows (an exponentially forgotten histogram of ``log10 b``,
    ``per_decade`` slots per decade), seeded with ``prior_windows`` windows of the Bonferroni bound
    ``F(y) = min(1, y)``, and finds the *anchor* ``y0``: the lowest slot edge with ``F(y0) ≥ anchor``
    (10 % of the windows by default: well estimated within an hour of 10 s windows). Below it ``F`` is
    extrapolated linearly, ``F(y) ≈ F(y0) · y / y0``, which errs on the safe side whenever ``F(y)/y``
    does not decrease with ``y`` — true from independent tests (``F(y) ≈ y``) to tests sharing a
    common factor, whose effective number shrinks deeper in the tail. So ``ρ = F(y0) / y0`` and:

    * :meth:`reject` rejects the window when ``ρ · b ≤ a`` (probability ``≈ a`` on a null window) and
      then flags entities by ``method`` on ``min(1, ρ · p)`` (:meth:`scale`); ``method`` alone on the
      rescaled p-values would not do: BH counts ``r`` tied p-values of one group as ``r`` discoveries;
    * every window is learned, faults included: a fault makes ``b`` small, ``ρ`` larger and the rule
      *more* conservative, never less. ``ρ`` is kept within ``[rho_min, rho_max]``.

    Limits (measured, ``bench/notes/detect_eval.md``, session 6): when faults occupy more than ``anchor``
    of a family's windows the anchor sits inside them and the family goes deaf; for discrete p-values
    (a loss count of 0 gives p = 1) ``b`` has no continuous lower tail and the extrapolation is not
    conservative. :class:`~twinwatch.detectors.twin_detector.TwinDetector` therefore leaves it off by
    default (``calibrate_level=False``).

    State: ``decades · per_decade + 2`` float64 shared by the family (no per-entity state).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> eff = EffectiveTests()
    >>> for _ in range(2_000):                  # 1,000 tests, 50 groups of 20 identical p-values
    ...     _ = eff.update(np.repeat(rng.uniform(size=50), 20))
    >>> round(eff.rho * 1_000)                 # about 50 effective tests of 1,000 (40-odd: on the safe side)
    44
    >>> restored = EffectiveTests.from_bytes(eff.to_bytes())
    >>> restored.rho == eff.rho
    True
    """

    def __init__(self, *, half_life: float = 720.0, prior_windows: float = 30.0, anchor: float = 0.1,
                 decades: int = 10, per_decade: int = 20, rho_min: float = 1e-3, rho_max: float = 10.0) -> None:
        if half_life <= 0 or prior_windows <= 0 or not 0 < anchor < 1 or decades < 1 or per_decade < 1 \
                or not 0 < rho_min <= 1.0 <= rho_max:
            raise ValueError("EffectiveTests: need half_life > 0, prior_windows > 0, 0 < anchor < 1, decades >= 1, "
                             f"per_decade >= 1, 0 < rho_min <= 1 <= rho_max, got {half_life}, {prior_windows}, "
                             f"{anchor}, {decades}, {per_decade}, {rho_min}, {rho_max}")
        self.half_life, self.prior_windows, self.anchor = float(half_life), float(prior_windows), float(anchor)
        self.decades, self.per_decade = int(decades), int(per_decade)
        self.rho_min, self.rho_max = float(rho_min), float(rho_max)
        # slot 0: b < 10**-(decades-1); slot s: [edge[s-1], edge[s]); last slot: b >= 10 (edge inf)
        n = self.decades * self.per_decade
        self._edge = np.concatenate([10.0 ** (-(self.decades - 1) + np.arange(n + 1) / self.per_decade), [np.inf]])
        cdf = np.minimum(1.0, self._edge)  # the Bonferroni bound P(m · min p <= y) <= y as the prior
        self._hist = np.diff(np.concatenate([[0.0], cdf])) * self.prior_windows

    @property
    def rho(self) -> float:
        """``F(y0) / y0`` at the anchor, within ``[rho_min, rho_max]`` (1: the plain Bonferroni level)."""
        cum = np.cumsum(self._hist)
        cdf = cum / cum[-1]
        a = min(int(np.searchsorted(cdf, self.anchor)), cdf.size - 2)
        return float(np.clip(cdf[a] / self._edge[a], self.rho_min, self.rho_max))

    def scale(self, p_values: np.ndarray) -> np.ndarray:
        """``min(1, ρ·p)`` elementwise (NaN stays NaN)."""
        return np.minimum(1.0, np.asarray(p_values, dtype=np.float64) * self.rho)

    @staticmethod
    def _statistic(p: np.ndarray) -> float:
        fin = p[np.isfinite(p)]
        return float(fin.size * fin.min()) if fin.size else math.nan

    def reject(self, p_values: np.ndarray, alpha: float, method: Method = "bh",
               exclude: np.ndarray | None = None) -> np.ndarray:
        """``(m,)`` bool: the window's rejections at ``alpha`` (see the class docstring).

        ``exclude``: entities left out of the window's statistic (e.g. already alerting); they stay flagged
        while the rule rejects them, whether or not the window passes the gate.
        """
        p = np.asarray(p_values, dtype=np.float64)
        b = self._statistic(p if exclude is None else np.where(exclude, np.nan, p))
        flagged = reject(self.scale(p), alpha, method)
        if b * self.rho <= alpha:
            return flagged
        # the window is not rejected: no new entity; the excluded (already alerting) ones keep their flag while
        # the rule still rejects them, so that an open alert does not flap on the gate
        return flagged & np.asarray(exclude, dtype=bool) if exclude is not None else np.zeros(p.shape, dtype=bool)

    def update(self, p_values: np.ndarray) -> float:
        """Learn one window's ``(m,)`` p-values of the family (NaN: not tested); returns the new ``ρ``.

        Call it after the window was decided (its own statistic must not decide it). A window without
        any tested entity is skipped.
        """
        b = self._statistic(np.asarray(p_values, dtype=np.float64))
        if math.isfinite(b):
            self._hist *= 0.5 ** (1.0 / self.half_life)
            self._hist[int(np.searchsorted(self._edge, b, side="right"))] += 1.0
        return self.rho

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        cfg = {"half_life": self.half_life, "prior_windows": self.prior_windows, "anchor": self.anchor,
               "decades": self.decades, "per_decade": self.per_decade, "rho_min": self.rho_min,
               "rho_max": self.rho_max}
        np.savez(buf, config=np.frombuffer(json.dumps(cfg).encode(), dtype=np.uint8), hist=self._hist)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> EffectiveTests:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            obj = cls(**json.loads(z["config"].tobytes().decode()))
            if z["hist"].shape != obj._hist.shape:
                raise ValueError(f"EffectiveTests.from_bytes: {z['hist'].size} slots, the configuration needs "
                                 f"{obj._hist.size}")
            obj._hist = z["hist"].copy()
        return obj
