"""Traffic of the network under test: a gravity matrix that breathes like a real one.

Per window ``w`` and ToS class ``q`` the offered rate from node ``i`` to node
``j`` is

.. math::

   x_{ijq}(w) = V \\cdot s(t_w) \\cdot g_{ij} \\cdot e^{\\varepsilon_{ij}(w)} \\cdot c_q \\cdot f_{ij}(w)

- :math:`g_{ij}`: a gravity matrix from node weights (populations, or degrees
  when none are given), times a static log-normal pair factor (log sd 0.22:
  what gravity leaves unexplained in the real Abilene matrices), normalised to
  sum to 1;
- :math:`V`: the mean network-wide offered rate (bit/s);
- :math:`s(t)`: the diurnal/weekly shape (:mod:`twinwatch.twin.testbed.shape`);
- :math:`\\varepsilon_{ij}(w)`: per-pair AR(1) noise in log space, log sd 0.116
  and lag-1 autocorrelation 0.46 at 5 minutes (Abilene 5-minute matrices),
  carried to other window lengths by :math:`\\rho_w = 0.46^{w/300 s}` at the
  same stationary spread;
- :math:`c_q`: the share of ToS class ``q``;
- :math:`f_{ij}(w)`: flash crowds / surges (multipliers on the pairs towards one
  destination over a time span), applied by the fault plan.

The generator is an iterator over windows with O(N² Q) state, so a 200-node,
24-hour run never holds more than one window's matrix.

Examples
--------
>>> import numpy as np
>>> gen = GravityTraffic(node_weight=np.array([1.0, 2.0, 3.0]), mean_total_bps=6e9,
...                      tos_share=(0.2, 0.3, 0.5), seed=1)
>>> m = gen.matrix(0.0, 10.0)
>>> m.shape, bool(np.all(np.diagonal(m[..., 0]) == 0))
((3, 3, 3), True)
>>> round(float(np.mean([gen.matrix(t, 10.0).sum() for t in np.arange(0, 7 * 86400, 1800.0)])) / 6e9, 1)
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from twinwatch.twin.testbed.shape import ABILENE, DiurnalShape

__all__ = ["PAIR_FACTOR_LOG_SD", "GravityTraffic", "Surge", "gravity_matrix"]

PAIR_FACTOR_LOG_SD = 0.22
"""Log sd of the static pair factor gravity leaves unexplained (Abilene mean matrix)."""

NOISE_LOG_SD_5MIN = 0.116
"""Stationary log sd of per-pair noise around pair mean × network shape (Abilene, 5 min)."""

NOISE_AR1_5MIN = 0.46
"""Lag-1 autocorrelation of that noise at 5 minutes (Abilene)."""


def gravity_matrix(node_weight: np.ndarray, pair_log_sd: float, rng: np.random.Generator) -> np.ndarray:
    """``(N, N)`` gravity shares (sum 1, zero diagonal) from ``(N,)`` node weights.

    The pair factor is log-normal with mean 1 (``pair_log_sd`` = 0 gives pure gravity).
    """
    w = np.asarray(node_weight, dtype=np.float64)
    if w.ndim != 1 or w.size < 2 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"node weights must be a 1-D array of >= 2 finite non-negative values, got {w!r}")
    g = np.outer(w, w)
    np.fill_diagonal(g, 0.0)
    g *= np.exp(rng.normal(-0.5 * pair_log_sd**2, pair_log_sd, size=g.shape))
    total = g.sum()
    if total <= 0:
        raise ValueError("node weights leave no traffic between distinct nodes")
    return g / total


@dataclass(frozen=True, slots=True)
class Surge:
    """A traffic surge towards one destination (flash crowd, DDoS).

    ``factor`` multiplies every pair ``* -> dst`` (all ToS classes) for
    ``start_s <= t < end_s``; ``sources`` restricts it to some origins.
    """

    dst: int
    start_s: float
    end_s: float
    factor: float
    sources: tuple[int, ...] = ()


@dataclass
class GravityTraffic:
    """Per-window traffic matrices ``(N, N, Q)`` in bit/s; see the module docstring.

    Parameters
    ----------
    node_weight
        ``(N,)`` populations or degrees.
    mean_total_bps
        Mean network-wide offered rate over a week (bit/s).
    tos_share
        ``(Q,)`` share of each ToS class (sums to 1).
    shape
        Diurnal/weekly shape; :data:`twinwatch.twin.testbed.shape.ABILENE` by default.
    noise_log_sd, noise_ar1_5min
        Per-pair noise (stationary log sd; lag-1 autocorrelation at 300 s).
    pair_log_sd
        Static pair-factor spread of the gravity matrix.
    seed
        Seed of every random draw; same seed, same matrices.
    """

    node_weight: np.ndarray
    mean_total_bps: float
    tos_share: Sequence[float] = (1.0,)
    shape: DiurnalShape = ABILENE
    noise_log_sd: float = NOISE_LOG_SD_5MIN
    noise_ar1_5min: float = NOISE_AR1_5MIN
    pair_log_sd: float = PAIR_FACTOR_LOG_SD
    seed: int = 0
    surges: list[Surge] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.mean_total_bps) and self.mean_total_bps > 0):
            raise ValueError(f"mean_total_bps must be finite and > 0, got {self.mean_total_bps!r}")
        share = np.asarray(self.tos_share, dtype=np.float64)
        if share.ndim != 1 or np.any(share < 0) or abs(share.sum() - 1.0) > 1e-9:
            raise ValueError(f"tos_share must be non-negative and sum to 1, got {list(share)}")
        if not 0 <= self.noise_ar1_5min < 1 or self.noise_log_sd < 0:
            raise ValueError("noise_ar1_5min must be in [0, 1) and noise_log_sd >= 0")
        self._rng = np.random.default_rng(self.seed)
        self.gravity = gravity_matrix(self.node_weight, self.pair_log_sd, self._rng)
        self._share = share
        self._eps = self._rng.normal(0.0, self.noise_log_sd, size=self.gravity.shape)
        self._last_t: float | None = None

    @property
    def n_nodes(self) -> int:
        return int(self.gravity.shape[0])

    def matrix(self, t_s: float, window_s: float) -> np.ndarray:
        """``(N, N, Q)`` mean offered rate (bit/s) over the window starting at local time ``t_s``.

        Windows must be asked for in time order (the noise is a Markov chain).
        """
        if self._last_t is not None:
            if t_s < self._last_t:
                raise ValueError(f"windows must be generated in time order ({t_s} after {self._last_t})")
            rho = self.noise_ar1_5min ** ((t_s - self._last_t) / 300.0)
            innov = self._rng.normal(0.0, self.noise_log_sd * np.sqrt(1 - rho**2), size=self._eps.shape)
            self._eps = rho * self._eps + innov
        self._last_t = t_s
        mid = np.array([t_s + 0.5 * window_s])
        base = self.mean_total_bps * float(self.shape.factor(mid)[0])
        # E[exp(eps)] = exp(sd^2 / 2): centre it so the mean volume stays V
        m = base * self.gravity * np.exp(self._eps - 0.5 * self.noise_log_sd**2)
        for s in self.surges:
            if s.start_s <= t_s < s.end_s:
                rows = list(s.sources) if s.sources else slice(None)
                m[rows, s.dst] *= s.factor
                m[s.dst, s.dst] = 0.0
        return m[:, :, None] * self._share[None, None, :]
