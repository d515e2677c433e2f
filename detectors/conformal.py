"""Online conformal p-values per (entity, KPI): normalised, pooled, Mondrian by load regime.

One :class:`ConformalCalibrator` serves one (entity kind, KPI), e.g. path
delay, vectorised over all its entities (40,000 paths are one array, not
40,000 objects). Each window it turns the entities' residuals into p-values
(``p_values``) and then learns from the windows the caller says were healthy
(``update``).

Why not a ring buffer of each entity's own scores? A p-value from ``k``
calibration scores can never go below ``1/(k+1)``: with 256 scores that is
0.004, while a network-wide false-discovery control over 40,000 paths at
``q = 0.01`` needs p-values near ``q·k/m ≈ 1e-6`` for the first discoveries.
So the calibrator splits the work:

1. **Normalisation per entity and regime.** Each (entity, regime) keeps an
   exponentially weighted mean and variance of its own healthy residuals
   (three float32), shrunk towards the pooled prior of the entity kind with
   ``prior_strength`` pseudo-observations. A new residual ``s`` becomes
   ``z = (s − m) / σ``, computed *before* the entity learns from it
   (out-of-sample, as in split conformal). This absorbs a twin that is
   consistently 4 % high on one path, or a noisier path.
2. **Pooled calibration per regime.** The ``z`` of all healthy (entity,
   window) pairs of a regime go into one fine histogram (a few thousand
   bins) with exponential forgetting (``pool_size`` effective scores). The
   p-value is the conformal ``(#{pool ≥ z} + 1) / (N + 1)`` (the bin holding
   ``z`` counted in full: conservative by one bin of width ``2·z_max/bins``),
   so it resolves down to ``1/(N+1)`` with ``N`` in the millions. Beyond
   ``±z_max`` the pool has ``tail_bins`` log-spaced bins per side up to
   ``±z_tail``: a healthy pool whose rare outliers (a missed fault, a
   flapping path) sit at ``|z|`` 20–50 must not make a score of 200 look
   like one of 20 (one overflow bin per side did: every score past
   ``z_max`` got the p-value of the whole overflow mass).

**Cold start.** ``prior`` is a sorted array of calibration residuals of the
entity kind (or one per regime), e.g. the twin's own held-out residuals kept
in the checkpoint. It sets the prior location/scale and seeds the pool with
``prior_count`` scores, so the p-value of a fresh entity is the split-conformal
p-value of the twin's calibration set (:meth:`ConformalCalibrator.from_score_grid`
reads the checkpoint's per-regime quantile grids directly). As the entity's history grows
(``w`` effective windows) its own location/scale takes over with weight
``w / (w + prior_strength)``; the pool fills with online scores and the prior's
share fades with the forgetting. Without a prior an entity is scored once it
has ``min_history`` healthy windows and the pool is non-empty (NaN before).

**Drift.** Slow drift is absorbed by forgetting, documented rather than
learned: an entity's statistics have a half-life of ``half_life`` healthy
windows, the pool an effective size of ``pool_size`` scores. Updates clip a
residual to ``m ± clip·σ`` before learning (a missed anomaly moves the
statistics only a bounded amount).

**Validity.** The p-value is exactly conformal when the normalised
out-of-sample scores of a regime are exchangeable across entities and
windows; normalisation makes heterogeneous entities comparable. Mondrian
binning (regimes given by the caller's load bands) keeps the validity per
regime, not only on average.

**State.** Per (entity, KPI): ``3 × n_regimes`` float32 (60 B with five
regimes). Shared per calibrator: the pool, ``n_regimes × (bins + 2·tail_bins + 2)``
float64. ``to_bytes`` / ``from_bytes`` round-trip it losslessly (npz, no pickle);
a snapshot written before the tail bins existed is read into the current layout
with its overflow mass in the outermost slots, so every p-value it gives is
the one it gave before (conservative), and the tail fills as scores arrive.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> prior = np.sort(rng.normal(0.0, 0.05, 20_000))   # the twin's calibration log-ratios
>>> cal = ConformalCalibrator(3, prior=prior, side="upper")
>>> p = cal.p_values(np.array([0.0, 0.1, 0.3]))     # cold start: meaningful already
>>> p.round(3).tolist()                               # N(0, 0.05) tails: 0.5, 0.023, ~1e-9
[0.5, 0.022, 0.0]
>>> for _ in range(300):                             # entity 2 runs 0.2 high, healthy
...     _ = cal.update(np.array([0.0, 0.0, 0.2]) + rng.normal(0, 0.05, 3))
>>> cal.p_values(np.array([0.0, 0.1, 0.3])).round(2).tolist()   # 0.3 is now only 2 sigma out for entity 2
[0.5, 0.03, 0.02]
>>> restored = ConformalCalibrator.from_bytes(cal.to_bytes())   # e.g. after a restart
>>> bool(np.array_equal(restored.p_values(np.array([0.0, 0.1, 0.3])), cal.p_values(np.array([0.0, 0.1, 0.3]))))
True
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["ConformalCalibrator"]

Side = Literal["upper", "lower", "two-sided"]
_SIDES = ("upper", "lower", "two-sided")
_FORMAT = "twinwatch.conformal/1"
_F32_MAX = float(np.finfo(np.float32).max)
_TINY = float(np.finfo(np.float64).tiny)
"""Smallest p-value a fitted tail gives (the exponential underflows to 0 for scores thousands of β out)."""
"""Largest float32: the per-entity location and variance saturate there (they are stored as float32)."""
DEFAULT_TAIL_BINS = 64
"""Log-spaced tail bins per side of a shared pool beyond ``z_max`` (:class:`ConformalCalibrator`)."""
DEFAULT_TAIL_SPAN = 256.0
"""``z_tail / z_max`` by default: tail bins up to ``|z| = 4096`` with ``z_max = 16``."""


class ConformalCalibrator:
    """Online conformal p-values for one (entity kind, KPI), vectorised over ``n_entities``.

    Parameters
    ----------
    n_entities
        Number of entities (paths, links, series); entity ``i`` is row ``i`` of every array.
    regime_edges
        Load-band edges; regime ``k`` is ``edges[k-1] <= load < edges[k]`` (``len(edges)+1`` regimes).
        Empty: one regime.
    prior
        Calibration residuals of the entity kind: one sorted-or-not 1-D array for all regimes,
        or a sequence of ``len(regime_edges)+1`` arrays (one per regime; an empty one falls back
        to the concatenation). None: no prior (entities are scored after ``min_history``).
    prior_levels
        Quantile levels of ``prior`` when it is a quantile grid with uneven spacing (e.g. dense in the
        tails, as the checkpoint's score grid): each value then weighs the level spacing around it
        times ``prior_count`` (required). See :meth:`from_score_grid`.
    prior_count
        Effective number of calibration scores behind ``prior`` (default: its length), or one per regime. Set it only
        when ``prior`` is a quantile grid of a larger set; the mass beyond the grid's extremes then goes
        to the overflow slots, so a cold-start p-value beyond the grid is at least ``1/(2·len(prior))``
        (the grid cannot resolve further). Online scores refine the tail as they arrive.
    side
        ``"upper"``: small p-values for residuals above normal (degradation), ``"lower"``, or ``"two-sided"``.
    half_life
        Half-life of an entity's statistics, in healthy windows.
    prior_strength
        Pseudo-observations of the prior in each entity's location and scale.
    pool_size
        Effective number of scores the pooled histogram remembers (all regimes together).
    min_history
        Healthy windows an entity needs before it is scored when there is no prior.
    clip
        Residuals are clipped to ``m ± clip·σ`` before an entity learns from them.
    bins, z_max
        Pool histogram: ``bins`` equal bins over ``[-z_max, z_max]``, then the tail bins, then two overflow slots.
    tail_bins, z_tail
        Log-spaced bins per side over ``z_max < |z| <= z_tail`` (default: 64 for a shared pool, bins
        about 9 % wide up to ``z_tail = 256·z_max``; 0 for per-entity pools, whose state is per entity).
        Scores past ``z_tail`` share the overflow slot.
    tail_fit
        0 (default): p-values are the pool's empirical conformal ones, never below ``1/(N+1)``. ``k > 0``:
        beyond the score ``u`` with ``k`` pooled scores (of ``N``) at or past it, the tail is modelled as
        exponential (peaks over threshold, a generalised Pareto tail with shape 0) with the pool's mean
        excess ``β`` past ``u``: ``p(z) = (k + 1)/(N + 1) · exp(−|z − u| / β)``. For a family whose pool
        grows by few scores per window (one per node) the empirical floor ``1/(N+1)`` sits above the
        network-wide level for hours; the fitted tail reaches it as soon as the tail's shape is known.
        Valid where the normalised scores' tail is no heavier than exponential (Gaussian-like residuals;
        a heavy-tailed prior in the pool keeps ``β`` large, i.e. conservative, until real scores dominate).
    pool
        ``"shared"``: one pool per regime for all entities (the network case: exchangeable
        entities, tail resolution from millions of scores). ``"entity"``: one pool per entity
        (independent series whose scores must not depend on each other, e.g. the twin-less
        mode over unrelated CSV files); use fewer ``bins`` then (state grows by
        ``n_regimes × (bins + 2) × 8`` bytes per entity).
    pool_prior
        Normalised scores (unit scale) that seed every pool with ``prior_count`` scores (default
        256) without a prior on location/scale: a cold-start reference for series whose raw scale
        is unknown (the twin-less mode seeds a Student-t grid). It fades like any pooled score.
    """

    BUILD_SETTINGS: tuple[str, ...] = ("tail_fit",)
    """Settings that shape no saved array (how p-values are read off the pool): a restored calibrator takes
    this build's values for them (``stream/state.py``), so an upgrade's decision rule applies to a saved state."""

    def __init__(
        self,
        n_entities: int,
        *,
        regime_edges: Sequence[float] = (),
        prior: np.ndarray | Sequence[np.ndarray] | None = None,
        prior_count: float | Sequence[float] | None = None,
        side: Side = "upper",
        half_life: float = 256.0,
        prior_strength: float = 8.0,
        pool_size: float = 2.0**20,
        min_history: int = 8,
        clip: float = 6.0,
        bins: int = 4096,
        z_max: float = 16.0,
        pool: Literal["shared", "entity"] = "shared",
        pool_prior: np.ndarray | None = None,
        prior_levels: np.ndarray | None = None,
        tail_bins: int | None = None,
        z_tail: float | None = None,
        tail_fit: float = 0.0,
    ) -> None:
        if n_entities < 0:
            raise ValueError(f"ConformalCalibrator: n_entities must be >= 0, got {n_entities}")
        if side not in _SIDES:
            raise ValueError(f"ConformalCalibrator: side must be one of {_SIDES}, got {side!r}")
        edges = np.asarray(regime_edges, dtype=np.float64)
        if edges.ndim != 1 or (edges.size > 1 and np.any(np.diff(edges) <= 0)):
            raise ValueError(f"ConformalCalibrator: regime_edges must be strictly increasing, got {list(edges)}")
        if pool not in ("shared", "entity"):
            raise ValueError(f"ConformalCalibrator: pool must be 'shared' or 'entity', got {pool!r}")
        if half_life <= 0 or pool_size <= 0 or bins < 2 or z_max <= 0 or clip <= 0 or prior_strength < 0:
            raise ValueError("ConformalCalibrator: half_life, pool_size, z_max, clip must be > 0, bins >= 2, "
                             "prior_strength >= 0")
        tail_bins = (DEFAULT_TAIL_BINS if pool == "shared" else 0) if tail_bins is None else int(tail_bins)
        z_tail = float(z_max) * DEFAULT_TAIL_SPAN if z_tail is None else float(z_tail)
        if tail_bins < 0 or (tail_bins > 0 and not (math.isfinite(z_tail) and z_tail > z_max)):
            raise ValueError(f"ConformalCalibrator: tail_bins must be >= 0 and z_tail finite and > z_max, got "
                             f"tail_bins={tail_bins}, z_tail={z_tail}")
        if not (math.isfinite(tail_fit) and tail_fit >= 0.0):
            raise ValueError(f"ConformalCalibrator: tail_fit must be a finite count >= 0, got {tail_fit}")
        self.n_entities = int(n_entities)
        self.regime_edges = tuple(float(e) for e in edges)
        self.side: Side = side
        self.half_life = float(half_life)
        self.prior_strength = float(prior_strength)
        self.pool_size = float(pool_size)
        self.min_history = int(min_history)
        self.clip = float(clip)
        self.bins = int(bins)
        self.z_max = float(z_max)
        self.tail_bins = tail_bins
        self.z_tail = z_tail
        self.tail_fit = float(tail_fit)
        self._slots = self.bins + 2 * self.tail_bins + 2
        self._centres = self._slot_centres()  # constant for the calibrator's life: bins, z_max, tails fixed above
        self.pool = pool
        r = len(self.regime_edges) + 1
        self.n_regimes = r
        # prior location / scale per regime
        self._mu0 = np.zeros(r, dtype=np.float64)
        self._var0 = np.ones(r, dtype=np.float64)
        self._has_prior = prior is not None
        # per-entity state (the only per-entity memory)
        self._w = np.zeros((self.n_entities, r), dtype=np.float32)
        self._mean = np.zeros((self.n_entities, r), dtype=np.float32)
        self._var = np.zeros((self.n_entities, r), dtype=np.float32)
        # pooled histogram of normalised scores per regime: [underflow, lower tail, bins..., upper tail, overflow]
        n_groups = self.n_entities if pool == "entity" else 1
        self._pool = np.zeros((n_groups, r, self._slots), dtype=np.float64)
        if prior is not None:
            self._seed_prior(prior, prior_count, prior_levels)
        if pool_prior is not None:
            zp = np.asarray(pool_prior, dtype=np.float64).ravel()
            zp = zp[np.isfinite(zp)]
            if zp.size == 0:
                raise ValueError("ConformalCalibrator: pool_prior has no finite score")
            weight = (256.0 if prior_count is None else float(np.sum(prior_count))) / zp.size
            self._pool += np.bincount(self._bin_of(zp), minlength=self._slots) * weight

    # ------------------------------------------------------------------ prior
    def _seed_prior(self, prior: np.ndarray | Sequence[np.ndarray], prior_count: float | Sequence[float] | None,
                    levels: np.ndarray | None) -> None:
        r = self.n_regimes
        counts: list[float | None]
        if prior_count is None or np.ndim(prior_count) == 0:
            counts = [None if prior_count is None else float(prior_count)] * r  # type: ignore[arg-type]
        else:
            counts = [float(c) for c in prior_count]  # type: ignore[union-attr]
            if len(counts) != r:
                raise ValueError(f"ConformalCalibrator: prior_count has {len(counts)} values for {r} regimes")
        if isinstance(prior, np.ndarray) and prior.ndim == 1:
            per = [np.asarray(prior, dtype=np.float64)] * r
        else:
            per = [np.asarray(p, dtype=np.float64).ravel() for p in prior]
            if len(per) != r:
                raise ValueError(f"ConformalCalibrator: prior has {len(per)} arrays for {r} regimes")
            allp = np.concatenate(per)
            per = [p if p.size else allp for p in per]
        for k, p in enumerate(per):
            if levels is not None:
                self._seed_grid(k, p, levels, counts[k])
                continue
            p = p[np.isfinite(p)]
            if p.size < 2:
                raise ValueError(f"ConformalCalibrator: prior for regime {k} has {p.size} finite scores (need >= 2)")
            q25, med, q75 = np.quantile(p, [0.25, 0.5, 0.75])
            scale = (q75 - q25) / 1.349 if q75 > q25 else float(np.std(p))
            self._mu0[k] = med
            self._var0[k] = max(scale, 1e-12) ** 2
            c_k = counts[k]
            count = float(p.size) if c_k is None else c_k
            z = (p - med) / math.sqrt(self._var0[k])
            self._pool[:, k] += np.bincount(self._bin_of(z), minlength=self._slots) * (count / p.size)
            if count > p.size:
                # a grid of G quantiles standing for N > G scores says nothing about the N / (2G) scores
                # beyond its extremes: put that mass in the overflow slots (conservative, p >= 1/(2G) there)
                self._pool[:, k, [0, -1]] += count / (2.0 * p.size)

    def _seed_grid(self, k: int, values: np.ndarray, levels: np.ndarray, count: float | None) -> None:
        """Seed regime ``k`` from quantile ``values`` at ``levels`` (any spacing), standing for ``count`` scores."""
        lv = np.asarray(levels, dtype=np.float64)
        if values.shape != lv.shape or lv.size < 2 or np.any(np.diff(lv) <= 0) or lv[0] < 0 or lv[-1] > 1:
            raise ValueError(f"ConformalCalibrator: regime {k}: grid values {values.shape} and levels {lv.shape} must "
                             "match, levels strictly increasing within [0, 1]")
        if count is None:
            raise ValueError("ConformalCalibrator: a quantile grid (prior_levels) needs prior_count")
        q25, med, q75 = np.interp([0.25, 0.5, 0.75], lv, values)
        scale = (q75 - q25) / 1.349 if q75 > q25 else float(np.std(values)) or 1.0
        self._mu0[k] = med
        self._var0[k] = max(scale, 1e-12) ** 2
        # each grid point carries the probability mass between the midpoints to its neighbours
        mid = np.concatenate([[0.0], 0.5 * (lv[1:] + lv[:-1]), [1.0]])
        mass = np.diff(mid) * count
        z = (values - med) / math.sqrt(self._var0[k])
        self._pool[:, k] += np.bincount(self._bin_of(z), weights=mass, minlength=self._slots)

    @classmethod
    def from_score_grid(cls, n_entities: int, grid: dict[str, Any], **kwargs: Any) -> ConformalCalibrator:
        """A calibrator whose cold-start prior is a checkpoint's score grid (``twin.conformal.fit_score_grid``).

        ``grid`` holds ``edges``, ``levels`` and per-regime ``values`` / ``n`` (a regime with fewer than
        ``min_count`` scores carries the pooled values; it is weighted by ``n_all`` then). The grid's
        residual ``kind`` must match the residuals passed later (log ratio for ``"log"``, as
        :func:`twinwatch.detectors.residuals.residual` computes for delay and jitter).

        >>> g = {"edges": [0.5], "levels": [0.01, 0.25, 0.5, 0.75, 0.99], "min_count": 200, "n_all": 3000,
        ...      "values": [[-0.1, -0.03, 0.0, 0.03, 0.1], [-0.4, -0.1, 0.0, 0.1, 0.4]], "n": [2000, 1000]}
        >>> cal = ConformalCalibrator.from_score_grid(2, g)
        >>> cal.p_values(np.array([0.1, 0.1]), regime=cal.regime_of(np.array([0.2, 0.9]))).round(3).tolist()
        [0.13, 0.38]

        (A coarse five-point grid: 0.1 is the 0.99 quantile of regime 0, but that point carries the mass
        from level 0.87 up; the checkpoint's grids have 225 levels, 48 of them in each tail.)
        """
        min_count = int(grid.get("min_count", 0))
        n_all = float(grid.get("n_all", 0)) or float(sum(grid["n"]))
        counts = [float(n) if n >= min_count else n_all for n in grid["n"]]
        return cls(n_entities, regime_edges=grid["edges"], prior=[np.asarray(v, dtype=np.float64)
                                                                   for v in grid["values"]],
                   prior_levels=np.asarray(grid["levels"], dtype=np.float64), prior_count=counts, **kwargs)

    # --------------------------------------------------------------- helpers
    def _bin_of(self, z: np.ndarray) -> np.ndarray:
        """Histogram slot of each ``z``: 0 below ``-z_tail``, then the lower tail bins, the ``bins`` equal
        bins over ``[-z_max, z_max)``, the upper tail bins, and ``2·tail_bins + bins + 1`` above ``z_tail``
        (slots ascend with ``z``)."""
        t = self.tail_bins
        pos = (z + self.z_max) * (self.bins / (2.0 * self.z_max))
        slot = np.clip(np.floor(pos), -1, self.bins).astype(np.int64) + 1 + t
        if t == 0:
            return slot
        a = np.abs(z)
        out = a >= self.z_max
        if out.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                i = np.floor(np.log(a[out] / self.z_max) * (t / math.log(self.z_tail / self.z_max)))
            i = np.clip(i, 0, t).astype(np.int64)  # t: beyond z_tail (the overflow slot)
            slot[out] = np.where(z[out] > 0, self.bins + t + 1 + i, t - i)
        return slot

    def _regime(self, regime: np.ndarray | None, n: int) -> np.ndarray:
        if regime is None:
            return np.zeros(n, dtype=np.intp)
        reg = np.asarray(regime)
        if reg.shape != (n,):
            raise ValueError(f"ConformalCalibrator: regime shape {reg.shape} != ({n},)")
        if reg.size and (reg.min() < 0 or reg.max() >= self.n_regimes):
            raise ValueError(f"ConformalCalibrator: regime index outside 0..{self.n_regimes - 1}")
        return reg.astype(np.intp, copy=False)

    def regime_of(self, load: np.ndarray) -> np.ndarray:
        """``(n,)`` regime index of each load value (``np.searchsorted(edges, load, 'right')``)."""
        return np.searchsorted(np.asarray(self.regime_edges), np.asarray(load, dtype=np.float64), side="right")

    def _check(self, scores: np.ndarray) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        if s.shape != (self.n_entities,):
            raise ValueError(f"ConformalCalibrator: scores shape {s.shape} != ({self.n_entities},)")
        return s

    def _location_scale(self, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shrunk ``(m, σ, w)`` per entity for its regime; σ is NaN where the entity cannot be scored."""
        if self.n_regimes == 1:  # one regime: plain columns, no fancy indexing (the common case, 2-3x faster)
            w = self._w[:, 0].astype(np.float64)
            mean_e, var_e, mu0, var0 = self._mean[:, 0], self._var[:, 0], self._mu0[0], self._var0[0]
        else:
            idx = np.arange(self.n_entities)
            w = self._w[idx, reg].astype(np.float64)
            mean_e, var_e, mu0, var0 = self._mean[idx, reg], self._var[idx, reg], self._mu0[reg], self._var0[reg]
        n0 = self.prior_strength if self._has_prior else 0.0
        tot = w + n0
        with np.errstate(divide="ignore", invalid="ignore"):
            m = (w * mean_e + n0 * mu0) / tot
            var = (w * var_e + n0 * var0) / tot
        sd = np.sqrt(np.maximum(var, 1e-24))
        if not self._has_prior:
            sd = np.where(w >= max(self.min_history, 1), sd, np.nan)
        return m, sd, w

    def _tails(self, z: np.ndarray, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Conformal ``(upper, lower)`` tail p-values of ``z`` against the pool of its regime.

        The histogram slot holding ``z`` counts in full on both sides, so ties (a constant
        series, a KPI that is exactly as expected) are counted as ``≥`` and ``≤``; the p-value
        is conservative by at most one bin's mass.
        """
        grp = np.arange(z.size) if self.pool == "entity" else np.zeros(z.size, dtype=np.intp)
        cum = np.cumsum(self._pool, axis=2)  # cum[g, k, j] = mass in slots 0..j
        total = cum[grp, reg, -1]
        b = self._bin_of(np.nan_to_num(z, nan=0.0))
        below = cum[grp, reg, b]  # slots <= b
        above = total - below + self._pool[grp, reg, b]  # slots >= b
        with np.errstate(invalid="ignore"):
            up = np.minimum((above + 1.0) / (total + 1.0), 1.0)
            lo = np.minimum((below + 1.0) / (total + 1.0), 1.0)
        if self.tail_fit > 0:
            zz = np.nan_to_num(z, nan=0.0)
            for sign, p in ((1.0, up), (-1.0, lo)):
                u, beta = self._tail_model(sign)
                ug, bg = u[grp, reg], beta[grp, reg]
                beyond = np.isfinite(ug) & (sign * (zz - ug) > 0)
                with np.errstate(invalid="ignore", over="ignore"):
                    fit = (self.tail_fit + 1.0) / (total + 1.0) * np.exp(-sign * (zz - ug) / bg)
                fit = np.maximum(fit, _TINY)  # never exactly 0: combinations downstream take logarithms
                p[beyond] = fit[beyond]
        empty = total <= 0
        return np.where(empty, np.nan, up), np.where(empty, np.nan, lo)

    def _slot_centres(self) -> np.ndarray:
        """``(slots,)`` the normalised score each histogram slot stands for (its centre; the overflow slots at
        ``±z_tail``, the tail bins at their geometric centres)."""
        t, b = self.tail_bins, self.bins
        width = 2.0 * self.z_max / b
        c = np.empty(self._slots)
        c[t + 1:t + 1 + b] = -self.z_max + width * (np.arange(b) + 0.5)
        c[0], c[-1] = -self.z_tail, self.z_tail
        if t:
            edges = self.z_max * (self.z_tail / self.z_max) ** (np.arange(t + 1) / t)
            mid = np.sqrt(edges[:-1] * edges[1:])
            c[t:0:-1] = -mid  # lower tail: slot t is the bin just past -z_max
            c[b + t + 1:b + 2 * t + 1] = mid
        return c

    def _tail_model(self, sign: float) -> tuple[np.ndarray, np.ndarray]:
        """Per (group, regime): the threshold ``u`` with ``tail_fit`` pooled scores at or past it on the side
        ``sign`` (+1 upper, −1 lower) and the mean excess ``β`` of those scores past ``u``; ``u`` is NaN where the
        pool holds fewer than ``2·tail_fit`` scores (the empirical p-value stands there)."""
        c = self._centres
        pool = self._pool if sign < 0 else self._pool[..., ::-1]
        cs = c if sign < 0 else -c[::-1]  # distance grows towards the far end in both cases: work on -z
        cum = np.cumsum(pool, axis=2)
        k = np.argmax(cum >= self.tail_fit, axis=2)  # first slot where the tail holds tail_fit scores
        u = np.take_along_axis(np.broadcast_to(cs, pool.shape), k[..., None], axis=2)[..., 0]
        inside = np.arange(pool.shape[2]) <= k[..., None]
        mass = np.where(inside, pool, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta = (mass * (u[..., None] - cs)).sum(axis=2) / mass.sum(axis=2)
        beta = np.maximum(beta, 2.0 * self.z_max / self.bins)  # at least one bin: a tail of one slot
        enough = cum[..., -1] >= 2.0 * self.tail_fit
        u = np.where(enough, u, np.nan)
        return (u if sign < 0 else -u), beta

    # ------------------------------------------------------------------ API
    def location_scale(self, regime: np.ndarray | None = None,
                       min_scale: np.ndarray | float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(m, σ)``, each ``(n,)``: the entities' current shrunk location and scale of the residual in their
        regime (default: regime 0), so that ``z = (s − m) / σ``; σ is NaN where the entity cannot be scored and
        at least ``min_scale`` (scalar or ``(n,)``, residual units, as in :meth:`p_values`) elsewhere."""
        m, sd, _ = self._location_scale(self._regime(regime, self.n_entities))
        if min_scale is not None:
            sd = np.where(np.isfinite(sd), np.fmax(sd, min_scale), np.nan)  # unscored entities stay NaN
        return m, sd

    def normalise(self, scores: np.ndarray, regime: np.ndarray | None = None,
                  min_scale: np.ndarray | float | None = None) -> np.ndarray:
        """``(n,)`` normalised scores ``z = (s − m) / max(σ, min_scale)`` with the entities' current statistics
        (NaN if unscored); ``min_scale`` (scalar or ``(n,)``, residual units) as in :meth:`p_values`."""
        s = self._check(scores)
        m, sd = self.location_scale(regime, min_scale)
        return np.asarray((s - m) / sd, dtype=np.float64)

    def p_values(self, scores: np.ndarray, regime: np.ndarray | None = None,
                 min_scale: np.ndarray | float | None = None) -> np.ndarray:
        """``(n,)`` conformal p-values of this window's residuals (NaN: residual missing or entity unscored).

        Parameters
        ----------
        scores
            ``(n,)`` residuals (:func:`twinwatch.detectors.residuals.residual`), NaN where not observed.
        regime
            ``(n,)`` regime index per entity (:meth:`regime_of` of the load); None: regime 0.
        min_scale
            Scalar or ``(n,)``: the smallest scale an entity's residual is divided by, in residual units
            (the measurement's resolution: an entity whose residual has been exactly constant, e.g. a probe
            on an idle path floored at its resolution on both sides, would otherwise have σ → 0 and turn
            the next quantisation step into ``z ≈ 1e12``). Pass the same to :meth:`update`.

        >>> cal = ConformalCalibrator(2, pool_prior=np.linspace(-3, 3, 61), min_history=2)
        >>> for _ in range(4):
        ...     _ = cal.update(np.array([0.0, 0.0]))          # a constant residual: σ → 0
        >>> bool(cal.normalise(np.array([0.1, 0.1]))[0] > 1e9)
        True
        >>> cal.normalise(np.array([0.1, 0.1]), min_scale=0.05).round(2).tolist()
        [2.0, 2.0]
        """
        z = self.normalise(scores, regime, min_scale)
        reg = self._regime(regime, z.size)
        up, lo = self._tails(z, reg)
        if self.side == "upper":
            p = up
        elif self.side == "lower":
            p = lo
        else:
            p = np.minimum(1.0, 2.0 * np.minimum(up, lo))
        return np.where(np.isfinite(z), p, np.nan)

    def update(self, scores: np.ndarray, regime: np.ndarray | None = None,
               healthy: np.ndarray | None = None, min_scale: np.ndarray | float | None = None) -> int:
        """Learn from this window's residuals where ``healthy`` (and finite); returns how many were learned.

        Call it *after* :meth:`p_values` for the same window. ``healthy`` is the caller's
        ``(n,)`` bool mask (e.g. not flagged, not inside an alert, telemetry complete); ``min_scale`` the
        one given to :meth:`p_values` (the pooled score is normalised the same way).
        """
        s = self._check(scores)
        reg = self._regime(regime, s.size)
        ok = np.isfinite(s)
        if healthy is not None:
            hm = np.asarray(healthy, dtype=bool)
            if hm.shape != s.shape:
                raise ValueError(f"ConformalCalibrator: healthy shape {hm.shape} != {s.shape}")
            ok &= hm
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            return 0
        s, reg_i = s[idx], reg[idx]
        m_all, sd_all, _ = self._location_scale(reg)
        m, sd = m_all[idx], sd_all[idx]
        # 1. pool the out-of-sample normalised score (entities that can be scored only)
        sd_z = sd if min_scale is None else np.fmax(sd, np.broadcast_to(min_scale, (self.n_entities,))[idx])
        z = (s - m) / np.where(np.isfinite(sd), sd_z, np.nan)
        fin = np.isfinite(z)
        if fin.any():
            slots = self._bin_of(z[fin])
            if self.pool == "entity":
                ent = idx[fin]
                self._pool[ent] *= math.exp(-1.0 / self.pool_size)
                self._pool[ent, reg_i[fin], slots] += 1.0
            else:
                self._pool *= math.exp(-fin.sum() / self.pool_size)
                flat = reg_i[fin] * self._slots + slots
                self._pool[0] += np.bincount(flat, minlength=self._pool[0].size).reshape(self._pool.shape[1:])
        # 2. entity statistics, exponentially forgotten, robust to a missed anomaly
        x = np.where(np.isfinite(sd), np.clip(s, m - self.clip * sd, m + self.clip * sd), s)
        lam = 0.5 ** (1.0 / self.half_life)
        w = self._w[idx, reg_i].astype(np.float64)
        mean = self._mean[idx, reg_i].astype(np.float64)
        var = self._var[idx, reg_i].astype(np.float64)
        w_new = lam * w + 1.0
        d = x - mean
        mean_new = mean + d / w_new
        var_new = (lam * w * var + d * d * (1.0 - 1.0 / w_new)) / w_new
        self._w[idx, reg_i] = w_new
        # float32 state saturates instead of overflowing: a score beyond ±1.8e19 (a raw KPI in series mode,
        # `detect series` reads values up to ±1e150) is judged against the largest scale it can hold
        self._mean[idx, reg_i] = np.clip(mean_new, -_F32_MAX, _F32_MAX)
        self._var[idx, reg_i] = np.minimum(var_new, _F32_MAX)
        return int(idx.size)

    def reset(self, mask: np.ndarray) -> None:
        """Forget the history of the entities in the ``(n,)`` bool ``mask`` (e.g. after a re-configuration).

        Their location/scale return to the prior (or they warm up again without one); a shared pool is
        kept, a per-entity pool is emptied.
        """
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.n_entities,):
            raise ValueError(f"ConformalCalibrator.reset: mask shape {m.shape} != ({self.n_entities},)")
        self._w[m] = 0.0
        self._mean[m] = 0.0
        self._var[m] = 0.0
        if self.pool == "entity":
            self._pool[m] = 0.0

    ENTITY_SIZE = "n_entities"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`);
        the pool is one of them only when each entity has its own."""
        axes = {"_w": 0, "_mean": 0, "_var": 0}
        return {**axes, "_pool": 0} if self.pool == "entity" else axes

    # ------------------------------------------------------------ persistence
    @property
    def state_bytes_per_entity(self) -> int:
        """Bytes of state per entity (this KPI); a shared pool is excluded, per-entity pools are included."""
        own = self._w.nbytes + self._mean.nbytes + self._var.nbytes
        if self.pool == "entity":
            own += self._pool.nbytes
        return int(own // max(self.n_entities, 1))

    def _config(self) -> dict[str, object]:
        return {"format": _FORMAT, "n_entities": self.n_entities, "regime_edges": list(self.regime_edges),
                "side": self.side, "half_life": self.half_life, "prior_strength": self.prior_strength,
                "pool_size": self.pool_size, "min_history": self.min_history, "clip": self.clip,
                "bins": self.bins, "z_max": self.z_max, "pool": self.pool, "has_prior": self._has_prior,
                "tail_bins": self.tail_bins, "z_tail": self.z_tail, "tail_fit": self.tail_fit}

    def to_bytes(self) -> bytes:
        """Lossless snapshot of configuration and state (npz, no pickle)."""
        buf = io.BytesIO()
        cfg = np.frombuffer(json.dumps(self._config()).encode(), dtype=np.uint8)
        np.savez(buf, config=cfg, w=self._w, mean=self._mean, var=self._var, pool=self._pool,
                 mu0=self._mu0, var0=self._var0)
        return buf.getvalue()

    def _widen_pool(self, old: np.ndarray) -> np.ndarray:
        """A pool of the layout without tail bins (``(..., bins + 2)``) in this layout: its two overflow
        slots become the outermost ones, so every p-value stays what it was (no score is placed closer in
        than it was known to be). A pool of any other shape is returned as it is (``from_bytes`` refuses it)."""
        if old.ndim != 3 or old.shape[2] != self.bins + 2:
            return old
        new = np.zeros((*old.shape[:2], self._slots), dtype=old.dtype)
        t = self.tail_bins
        new[..., 0], new[..., -1] = old[..., 0], old[..., -1]
        new[..., t + 1:t + 1 + self.bins] = old[..., 1:-1]
        return new

    @classmethod
    def from_bytes(cls, data: bytes) -> ConformalCalibrator:
        """Restore a calibrator written by :meth:`to_bytes` (raises ValueError on a foreign blob)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            cfg = json.loads(arrays.pop("config").tobytes().decode())
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as exc:
            raise ValueError(f"ConformalCalibrator.from_bytes: not a calibrator snapshot ({exc})") from None
        if cfg.get("format") != _FORMAT:
            raise ValueError(f"ConformalCalibrator.from_bytes: format {cfg.get('format')!r}, expected {_FORMAT!r}")
        obj = cls(cfg["n_entities"], regime_edges=cfg["regime_edges"], side=cfg["side"],
                  half_life=cfg["half_life"], prior_strength=cfg["prior_strength"], pool_size=cfg["pool_size"],
                  min_history=cfg["min_history"], clip=cfg["clip"], bins=cfg["bins"], z_max=cfg["z_max"],
                  pool=cfg["pool"], tail_bins=cfg.get("tail_bins"), z_tail=cfg.get("z_tail"),
                  tail_fit=_config_number(cfg.get("tail_fit", 0.0), "tail_fit"))
        obj._has_prior = bool(cfg["has_prior"])
        if "tail_bins" not in cfg and obj.tail_bins and "pool" in arrays:
            arrays["pool"] = obj._widen_pool(arrays["pool"])
        for name in ("w", "mean", "var", "pool", "mu0", "var0"):
            cur = getattr(obj, "_" + name)
            arr = arrays[name]
            if arr.shape != cur.shape or arr.dtype != cur.dtype:
                raise ValueError(f"ConformalCalibrator.from_bytes: array {name!r} is {arr.dtype}{arr.shape}, "
                                 f"expected {cur.dtype}{cur.shape}")
            setattr(obj, "_" + name, arr.copy())
        return obj


def _config_number(value: object, name: str) -> float:
    """A number of a snapshot's configuration, or ValueError naming it."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"ConformalCalibrator.from_bytes: {name} {value!r} is not a number") from None
